"""`/track`: the citizen's page. The dossier code and the last four digits of the phone show the journey
in plain words, the expected date, what to bring and how to reschedule; nothing personal beyond what
was typed. A result the centre marked ready can be brought home: the citizen confirms the address and
the phone with a one-time code sent to that phone, which creates a delivery order for the centre."""

from __future__ import annotations

import hashlib
import hmac
import html
import secrets
import time
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import msgspec
from litestar import Request, Response, get, post
from litestar.datastructures import State
from litestar.enums import RequestEncodingType
from litestar.params import Body, FromQuery

from contracts.addresses import resolve
from contracts.base import Inbound, Record
from contracts.calendar import VIETNAM_TZ
from contracts.errors import FieldError
from contracts.intake import normalise_phone, prepare
from contracts.orders import Address, Kind, Order, OrderCreate, format_order_id
from contracts.statuses import Status
from contracts.tracking import TITLES, reschedule, step, what_to_bring
from service.auth import client_address, context
from service.console import page, respond
from service.deadlines import view_with_deadlines
from service.documents_api import _PROVINCES
from workers import keys, users
from workers.context import Context
from workers.dispatch import enqueue_dispatch
from workers.notices import OutboxSms

Lang = Literal["vi", "en"]
CODE_SECONDS = 600
CODE_ATTEMPTS = 5


def _t(lang: Lang, vi: str, en: str) -> str:
    return vi if lang == "vi" else en


def _shell(lang: Lang, body: str, status: int = 200) -> Response[str]:
    switch = "en" if lang == "vi" else "vi"
    header = (
        f'<header class="bar"><span class="brand">{_t(lang, "Tra cứu hồ sơ gửi qua bưu chính", "Track a dossier sent by post")}'
        f'</span><div class="who"><a href="/track?lang={switch}" lang="{switch}">{"English" if lang == "vi" else "Tiếng Việt"}'
        "</a></div></header>"
    )
    title = _t(lang, "Tra cứu hồ sơ", "Track a dossier")
    return respond(
        page(title, header + f'<main class="narrow">{body}</main>', lang=lang, scripts=("track.js",)), status
    )


def _form(lang: Lang, dossier: str = "", error: str = "") -> str:
    alert = f'<p class="error" role="alert">{html.escape(error)}</p>' if error else ""
    return f"""<h1>{_t(lang, "Tra cứu hồ sơ", "Track a dossier")}</h1>{alert}
<form method="post" action="/track" class="stack"><input type="hidden" name="lang" value="{lang}">
<label for="d">{_t(lang, "Mã hồ sơ (trên giấy hẹn)", "Dossier code (on your appointment slip)")}</label>
<input id="d" name="d" required maxlength="64" value="{html.escape(dossier)}" autocomplete="off">
<label for="p">{_t(lang, "4 số cuối điện thoại đã đăng ký", "Last 4 digits of the phone you gave")}</label>
<input id="p" name="p" required inputmode="numeric" pattern="[0-9]{{4}}" maxlength="4" autocomplete="off">
<button type="submit">{_t(lang, "Tra cứu", "Track")}</button></form>"""


@get("/track", include_in_schema=False)
async def track_page(d: FromQuery[str] = "", lang: FromQuery[Lang] = "vi") -> Response[str]:
    return _shell(lang, _form(lang, d[:64]))


class Lookup(Inbound, kw_only=True):
    d: str = ""
    p: str = ""
    lang: Lang = "vi"


def _legs(ctx: Context, dossier: str, last4: str) -> list[Order]:
    """The dossier's legs whose phone ends in `last4`, at whichever centre holds it."""
    found: list[Order] = []
    for code in ctx.config.centres:
        legs = ctx.store.dossier_orders(code, dossier)
        found += [o for o in legs if o.erased_at is None and o.citizen.phone[-4:] == last4]
    return sorted(found, key=lambda o: o.created_at)


def _limited(ctx: Context, request: Request[Any, Any, Any], dossier: str) -> bool:
    store = ctx.store
    # Per address and per dossier code: 10 guesses of 10,000 last-four combinations per 10 minutes.
    return not (
        users.allow(store, f"track-ip:{client_address(request, ctx)}", 30, 600)
        and users.allow(store, f"track-d:{dossier}", 10, 600)
    )


def _when(moment: datetime) -> str:
    return moment.astimezone(VIETNAM_TZ).strftime("%H:%M %d/%m/%Y")


