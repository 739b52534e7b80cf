"""The GHN sandbox: `/v2/shipping-order/*` and `/v2/switch-status/*` in GHN's envelope, GHN callbacks back."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
from litestar import Request, Response, Router, post
from litestar.params import FromPath, JSONBody

from contracts.config import Config, CourierAccount
from contracts.couriers import VIETNAM
from contracts.couriers import ghn as wire
from service.sandboxes.base import SandboxCore

PREFIX = "/ghn/shiip/public-api"
_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"

Step = tuple[str, str, str]  # (Type, Status, ReasonCode)
_START: list[Step] = [("create", "ready_to_pick", ""), ("switch_status", "picking", ""),
                      ("switch_status", "picked", ""), ("switch_status", "storing", ""),
                      ("switch_status", "transporting", ""), ("switch_status", "delivering", "")]  # fmt: skip
_FAIL: list[Step] = [("switch_status", "delivery_fail", "GHN-DFC1A4")]
# The stories autoplay tells, as GHN callbacks.
STORIES: dict[str, list[Step]] = {
    "delivered": [*_START, ("switch_status", "delivered", "")],
    "failed_then_delivered": [*_START, *_FAIL, ("switch_status", "storing", ""), ("switch_status", "delivering", ""),
                              ("switch_status", "delivered", "")],
    "returned": [*_START, *_FAIL, ("switch_status", "waiting_to_return", ""), ("switch_status", "return", ""),
                 ("switch_status", "returning", ""), ("switch_status", "returned", "")],
    "lost": [*_START[:5], ("switch_status", "lost", "")],
}  # fmt: skip
# action -> (GHN statuses it is accepted in, the status GHN then reports)
_SWITCHES: dict[str, tuple[frozenset[str], str]] = {
    "cancel": (frozenset({"ready_to_pick", "picking", "money_collect_picking"}), "cancel"),
    "storing": (frozenset({"delivery_fail", "waiting_to_return"}), "storing"),
    "return": (frozenset({"delivery_fail", "waiting_to_return", "storing"}), "return"),
}
_FINAL = frozenset({"delivered", "returned", "cancel", "lost", "damage"})


class SandboxOrder(msgspec.Struct, kw_only=True):
    order_code: str
    client_order_code: str
    shop_id: int
    status: str
    log: list[dict[str, str]]
    total_fee: int
    story: list[Step] = []
    played: int = 0  # steps of the story recorded so far


class Push(msgspec.Struct, kw_only=True):
    status: str
    type: str = "switch_status"
    reason_code: str = ""


def _envelope(code: int, message: str, data: Any = None, http_status: int | None = None) -> Response[Any]:
    return Response({"code": code, "message": message, "data": data}, status_code=http_status or code)


class GhnSandbox:
    name = "ghn"

    def __init__(self, core: SandboxCore, config: Config) -> None:
        self.core = core
        self.store = core.store
        self.accounts = {a.token: a for a in config.accounts("ghn")}

    def _account(self, request: Request[Any, Any, Any]) -> CourierAccount | None:
        return self.accounts.get(request.headers.get("token", ""))

    async def _load(self, order_code: str) -> SandboxOrder | None:
        raw = await self.store.get(f"sbx:ghn:order:{order_code}")
        return msgspec.json.decode(raw, type=SandboxOrder) if raw else None

    async def _save(self, order: SandboxOrder) -> None:
        await self.store.set(f"sbx:ghn:order:{order.order_code}", msgspec.json.encode(order))

    async def create(self, request: Request[Any, Any, Any]) -> Response[Any]:
        if (refused := await self.core.misbehave()) is not None:
            return refused
        account = self._account(request)
        if account is None:
            return _envelope(401, "Token is not valid")
        try:
            body = msgspec.json.decode(await request.body(), type=wire.CreateOrder)
        except msgspec.ValidationError as error:
            return _envelope(400, f"Dữ liệu không hợp lệ: {error}")
        except msgspec.DecodeError:
            return _envelope(400, "Body is not JSON")
        if problem := _check(body):
            return _envelope(400, problem)
        order_code = "".join(secrets.choice(_ALPHABET) for _ in range(8))
        client_key = f"sbx:ghn:client:{body.client_order_code}"
        if not await self.store.set(client_key, order_code, nx=True):
            if (await self.core.chaos()).duplicate_reference == "reject":
                return _envelope(400, f"Mã đơn hàng khách hàng {body.client_order_code} đã tồn tại")
            await self.store.set(client_key, order_code)
        fee = 22000 + 5000 * max(0, (body.weight - 500) // 500)
        story = STORIES[await self.core.scenario()]
        order = SandboxOrder(order_code=order_code, client_order_code=body.client_order_code,
                             shop_id=account.shop_id or 0, status="ready_to_pick", log=[], total_fee=fee,
                             story=story)  # fmt: skip
        await self._save(order)
        await self.core.count_shipment("ghn", body.client_order_code)
        if self.core.settings.dd_sandbox_autoplay:
            self.core.spawn(self._play(order_code))
        await self.core.lose_answer()
        expected = (datetime.now(VIETNAM) + timedelta(days=2)).isoformat()
        data = {
            "order_code": order_code, "sort_code": "40-G-33-A1", "trans_type": "truck",
            "fee": {"main_service": fee, "insurance": 0, "station_do": 0, "station_pu": 0, "return": 0, "r2s": 0,
                    "coupon": 0, "cod_fee": 0, "cod_failed_fee": 0},
            "total_fee": fee, "expected_delivery_time": expected,
        }  # fmt: skip
        return _envelope(200, "Success", data)

    async def detail(self, request: Request[Any, Any, Any], by_client_code: bool) -> Response[Any]:
        if (refused := await self.core.misbehave()) is not None:
            return refused
        if self._account(request) is None:
            return _envelope(401, "Token is not valid")
        try:
            body = msgspec.json.decode(await request.body(), type=dict[str, str])
        except (msgspec.ValidationError, msgspec.DecodeError):
            return _envelope(400, "Body is not JSON")
        code = body.get("client_order_code" if by_client_code else "order_code", "")
        if by_client_code:
            found = await self.store.get(f"sbx:ghn:client:{code}")
            code = found.decode() if found else ""
        order = await self._load(code) if code else None
        if order is None:
            return _envelope(400, "Không tìm thấy đơn hàng")
        data = {"order_code": order.order_code, "client_order_code": order.client_order_code,
                "status": order.status, "log": order.log, "total_fee": order.total_fee}  # fmt: skip
        return _envelope(200, "Success", data)

    async def switch(self, request: Request[Any, Any, Any], action: str) -> Response[Any]:
        """`switch-status/{cancel,storing,return}`: a result per order code, as GHN answers."""
        if self._account(request) is None:
            return _envelope(401, "Token is not valid")
        try:
            codes = msgspec.json.decode(await request.body(), type=dict[str, list[str]])["order_codes"]
        except (msgspec.ValidationError, msgspec.DecodeError, KeyError):
            return _envelope(400, "order_codes is required")
        allowed, then = _SWITCHES[action]
        results = []
        for code in codes:
            order = await self._load(code)
            if order is None:
                results.append({"order_code": code, "result": False, "message": "Không tìm thấy đơn hàng"})
            elif order.status not in allowed:
                message = f"Không thể thực hiện với đơn ở trạng thái {order.status}"
                results.append({"order_code": code, "result": False, "message": message})
            else:
                results.append({"order_code": code, "result": True, "message": "OK"})
                self.core.spawn(self.push(code, "switch_status", then))
        return _envelope(200, "Success", results)

    async def _record(self, order_code: str, step: Step, *, scripted: bool = True) -> dict[str, Any] | None:
        """Move the shipment one step and build GHN's callback for it; None once it ended elsewhere."""
        order = await self._load(order_code)
        if order is None or (scripted and order.status in _FINAL):
            return None
        type_, status, reason_code = step
        now = datetime.now(VIETNAM).replace(microsecond=0)
        order.status = status
        order.log.append({"status": status, "updated_date": now.astimezone(UTC).isoformat()})
        if scripted:
            order.played += 1
        await self._save(order)
        return {
            "CODAmount": 0, "CODTransferDate": None, "ClientOrderCode": order.client_order_code,
            "ConvertedWeight": 0, "Description": wire.STATUS_TEXT.get(status, status),
            "Fee": {"CODFailedFee": 0, "CODFee": 0, "Coupon": 0, "DeliverRemoteAreasFee": 0, "DocumentReturn": 0,
                    "DoubleCheck": 0, "Insurance": 0, "MainService": order.total_fee, "PickRemoteAreasFee": 0,
                    "R2S": 0, "Return": 0, "StationDO": 0, "StationPU": 0, "Total": order.total_fee},
            "Height": 2, "IsPartialReturn": False, "Length": 35, "OrderCode": order.order_code, "PartialReturnCode": "",
            "PaymentType": 1, "Reason": "", "ReasonCode": reason_code, "ShopID": order.shop_id, "Status": status,
            "Time": now.isoformat(), "TotalFee": order.total_fee, "Type": type_,
            "Warehouse": "Bưu Cục 229 Quan Nhân-Q.Thanh Xuân-HN", "Weight": 500, "Width": 25,
        }  # fmt: skip

    async def _post(self, payload: dict[str, Any]) -> bool:
        account = next((a for a in self.accounts.values() if a.shop_id == payload["ShopID"]), None)
        if account is None:
            return False
        url = f"{self.core.settings.public_url}/v1/callbacks/ghn"
        what = f"ghn {payload['OrderCode']} {payload['Status']}"
        # GHN retries 10 times, 5 seconds apart, until it gets HTTP 200 (api.ghn.vn id=47).
        return await self.core.deliver(
            lambda: self.core.http.post(url, params={"token": account.callback_secret}, json=payload), what, tries=10
        )

    async def push(self, order_code: str, type_: str, status: str, reason_code: str = "") -> bool:
        """Post one callback now, outside the story (a hand-driven feed, or a switch-status answer)."""
        payload = await self._record(order_code, (type_, status, reason_code), scripted=False)
        return payload is not None and await self._post(payload)

    async def _play(self, order_code: str) -> None:
        order = await self._load(order_code)
        if order is not None:
            await self.core.continue_story(order, self._save, lambda step: self._record(order_code, step), self._post)

    async def resume(self) -> int:
        """Carry on with parcels in flight: a courier keeps moving them while our side is down."""
        return await self.core.resume_stories(
            "ghn", self._load, lambda order: order.status in _FINAL, lambda order: self._play(order.order_code)
        )


