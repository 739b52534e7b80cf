"""Printed documents: the consignment note (Phiếu gửi hồ sơ, TT 17/2017 Điều 9) of one order and the
handover record (Biên bản giao nhận hồ sơ, QĐ 45/2016 Điều 7.4) of a batch. PDF, with an embedded
font that has every Vietnamese letter, a Code 128 barcode of the tracking code and a QR code to the
public tracking page."""

from __future__ import annotations

import io
from collections.abc import Sequence
from datetime import date, datetime
from pathlib import Path
from urllib.parse import urlencode

from reportlab.graphics.barcode import code128, qr
from reportlab.graphics.shapes import Drawing
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.platypus import Flowable, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from contracts.addresses import resolve
from contracts.calendar import VIETNAM_TZ
from contracts.config import Centre
from contracts.orders import Address, Deadlines, Document, Kind, Order, OrderView

FONTS = Path(__file__).parent / "fonts"
pdfmetrics.registerFont(TTFont("DejaVu", str(FONTS / "DejaVuSans.ttf")))
pdfmetrics.registerFont(TTFont("DejaVu-Bold", str(FONTS / "DejaVuSans-Bold.ttf")))

BODY = ParagraphStyle("body", fontName="DejaVu", fontSize=9, leading=11.5)
SMALL = ParagraphStyle("small", parent=BODY, fontSize=7.5, leading=9.5)
BOLD = ParagraphStyle("bold", parent=BODY, fontName="DejaVu-Bold")
TITLE = ParagraphStyle("title", parent=BODY, fontName="DejaVu-Bold", fontSize=14, leading=18, alignment=1)
CENTRE = ParagraphStyle("centred", parent=BODY, alignment=1)
COURIER_NAMES = {"vnpost": "Bưu điện Việt Nam (VNPost)", "viettelpost": "Viettel Post", "ghn": "GHN", "ghtk": "GHTK"}


def _esc(text: object) -> str:
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _p(text: object, style: ParagraphStyle = BODY) -> Paragraph:
    return Paragraph(_esc(text), style)


def _date(value: date | datetime | None) -> str:
    if value is None:
        return "—"
    if isinstance(value, datetime):
        return value.astimezone(VIETNAM_TZ).strftime("%d/%m/%Y %H:%M")
    return value.strftime("%d/%m/%Y")


def _money(amount: int | None) -> str:
    return "—" if amount is None else f"{amount:,} đồng".replace(",", ".")


class _Barcode(Flowable):
    def __init__(self, value: str) -> None:
        super().__init__()
        self.code = code128.Code128(value, barHeight=14 * mm, barWidth=0.33 * mm, humanReadable=True, fontName="DejaVu")
        self.width, self.height = self.code.width, self.code.height + 4

    def draw(self) -> None:
        self.code.drawOn(self.canv, 0, 4)


def _qr(url: str, size: float = 28 * mm) -> Drawing:
    widget = qr.QrCodeWidget(url)
    left, bottom, right, top = widget.getBounds()
    drawing = Drawing(size, size, transform=[size / (right - left), 0, 0, size / (top - bottom), 0, 0])
    drawing.add(widget)
    return drawing


def tracking_url(public_url: str, dossier_code: str) -> str:
    return f"{public_url.rstrip('/')}/track?{urlencode({'d': dossier_code})}"


def _documents(documents: Sequence[Document], room: int = 1200) -> str:
    """The list as one line, cut to what fits the note's cell (the full list is in the order)."""
    if not documents:
        return "—"
    text = "; ".join(f"{d.name} ({'bản chính' if d.original else 'bản sao'}, {d.count})" for d in documents)
    if len(text) <= room:
        return text
    copies = sum(d.count for d in documents)
    return text[:room].rsplit("; ", 1)[0] + f"; … (tổng {len(documents)} loại giấy tờ, {copies} bản)"


