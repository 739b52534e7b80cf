"""The GHTK sandbox: `/services/shipment/*` in GHTK's `{success, message}` envelope, GHTK form callbacks back."""

from __future__ import annotations

import hashlib
import math
import secrets
from datetime import datetime
from typing import Any

import msgspec
from litestar import Request, Response, Router, get, post
from litestar.params import FromPath, JSONBody

from contracts.config import Config, CourierAccount
from contracts.couriers import VIETNAM
from contracts.couriers import ghtk as wire
from contracts.couriers.ghtk_codes import CANCELLABLE, REASON, STATUS_TEXT
from service.sandboxes.base import SandboxCore

PREFIX = "/ghtk"

Step = tuple[int, str]  # (status_id, reason_code)
Callback = tuple[str, dict[str, str]]  # (digest of the booking account's token, the form fields)
_START: list[Step] = [(2, ""), (12, ""), (123, ""), (3, ""), (4, "")]
# The stories autoplay tells, as GHTK callbacks; shipper reports (123, 45, 49, 410) come before GHTK confirms.
STORIES: dict[str, list[Step]] = {
    "delivered": [*_START, (45, ""), (5, ""), (6, "")],
    "failed_then_delivered": [*_START, (410, "122"), (10, "122"), (4, ""), (45, ""), (5, ""), (6, "")],
    "returned": [*_START, (49, "131"), (9, "131"), (20, ""), (21, ""), (11, "")],
    "lost": [*_START[:4], (13, "")],  # 13: compensated, GHTK's word for a parcel it lost
}
# Nothing follows these (5 and 21 still get their reconciliation, 6 and 11).
_FINAL = frozenset({-1, 6, 7, 11, 13, 21})
# GHTK resends a callback that was not answered 200: "retry once" in the newer docs (§3.4, VERIFY).
CALLBACK_TRIES = 2


class OrderIn(msgspec.Struct, kw_only=True):
    id: str = ""
    pick_name: str = ""
    pick_tel: str = ""
    pick_address: str = ""
    pick_address_id: str = ""
    pick_province: str = ""
    name: str = ""
    tel: str = ""
    address: str = ""
    province: str = ""
    ward: str = ""
    pick_money: int | None = None
    value: int = 0
    is_freeship: int = 0
    pick_option: str = "cod"
    total_weight: float = 0.0


class ProductIn(msgspec.Struct, kw_only=True):
    weight: float = 0.0
    quantity: int = 1


class CreateIn(msgspec.Struct, kw_only=True):
    """What GHTK reads of a create: tolerant of types ("1" or 1), strict on what it requires (`_check`)."""

    products: list[ProductIn] = []
    order: OrderIn


class SandboxOrder(msgspec.Struct, kw_only=True):
    label: str
    booked: OrderIn  # the order as GHTK read it
    account: str  # a digest of the token that booked it: whose callback secret signs its callbacks
    status_id: int
    created: str
    modified: str
    fee: int
    insurance_fee: int
    weight_kg: float
    story: list[Step] = []
    played: int = 0  # steps of the story recorded so far


class Push(msgspec.Struct, kw_only=True):
    status: str
    reason_code: str = ""
    return_part_package: int = 0


def _answer(success: bool, message: str, http_status: int = 200, **extra: Any) -> Response[Any]:
    return Response({"success": success, "message": message, **extra}, status_code=http_status)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()[:16]