def _leg(ctx: Context, order: Order, lang: Lang) -> str:
    view = view_with_deadlines(ctx, order)
    timeline = ctx.store.timeline(order.id)
    steps = [e.event for e in timeline.entries if e.applied and e.event.status is not None]
    items = (
        "".join(
            f"<li><time>{_when(e.event_time)}</time>{html.escape(step(e.status, order.kind, lang))}</li>"  # type: ignore[arg-type]
            for e in reversed(steps)
            if e.status is not None
        )
        or f"<li>{html.escape(step(Status.ACCEPTED, order.kind, lang))}</li>"
    )
    due = view.deadlines.due_date or (order.appointment_date if order.kind is Kind.DELIVERY else None)
    expected = due.strftime("%d/%m/%Y") if due else _t(lang, "có sau khi bưu tá nhận", "known once the postman has it")
    centre = ctx.config.centres.get(order.centre)
    bring = what_to_bring(
        order.kind, order.authorised_recipient is not None, [d.name for d in order.documents_to_recover], lang
    )
    help_text = reschedule(centre.name, centre.phone, lang) if centre else ""
    title = TITLES[order.kind][0 if lang == "vi" else 1]
    status_text = html.escape(step(order.status, order.kind, lang))
    return f"""<section class="card" aria-labelledby="leg-{order.id}"><h2 id="leg-{order.id}">{html.escape(title)}</h2>
<p class="status"><strong>{status_text}</strong></p>
<dl class="facts"><dt>{_t(lang, "Thủ tục", "Procedure")}</dt><dd>{html.escape(order.procedure_name or order.procedure_code)}</dd>
<dt>{_t(lang, "Dự kiến", "Expected by")}</dt><dd>{expected}</dd>
<dt>{_t(lang, "Mã vận đơn", "Tracking code")}</dt><dd>{html.escape(order.tracking_code or "—")}</dd></dl>
<h3>{_t(lang, "Hành trình", "Journey")}</h3><ol class="timeline">{items}</ol>
<h3>{_t(lang, "Cần chuẩn bị", "What to bring")}</h3><ul>{"".join(f"<li>{html.escape(b)}</li>" for b in bring)}</ul>
<p>{html.escape(help_text)}</p></section>"""


def _deliverable(ctx: Context, centre: str, dossier: str) -> bool:
    """The centre said the result is ready, and no leg of the dossier (whatever its phone) brings it yet."""
    if not ctx.store.client.exists(keys.result_ready(centre, dossier)):
        return False
    legs = ctx.store.dossier_orders(centre, dossier)
    return not any(o.kind is Kind.DELIVERY and o.status not in (Status.CANCELLED, Status.RETURNED) for o in legs)


def _home_offer(ctx: Context, legs: list[Order], dossier: str, last4: str, lang: Lang) -> str:
    if not _deliverable(ctx, legs[0].centre, dossier):
        return ""
    provinces = "".join(f'<option value="{p.code}">{html.escape(p.name)}</option>' for p in _PROVINCES)
    return f"""<section class="card"><h2>{_t(lang, "Kết quả đã sẵn sàng", "Your result is ready")}</h2>
<p>{
        _t(
            lang,
            "Bạn có thể nhận kết quả tại nhà qua bưu chính. Nhập địa chỉ nhận và số điện thoại; chúng tôi gửi mã xác nhận đến số đó.",
            "You can have it brought home by post. Give the address and your phone; we send a confirmation code to that phone.",
        )
    }</p>
<form method="post" action="/track/home" class="stack"><input type="hidden" name="lang" value="{lang}">
<input type="hidden" name="d" value="{html.escape(dossier)}"><input type="hidden" name="p" value="{html.escape(last4)}">
<label for="phone">{_t(lang, "Số điện thoại đã đăng ký", "The phone you gave")}</label>
<input id="phone" name="phone" type="tel" inputmode="tel" required autocomplete="tel">
<label for="province">{_t(lang, "Tỉnh/thành phố", "Province")}</label>
<select id="province" name="province_code" required><option value="">—</option>{provinces}</select>
<label for="ward">{_t(lang, "Phường/xã", "Ward/commune")}</label>
<select id="ward" name="ward_code" required><option value="">—</option></select>
<label for="street">{_t(lang, "Số nhà, đường", "House number, street")}</label>
<input id="street" name="street" required maxlength="200" autocomplete="street-address">
<button type="submit">{_t(lang, "Gửi mã xác nhận", "Send the code")}</button></form></section>"""


