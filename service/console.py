"""`/console`: the staff console. Sign-in with a centre account, then one page whose script
(`service/static/console.js`, no build step, no CDN) speaks the same `/v1` API as any client, with the
session cookie and its CSRF token instead of an API key."""

from __future__ import annotations

import html
import secrets
from pathlib import Path
from typing import Annotated, Any

from litestar import Request, Response, get, post
from litestar.datastructures import Cookie, State
from litestar.enums import RequestEncodingType
from litestar.params import Body
from litestar.response import Redirect

from contracts.base import Inbound
from service.auth import SESSION_COOKIE, client_address, context
from workers import users

STATIC = Path(__file__).parent / "static"
LOGIN_CSRF = "dd_login_csrf"
# Pages carry no inline script or style: everything comes from /static, nothing from elsewhere.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; frame-src 'self'; "
        "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}


def page(title: str, body: str, lang: str = "vi", scripts: tuple[str, ...] = (), meta: str = "") -> str:
    tags = "".join(f'<script src="/static/{name}" defer></script>' for name in scripts)
    return (
        f'<!doctype html><html lang="{lang}"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'{meta}<title>{html.escape(title)}</title><link rel="stylesheet" href="/static/app.css">{tags}</head>'
        f"<body>{body}</body></html>"
    )


def respond(content: str, status: int = 200, cookies: list[Cookie] | None = None) -> Response[str]:
    return Response(content, status_code=status, media_type="text/html; charset=utf-8", headers=SECURITY_HEADERS,
                    cookies=cookies or [])  # fmt: skip


def _secure(request: Request[Any, Any, Any]) -> bool:
    return request.url.scheme == "https" or request.headers.get("x-forwarded-proto") == "https"


def _login_cookie(request: Request[Any, Any, Any], token: str) -> Cookie:
    """The sign-in form's double-submit token: the form's hidden field must match it."""
    return Cookie(key=LOGIN_CSRF, value=token, httponly=True, samesite="strict", secure=_secure(request),
                  path="/console/login", max_age=3600)  # fmt: skip


def _login_form(token: str, error: str = "", username: str = "") -> str:
    alert = f'<p class="error" role="alert">{html.escape(error)}</p>' if error else ""
    return page(
        "Đăng nhập · dossier-dispatch",
        f"""<main class="narrow"><h1>Đăng nhập</h1><p class="muted">Bảng điều khiển của trung tâm phục vụ hành chính công
<span lang="en">(staff console)</span></p>{alert}
<form method="post" action="/console/login" class="stack">
<input type="hidden" name="csrf" value="{token}">
<label for="username">Tên đăng nhập <span lang="en" class="muted">(username)</span></label>
<input id="username" name="username" autocomplete="username" required value="{html.escape(username)}">
<label for="password">Mật khẩu <span lang="en" class="muted">(password)</span></label>
<input id="password" name="password" type="password" autocomplete="current-password" required>
<button type="submit">Đăng nhập</button></form></main>""",
    )


@get("/console/login", include_in_schema=False)
async def login_page(request: Request[Any, Any, Any]) -> Response[str]:
    token = secrets.token_urlsafe(24)  # double-submit: the form's field must match this cookie
    return respond(_login_form(token), cookies=[_login_cookie(request, token)])


class LoginForm(Inbound, kw_only=True):
    username: str = ""
    password: str = ""
    csrf: str = ""


