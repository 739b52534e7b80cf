"""The VNPost sandbox: MyVNPost's token, create, lookup, history, cancel and draft endpoints, and its callbacks."""

from __future__ import annotations

import asyncio
import secrets
from datetime import datetime
from typing import Any

import msgspec
from litestar import Request, Response, Router, get, post
from litestar.params import FromPath, JSONBody

from contracts.config import Config, CourierAccount
from contracts.couriers import VIETNAM
from contracts.couriers import vnpost as wire
from contracts.couriers import vnpost_codes as codes
from service.sandboxes.base import SandboxCore

PREFIX = "/vnpost"
# MyVNPost's webhook retry policy is not documented (couriers-vn.md §1, §10.4): a few tries, VERIFY.
CALLBACK_TRIES = 3
TOKEN_SECONDS = 24 * 3600
SERVICES = frozenset({"CTN001", "CTN007", "CTN009", "ETN011", "ETN013", "ETN031", "ETN037", "PTN001"})

_START = ["2", "4", "6", "7", "10", "11", "12"]  # "1" (created) is the create answer itself
# The stories autoplay tells, as MyVNPost status codes. MyVNPost has no "lost" code, so "lost" tells "returned".
STORIES: dict[str, list[str]] = {
    "delivered": [*_START, "14"],
    "failed_then_delivered": [*_START, "15", "12", "14"],
    "returned": [*_START, "15", "16", "17", "18", "24", "19"],
}
_FINAL = frozenset({"9", "14", "19", "22"})
_CANCEL_NOW = frozenset({"1", "2", "3", "4", "5"})  # not picked up yet: cancelled at once (status 9)
_CANCEL_APPROVAL = frozenset({"6", "7", "10", "11", "13"})  # in VNPost's hands: approval, then status 22
# What MyVNPost requires in `informationOrder` (couriers-vn.md §5.1); codes too, for two-level addresses.
_REQUIRED = [
    *(side + field for side in ("sender", "receiver")
      for field in ("Name", "Phone", "Address", "ProvinceCode", "DistrictCode", "CommuneCode")),
    "serviceCode", "contentNote", "weight", "sendType",
]  # fmt: skip
_BAD_TOKEN = "Token không hợp lệ hoặc đã hết hạn"
_ADDON_PROPS = {codes.COD: codes.COD_PROP, codes.DECLARED_VALUE: codes.DECLARED_VALUE_PROP}


class SandboxOrder(msgspec.Struct, kw_only=True):
    item_code: str
    original_id: str
    order_hdr_id: str
    sale_order_code: str
    customer_code: str
    service_code: str
    status: str
    history: list[dict[str, str]]
    total_fee: int
    cod_amount: int = 0
    story: list[str] = []
    played: int = 0  # steps of the story recorded so far


class Push(msgspec.Struct, kw_only=True):
    status: str


def _refuse(message: str, http_status: int = 200) -> Response[Any]:
    return Response({"success": False, "message": message}, status_code=http_status)


def _item_code() -> str:
    """A UPU S10 code with a valid check digit (couriers-vn.md §5.3), e.g. EN340902457VN."""
    digits = [secrets.randbelow(10) for _ in range(8)]
    check = 11 - sum(d * w for d, w in zip(digits, (8, 6, 4, 2, 3, 5, 9, 7), strict=True)) % 11
    check = {10: 0, 11: 5}.get(check, check)
    return "EN" + "".join(map(str, digits)) + f"{check}VN"