def _local(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S")  # GHTK's lookup times: naive, Vietnam local


class GhtkSandbox:
    name = "ghtk"

    def __init__(self, core: SandboxCore, config: Config) -> None:
        self.core = core
        self.store = core.store
        self.accounts = {a.token: a for a in config.accounts("ghtk")}

    def _account(self, request: Request[Any, Any, Any]) -> CourierAccount | None:
        account = self.accounts.get(request.headers.get("token", ""))
        # A partner account must also name itself in `X-Client-Source`, as GHTK requires of partners (§3.1).
        source = request.headers.get("x-client-source")
        return None if account is None or (account.partner_code and source != account.partner_code) else account

    async def _load(self, label: str) -> SandboxOrder | None:
        raw = await self.store.get(f"sbx:ghtk:order:{label}")
        return msgspec.json.decode(raw, type=SandboxOrder) if raw else None

    async def _save(self, order: SandboxOrder) -> None:
        await self.store.set(f"sbx:ghtk:order:{order.label}", msgspec.json.encode(order))

    async def _find(self, code: str) -> SandboxOrder | None:
        """A label, or `partner_id:<our reference>`, as GHTK's lookup and cancel paths take them."""
        if code.startswith("partner_id:"):
            found = await self.store.get(f"sbx:ghtk:partner:{code.removeprefix('partner_id:')}")
            if found is None:
                return None
            code = found.decode() if isinstance(found, bytes) else str(found)
        return await self._load(code)

    async def create(self, request: Request[Any, Any, Any]) -> Response[Any]:
        if (refused := await self.core.misbehave()) is not None:
            return refused
        account = self._account(request)
        if account is None:
            return _answer(False, "Token không hợp lệ", 401)
        if request.query_params.get("ver") != "1.5":
            return _answer(False, "Sandbox speaks only ver=1.5")
        try:
            raw = msgspec.json.decode(await request.body())
            body = msgspec.convert(raw, CreateIn, strict=False)
        except msgspec.ValidationError as error:
            return _answer(False, f"Dữ liệu không hợp lệ: {error}")
        except msgspec.DecodeError:
            return _answer(False, "Body is not JSON")
        if problem := _check(body):
            return _answer(False, problem)
        order_in = body.order
        tracking_id = secrets.randbelow(9 * 10**9) + 10**9
        label = f"S{int(_digest(account.token)[:6], 16)}.HNI01-A1.{tracking_id}"
        partner_key = f"sbx:ghtk:partner:{order_in.id}"
        if not await self.store.set(partner_key, label, nx=True):
            if (await self.core.chaos()).duplicate_reference == "reject":
                return _answer(False, f"Mã đơn hàng {order_in.id} đã tồn tại trên hệ thống")
            await self.store.set(partner_key, label)
        weight = order_in.total_weight or sum(p.weight * p.quantity for p in body.products)
        fee = 22000 + 5000 * max(0, math.ceil((weight - 0.5) / 0.5))
        insurance_fee = order_in.value // 200 if order_in.value > 1_000_000 else 0
        now = _local(datetime.now(VIETNAM))
        order = SandboxOrder(
            label=label, booked=order_in, account=_digest(account.token), status_id=2, created=now, modified=now,
            fee=fee, insurance_fee=insurance_fee, weight_kg=weight, story=STORIES[await self.core.scenario()],
        )  # fmt: skip
        await self._save(order)
        await self.core.count_shipment("ghtk", order_in.id)
        if self.core.settings.dd_sandbox_autoplay:
            self.core.spawn(self._play(label))
        await self.core.lose_answer()
        today = datetime.now(VIETNAM).date().isoformat()
        data = {
            "partner_id": order_in.id, "label": label, "area": 1, "fee": fee, "insurance_fee": insurance_fee,
            "tracking_id": tracking_id, "estimated_pick_time": f"Chiều {today}",
            "estimated_deliver_time": f"Chiều {today}", "products": [], "status_id": 2, "sorting_code": "HNI01",
        }  # fmt: skip
        return _answer(True, "Các đơn hàng đã được add vào hệ thống GHTK thành công.", order=data)

    async def lookup(self, request: Request[Any, Any, Any], code: str) -> Response[Any]:
        if (refused := await self.core.misbehave()) is not None:
            return refused
        if self._account(request) is None:
            return _answer(False, "Token không hợp lệ", 401)
        order = await self._find(code)
        if order is None:
            return _answer(False, "Không tìm thấy đơn hàng")
        booked = order.booked
        data = {
            "label_id": order.label, "partner_id": booked.id, "status": str(order.status_id),
            "status_text": STATUS_TEXT.get(order.status_id, ""), "created": order.created,
            "modified": order.modified, "message": "", "pick_date": order.created[:10], "deliver_date": "",
            "customer_fullname": booked.name, "customer_tel": booked.tel,
            "address": ", ".join(part for part in (booked.address, booked.ward, booked.province) if part),
            "storage_day": 0, "ship_money": order.fee, "insurance": order.insurance_fee, "value": booked.value,
            "weight": round(order.weight_kg * 1000), "pick_money": booked.pick_money or 0,
            "is_freeship": booked.is_freeship,
        }  # fmt: skip
        return _answer(True, "", order=data)

    async def cancel(self, request: Request[Any, Any, Any], code: str) -> Response[Any]:
        """Only before pickup (1, 2, 12); the cancellation then comes back as a callback, reason 115."""
        if self._account(request) is None:
            return _answer(False, "Token không hợp lệ", 401)
        order = await self._find(code)
        if order is None:
            return _answer(False, "Không tìm thấy đơn hàng")
        if order.status_id == -1:
            return _answer(False, "Đơn hàng đã bị hủy")
        if order.status_id not in CANCELLABLE:
            return _answer(False, "Đơn đã lấy hàng, không thể hủy đơn.")
        callback = await self._record(order.label, (-1, "115"), scripted=False)
        if callback is not None:
            self.core.spawn(self._post(callback))
        return _answer(True, "", log_id=secrets.token_hex(8))

    async def _record(self, label: str, step: Step, *, scripted: bool = True, partial: int = 0) -> Callback | None:
        """Move the shipment one step and build GHTK's callback for it; None once it ended elsewhere."""
        order = await self._load(label)
        if order is None or (scripted and order.status_id in _FINAL):
            return None
        status_id, reason_code = step
        now = datetime.now(VIETNAM).replace(microsecond=0)
        order.status_id = status_id
        order.modified = _local(now)
        if scripted:
            order.played += 1
        await self._save(order)
        return order.account, {
            "label_id": order.label, "partner_id": order.booked.id, "status_id": str(status_id),
            "action_time": now.isoformat(), "reason_code": reason_code, "reason": REASON.get(reason_code, ""),
            "weight": str(order.weight_kg), "fee": str(order.fee), "pick_money": str(order.booked.pick_money or 0),
            "return_part_package": str(partial),
        }  # fmt: skip

    async def _post(self, callback: Callback) -> bool:
        digest, fields = callback
        account = next((a for a in self.accounts.values() if _digest(a.token) == digest), None)
        if account is None:
            return False
        url = f"{self.core.settings.public_url}/v1/callbacks/ghtk"
        what = f"ghtk {fields['label_id']} {fields['status_id']}"
        # Form-urlencoded, the secret in the URL we registered as `?hash=` (§3.4).
        send = lambda: self.core.http.post(url, params={"hash": account.callback_secret}, data=fields)  # noqa: E731
        return await self.core.deliver(send, what, tries=CALLBACK_TRIES)

    async def push(self, label: str, status_id: int, reason_code: str = "", partial: int = 0) -> bool:
        """Post one callback now, outside the story (a hand-driven feed)."""
        callback = await self._record(label, (status_id, reason_code), scripted=False, partial=partial)
        return callback is not None and await self._post(callback)

    async def _play(self, label: str) -> None:
        order = await self._load(label)
        if order is not None:
            await self.core.continue_story(order, self._save, lambda step: self._record(label, step), self._post)

    async def resume(self) -> int:
        """Carry on with parcels in flight: a courier keeps moving them while our side is down."""
        return await self.core.resume_stories(
            "ghtk", self._load, lambda order: order.status_id in _FINAL, lambda order: self._play(order.label)
        )


def _check(body: CreateIn) -> str | None:
    """GHTK's own refusals for what it requires (couriers-vn.md §3.2)."""
    order = body.order
    for name in ("id", "name", "tel", "address", "province", "pick_name", "pick_tel"):
        if not getattr(order, name):
            return f"Thiếu thông tin {name}"
    if not order.pick_address_id and not (order.pick_address and order.pick_province):
        return "Thiếu địa chỉ lấy hàng (pick_address_id hoặc pick_address + pick_province)"
    if order.pick_money is None:
        return "Thiếu thông tin pick_money"
    if order.pick_option not in wire.PICK_OPTIONS:
        return f"pick_option {order.pick_option} không hợp lệ"
    if not body.products or any(p.weight <= 0 or p.quantity <= 0 for p in body.products):
        return "Thiếu thông tin sản phẩm"
    return None


def router(sandbox: GhtkSandbox) -> Router:
    @post(f"{PREFIX}/services/shipment/order", status_code=200)
    async def create(request: Request[Any, Any, Any]) -> Response[Any]:
        return await sandbox.create(request)

    @get(f"{PREFIX}/services/shipment/v2/{{code:str}}")
    async def lookup(code: FromPath[str], request: Request[Any, Any, Any]) -> Response[Any]:
        return await sandbox.lookup(request, code)

    @post(f"{PREFIX}/services/shipment/cancel/{{code:str}}", status_code=200)
    async def cancel(code: FromPath[str], request: Request[Any, Any, Any]) -> Response[Any]:
        return await sandbox.cancel(request, code)

    @post(f"{PREFIX}/_sandbox/orders/{{label:str}}/push", status_code=200)
    async def push(label: FromPath[str], data: JSONBody[Push]) -> Response[Any]:
        """Drive the feed by hand (DD_SANDBOX_AUTOPLAY=0): post one GHTK callback for this order now."""
        try:
            status_id = int(data.status)
        except ValueError:
            return Response({"error": f"status {data.status!r} is not a GHTK status_id"}, status_code=400)
        delivered = await sandbox.push(label, status_id, data.reason_code, data.return_part_package)
        return Response({"posted": delivered}, status_code=200 if delivered else 502)

    return Router(path="/", route_handlers=[create, lookup, cancel, push])