@post("/console/login", include_in_schema=False, sync_to_thread=True, status_code=200)
def login(
    request: Request[Any, Any, Any],
    state: State,
    data: Annotated[LoginForm, Body(media_type=RequestEncodingType.URL_ENCODED)],
) -> Response[str] | Redirect:
    expected = request.cookies.get(LOGIN_CSRF, "")
    fresh = secrets.token_urlsafe(24)
    cookie = _login_cookie(request, fresh)
    if not expected or not secrets.compare_digest(expected, data.csrf):
        return respond(_login_form(fresh, "Phiên đăng nhập đã hết hạn, vui lòng thử lại."), 403, [cookie])
    ctx = context(state)
    store = ctx.store
    address, who = client_address(request, ctx), data.username.lower()[:100]
    # Failures only, per address, per account from that address, and per account from anywhere (higher:
    # a stranger cannot lock a clerk out with a few tries, a spread-out guesser is still slowed down).
    buckets = [(f"login-ip:{address}", 20), (f"login-user-ip:{who}:{address}", 10), (f"login-user:{who}", 100)]
    if users.blocked(store, buckets, 900):
        return respond(_login_form(fresh, "Quá nhiều lần thử. Vui lòng đợi 15 phút."), 429, [cookie])
    user = users.check_password(store, data.username, data.password)
    if user is None:
        users.failed(store, [bucket for bucket, _limit in buckets], 900)
        error = "Sai tên đăng nhập hoặc mật khẩu."
        return respond(_login_form(fresh, error, data.username), 401, [cookie])
    token, _session = users.open_session(store, user)
    session = Cookie(key=SESSION_COOKIE, value=token, httponly=True, samesite="strict", secure=_secure(request),
                     path="/", max_age=users.SESSION_SECONDS)  # fmt: skip
    return Redirect("/console", cookies=[session], headers=SECURITY_HEADERS, status_code=303)


class LogoutForm(Inbound, kw_only=True):
    csrf: str = ""


@post("/console/logout", include_in_schema=False, sync_to_thread=True, status_code=303)
def logout(
    request: Request[Any, Any, Any],
    state: State,
    data: Annotated[LogoutForm, Body(media_type=RequestEncodingType.URL_ENCODED)],
) -> Redirect:
    store = context(state).store
    token = request.cookies.get(SESSION_COOKIE)
    found = users.session(store, token)
    if found is not None and users.csrf_ok(found, data.csrf):
        users.close_session(store, token)
    return Redirect(
        "/console/login", cookies=[Cookie(key=SESSION_COOKIE, value="", max_age=0, path="/")], status_code=303
    )


@get("/console", include_in_schema=False, sync_to_thread=True)
def console(request: Request[Any, Any, Any], state: State) -> Response[str] | Redirect:
    found = users.session(context(state).store, request.cookies.get(SESSION_COOKIE))
    if found is None:
        return Redirect("/console/login", status_code=303)
    meta = (
        f'<meta name="csrf-token" content="{found.csrf}">'
        f'<meta name="centre" content="{html.escape(found.centre)}">'
        f'<meta name="user" content="{html.escape(found.name)}">'
    )
    body = f"""<header class="bar"><a class="brand" href="#/">dossier-dispatch</a>
<nav aria-label="Chính"><a href="#/" data-i18n="nav.orders">Đơn hàng</a><a href="#/new" data-i18n="nav.new">Tạo đơn</a>
<a href="#/exceptions" data-i18n="nav.exceptions">Cần xử lý</a><a href="#/handover" data-i18n="nav.handover">Bàn giao</a>
<a href="#/couriers" data-i18n="nav.couriers">Đơn vị vận chuyển</a><a href="#/reports" data-i18n="nav.reports">Báo cáo</a>
<a href="#/statements" data-i18n="nav.statements">Đối soát</a></nav>
<div class="who"><span>{html.escape(found.name)} · {html.escape(found.centre)}</span>
<button type="button" id="lang" class="link">English</button>
<form method="post" action="/console/logout"><input type="hidden" name="csrf" value="{found.csrf}">
<button type="submit" class="link" data-i18n="nav.logout">Đăng xuất</button></form></div></header>
<main id="view" tabindex="-1"><p>Đang tải…</p></main>
<dialog id="confirm"><form method="dialog"><p id="confirm-text"></p><div id="confirm-extra"></div>
<div class="row"><button value="cancel" class="secondary" data-i18n="no">Không</button>
<button value="ok" id="confirm-ok" data-i18n="yes">Đồng ý</button></div></form></dialog>"""
    return respond(page("Bảng điều khiển · dossier-dispatch", body, scripts=("console.js",), meta=meta))
