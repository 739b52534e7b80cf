"""One line per courier: how its callbacks are authenticated and decoded."""

from __future__ import annotations

from collections.abc import Callable

from contracts.config import CourierAccount
from contracts.couriers import CallbackRequest, StatusUpdate, ghn, ghtk, viettelpost, vnpost

# request, the account it claims to be for -> genuine?
AUTHENTICATE: dict[str, Callable[[CallbackRequest, CourierAccount], bool]] = {
    ghn.NAME: ghn.authenticate,
    ghtk.NAME: ghtk.authenticate,
    viettelpost.NAME: viettelpost.authenticate,
    vnpost.NAME: vnpost.authenticate,
}

# raw body -> status updates (empty for money-only messages); raises msgspec errors on a malformed body.
DECODE: dict[str, Callable[[bytes], list[StatusUpdate]]] = {
    ghn.NAME: ghn.callback_updates,
    ghtk.NAME: ghtk.callback_updates,
    viettelpost.NAME: viettelpost.callback_updates,
    vnpost.NAME: vnpost.callback_updates,
}

# raw body -> the body as stored: a courier that puts our secret in the body has it blanked first.
REDACT: dict[str, Callable[[bytes], bytes]] = {
    viettelpost.NAME: viettelpost.redact_callback,
}

# The courier names `/v1/callbacks/{courier}` accepts (the rest are 404).
KNOWN = frozenset(AUTHENTICATE)