def _grid(rows: list[list[object]], widths: list[float], header: bool = False) -> Table:
    table = Table(rows, colWidths=widths)
    style = [
        ("GRID", (0, 0), (-1, -1), 0.5, colors.grey),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("FONTNAME", (0, 0), (-1, -1), "DejaVu"),
        ("FONTSIZE", (0, 0), (-1, -1), 8.5),
    ]
    if header:
        style += [
            ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e5e7eb")),
            ("FONTNAME", (0, 0), (-1, 0), "DejaVu-Bold"),
        ]
    table.setStyle(TableStyle(style))
    return table


def _build(flow: list[Flowable], title: str) -> bytes:
    buffer = io.BytesIO()
    document = SimpleDocTemplate(
        buffer, pagesize=A4, leftMargin=14 * mm, rightMargin=14 * mm, topMargin=12 * mm, bottomMargin=12 * mm,
        title=title, author="dossier-dispatch", lang="vi",
    )  # fmt: skip
    document.build(flow)
    return buffer.getvalue()


def consignment_note(order: Order, view: OrderView, centre: Centre, public_url: str) -> bytes:
    """The Phiếu gửi hồ sơ: both parties, the service, the price and who pays, the J+n time, the TTHC or
    result with its documents, what the postman checks at hand-over, compensation; barcode and QR."""
    assert order.tracking_code is not None
    citizen_address = resolve(order.address)
    centre_address = resolve(
        Address(province_code=centre.province_code, ward_code=centre.ward_code, street=centre.street)
    )
    citizen = [
        _p(order.citizen.name, BOLD),
        _p(f"{citizen_address.street}, {citizen_address.ward_name}, {citizen_address.province_name}"),
        _p(f"Điện thoại: {order.citizen.phone}" + (f" · Email: {order.citizen.email}" if order.citizen.email else "")),
    ]
    agency = [
        _p(centre.name, BOLD),
        _p(f"{centre_address.street}, {centre_address.ward_name}, {centre_address.province_name}"),
        _p(f"Điện thoại: {centre.phone}"),
    ]
    pickup = order.kind is Kind.PICKUP
    sender, receiver = (citizen, agency) if pickup else (agency, citizen)
    deadlines: Deadlines = view.deadlines
    what = (
        f"Hồ sơ thủ tục hành chính: {order.procedure_name or order.procedure_code}"
        if pickup
        else f"Kết quả giải quyết thủ tục hành chính: {order.procedure_name or order.procedure_code}"
    )
    recipient = order.authorised_recipient
    identity = (
        f"Người nhận thay: {recipient.name}, xuất trình giấy ủy quyền {recipient.authorisation_ref} "
        "và giấy tờ tùy thân."
        if recipient
        else "Người nhận xuất trình CCCD, CMND hoặc hộ chiếu khi nhận."
    )
    payer = "người dân" if order.payment.postage_payer == "citizen" else "cơ quan (trả trước)"
    header = Table(
        [[
            [_p("PHIẾU GỬI HỒ SƠ" if pickup else "PHIẾU GỬI KẾT QUẢ", TITLE),
             _p("Dịch vụ bưu chính công ích (QĐ 45/2016/QĐ-TTg; TT 17/2017/TT-BTTTT Điều 9)", CENTRE),
             Spacer(1, 3 * mm), _Barcode(order.tracking_code)],
            [_qr(tracking_url(public_url, order.dossier_code)), _p("Tra cứu tại /track", SMALL)],
        ]],
        colWidths=[140 * mm, 40 * mm],
    )  # fmt: skip
    rows: list[list[object]] = [
        [_p("Số phiếu gửi (mã vận đơn)", BOLD), _p(order.tracking_code, BOLD)],
        [_p("Mã hồ sơ", BOLD), _p(order.dossier_code)],
        [_p("Người gửi", BOLD), sender],
        [_p("Người nhận", BOLD), receiver],
        [_p("Nội dung", BOLD), [_p(what), _p(f"Tài liệu: {_documents(order.documents)}")]],
        [_p("Giấy tờ thu hồi", BOLD), _p(_documents(order.documents_to_recover))],
        [_p("Dịch vụ", BOLD), _p(f"{COURIER_NAMES[order.courier]}; nhận tại địa chỉ người gửi, phát tận tay người nhận"
                                 + ("; có báo phát" if order.proof_of_delivery else ""))],
        [_p("Thời gian tạo", BOLD), _p(_date(order.created_at))],
        [_p("Chỉ tiêu thời gian", BOLD),
         _p(f"J+n theo TT 17/2017 Điều 7; hạn phát: {_date(deadlines.due_date)}" if deadlines.due_date
            else "J+n theo TT 17/2017 Điều 7, tính từ ngày bưu tá nhận")],
        [_p("Cước và thanh toán", BOLD),
         _p(f"Cước: {_money(view.money.fee or view.money.quoted_fee)}, do {payer} trả. "
            f"Lệ phí thu hộ: {_money(order.payment.agency_fee)}. "
            f"Giá trị khai: {_money(order.payment.declared_value)}.")],
        [_p("Kiểm tra khi giao", BOLD), _p(identity + " Hai bên cùng kiểm đếm và ký nhận.")],
        [_p("Bồi thường", BOLD),
         _p("Theo giá trị khai giá; không khai giá: theo NĐ 47/2011/NĐ-CP Điều 25 (tối thiểu 4 lần cước). "
            "Khiếu nại trong 6 tháng kể từ khi hết thời hạn J+n (TT 17/2017 Điều 8).")],
    ]  # fmt: skip
    signatures = Table(
        [[_p("Người gửi ký, ghi rõ họ tên", CENTRE), _p("Bưu tá nhận ký, ghi rõ họ tên", CENTRE),
          _p("Người nhận ký, ghi rõ họ tên", CENTRE)], ["", "", ""]],
        colWidths=[60 * mm] * 3, rowHeights=[None, 22 * mm],
    )  # fmt: skip
    flow: list[Flowable] = [header, Spacer(1, 4 * mm), _grid(rows, [42 * mm, 138 * mm]), Spacer(1, 6 * mm), signatures]
    return _build(flow, f"Phiếu gửi {order.tracking_code}")


