"""The GHN sandbox: `/v2/shipping-order/*` in GHN's envelope, and GHN-format callbacks posted back to us."""

from __future__ import annotations

import asyncio
import logging
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import msgspec
import redis.asyncio as aredis
from litestar import Request, Response, Router, post
from litestar.params import FromPath, JSONBody

from contracts.config import Config, CourierAccount
from contracts.couriers import VIETNAM
from contracts.couriers import ghn as wire
from contracts.settings import Settings

log = logging.getLogger(__name__)
PREFIX = "/ghn/shiip/public-api"
# The happy path a dossier takes at GHN, as callbacks: (Type, Status).
HAPPY_PATH = [
    ("create", "ready_to_pick"),
    ("switch_status", "picking"),
    ("switch_status", "picked"),
    ("switch_status", "storing"),
    ("switch_status", "transporting"),
    ("switch_status", "delivering"),
    ("switch_status", "delivered"),
]
_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
# action -> (GHN statuses it is accepted in, the status GHN then reports)
_SWITCHES: dict[str, tuple[frozenset[str], str]] = {
    "cancel": (frozenset({"ready_to_pick", "picking", "money_collect_picking"}), "cancel"),
    "storing": (frozenset({"delivery_fail", "waiting_to_return"}), "storing"),
    "return": (frozenset({"delivery_fail", "waiting_to_return", "storing"}), "return"),
}


class SandboxOrder(msgspec.Struct, kw_only=True):
    order_code: str
    client_order_code: str
    shop_id: int
    status: str
    log: list[dict[str, str]]
    total_fee: int


def _envelope(code: int, message: str, data: Any = None, http_status: int | None = None) -> Response[Any]:
    return Response({"code": code, "message": message, "data": data}, status_code=http_status or code)


