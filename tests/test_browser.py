"""The console and the tracking page in a real browser: Debian's chromium, driven by Playwright, against
`dossier-dispatch dev` over HTTP. A clerk signs in, creates an order through the form, watches it move
live to delivered, downloads both PDFs; a citizen tracks it on a 360 px phone. Screenshots of every
page at desktop and phone width go to docs/screenshots/ (shown in the README).

Chromium comes from the system (`apt-get install chromium`, which `.ci/run` does); without it these
tests skip locally, and fail in CI (`CI=true`), where a skip would hide that they did not run."""

from __future__ import annotations

import io
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from pypdf import PdfReader

from tests.system import ROOT, System

playwright = pytest.importorskip("playwright.sync_api")
CHROMIUM = os.environ.get("DD_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
if CHROMIUM is None:
    if os.environ.get("CI"):
        raise RuntimeError("CI runs the browser tests: install Debian's chromium (apt-get install chromium)")
    pytest.skip("no chromium on this machine (apt-get install chromium)", allow_module_level=True)

SHOTS = ROOT / "docs" / "screenshots"
PASSWORD = "demo-console-password"
WIDTHS = {"desktop": {"width": 1280, "height": 860}, "phone": {"width": 360, "height": 760}}
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]  # fmt: skip


@pytest.fixture(scope="module")
def system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
    # Slow enough sandbox steps to watch the order move on the page.
    running = System(
        tmp_path_factory.mktemp("browser"), DD_DEV_CONSOLE_PASSWORD=PASSWORD, DD_SANDBOX_STEP_SECONDS="1.2"
    )
    running.start()
    yield running
    running.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    with playwright.sync_playwright() as p:
        launched = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        assert Path(CHROMIUM).exists()
        yield launched
        launched.close()


def _shot(page: object, name: str, width: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}-{width}.png"), full_page=True)  # type: ignore[attr-defined]


def _sign_in(browser: object, system: System, width: str) -> object:
    context = browser.new_context(viewport=WIDTHS[width], locale="vi-VN")  # type: ignore[attr-defined]
    page = context.new_page()
    page.goto(f"http://127.0.0.1:{system.port}/console")
    assert page.url.endswith("/console/login")
    _shot(page, "console-login", width)
    page.get_by_label("Tên đăng nhập").fill("demo")
    page.get_by_label("Mật khẩu").fill(PASSWORD)
    page.get_by_role("button", name="Đăng nhập").click()
    page.wait_for_url("**/console")
    page.wait_for_selector("#rows")
    return page


def _pdf_text(page: object, path: str) -> str:
    answer = page.context.request.get(page.url.split("/console")[0] + path)  # type: ignore[attr-defined]  # the page's own session cookie
    assert answer.status == 200 and answer.headers["content-type"] == "application/pdf"
    return "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(answer.body())).pages)