@post("/track", include_in_schema=False, sync_to_thread=True, status_code=200)
def track_lookup(
    request: Request[Any, Any, Any],
    state: State,
    data: Annotated[Lookup, Body(media_type=RequestEncodingType.URL_ENCODED)],
) -> Response[str]:
    ctx = context(state)
    dossier, last4, lang = data.d.strip()[:64], data.p.strip(), data.lang
    if _limited(ctx, request, dossier):
        error = _t(
            lang,
            "Bạn đã tra cứu quá nhiều lần. Vui lòng thử lại sau 10 phút.",
            "Too many lookups. Try again in 10 minutes.",
        )
        return _shell(lang, _form(lang, dossier, error), 429)
    legs = _legs(ctx, dossier, last4) if dossier and len(last4) == 4 and last4.isdigit() else []
    if not legs:  # the same answer whether the code or the digits are wrong
        error = _t(lang, "Không tìm thấy hồ sơ với mã và số điện thoại này.", "No dossier with this code and phone.")
        return _shell(lang, _form(lang, dossier, error), 404)
    body = (
        f"<h1>{_t(lang, 'Hồ sơ', 'Dossier')} {html.escape(dossier)}</h1>"
        + "".join(_leg(ctx, leg, lang) for leg in legs)
        + _home_offer(ctx, legs, dossier, last4, lang)
        + f'<p><a href="/track?lang={lang}">{_t(lang, "Tra cứu hồ sơ khác", "Track another dossier")}</a></p>'
    )
    return _shell(lang, body)


class HomeRequest(Inbound, kw_only=True):
    d: str = ""
    p: str = ""
    lang: Lang = "vi"
    phone: str = ""
    province_code: str = ""
    ward_code: str = ""
    street: str = ""


class _Pending(Record, frozen=True, kw_only=True):
    centre: str
    dossier_code: str
    pickup_id: str
    address: Address
    code_digest: str
    expires_at: float


_PENDING = msgspec.json.Decoder(_Pending)


def _digest(request_id: str, code: str) -> str:
    return hashlib.sha256(f"{request_id}:{code}".encode()).hexdigest()


def _code_form(lang: Lang, request_id: str, error: str = "") -> str:
    alert = f'<p class="error" role="alert">{html.escape(error)}</p>' if error else ""
    return f"""<h1>{_t(lang, "Nhập mã xác nhận", "Enter the code")}</h1>{alert}
<p>{
        _t(
            lang,
            "Chúng tôi đã gửi mã 6 số đến điện thoại của bạn. Mã có hiệu lực 10 phút.",
            "We sent a 6-digit code to your phone. It is valid for 10 minutes.",
        )
    }</p>
<form method="post" action="/track/home/confirm" class="stack"><input type="hidden" name="lang" value="{lang}">
<input type="hidden" name="request" value="{request_id}">
<label for="code">{_t(lang, "Mã xác nhận", "Code")}</label>
<input id="code" name="code" required inputmode="numeric" pattern="[0-9]{{6}}" maxlength="6" autocomplete="one-time-code">
<button type="submit">{_t(lang, "Xác nhận", "Confirm")}</button></form>"""


@post("/track/home", include_in_schema=False, sync_to_thread=True, status_code=200)
def home_request(
    request: Request[Any, Any, Any],
    state: State,
    data: Annotated[HomeRequest, Body(media_type=RequestEncodingType.URL_ENCODED)],
) -> Response[str]:
    ctx = context(state)
    lang, dossier = data.lang, data.d.strip()[:64]
    if _limited(ctx, request, dossier) or not users.allow(ctx.store, f"home-d:{dossier}", 3, 3600):
        return _shell(
            lang,
            _form(lang, dossier, _t(lang, "Quá nhiều yêu cầu. Vui lòng thử lại sau.", "Too many requests; try later.")),
            429,
        )
    legs = _legs(ctx, dossier, data.p.strip()) if len(data.p.strip()) == 4 else []
    pickups = [o for o in legs if o.kind is Kind.PICKUP]
    try:
        phone = normalise_phone(data.phone, "phone")
        address = Address(
            province_code=data.province_code, ward_code=data.ward_code, street=" ".join(data.street.split())[:200]
        )
        resolve(address)
    except (FieldError, msgspec.ValidationError):
        phone, address = "", None  # type: ignore[assignment]
    if (
        not pickups
        or address is None
        or not address.street
        or pickups[-1].citizen.phone != phone
        or not _home_offer(ctx, legs, dossier, data.p, lang)
    ):
        error = _t(
            lang,
            "Thông tin không khớp với hồ sơ, hoặc kết quả chưa sẵn sàng.",
            "The details do not match the dossier, or the result is not ready.",
        )
        return _shell(lang, _form(lang, dossier, error), 422)
    request_id, code = secrets.token_urlsafe(16), f"{secrets.randbelow(1_000_000):06d}"
    pending = _Pending(centre=pickups[-1].centre, dossier_code=dossier, pickup_id=pickups[-1].id, address=address,
                       code_digest=_digest(request_id, code), expires_at=time.time() + CODE_SECONDS)  # fmt: skip
    ctx.store.client.set(keys.home_request(request_id), msgspec.json.encode(pending), ex=CODE_SECONDS)
    text = _t(
        lang,
        f"Ma xac nhan tra ket qua tai nha: {code} (hieu luc 10 phut)",
        f"Home delivery code: {code} (valid 10 minutes)",
    )
    OutboxSms(ctx.store.client).send(phone, text)
    return _shell(lang, _code_form(lang, request_id))