def handover_record(orders: Sequence[Order], centre: Centre, courier: str, to_courier: bool, now: datetime) -> bytes:
    """The Biên bản giao nhận hồ sơ of a batch: each consignment note number, its dossier, TTHC and
    documents (originals and copies), with both parties' signatures."""
    direction = (
        f"{centre.name} giao cho {COURIER_NAMES[courier]}"
        if to_courier
        else f"{COURIER_NAMES[courier]} giao cho {centre.name}"
    )
    rows: list[list[object]] = [["STT", "Số phiếu gửi", "Mã hồ sơ", "Thủ tục", "Bản chính", "Bản sao"]]
    originals_total = copies_total = 0
    for number, order in enumerate(orders, start=1):
        originals = sum(d.count for d in order.documents if d.original)
        copies = sum(d.count for d in order.documents if not d.original)
        originals_total, copies_total = originals_total + originals, copies_total + copies
        rows.append([
            str(number), _p(order.tracking_code or "—"), _p(order.dossier_code),
            _p((order.procedure_name or order.procedure_code)[:200], SMALL), str(originals), str(copies),
        ])  # fmt: skip
    rows.append(["", _p(f"Cộng: {len(orders)} bưu gửi", BOLD), "", "", str(originals_total), str(copies_total)])
    flow: list[Flowable] = [
        _p("CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", ParagraphStyle("h", parent=BOLD, alignment=1)),
        _p("Độc lập - Tự do - Hạnh phúc", CENTRE),
        Spacer(1, 4 * mm),
        _p("BIÊN BẢN GIAO NHẬN HỒ SƠ", TITLE),
        _p(f"Lập lúc {_date(now)}: {direction}", CENTRE),
        Spacer(1, 4 * mm),
        _grid(rows, [12 * mm, 38 * mm, 48 * mm, 52 * mm, 15 * mm, 15 * mm], header=True),
        Spacer(1, 8 * mm),
        Table(
            [[_p("Bên giao ký, ghi rõ họ tên", CENTRE), _p("Bên nhận ký, ghi rõ họ tên", CENTRE)], ["", ""]],
            colWidths=[90 * mm, 90 * mm],
            rowHeights=[None, 25 * mm],
        ),
    ]
    return _build(flow, "Biên bản giao nhận hồ sơ")
