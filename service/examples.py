"""Realistic request bodies for the OpenAPI document and the README (Vietnamese data, made up)."""

from __future__ import annotations

from typing import Any

DELIVERY_EXAMPLE: dict[str, Any] = {
    "kind": "delivery",
    "dossier_code": "000.00.01.H26-261121-0001",
    "procedure_code": "1.001234",
    "procedure_name": "Cấp bản sao trích lục hộ tịch",
    "appointment_date": "2026-11-27",
    "citizen": {
        "name": "Nguyễn Văn An",
        "phone": "0912345678",
        "email": "an.nguyen@example.vn",
        "id_number": "001090012345",
    },
    "authorised_recipient": {
        "name": "Trần Thị Bình",
        "id_number": "001192054321",
        "authorisation_ref": "Giấy ủy quyền số 15/2026/UQ",
    },
    "address": {"province_code": "01", "ward_code": "00004", "street": "12 Phố Đội Cấn"},
    "documents": [{"name": "Bản sao trích lục khai sinh", "original": True, "count": 2}],
    "documents_to_recover": [{"name": "Giấy hẹn trả kết quả", "original": True, "count": 1}],
    "payment": {"postage_payer": "citizen", "agency_fee": 8000, "declared_value": 0},
    "courier": "ghn",
}

PICKUP_EXAMPLE: dict[str, Any] = {
    "kind": "pickup",
    "dossier_code": "000.00.01.H26-261121-0002",
    "procedure_code": "2.000908",
    "citizen": {"name": "Lê Thị Cúc", "phone": "+84 98 765 4321"},
    "address": {"province_code": "01", "ward_code": "00070", "street": "5 Hàng Bài"},
    "documents": [
        {"name": "Tờ khai", "original": True, "count": 1},
        {"name": "Bản sao căn cước công dân", "original": False, "count": 1},
    ],
}

ROUND_TRIP_EXAMPLE: dict[str, Any] = {
    **PICKUP_EXAMPLE,
    "kind": "round_trip",
    "dossier_code": "000.00.01.H26-261121-0003",
    "procedure_code": "1.000656",
}

LEGACY_EXAMPLE: dict[str, Any] = {
    **PICKUP_EXAMPLE,
    "dossier_code": "000.00.01.H26-261121-0004",
    "address": None,
    "legacy_address": {
        "province": "Thành phố Hà Nội",
        "district": "Quận Ba Đình",
        "ward": "Phường Phúc Xá",
        "street": "18 Phố Phúc Xá",
    },
}
