"""The Viettel Post sandbox: login, create, detail and UpdateOrder in VTP's envelope, and VTP callbacks back."""

from __future__ import annotations

import re
import secrets
from datetime import datetime, timedelta
from typing import Any

import msgspec
from litestar import Request, Response, Router, get, post
from litestar.params import FromPath, FromQuery, JSONBody

from contracts.config import Config, CourierAccount
from contracts.couriers import VIETNAM
from contracts.couriers import viettelpost as wire
from contracts.couriers.viettelpost_codes import APPROVE_RETURN, CANCEL, FINAL, REDELIVER, STATUS_TEXT
from service.sandboxes.base import SandboxCore

PREFIX = "/viettelpost"
_PHONE = re.compile(r"0\d{9,10}")

Step = tuple[int, str]  # (ORDER_STATUS, REASON_CODE)
Posting = tuple[str, dict[str, Any]]  # (the booking account's username, the callback's DATA)
_START: list[Step] = [(100, ""), (103, ""), (105, ""), (200, ""), (300, ""), (400, ""), (500, "")]
_FAIL: list[Step] = [(506, "36")]  # unreachable
# The stories autoplay tells, as VTP callbacks. VTP has no "lost" code (§8), so that story is a return.
STORIES: dict[str, list[Step]] = {
    "delivered": [*_START, (501, "")],
    "failed_then_delivered": [*_START, *_FAIL, (500, ""), (501, "")],
    "returned": [*_START, *_FAIL, (505, "47"), (515, ""), (502, ""), (504, "")],
}
STORIES["lost"] = STORIES["returned"]
# UpdateOrder TYPE -> (statuses VTP accepts it in, the status it then reports). Cancel only before VTP
# has the parcel; redeliver and return answer a failed delivery (§4.4, §9.12).
_UPDATES: dict[int, tuple[frozenset[int], int]] = {
    CANCEL: (frozenset({-100, 100, 102, 103, 104, 106}), 107),
    REDELIVER: (frozenset({505, 506, 507}), 508),
    APPROVE_RETURN: (frozenset({505, 506, 507}), 502),
}
_PARTNER_TOKEN_SECONDS = 3600  # Login's token is short-lived; ownerconnect's does not expire here


class SandboxOrder(msgspec.Struct, kw_only=True):
    order_number: str  # VTP's tracking number
    reference: str  # our ORDER_NUMBER
    username: str  # the account that booked it, whose secret signs its callbacks
    status: int
    status_date: str
    reason_code: str = ""
    service: str
    weight: int
    money_collection: int
    total: int
    story: list[Step] = []
    played: int = 0  # steps of the story recorded so far


class Push(msgspec.Struct, kw_only=True):
    status: int | str
    reason_code: str = ""


def _envelope(message: str = "OK", data: Any = None, *, error: bool = False, status: int = 200) -> Response[Any]:
    """VTP answers HTTP 200 with `error: true` for refusals; only a bad token is an HTTP 401."""
    body = {"status": status, "error": error, "message": message, "data": data}
    return Response(body, status_code=401 if status == 401 else 200)


def _refuse(message: str) -> Response[Any]:
    return _envelope(message, error=True, status=400)


def _unauthorized() -> Response[Any]:
    return _envelope("Token không hợp lệ hoặc đã hết hạn", error=True, status=401)


def _now() -> str:
    return datetime.now(VIETNAM).strftime(wire.TIME_FORMAT)