class Confirm(Inbound, kw_only=True):
    request: str = ""
    code: str = ""
    lang: Lang = "vi"


@post("/track/home/confirm", include_in_schema=False, sync_to_thread=True, status_code=200)
def home_confirm(
    request: Request[Any, Any, Any],
    state: State,
    data: Annotated[Confirm, Body(media_type=RequestEncodingType.URL_ENCODED)],
) -> Response[str]:
    ctx = context(state)
    client = ctx.store.client
    lang, key = data.lang, keys.home_request(data.request[:64])
    expired = _t(lang, "Mã đã hết hạn. Vui lòng tra cứu lại.", "The code has expired; start again.")
    if not users.allow(ctx.store, f"home-confirm:{client_address(request, ctx)}", 30, 600):
        return _shell(
            lang,
            _form(lang, "", _t(lang, "Quá nhiều lần thử. Vui lòng đợi 10 phút.", "Too many tries; wait 10 minutes.")),
            429,
        )
    raw = client.get(key)
    pending = _PENDING.decode(raw) if raw else None
    if pending is None:
        return _shell(lang, _form(lang, "", expired), 410)
    # Counted before comparing, atomically: parallel guesses cannot share one try.
    with client.pipeline(transaction=True) as pipe:
        pipe.incr(f"{key}:tries")
        pipe.expire(f"{key}:tries", CODE_SECONDS)
        tries, _ = pipe.execute()
    if int(tries) > CODE_ATTEMPTS:
        client.delete(key)
        return _shell(lang, _form(lang, "", expired), 410)
    if not hmac.compare_digest(pending.code_digest, _digest(data.request, data.code.strip())):
        return _shell(lang, _code_form(lang, data.request, _t(lang, "Mã không đúng.", "Wrong code.")), 422)
    lock = f"{keys.home_request(pending.centre)}:{pending.dossier_code}:lock"
    if not client.set(lock, "1", nx=True, ex=30):
        return _shell(
            lang, _form(lang, "", _t(lang, "Yêu cầu đang được xử lý.", "This request is being handled.")), 409
        )
    try:
        if not client.delete(key) or not _deliverable(ctx, pending.centre, pending.dossier_code):
            # The same code twice, or a second request for a result already on its way: one order.
            done = _t(lang, "Yêu cầu đã được xử lý.", "This request was already handled.")
            return _shell(lang, _form(lang, pending.dossier_code, done), 409)
        order = _create_delivery(ctx, pending)
    finally:
        client.delete(lock)
    body = f"""<h1>{_t(lang, "Đã nhận yêu cầu", "Request received")}</h1>
<p class="ok">{_t(lang, "Kết quả của hồ sơ", "The result of dossier")} {html.escape(order.dossier_code)}
{
        _t(
            lang,
            "sẽ được gửi đến địa chỉ bạn đã nhập. Bạn sẽ nhận tin nhắn khi bưu tá mang đến.",
            "will be sent to the address you gave. You will get a message when the postman brings it.",
        )
    }</p>
<p><a href="/track?d={html.escape(order.dossier_code)}&amp;lang={lang}">{
        _t(lang, "Theo dõi hồ sơ", "Follow the dossier")
    }</a></p>"""
    return _shell(lang, body, 201)


def _create_delivery(ctx: Context, pending: _Pending) -> Order:
    pickup = ctx.store.get_order(pending.pickup_id)
    centre = ctx.config.centres[pending.centre]
    assert pickup is not None
    body = {
        "kind": "delivery",
        "dossier_code": pickup.dossier_code,
        "procedure_code": pickup.procedure_code,
        "procedure_name": pickup.procedure_name or None,
        "citizen": msgspec.to_builtins(pickup.citizen),
        "address": msgspec.to_builtins(pending.address),
        "documents": [{"name": "Kết quả giải quyết thủ tục hành chính", "original": True, "count": 1}],
    }
    now = datetime.now(UTC)
    [order] = prepare(
        msgspec.convert({k: v for k, v in body.items() if v is not None}, OrderCreate),
        centre=centre,
        new_id=lambda province: format_order_id(province, int(now.timestamp() * 1000), secrets.token_bytes(10)),
        now=now,
    )
    store = ctx.store
    store.create_orders(
        [order],
        due_at=time.time() + ctx.settings.dd_dispatch_deadline_seconds,
        enqueue=lambda pipe, order_id: enqueue_dispatch(store.client, order_id, pipe),
    )
    return order