class GhnSandbox:
    def __init__(self, settings: Settings, config: Config, store: aredis.Redis) -> None:
        self.settings = settings
        self.accounts = {a.token: a for a in config.accounts("ghn")}
        self.store = store
        self.http = httpx.AsyncClient(timeout=5)
        self.tasks: set[asyncio.Task[None]] = set()
        self.retry_seconds = 5.0 if settings.dd_sandbox_step_seconds >= 1 else settings.dd_sandbox_step_seconds

    def _account(self, request: Request[Any, Any, Any]) -> CourierAccount | None:
        return self.accounts.get(request.headers.get("token", ""))

    async def _load(self, order_code: str) -> SandboxOrder | None:
        raw = await self.store.get(f"sbx:ghn:order:{order_code}")
        return msgspec.json.decode(raw, type=SandboxOrder) if raw else None

    async def _save(self, order: SandboxOrder) -> None:
        await self.store.set(f"sbx:ghn:order:{order.order_code}", msgspec.json.encode(order))

    async def create(self, request: Request[Any, Any, Any]) -> Response[Any]:
        account = self._account(request)
        if account is None:
            return _envelope(401, "Token is not valid")
        try:
            body = msgspec.json.decode(await request.body(), type=wire.CreateOrder)
        except msgspec.ValidationError as error:
            return _envelope(400, f"Dữ liệu không hợp lệ: {error}")
        except msgspec.DecodeError:
            return _envelope(400, "Body is not JSON")
        problem = _check(body)
        if problem:
            return _envelope(400, problem)
        client_key = f"sbx:ghn:client:{body.client_order_code}"
        order_code = "".join(secrets.choice(_ALPHABET) for _ in range(8))
        if not await self.store.set(client_key, order_code, nx=True):
            return _envelope(400, f"Mã đơn hàng khách hàng {body.client_order_code} đã tồn tại")
        fee = 22000 + 5000 * max(0, (body.weight - 500) // 500)
        order = SandboxOrder(
            order_code=order_code,
            client_order_code=body.client_order_code,
            shop_id=account.shop_id or 0,
            status="ready_to_pick",
            log=[],
            total_fee=fee,
        )
        await self._save(order)
        if self.settings.dd_sandbox_autoplay:
            self._spawn(self._play(order_code))
        expected = (datetime.now(VIETNAM) + timedelta(days=2)).isoformat()
        data = {
            "order_code": order_code,
            "sort_code": "40-G-33-A1",
            "trans_type": "truck",
            "fee": {"main_service": fee, "insurance": 0, "station_do": 0, "station_pu": 0, "return": 0, "r2s": 0,
                    "coupon": 0, "cod_fee": 0, "cod_failed_fee": 0},
            "total_fee": fee,
            "expected_delivery_time": expected,
        }  # fmt: skip
        return _envelope(200, "Success", data)

    async def detail(self, request: Request[Any, Any, Any], by_client_code: bool) -> Response[Any]:
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
                self._spawn(self.push(code, "switch_status", then))
        return _envelope(200, "Success", results)

    async def push(self, order_code: str, type_: str, status: str, reason_code: str = "") -> bool:
        """Move the sandbox order and post GHN's callback, retrying as GHN does (10 times)."""
        order = await self._load(order_code)
        if order is None:
            return False
        account = next((a for a in self.accounts.values() if a.shop_id == order.shop_id), None)
        if account is None:
            return False
        now = datetime.now(VIETNAM).replace(microsecond=0)
        order.status = status
        order.log.append({"status": status, "updated_date": now.astimezone(UTC).isoformat()})
        await self._save(order)
        payload = {
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
        url = f"{self.settings.public_url}/v1/callbacks/ghn"
        for _attempt in range(10):
            try:
                response = await self.http.post(url, params={"token": account.callback_secret}, json=payload)
                if response.status_code == 200:
                    return True
                log.warning("callback for %s answered %s; retrying", order_code, response.status_code)
            except httpx.HTTPError as error:
                log.warning("callback for %s failed (%s); retrying", order_code, type(error).__name__)
            await asyncio.sleep(self.retry_seconds)
        return False

    async def resume(self) -> int:
        """Carry on with parcels in flight: a courier keeps moving them while our side is down."""
        resumed = 0
        async for key in self.store.scan_iter(match="sbx:ghn:order:*", count=500):
            order = await self._load(key.decode().rsplit(":", 1)[1])
            steps = [status for _type, status in HAPPY_PATH]
            if order is None or order.status not in steps or order.status == steps[-1]:
                continue
            # Re-post the current status too: it may never have reached us (we dedupe repeats).
            self._spawn(self._play(order.order_code, start=steps.index(order.status)))
            resumed += 1
        return resumed

    async def _play(self, order_code: str, start: int = 0) -> None:
        for type_, status in HAPPY_PATH[start:]:
            await asyncio.sleep(self.settings.dd_sandbox_step_seconds)
            current = await self._load(order_code)
            if current is None or current.status == "cancel":
                return
            if not await self.push(order_code, type_, status):
                log.error("gave up posting %s for %s after GHN's 10 tries", status, order_code)
                return

    def _spawn(self, work: Any) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def close(self) -> None:
        for task in list(self.tasks):
            task.cancel()
        await self.http.aclose()


def _check(body: wire.CreateOrder) -> str | None:
    """GHN's own refusals for fields it requires (limits per couriers-vn.md §2.3)."""
    for name in (
        "client_order_code",
        "to_name",
        "to_phone",
        "to_address",
        "to_ward_name",
        "to_province_name",
    ):
        if not getattr(body, name):
            return f"{name} is required"
    if not 0 < body.weight <= 50_000:
        return "weight must be between 1 and 50000 grams"
    if len(body.note) > 5000 or len(body.content) > 2000:
        return "note or content too long"
    return None


class Push(msgspec.Struct, kw_only=True):
    status: str
    type: str = "switch_status"
    reason_code: str = ""


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

    @post("/ghn/_sandbox/orders/{order_code:str}/push", status_code=200)
    async def push(order_code: FromPath[str], data: JSONBody[Push]) -> Response[Any]:
        """Drive the feed by hand (DD_SANDBOX_AUTOPLAY=0): post one GHN callback for this order now."""
        delivered = await sandbox.push(order_code, data.type, data.status, data.reason_code)
        return Response({"posted": delivered}, status_code=200 if delivered else 502)

    @post(f"{PREFIX}/v2/switch-status/{{action:str}}", status_code=200)
    async def switch(action: FromPath[str], request: Request[Any, Any, Any]) -> Response[Any]:
        if action not in _SWITCHES:
            return _envelope(404, f"unknown action {action}")
        return await sandbox.switch(request, action)

    return Router(path="/", route_handlers=[create, detail, detail_by_client, switch, push])
