"""VNPost (MyVNPost) over HTTP: URLs, the `token` header and its renewal, and error classification."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar

import httpx
import msgspec

from contracts.config import CourierAccount
from contracts.couriers import Booking, Party, Shipment, StatusUpdate
from contracts.couriers import vnpost as wire
from contracts.couriers.vnpost_codes import CANCEL_PENDING, CANCELLED, OrderRecord
from workers.couriers import CourierRejected, classify, read, send

_AUTH_FAILED = (401, 403)
T = TypeVar("T")


class VnpostClient:
    """One per (centre, account) and worker process: the access token is cached here and renewed once
    when MyVNPost answers 401/403."""

    def __init__(self, account: CourierAccount, http: httpx.Client) -> None:
        self.account = account
        self.http = http
        # Replace when MyVNPost's new commune catalogue turns out not to be the 2025 government codes.
        self.codes_of: Callable[[Party], tuple[str, str]] = wire.government_codes
        self.reference_lookup_type = account.options.get("reference_lookup_type", "2")
        self._token: str | None = None
        self._lock = threading.Lock()

    # -- transport --------------------------------------------------------------------------------
    def _send(
        self, method: str, path: str, token: str | None, params: dict[str, str] | None, body: bytes | None
    ) -> httpx.Response:
        headers = {"Content-Type": "application/json"} if body is not None else {}
        if token is not None:
            headers["token"] = token
        return send(self.http, self.account, "VNPost", method, path, headers=headers, content=body, params=params)

    def _login(self) -> str:
        """`POST /GetAccessToken {username, password, customerCode}` → `{success, errorMessage, token}`."""
        credentials = {
            "username": self.account.username or "",
            "password": self.account.password or "",
            "customerCode": self.account.customer_code or "",
        }
        response = self._send("POST", "/GetAccessToken", None, None, msgspec.json.encode(credentials))
        classify(response)
        self._token = _read(lambda: wire.decode_token(response.content))
        return self._token

    def _current_token(self) -> str:
        with self._lock:
            return self._token or self._login()

    def _call(self, method: str, path: str, params: dict[str, str] | None = None, body: bytes | None = None) -> bytes:
        token = self._current_token()
        response = self._send(method, path, token, params, body)
        if response.status_code in _AUTH_FAILED:
            with self._lock:
                if self._token == token:  # another call may have renewed it meanwhile
                    self._token = None
            response = self._send(method, path, self._current_token(), params, body)  # once: a second 401 is final
        classify(response)
        return response.content

    # -- operations -------------------------------------------------------------------------------
    def create(self, shipment: Shipment) -> Booking:
        body = self._call("POST", "/CreateOrder", body=wire.encode_shipment(shipment, self.account, self.codes_of))
        return _read(lambda: wire.decode_created(body))

    def _orders(self, lookup_type: str, code: str) -> list[OrderRecord]:
        body = self._call("GET", "/getOrder", params={"type": lookup_type, "code": code})
        return _read(lambda: wire.decode_orders(body))

    def find(self, reference: str) -> Booking | None:
        """The order VNPost holds under our reference (`saleOrderCode`), if any.

        An empty answer is "not known"; a refusal is raised, never read as "not known", so a timed-out
        create is not booked twice on an answer we cannot read.
        """
        for order in self._orders(self.reference_lookup_type, reference):
            if order.saleOrderCode in (None, reference):
                return wire.booking(order)
        return None

    def track(self, tracking_code: str) -> list[StatusUpdate]:
        """VNPost's history for a tracking code (`GetStatusHistoryOrder`), for orders whose callbacks went quiet."""
        params = {"type": wire.BY_TRACKING_CODE, "code": tracking_code}
        body = self._call("GET", "/GetStatusHistoryOrder", params=params)
        return _read(lambda: wire.decode_history(body, tracking_code))

    def cancel(self, tracking_code: str) -> str:
        """`orderCancel` takes VNPost's `OriginalId`, so the order is looked up first; a draft is deleted
        instead (§9.11). A cancel waiting for VNPost's approval is not refused: status 9 or 22 settles it."""
        orders = self._orders(wire.BY_TRACKING_CODE, tracking_code)
        order = next((o for o in orders if o.itemCode == tracking_code), None)
        if order is None:
            raise CourierRejected(f"VNPost does not know {tracking_code}")
        if str(order.status) == "0":
            params = {"type": wire.BY_TRACKING_CODE, "code": tracking_code}
            body = self._call("GET", "/deleteOrderByDraft", params=params)
            return _read(lambda: wire.decode_deleted(body))
        if order.originalID is None:
            raise CourierRejected(f"VNPost gave no OriginalId for {tracking_code}")
        payload = msgspec.json.encode({"OriginalId": str(order.originalID)})
        body = self._call("POST", "/orderCancel", body=payload)
        result = _read(lambda: wire.decode_cancel(body))
        if result.Type == CANCELLED:
            return result.Message or "Cancelled"
        if result.Type == CANCEL_PENDING:
            return f"Cancel pending VNPost's approval (case {result.CaseId}): {result.Message or 'no message'}"
        raise CourierRejected(f"VNPost: {result.Message or f'cancel refused (Type {result.Type})'}")

    def redeliver(self, tracking_code: str) -> str:
        raise CourierRejected("VNPost: MyVNPost has no redelivery operation; ask the delivering post office")

    def return_to_sender(self, tracking_code: str) -> str:
        raise CourierRejected("VNPost: MyVNPost has no return operation; ask the delivering post office")


def _read(decode: Callable[[], T]) -> T:
    """Run a decoder: a refusal on HTTP 200 is a rejection, an unreadable body a courier in trouble."""
    return read("VNPost", wire.EnvelopeError, decode)