class VnpostSandbox:
    name = "vnpost"

    def __init__(self, core: SandboxCore, config: Config) -> None:
        self.core = core
        self.store = core.store
        accounts = config.accounts("vnpost")
        self.logins = {(a.username, a.password, a.customer_code): a for a in accounts}
        self.customers = {a.customer_code: a for a in accounts}

    async def _account(self, request: Request[Any, Any, Any]) -> CourierAccount | None:
        customer = await self.store.get(f"sbx:vnpost:token:{request.headers.get('token', '')}")
        return self.customers.get(customer.decode()) if customer else None

    async def _load(self, item_code: str) -> SandboxOrder | None:
        raw = await self.store.get(f"sbx:vnpost:order:{item_code}")
        return msgspec.json.decode(raw, type=SandboxOrder) if raw else None

    async def _save(self, order: SandboxOrder) -> None:
        await self.store.set(f"sbx:vnpost:order:{order.item_code}", msgspec.json.encode(order))

    async def _find(self, lookup_type: str, code: str) -> SandboxOrder | None:
        """`type` 1 itemCode, 2 saleOrderCode (the latest booking under it), 3 OriginalId."""
        if lookup_type in ("2", "3"):
            index = "sale" if lookup_type == "2" else "original"
            found = await self.store.get(f"sbx:vnpost:{index}:{code}")
            code = found.decode() if found else ""
        return await self._load(code) if code and lookup_type in ("1", "2", "3") else None

    async def token(self, request: Request[Any, Any, Any]) -> Response[Any]:
        try:
            body = msgspec.json.decode(await request.body(), type=dict[str, str])
        except (msgspec.ValidationError, msgspec.DecodeError):
            return _refuse("Dữ liệu không hợp lệ", 400)
        account = self.logins.get((body.get("username"), body.get("password"), body.get("customerCode")))
        if account is None:
            return Response({"success": False, "errorMessage": "Sai thông tin đăng nhập", "token": None})
        token = secrets.token_hex(20)
        await self.store.set(f"sbx:vnpost:token:{token}", account.customer_code or "", ex=TOKEN_SECONDS)
        return Response({"success": True, "errorMessage": None, "token": token})

    async def create(self, request: Request[Any, Any, Any]) -> Response[Any]:
        if (refused := await self.core.misbehave()) is not None:
            return refused
        if (account := await self._account(request)) is None:
            return _refuse(_BAD_TOKEN, 401)
        try:
            body = msgspec.json.decode(await request.body(), type=codes.CreateOrder)
        except (msgspec.ValidationError, msgspec.DecodeError) as error:
            return _refuse(f"Dữ liệu không hợp lệ: {error}", 400)
        if problem := _check(body, account):
            return _refuse(problem)
        info = body.informationOrder
        item_code = _item_code()
        sale_key = f"sbx:vnpost:sale:{info.saleOrderCode}"
        if not await self.store.set(sale_key, item_code, nx=True):
            if (await self.core.chaos()).duplicate_reference == "reject":
                return _refuse(f"Mã đơn hàng {info.saleOrderCode} đã tồn tại")
            await self.store.set(sale_key, item_code)
        original_id = str(await self.store.incr("sbx:vnpost:ids") + 80_000_000)
        await self.store.set(f"sbx:vnpost:original:{original_id}", item_code)
        cod = next((_amount(a.propValue) for a in info.addonService if a.code == codes.COD), 0)
        fee = 16_500 + 2_500 * ((int(info.weight) - 1) // 500) + (10_000 if cod else 0)
        draft = body.orderCreationStatus == 0
        story = [] if draft else STORIES.get(await self.core.scenario(), STORIES["returned"])
        order = SandboxOrder(
            item_code=item_code, original_id=original_id, order_hdr_id=f"H{original_id}",
            sale_order_code=info.saleOrderCode, customer_code=body.customerCode, service_code=info.serviceCode,
            status="0" if draft else "1", history=[], total_fee=fee, cod_amount=cod, story=story,
        )  # fmt: skip
        order.history.append(_entry(order.status))
        await self._save(order)
        await self.core.count_shipment("vnpost", info.saleOrderCode)
        if self.core.settings.dd_sandbox_autoplay and not draft:
            self.core.spawn(self._play(item_code))
        await self.core.lose_answer()
        return Response(_record_of(order))

    async def _gate(self, request: Request[Any, Any, Any], *, chaos: bool = True) -> Response[Any] | None:
        """Chaos first (creates and lookups), then MyVNPost's `token` header: a refusal, or None to go on."""
        if chaos and (refused := await self.core.misbehave()) is not None:
            return refused
        return _refuse(_BAD_TOKEN, 401) if await self._account(request) is None else None

    async def _queried(self, request: Request[Any, Any, Any]) -> SandboxOrder | None:
        query = request.query_params
        return await self._find(query.get("type", ""), query.get("code", ""))

    async def get_order(self, request: Request[Any, Any, Any]) -> Response[Any]:
        """`getOrder?type=&code=` → `[{results: [order]}]`, results empty for a code VNPost does not know."""
        if (refused := await self._gate(request)) is not None:
            return refused
        order = await self._queried(request)
        return Response([{"results": [_record_of(order)] if order else []}])

    async def history(self, request: Request[Any, Any, Any]) -> Response[Any]:
        if (refused := await self._gate(request)) is not None:
            return refused
        if (order := await self._queried(request)) is None:
            return _refuse("Không tìm thấy bưu gửi")
        return Response({"success": True, "data": {"itemCode": order.item_code, "statusHistory": order.history}})

    async def cancel(self, request: Request[Any, Any, Any]) -> Response[Any]:
        """`orderCancel {OriginalId}` → `[{Type, Message, CaseId}]`: "00" done, "02" waiting for approval."""
        if (refused := await self._gate(request, chaos=False)) is not None:
            return refused
        try:
            original_id = msgspec.json.decode(await request.body(), type=dict[str, str])["OriginalId"]
        except (msgspec.ValidationError, msgspec.DecodeError, KeyError):
            return _refuse("OriginalId là bắt buộc", 400)
        order = await self._find("3", original_id)
        case_id = f"CASE{secrets.randbelow(10**8):08d}"
        if order is None:
            answer = {"Type": "01", "Message": "Không tìm thấy đơn hàng", "CaseId": None}
        elif order.status == "0":
            answer = {"Type": "01", "Message": "Đơn nháp không hủy được, vui lòng xóa đơn nháp", "CaseId": None}
        elif order.status in _CANCEL_NOW:
            record = await self._record(order.item_code, "9", scripted=False)
            if self.core.settings.dd_sandbox_autoplay and record is not None:
                self.core.spawn(self._post(record))
            answer = {"Type": codes.CANCELLED, "Message": "Hủy đơn hàng thành công", "CaseId": case_id}
        elif order.status in _CANCEL_APPROVAL:
            if self.core.settings.dd_sandbox_autoplay:
                self.core.spawn(self._approve_cancel(order.item_code))
            answer = {"Type": codes.CANCEL_PENDING, "Message": "Yêu cầu hủy đang chờ VNPost duyệt", "CaseId": case_id}
        else:
            message = f"Bưu gửi ở trạng thái {codes.STATUS_TEXT.get(order.status, order.status)} không thể hủy"
            answer = {"Type": "01", "Message": message, "CaseId": None}
        return Response([{**answer, "OriginalId": original_id}])

    async def delete_draft(self, request: Request[Any, Any, Any]) -> Response[Any]:
        if (refused := await self._gate(request, chaos=False)) is not None:
            return refused
        if (order := await self._queried(request)) is None:
            return _refuse("Không tìm thấy đơn hàng")
        if order.status != "0":
            return _refuse("Chỉ xóa được đơn nháp")
        await self.store.delete(f"sbx:vnpost:order:{order.item_code}", f"sbx:vnpost:original:{order.original_id}")
        return Response({"success": True, "message": "Xóa đơn nháp thành công"})

    async def _record(self, item_code: str, status: str, *, scripted: bool = True) -> dict[str, Any] | None:
        """Move the parcel one step and build its callback record; None once it ended elsewhere."""
        order = await self._load(item_code)
        if order is None or (scripted and order.status in _FINAL):
            return None
        order.status = status
        order.history.append(_entry(status))
        if scripted:
            order.played += 1
        await self._save(order)
        return _record_of(order, callback=True)

    async def _post(self, record: dict[str, Any]) -> bool:
        order = await self._load(record["itemCode"])
        account = self.customers.get(order.customer_code) if order else None
        if account is None:
            return False
        key = account.options.get("signature_key") or account.callback_secret
        scheme = account.options.get("signature_scheme", wire.DEFAULT_SCHEME)
        body = wire.encode_callback([record], wire.format_time(datetime.now(VIETNAM)), key, scheme)
        url = f"{self.core.settings.public_url}/v1/callbacks/vnpost"
        headers = {"Content-Type": "application/json"}
        return await self.core.deliver(
            lambda: self.core.http.post(url, content=body, headers=headers),
            f"vnpost {record['itemCode']} {record['status']}",
            tries=CALLBACK_TRIES,
        )

    async def push(self, item_code: str, status: str) -> bool:
        """Post one callback now, outside the story (a hand-driven feed)."""
        record = await self._record(item_code, status, scripted=False)
        return record is not None and await self._post(record)

    async def _approve_cancel(self, item_code: str) -> None:
        await asyncio.sleep(self.core.step_seconds)
        order = await self._load(item_code)
        if order is not None and order.status not in _FINAL:
            await self.push(item_code, "22")

    async def _play(self, item_code: str) -> None:
        order = await self._load(item_code)
        if order is not None:
            await self.core.continue_story(order, self._save, lambda step: self._record(item_code, step), self._post)

    async def resume(self) -> int:
        """Carry on with parcels in flight: a courier keeps moving them while our side is down."""
        return await self.core.resume_stories(
            "vnpost", self._load, lambda order: order.status in _FINAL, lambda order: self._play(order.item_code)
        )


def _entry(status: str) -> dict[str, str]:
    date, hour = wire.format_time(datetime.now(VIETNAM)).split(" ")
    name = codes.STATUS_TEXT.get(status, status)
    return {"createdDate": date, "createdHour": hour, "statusCode": status, "statusName": name}


def _record_of(order: SandboxOrder, *, callback: bool = False) -> dict[str, Any]:
    """An order as `CreateOrder` and `getOrder` answer it; a callback record spells two ids differently."""
    hdr, original = ("orderHdrId", "originalId") if callback else ("orderHdrID", "originalID")
    return {
        hdr: order.order_hdr_id, original: order.original_id, "itemCode": order.item_code,
        "saleOrderCode": order.sale_order_code, "status": order.status, "serviceCode": order.service_code,
        "totalFee": order.total_fee, "codAmount": order.cod_amount,
    }  # fmt: skip


def _amount(prop_value: str | None) -> int:
    value = (prop_value or "").partition(":")[2]
    return int(value) if value.isdigit() else 0


def _check(body: codes.CreateOrder, account: CourierAccount) -> str | None:
    """MyVNPost's own refusals for what it requires (couriers-vn.md §5.1)."""
    info = body.informationOrder
    if body.customerCode != account.customer_code:
        return "customerCode không khớp với tài khoản"
    if body.orderCreationStatus not in (0, 1) or body.type != "GUI":
        return "orderCreationStatus phải là 0 hoặc 1 và type phải là GUI"
    for name in _REQUIRED:
        if not getattr(info, name).strip():
            return f"{name} là bắt buộc"
    if not all(phone.isdigit() and 9 <= len(phone) <= 11 for phone in (info.senderPhone, info.receiverPhone)):
        return "Số điện thoại không hợp lệ"
    if info.serviceCode not in SERVICES:
        return f"Dịch vụ {info.serviceCode} không tồn tại"
    if not (info.weight.isdigit() and 0 < int(info.weight) <= 100_000):
        return "weight phải là số gam dương"
    for addon in [*info.addonService, *info.additionRequest]:
        if addon.code not in codes.ADDONS:
            return f"Dịch vụ cộng thêm {addon.code} không tồn tại"
        prop = _ADDON_PROPS.get(addon.code)
        if prop and (not (addon.propValue or "").startswith(f"{prop}:") or not _amount(addon.propValue)):
            return f"{addon.code} cần {prop}:<số tiền>"
    return None


def router(sandbox: VnpostSandbox) -> Router:
    @post(f"{PREFIX}/GetAccessToken", status_code=200)
    async def token(request: Request[Any, Any, Any]) -> Response[Any]:
        return await sandbox.token(request)

    @post(f"{PREFIX}/CreateOrder", status_code=200)
    async def create(request: Request[Any, Any, Any]) -> Response[Any]:
        return await sandbox.create(request)

    @get(f"{PREFIX}/getOrder")
    async def get_order(request: Request[Any, Any, Any]) -> Response[Any]:
        return await sandbox.get_order(request)

    @get(f"{PREFIX}/GetStatusHistoryOrder")
    async def history(request: Request[Any, Any, Any]) -> Response[Any]:
        return await sandbox.history(request)

    @post(f"{PREFIX}/orderCancel", status_code=200)
    async def cancel(request: Request[Any, Any, Any]) -> Response[Any]:
        return await sandbox.cancel(request)

    @get(f"{PREFIX}/deleteOrderByDraft")
    async def delete_draft(request: Request[Any, Any, Any]) -> Response[Any]:
        return await sandbox.delete_draft(request)

    @post(f"{PREFIX}/_sandbox/orders/{{item_code:str}}/push", status_code=200)
    async def push(item_code: FromPath[str], data: JSONBody[Push]) -> Response[Any]:
        """Drive the feed by hand (DD_SANDBOX_AUTOPLAY=0): post one MyVNPost callback for this parcel now."""
        delivered = await sandbox.push(item_code, data.status)
        return Response({"posted": delivered}, status_code=200 if delivered else 502)

    return Router(path="/", route_handlers=[token, create, get_order, history, cancel, delete_draft, push])