class ViettelPostSandbox:
    name = "viettelpost"

    def __init__(self, core: SandboxCore, config: Config) -> None:
        self.core = core
        self.store = core.store
        self.accounts = {a.username: a for a in config.accounts("viettelpost") if a.username}

    # -- state ------------------------------------------------------------------------------------
    async def _load(self, order_number: str) -> SandboxOrder | None:
        raw = await self.store.get(f"sbx:viettelpost:order:{order_number}")
        return msgspec.json.decode(raw, type=SandboxOrder) if raw else None

    async def _save(self, order: SandboxOrder) -> None:
        await self.store.set(f"sbx:viettelpost:order:{order.order_number}", msgspec.json.encode(order))

    async def _get(self, key: str) -> str:
        raw = await self.store.get(f"sbx:viettelpost:{key}")
        return raw.decode() if isinstance(raw, bytes) else raw or ""

    async def _token(self, request: Request[Any, Any, Any]) -> tuple[str, str]:
        """("partner" or "owner", username) for the request's `Token`, or ("", "") for none we issued."""
        kind, _, username = (await self._get(f"token:{request.headers.get('token', '')}")).partition(":")
        return kind, username

    async def _owner(self, request: Request[Any, Any, Any]) -> CourierAccount | None:
        """The account whose long-lived (ownerconnect) token the request carries."""
        kind, username = await self._token(request)
        return self.accounts.get(username) if kind == "owner" else None

    # -- login ------------------------------------------------------------------------------------
    async def login(self, request: Request[Any, Any, Any], owner: bool) -> Response[Any]:
        try:
            body = msgspec.json.decode(await request.body(), type=wire.Login)
        except (msgspec.ValidationError, msgspec.DecodeError):
            return _refuse("USERNAME và PASSWORD là bắt buộc")
        # ownerconnect is sent with the partner token from Login.
        if owner and (await self._token(request))[0] != "partner":
            return _unauthorized()
        given = (body.USERNAME, body.PASSWORD)
        account = next((a for a in self.accounts.values() if _credentials(a, owner) == given), None)
        if account is None:
            return _refuse("Sai tên đăng nhập hoặc mật khẩu")
        token = secrets.token_urlsafe(32)
        kind, ttl = ("owner", None) if owner else ("partner", _PARTNER_TOKEN_SECONDS)
        await self.store.set(f"sbx:viettelpost:token:{token}", f"{kind}:{account.username}", ex=ttl)
        expired = int((datetime.now(VIETNAM) + timedelta(seconds=ttl or 365 * 86400)).timestamp() * 1000)
        return _envelope(data={"userId": 1, "token": token, "partner": 0, "phone": "", "expired": expired})

    # -- orders -----------------------------------------------------------------------------------
    async def create(self, request: Request[Any, Any, Any], by_ids: bool) -> Response[Any]:
        if (refused := await self.core.misbehave()) is not None:
            return refused
        account = await self._owner(request)
        if account is None:
            return _unauthorized()
        try:
            body = msgspec.json.decode(await request.body(), type=wire.CreateOrder)
        except msgspec.ValidationError as error:
            return _refuse(f"Dữ liệu không hợp lệ: {error}")
        except msgspec.DecodeError:
            return _refuse("Body is not JSON")
        if problem := _check(body, by_ids):
            return _refuse(problem)
        order_number = f"1{secrets.randbelow(10**10):010d}"  # numeric, 11 digits, like 11506020148
        reference_key = f"sbx:viettelpost:ref:{body.ORDER_NUMBER}"
        if not await self.store.set(reference_key, order_number, nx=True):
            if (await self.core.chaos()).duplicate_reference == "reject":
                return _refuse(f"Mã đơn hàng {body.ORDER_NUMBER} đã tồn tại")
            await self.store.set(reference_key, order_number)
        fee = 16500 + 2500 * max(0, (body.PRODUCT_WEIGHT - 500) // 500)
        insurance = body.PRODUCT_PRICE // 200 if "GBH" in body.ORDER_SERVICE_ADD.split(",") else 0
        vat = (fee + insurance) // 10
        order = SandboxOrder(
            order_number=order_number, reference=body.ORDER_NUMBER, username=account.username or "", status=100,
            status_date=_now(), service=body.ORDER_SERVICE, weight=body.PRODUCT_WEIGHT,
            money_collection=body.MONEY_COLLECTION, total=fee + insurance + vat,
            story=STORIES[await self.core.scenario()],
        )  # fmt: skip
        await self._save(order)
        await self.core.count_shipment("viettelpost", body.ORDER_NUMBER)
        if self.core.settings.dd_sandbox_autoplay:
            self.core.spawn(self._play(order_number))
        await self.core.lose_answer()
        data = {
            "ORDER_NUMBER": order_number, "MONEY_COLLECTION": body.MONEY_COLLECTION,
            "EXCHANGE_WEIGHT": body.PRODUCT_WEIGHT, "MONEY_TOTAL": order.total, "MONEY_TOTAL_FEE": fee + insurance,
            "MONEY_FEE": fee, "MONEY_COLLECTION_FEE": 0, "MONEY_FEE_VAT": vat, "MONEY_OTHER_FEE": insurance,
            "MONEY_TOTAL_OLD": 0, "KPI_HT": 48,
        }  # fmt: skip
        return _envelope(data=data)

    async def detail(self, request: Request[Any, Any, Any], code: str) -> Response[Any]:
        """`detail-v2?o=`: by VTP's number, or by the partner's ORDER_NUMBER it was booked with."""
        if (refused := await self.core.misbehave()) is not None:
            return refused
        if await self._owner(request) is None:
            return _unauthorized()
        order = await self._load(code)
        if order is None and (found := await self._get(f"ref:{code}")):
            order = await self._load(found)
        if order is None:
            return _refuse(f"Không tìm thấy vận đơn {code}")
        return _envelope(data=_data(order))

    async def update(self, request: Request[Any, Any, Any]) -> Response[Any]:
        if await self._owner(request) is None:
            return _unauthorized()
        try:
            body = msgspec.json.decode(await request.body(), type=wire.Update)
        except (msgspec.ValidationError, msgspec.DecodeError):
            return _refuse("TYPE và ORDER_NUMBER là bắt buộc")
        if body.TYPE not in _UPDATES:
            return _refuse(f"TYPE {body.TYPE} không được hỗ trợ")
        order = await self._load(body.ORDER_NUMBER)
        if order is None:
            return _refuse(f"Không tìm thấy vận đơn {body.ORDER_NUMBER}")
        allowed, then = _UPDATES[body.TYPE]
        if order.status not in allowed:
            return _refuse(f"Vận đơn đang ở trạng thái {order.status}, không thể cập nhật TYPE {body.TYPE}")
        self.core.spawn(self.push(order.order_number, then))
        return _envelope("Cập nhật thành công")

    # -- callbacks --------------------------------------------------------------------------------
    async def _record(self, order_number: str, step: Step, *, scripted: bool = True) -> Posting | None:
        """Move the parcel one step and build VTP's DATA for it; None once it ended elsewhere."""
        order = await self._load(order_number)
        if order is None or (scripted and order.status in FINAL):
            return None
        order.status, order.reason_code = step
        order.status_date = _now()
        if scripted:
            order.played += 1
        await self._save(order)
        return order.username, _data(order)

    async def _post(self, item: Posting) -> bool:
        username, data = item
        account = self.accounts.get(username)
        if account is None:
            return False
        url = f"{self.core.settings.public_url}/v1/callbacks/viettelpost"
        what = f"viettelpost {data['ORDER_NUMBER']} {data['ORDER_STATUS']}"
        body: dict[str, Any] = {"DATA": data, "TOKEN": account.callback_secret}
        headers: dict[str, str] = {}
        if account.options.get("callback_auth") == "header":
            body, headers = {"DATA": data}, {"Authorization": account.callback_secret}
        # VTP retries up to 5 times until it gets HTTP 200 (§4.7).
        return await self.core.deliver(lambda: self.core.http.post(url, json=body, headers=headers), what, tries=5)

    async def push(self, order_number: str, status: int, reason_code: str = "") -> bool:
        """Post one callback now, outside the story (a hand-driven feed, or an UpdateOrder answer)."""
        item = await self._record(order_number, (status, reason_code), scripted=False)
        return item is not None and await self._post(item)

    async def _play(self, order_number: str) -> None:
        order = await self._load(order_number)
        if order is not None:
            await self.core.continue_story(order, self._save, lambda step: self._record(order_number, step), self._post)

    async def resume(self) -> int:
        """Carry on with parcels in flight: a courier keeps moving them while our side is down."""
        return await self.core.resume_stories(
            "viettelpost", self._load, lambda order: order.status in FINAL, lambda order: self._play(order.order_number)
        )


def _credentials(account: CourierAccount, owner: bool) -> tuple[str | None, str | None]:
    options = account.options
    if owner:
        return options.get("owner_username", account.username), options.get("owner_password", account.password)
    return account.username, account.password


def _data(order: SandboxOrder) -> dict[str, Any]:
    """The webhook's DATA (§4.7) for the order as it stands; detail-v2 answers the same fields."""
    return {
        "ORDER_NUMBER": order.order_number, "ORDER_REFERENCE": order.reference, "ORDER_STATUSDATE": order.status_date,
        "ORDER_STATUS": order.status, "STATUS_NAME": STATUS_TEXT.get(order.status, ""),
        "LOCALION_CURRENTLY": "Bưu cục Cầu Giấy", "NOTE": "", "MONEY_COLLECTION": order.money_collection,
        "MONEY_COLLECTION_ORIGIN": order.money_collection, "MONEY_FEECOD": 0, "MONEY_TOTAL": order.total,
        "MONEY_TOTALFEE": order.total, "MONEY_TOTALVAT": 0, "VOUCHER_VALUE": 0, "EXPECTED_DELIVERY": "Khoảng 2 ngày",
        "PRODUCT_WEIGHT": order.weight, "ORDER_SERVICE": order.service, "REASON_CODE": order.reason_code,
        "IS_RETURNING": order.status in (502, 504, 515), "EMPLOYEE_NAME": "Bưu tá sandbox",
        "EMPLOYEE_PHONE": "0900000000", "POD": "", "GROUPADDRESS_ID": 0, "DETAIL": [],
    }  # fmt: skip


def _check(body: wire.CreateOrder, by_ids: bool) -> str | None:
    """VTP's own refusals for fields it requires (couriers-vn.md §4.3)."""
    for name in ("ORDER_NUMBER", "SENDER_FULLNAME", "SENDER_ADDRESS", "RECEIVER_FULLNAME", "RECEIVER_ADDRESS",
                 "PRODUCT_NAME", "ORDER_SERVICE"):  # fmt: skip
        if not getattr(body, name).strip():
            return f"{name} là bắt buộc"
    if by_ids and not all((body.SENDER_PROVINCE, body.SENDER_WARD, body.RECEIVER_PROVINCE, body.RECEIVER_WARD)):
        return "createOrder cần SENDER_PROVINCE, SENDER_WARD, RECEIVER_PROVINCE, RECEIVER_WARD"
    for name in ("SENDER_PHONE", "RECEIVER_PHONE"):
        if not _PHONE.fullmatch(getattr(body, name)):
            return f"{name} không hợp lệ"
    if body.PRODUCT_TYPE not in ("TH", "HH"):
        return "PRODUCT_TYPE phải là TH hoặc HH"
    if not 0 < body.PRODUCT_WEIGHT <= 50_000 or body.PRODUCT_QUANTITY < 1:
        return "PRODUCT_WEIGHT hoặc PRODUCT_QUANTITY không hợp lệ"
    if body.ORDER_PAYMENT not in (1, 2, 3, 4) or body.MONEY_COLLECTION < 0:
        return "ORDER_PAYMENT phải là 1, 2, 3 hoặc 4"
    if (body.MONEY_COLLECTION > 0) != (body.ORDER_PAYMENT in (2, 3)):
        return "MONEY_COLLECTION không khớp với ORDER_PAYMENT"
    if "GBH" in body.ORDER_SERVICE_ADD.split(",") and body.PRODUCT_PRICE <= 0:
        return "Dịch vụ GBH cần PRODUCT_PRICE"
    return None


def router(sandbox: ViettelPostSandbox) -> Router:
    @post(f"{PREFIX}/v2/user/Login", status_code=200)
    async def login(request: Request[Any, Any, Any]) -> Response[Any]:
        return await sandbox.login(request, owner=False)

    @post(f"{PREFIX}/v2/user/ownerconnect", status_code=200)
    async def ownerconnect(request: Request[Any, Any, Any]) -> Response[Any]:
        return await sandbox.login(request, owner=True)

    @post(f"{PREFIX}{wire.CREATE_BY_IDS}", status_code=200)
    async def create(request: Request[Any, Any, Any]) -> Response[Any]:
        return await sandbox.create(request, by_ids=True)

    @post(f"{PREFIX}{wire.CREATE_BY_TEXT}", status_code=200)
    async def create_nlp(request: Request[Any, Any, Any]) -> Response[Any]:
        return await sandbox.create(request, by_ids=False)

    @get(f"{PREFIX}/v2/order/detail-v2")
    async def detail(request: Request[Any, Any, Any], o: FromQuery[str] = "") -> Response[Any]:
        return await sandbox.detail(request, o)

    @post(f"{PREFIX}/v2/order/UpdateOrder", status_code=200)
    async def update(request: Request[Any, Any, Any]) -> Response[Any]:
        return await sandbox.update(request)

    @post(f"{PREFIX}/_sandbox/orders/{{tracking:str}}/push", status_code=200)
    async def push(tracking: FromPath[str], data: JSONBody[Push]) -> Response[Any]:
        """Drive the feed by hand (DD_SANDBOX_AUTOPLAY=0): post one VTP callback for this order now."""
        try:
            status = int(data.status)
        except ValueError:
            return Response({"error": f"status {data.status!r} is not a VTP code"}, status_code=400)
        delivered = await sandbox.push(tracking, status, data.reason_code)
        return Response({"posted": delivered}, status_code=200 if delivered else 502)

    return Router(path="/", route_handlers=[login, ownerconnect, create, create_nlp, detail, update, push])
