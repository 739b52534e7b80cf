"""GHN over HTTP: URLs, the Token/ShopId headers, and error classification."""

from __future__ import annotations

import httpx
import msgspec

from contracts.config import CourierAccount
from contracts.couriers import Booking, Shipment, StatusUpdate, says_not_found
from contracts.couriers import ghn as wire
from workers.couriers import CourierRejected, CourierUnavailable, classify, read, send


class GhnClient:
    def __init__(self, account: CourierAccount, http: httpx.Client) -> None:
        self.account = account
        self.http = http
        self.headers = {"Token": account.token, "Content-Type": "application/json"}
        if account.shop_id is not None:
            self.headers["ShopId"] = str(account.shop_id)

    def _post(self, path: str, body: bytes) -> bytes:
        response = send(self.http, self.account, "GHN", "POST", path, headers=self.headers, content=body)
        classify(response)
        return response.content

    def create(self, shipment: Shipment) -> Booking:
        body = self._post("/v2/shipping-order/create", wire.encode_shipment(shipment))
        return read("GHN", wire.EnvelopeError, lambda: wire.decode_created(body))

    def find(self, reference: str) -> Booking | None:
        """The order GHN holds under our reference (`client_order_code`), if any."""
        payload = msgspec.json.encode({"client_order_code": reference})
        try:
            body = self._post("/v2/shipping-order/detail-by-client-code", payload)
            detail = wire.decode_detail(body)
        except (CourierRejected, wire.EnvelopeError) as error:
            # GHN answers 400 "Không tìm thấy đơn hàng" for a reference it does not know; any other
            # refusal (a bad token, a busy system) could hide a booking, so it is not read as "none".
            if says_not_found(str(error)):
                return None
            raise CourierUnavailable(f"GHN could not say whether it holds {reference}: {error}") from error
        except msgspec.DecodeError as error:
            raise CourierUnavailable(f"GHN answered an unreadable body: {error}") from error
        return Booking(tracking_code=detail.order_code)

    def track(self, tracking_code: str) -> list[StatusUpdate]:
        """GHN's history for a tracking code (`shipping-order/detail`), for orders whose callbacks went quiet."""
        body = self._post("/v2/shipping-order/detail", msgspec.json.encode({"order_code": tracking_code}))
        return read("GHN", wire.EnvelopeError, lambda: wire.detail_updates(wire.decode_detail(body)))

    def _switch(self, action: str, tracking_code: str) -> str:
        """`switch-status/*` answers per order code; one refused code is a rejection with GHN's words."""
        payload = msgspec.json.encode({"order_codes": [tracking_code]})
        body = self._post(f"/v2/switch-status/{action}", payload)
        results = read("GHN", wire.EnvelopeError, lambda: wire.decode_switch(body))
        mine = next((r for r in results if r.order_code == tracking_code), None)
        if mine is None or not mine.result:
            raise CourierRejected(f"GHN: {mine.message if mine else 'no result for ' + tracking_code}")
        return mine.message or "OK"

    def cancel(self, tracking_code: str) -> str:
        return self._switch("cancel", tracking_code)

    def redeliver(self, tracking_code: str) -> str:
        return self._switch("storing", tracking_code)  # "giao lại": back to storage, then out again

    def return_to_sender(self, tracking_code: str) -> str:
        return self._switch("return", tracking_code)
