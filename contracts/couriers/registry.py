"""One line per courier: how its callbacks are authenticated and decoded."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from contracts.config import CourierAccount
from contracts.couriers import CallbackRequest, StatusUpdate, ghn, ghtk, viettelpost, vnpost

# request, the account it claims to be for -> genuine?
AUTHENTICATE: dict[str, Callable[[CallbackRequest, CourierAccount], bool]] = {
    ghn.NAME: ghn.authenticate,
    ghtk.NAME: ghtk.authenticate,
    viettelpost.NAME: viettelpost.authenticate,
    vnpost.NAME: vnpost.authenticate,
}

# raw body -> status updates (money-only ones have `reports_status` False); msgspec errors on a malformed body.
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

# What each courier expects back once a callback is kept (couriers-vn.md §9.6): GHN, GHTK and Viettel Post
# document only "HTTP 200" (anything else is retried), so they get their own success envelope, which any
# reader of their APIs recognises; MyVNPost documents `{success, message}` with 200.
ANSWER: dict[str, dict[str, object]] = {
    ghn.NAME: {"code": 200, "message": "Success"},
    ghtk.NAME: {"success": True, "message": "OK"},
    viettelpost.NAME: {"status": 200, "error": False, "message": "OK"},
    vnpost.NAME: {"success": True, "message": "OK"},
}

# The courier names `/v1/callbacks/{courier}` accepts (the rest are 404).
KNOWN = frozenset(AUTHENTICATE)


def replayed(update: StatusUpdate, received: datetime, max_age_hours: float) -> bool:
    """Is this event older than any courier's retries could deliver it? Then its callback is a replay
    of an old payload (no courier signs a timestamp, couriers-vn.md §9), refused and never applied.
    Polls are not judged by it: a lookup may return the whole history."""
    return max_age_hours > 0 and received - update.event_time > timedelta(hours=max_age_hours)
