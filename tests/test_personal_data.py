"""No personal data leaks: an end-to-end run at DEBUG log level with every courier, then every log
line of every process and every request the couriers received are searched for the citizens' data."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import order_body
from tests.system import System

pytestmark = pytest.mark.e2e
COURIERS = ("ghn", "ghtk", "viettelpost", "vnpost")


@pytest.fixture
def system(tmp_path: Path) -> Iterator[System]:
    running = System(tmp_path, DD_LOG_LEVEL="DEBUG", DD_SANDBOX_STEP_SECONDS="0.05")
    running.start()
    yield running
    running.stop()


def test_logs_and_courier_requests_carry_no_id_number_phone_or_street(system: System) -> None:
    people = []
    for n, courier in enumerate(COURIERS):
        person = {
            "name": f"Hoàng Thị Kiểm Tra {n}",
            "phone": f"09{n}8765432",
            "id_number": f"00109{n}654321",
            "street": f"{n + 17} Ngõ Bí Mật Riêng Tư",
            "recipient_id": f"00207{n}112233",
        }
        body = order_body(
            courier=courier,
            dossier_code=f"D-PII-{n}",
            citizen={"name": person["name"], "phone": person["phone"], "id_number": person["id_number"]},
            address={"province_code": "01", "ward_code": "00004", "street": person["street"]},
            authorised_recipient={"name": "Người Nhận Thay", "id_number": person["recipient_id"],
                                  "authorisation_ref": "GUQ-9"},
        )  # fmt: skip
        order = system.api.post("/v1/orders", json=body).json()
        people.append((order["id"], person))
    for order_id, _person in people:
        system.wait_for(order_id, "delivered", seconds=60)
    system.api.get("/v1/orders/NO-SUCH")  # an error path logs too
    logs = system.log_text()
    requests = httpx.get(f"http://127.0.0.1:{system.sandbox_port}/_sandbox/requests").json()
    sent = "\n".join(r["body"] + r["path"] for r in requests)
    assert len(logs) > 1000 and len(requests) >= 4  # there was something to search
    for _order_id, person in people:
        for key in ("phone", "id_number", "street", "recipient_id"):
            assert person[key] not in logs, f"{key} in the logs"
        for key in ("id_number", "recipient_id"):
            assert person[key] not in sent, f"{key} sent to a courier"
        assert person["phone"] in sent  # couriers do need the phone of the person to meet (and this search works)