def test_a_clerk_creates_an_order_watches_it_live_and_prints_it(browser: object, system: System) -> None:
    page = _sign_in(browser, system, "desktop")
    page.get_by_role("link", name="Tạo đơn").click()
    page.wait_for_selector("#order")
    page.get_by_label("Mã hồ sơ").fill("000.00.01.H26-261122-0042")
    page.get_by_label("Mã thủ tục").fill("1.001234")
    page.get_by_label("Họ và tên").fill("Nguyễn Thị Hương")
    page.get_by_label("Số điện thoại").fill("0912 345 678")
    page.get_by_label("Tỉnh/thành phố").select_option("01")
    page.wait_for_selector("#o-ward:not([disabled])")
    page.get_by_label("Phường/xã").select_option("00070")
    page.get_by_label("Số nhà, đường").fill("12 Hàng Bài")
    page.get_by_label("Tên giấy tờ").fill("Trích lục khai sinh")
    # Inline validation: a bad phone is marked on its field before anything is sent.
    page.get_by_label("Số điện thoại").fill("abc")
    page.get_by_role("button", name="Tạo đơn").click()
    assert page.get_by_label("Số điện thoại").get_attribute("aria-invalid") == "true"
    page.get_by_label("Số điện thoại").fill("0912 345 678")
    _shot(page, "console-new-order", "desktop")
    page.get_by_role("button", name="Tạo đơn").click()
    page.wait_for_url("**/console#/orders/*")
    order_id = page.url.rsplit("/", 1)[1]
    page.wait_for_selector("#timeline")
    page.evaluate("window.__same_page = true")  # a reload would lose it: the changes must come by the stream
    seen = set()
    for _ in range(200):
        status = page.get_attribute("h1 .badge", "data-status")
        seen.add(status)
        if status == "delivered":
            break
        page.wait_for_timeout(150)
    assert "delivered" in seen and len(seen) >= 3, seen  # it moved step by step on the open page
    assert page.evaluate("window.__same_page") is True
    _shot(page, "console-order", "desktop")

    note = _pdf_text(page, f"/v1/orders/{order_id}/consignment-note")
    assert "PHIẾU GỬI KẾT QUẢ" in note and "Nguyễn Thị Hương" in note and "Trích lục khai sinh" in note
    tracking = page.text_content("#tracking")
    assert tracking and tracking in note
    record = _pdf_text(page, f"/v1/handover-record?order_id={order_id}&direction=to_courier")
    assert "BIÊN BẢN GIAO NHẬN HỒ SƠ" in record and tracking in record

    page.get_by_role("link", name="Đơn hàng").click()
    page.wait_for_selector(f"#row-{order_id}")
    assert page.get_attribute(f"#row-{order_id} .badge", "data-status") == "delivered"
    _shot(page, "console-orders", "desktop")
    for name, link, ready in (
        ("console-exceptions", "Cần xử lý", "h1"),
        ("console-couriers", "Đơn vị vận chuyển", "table"),
        ("console-reports", "Báo cáo", "iframe.report"),
        ("console-statements", "Đối soát", "#upload"),
        ("console-handover", "Bàn giao", "#pickorders"),
    ):
        page.get_by_role("link", name=link).click()
        page.wait_for_selector(ready)
        if name == "console-reports":  # the printable report, with this month's delivery in it
            heading = page.frame_locator("iframe.report").locator("h1").text_content() or ""
            assert heading.startswith("Báo cáo tháng"), heading
        page.wait_for_timeout(300)
        _shot(page, name, "desktop")

    phone = _sign_in(browser, system, "phone")
    for name, route in (("console-orders", "#/"), ("console-new-order", "#/new"),
                        ("console-order", f"#/orders/{order_id}"),
                        ("console-exceptions", "#/exceptions"), ("console-couriers", "#/couriers"),
                        ("console-reports", "#/reports"), ("console-statements", "#/statements"),
                        ("console-handover", "#/handover")):  # fmt: skip
        phone.goto(f"http://127.0.0.1:{system.port}/console{route}")
        phone.wait_for_selector("#view > h1")
        phone.wait_for_timeout(300)
        width = phone.evaluate("document.documentElement.scrollWidth")
        assert width <= 360, f"{name} is {width} px wide on a 360 px phone"
        _shot(phone, name, "phone")

    # The citizen, on a phone: the dossier code and the last four digits of the phone.
    for width in ("phone", "desktop"):
        citizen = browser.new_context(viewport=WIDTHS[width]).new_page()  # type: ignore[attr-defined]
        citizen.goto(f"http://127.0.0.1:{system.port}/track")
        _shot(citizen, "track", width)
        citizen.get_by_label("Mã hồ sơ").fill("000.00.01.H26-261122-0042")
        citizen.get_by_label("4 số cuối").fill("5678")
        citizen.get_by_role("button", name="Tra cứu").click()
        citizen.wait_for_selector(".timeline")
        text = citizen.text_content("main") or ""
        assert "Kết quả đã được giao." in text and "CCCD" in text
        assert "Nguyễn Thị Hương" not in text and "0912345678" not in text and "Hàng Bài" not in text
        assert citizen.evaluate("document.documentElement.scrollWidth") <= WIDTHS[width]["width"]
        _shot(citizen, "track-result", width)
