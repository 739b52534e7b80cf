"""Viettel Post over HTTP: the login and owner-token lifecycle, URLs, the Token header, error classification.

Account fields: `base_url`, `username`/`password` (the partner login), or a static `token` made in the
VTP portal (used until VTP answers 401, then the login takes over). Options read here, all VERIFY
(couriers-vn.md §4.1, §4.6): `owner_username`/`owner_password` for `ownerconnect` when the shop's login
differs from the partner's (default: the same); `detail_path` (default `/v2/order/detail-v2`, queried
as `?o=`) for `track`, and `find_path` (default: `detail_path`, queried with our reference) for `find`.
An empty path means VTP gives this account no lookup: the call is refused so that a clerk checks the
VTP portal, rather than booking twice or inventing a status.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime
from typing import TypeVar

import httpx
import msgspec

from contracts.config import CourierAccount
from contracts.couriers import VIETNAM, Booking, Shipment, StatusUpdate, says_not_found
from contracts.couriers import viettelpost as wire
from contracts.couriers.viettelpost_codes import APPROVE_RETURN, CANCEL, REDELIVER
from workers.couriers import CourierRejected, CourierUnavailable, classify, read, send

T = TypeVar("T")
DETAIL_PATH = "/v2/order/detail-v2"


class ViettelPostClient:
    def __init__(self, account: CourierAccount, http: httpx.Client) -> None:
        self.account = account
        self.http = http
        self._token: str | None = account.token or None  # the long-lived owner token, once we have one
        self._lock = threading.Lock()

    # -- transport --------------------------------------------------------------------------------
    def _send(
        self, method: str, path: str, body: bytes | None, token: str | None, params: dict[str, str] | None = None
    ) -> httpx.Response:
        headers = {"Content-Type": "application/json"}
        if token:
            headers["Token"] = token
        return send(self.http, self.account, "Viettel Post", method, path, headers=headers, content=body, params=params)

    def _login(self) -> str:
        """`Login` gives a short-lived partner token; `ownerconnect`, sent with it, the long-lived one."""
        username, password = self.account.username, self.account.password
        if not username or not password:
            raise CourierRejected("Viettel Post: the account has no username/password and its token was refused")
        options = self.account.options
        partner = self._exchange("/v2/user/Login", username, password, None)
        owner = (options.get("owner_username", username), options.get("owner_password", password))
        return self._exchange("/v2/user/ownerconnect", *owner, partner)

    def _exchange(self, path: str, username: str, password: str, token: str | None) -> str:
        response = self._send("POST", path, wire.encode_login(username, password), token)
        classify(response)
        return self._decode(wire.decode_token, response.content)

    def _current_token(self) -> str:
        with self._lock:
            if self._token is None:
                self._token = self._login()
            return self._token

    def _call(self, method: str, path: str, body: bytes | None = None, params: dict[str, str] | None = None) -> bytes:
        """One request with the owner token; on 401 log in again once and repeat it."""
        token = self._current_token()
        response = self._send(method, path, body, token, params)
        if response.status_code == 401:
            with self._lock:
                if self._token == token:  # not already renewed by another caller
                    self._token = None
            response = self._send(method, path, body, self._current_token(), params)
        classify(response)
        return response.content

    @staticmethod
    def _decode(decoder: Callable[[bytes], T], body: bytes) -> T:
        return read("Viettel Post", wire.EnvelopeError, lambda: decoder(body))

    # -- operations -------------------------------------------------------------------------------
    def create(self, shipment: Shipment) -> Booking:
        """`createOrder` when both wards have VTP ids, `createOrderNlp` with free-text addresses otherwise."""
        try:
            payload = wire.encode_shipment(shipment, self.account, now=datetime.now(VIETNAM))
        except ValueError as error:
            raise CourierRejected(f"Viettel Post account is misconfigured: {error}") from error
        return self._decode(wire.decode_created, self._call("POST", wire.create_path(shipment), payload))

    def find(self, reference: str) -> Booking | None:
        """The order VTP holds under our reference, if any.

        Only an answer that says so (`error: true`, or no data) means "not known": any other refusal
        passes up, because booking again on a guess could send the dossier twice.
        """
        path = self.account.options.get("find_path", self.account.options.get("detail_path", DETAIL_PATH))
        if not path:
            raise CourierRejected(
                f"Viettel Post: no lookup by our reference for this account; check {reference} in the VTP portal"
            )
        body = self._call("GET", path, params={"o": reference})
        try:
            return wire.decode_found(body, reference)
        except wire.EnvelopeError as error:
            if says_not_found(str(error)):
                return None
            raise CourierUnavailable(f"Viettel Post could not say whether it holds {reference}: {error}") from error
        except msgspec.DecodeError as error:
            raise CourierUnavailable(f"Viettel Post answered an unreadable body: {error}") from error

    def track(self, tracking_code: str) -> list[StatusUpdate]:
        """What VTP reports for a tracking code, for orders whose callbacks went quiet."""
        path = self.account.options.get("detail_path", DETAIL_PATH)
        if not path:
            raise CourierRejected("Viettel Post: this account is webhook-only, no status lookup")
        return self._decode(wire.decode_tracked, self._call("GET", path, params={"o": tracking_code}))

    def _update(self, type_: int, tracking_code: str) -> str:
        body = self._call("POST", "/v2/order/UpdateOrder", wire.encode_update(tracking_code, type_))
        return self._decode(wire.decode_update, body)

    def cancel(self, tracking_code: str) -> str:
        return self._update(CANCEL, tracking_code)

    def redeliver(self, tracking_code: str) -> str:
        return self._update(REDELIVER, tracking_code)  # "phát tiếp"

    def return_to_sender(self, tracking_code: str) -> str:
        return self._update(APPROVE_RETURN, tracking_code)  # "duyệt chuyển hoàn"
