"""The receiver the README shows works as printed: it verifies our deliveries and skips a repeat."""

from __future__ import annotations

import re
import threading
import time
from pathlib import Path

import pytest
from litestar.testing import TestClient

from contracts.settings import Settings
from tests.conftest import API_KEY, SECRET, order_body
from workers.embedded import EmbeddedStore
from workers.webhooks import deliver_due

Client = TestClient  # type: ignore[type-arg]
README = Path(__file__).parent.parent / "README.md"


@pytest.fixture
def settings(embedded: EmbeddedStore) -> Settings:
    return Settings(
        redis_url=embedded.url, dd_dev_api_key=API_KEY, dd_dev_callback_secret=SECRET, dd_sandbox_port=18999,
        dd_webhook_egress="loopback",
    )  # fmt: skip


def test_the_readme_receiver_verifies_our_webhooks(api: Client, capsys: pytest.CaptureFixture[str]) -> None:
    text = README.read_text()
    code = re.search(r"A receiver, in a dozen lines:\n\n```python\n(.*?)```", text, re.S)
    assert code is not None
    source = code.group(1)
    assert len(source.strip().splitlines()) <= 25
    probe = __import__("socket").socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    endpoint = api.post("/v1/webhook-endpoints", json={"url": f"http://127.0.0.1:{port}/"}).json()
    source = source.replace('"whsec_..."', repr(endpoint["secret"])).replace("9000", str(port))
    source = source.replace(".serve_forever()", "")  # started on a thread below instead
    namespace: dict[str, object] = {}
    exec(compile(source.replace("HTTPServer((", "server = HTTPServer(("), "README", "exec"), namespace)
    server = namespace["server"]
    thread = threading.Thread(target=server.serve_forever, daemon=True)  # type: ignore[attr-defined]
    thread.start()
    try:
        api.post("/v1/orders", json=order_body())
        now = time.time()
        assert deliver_due(now=now, allow=frozenset({"loopback"})) == 1
        printed = capsys.readouterr().out
        assert "order.created 000.00.01.H26-261121-0001 {'code': 9, 'name': 'Đã xử lý xong'}" in printed
    finally:
        server.shutdown()  # type: ignore[attr-defined]
