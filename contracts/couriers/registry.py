"""One line per courier: how its callbacks are authenticated and decoded."""

from __future__ import annotations

from collections.abc import Callable

from contracts.config import CourierAccount
from contracts.couriers import CallbackRequest, StatusUpdate, ghn

# request, the account it claims to be for -> genuine?
AUTHENTICATE: dict[str, Callable[[CallbackRequest, CourierAccount], bool]] = {
    ghn.NAME: ghn.authenticate,
}

# raw body -> status updates (empty for money-only messages); raises msgspec errors on a malformed body.
DECODE: dict[str, Callable[[bytes], list[StatusUpdate]]] = {
    ghn.NAME: ghn.callback_updates,
}

# The courier names `/v1/callbacks/{courier}` accepts (the rest are 404).
KNOWN = frozenset(AUTHENTICATE)
