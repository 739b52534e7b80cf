"""GHTK over HTTP: URLs, the static Token/X-Client-Source headers, and error classification."""

from __future__ import annotations

from urllib.parse import quote

import httpx
import msgspec

from contracts.config import CourierAccount
from contracts.couriers import Booking, Shipment, StatusUpdate, says_not_found
from contracts.couriers import ghtk as wire
from workers.couriers import CourierRejected, CourierUnavailable, classify, read, send


class GhtkClient:
    """One per worker process and account. GHTK's token is static (rotated by hand, couriers-vn.md §9.19),
    so the headers are built once; nothing on the instance changes after that."""

    def __init__(self, account: CourierAccount, http: httpx.Client) -> None:
        self.account = account
        self.http = http
        self.headers = {"Token": account.token}
        if account.partner_code:
            self.headers["X-Client-Source"] = account.partner_code

    def _send(self, method: str, path: str, body: bytes | None = None) -> httpx.Response:
        headers = self.headers if body is None else {**self.headers, "Content-Type": "application/json"}
        return send(self.http, self.account, "GHTK", method, path, headers=headers, content=body)

    def _call(self, method: str, path: str, body: bytes | None = None) -> bytes:
        response = self._send(method, path, body)
        classify(response)
        return response.content

    def create(self, shipment: Shipment) -> Booking:
        try:
            payload = wire.encode_shipment(shipment, self.account)
        except ValueError as error:  # a bad account option: configuration, not GHTK, must change
            raise CourierRejected(str(error)) from error
        body = self._call("POST", "/services/shipment/order/?ver=1.5", payload)
        return read("GHTK", wire.EnvelopeError, lambda: wire.decode_created(body))

    def find(self, reference: str) -> Booking | None:
        """The order GHTK holds under our reference (`order.id`, looked up as `partner_id:`), if any.

        `success: false` and HTTP 404 mean GHTK does not know it; other refusals (a bad token) are raised,
        so a lookup that could not look never passes for "not booked".
        """
        response = self._send("GET", f"/services/shipment/v2/partner_id:{quote(reference, safe='')}")
        if response.status_code == 404:
            return None
        classify(response)
        try:
            return wire.decode_found(response.content)
        except wire.EnvelopeError as error:
            if says_not_found(str(error)):
                return None
            raise CourierUnavailable(f"GHTK could not say whether it holds {reference}: {error}") from error
        except msgspec.DecodeError as error:
            raise CourierUnavailable(f"GHTK answered an unreadable body: {error}") from error

    def track(self, tracking_code: str) -> list[StatusUpdate]:
        """GHTK's current status for a label (`shipment/v2/{label}`), for orders whose callbacks went quiet."""
        body = self._call("GET", f"/services/shipment/v2/{quote(tracking_code, safe='')}")
        return read("GHTK", wire.EnvelopeError, lambda: wire.decode_tracked(body))

    def cancel(self, tracking_code: str) -> str:
        """Accepted only before pickup (status 1, 2, 12); after it GHTK answers "Đơn đã lấy hàng, không thể hủy
        đơn." with `success: false`, which is a rejection in GHTK's words."""
        body = self._call("POST", f"/services/shipment/cancel/{quote(tracking_code, safe='')}")
        return read("GHTK", wire.EnvelopeError, lambda: wire.decode_cancelled(body))

    def redeliver(self, tracking_code: str) -> str:
        # couriers-vn.md §3.3 lists no redelivery call: GHTK retries on its own after a delay (status 10).
        raise CourierRejected(f"GHTK has no redelivery API; ask GHTK to deliver {tracking_code} again")

    def return_to_sender(self, tracking_code: str) -> str:
        # Nor a return call: GHTK returns after its own failed attempts (9 then 20, reasons 131/132).
        raise CourierRejected(f"GHTK has no return API; ask GHTK to return {tracking_code}")