def _check(body: wire.CreateOrder) -> str | None:
    """GHN's own refusals for fields it requires (limits per couriers-vn.md §2.3)."""
    for name in ("client_order_code", "to_name", "to_phone", "to_address", "to_ward_name", "to_province_name"):
        if not getattr(body, name):
            return f"{name} is required"
    if not 0 < body.weight <= 50_000:
        return "weight must be between 1 and 50000 grams"
    if len(body.note) > 5000 or len(body.content) > 2000:
        return "note or content too long"
    return None


def router(sandbox: GhnSandbox) -> Router:
    @post(f"{PREFIX}/v2/shipping-order/create", status_code=200)
    async def create(request: Request[Any, Any, Any]) -> Response[Any]:
        return await sandbox.create(request)

    @post(f"{PREFIX}/v2/shipping-order/detail", status_code=200)
    async def detail(request: Request[Any, Any, Any]) -> Response[Any]:
        return await sandbox.detail(request, by_client_code=False)

    @post(f"{PREFIX}/v2/shipping-order/detail-by-client-code", status_code=200)
    async def detail_by_client(request: Request[Any, Any, Any]) -> Response[Any]:
        return await sandbox.detail(request, by_client_code=True)

    @post(f"{PREFIX}/v2/switch-status/{{action:str}}", status_code=200)
    async def switch(action: FromPath[str], request: Request[Any, Any, Any]) -> Response[Any]:
        if action not in _SWITCHES:
            return _envelope(404, f"unknown action {action}")
        return await sandbox.switch(request, action)

    @post("/ghn/_sandbox/orders/{order_code:str}/push", status_code=200)
    async def push(order_code: FromPath[str], data: JSONBody[Push]) -> Response[Any]:
        """Drive the feed by hand (DD_SANDBOX_AUTOPLAY=0): post one GHN callback for this order now."""
        delivered = await sandbox.push(order_code, data.type, data.status, data.reason_code)
        return Response({"posted": delivered}, status_code=200 if delivered else 502)

    return Router(path="/", route_handlers=[create, detail, detail_by_client, switch, push])
