"""The three Struct bases, chosen by who wrote the bytes."""

from __future__ import annotations

import msgspec


class Inbound(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Input to our API: strict, an unknown field is an error that names it."""


class Record(msgspec.Struct, frozen=True, kw_only=True):
    """Our own stored data: immutable, replaced whole with `msgspec.structs.replace`."""


class Wire(msgspec.Struct, kw_only=True):
    """A courier's payload: tolerant, declares only the fields we read."""
