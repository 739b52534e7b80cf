"""Shared fixtures: one real embedded Valkey per test session, a fresh database for every test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from litestar.testing import TestClient

from contracts.config import DEMO_CENTRE, dev_config
from contracts.settings import Settings
from service.app import create_app
from workers import context as worker_context
from workers.context import Context
from workers.embedded import EmbeddedStore, ensure_store
from workers.store import Principal, Store

FIXTURES = Path(__file__).parent / "fixtures"
API_KEY = "test-key-demo"
OTHER_KEY = "test-key-other"
SECRET = "test-callback-secret"


def fixture(courier: str, name: str) -> bytes:
    return (FIXTURES / courier / name).read_bytes()


@pytest.fixture(scope="session")
def embedded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedStore]:
    store = ensure_store(tmp_path_factory.mktemp("data"))
    yield store
    store.stop()


@pytest.fixture
def settings(embedded: EmbeddedStore) -> Settings:
    return Settings(
        redis_url=embedded.url,
        dd_dev_api_key=API_KEY,
        dd_dev_callback_secret=SECRET,
        dd_sandbox_port=18999,  # nothing listens: unit tests mock GHN with pytest-httpx
        dd_callback_max_age_hours=0,  # fixtures carry fixed dates; the replay window has its own tests
    )


@pytest.fixture
def ctx(settings: Settings) -> Iterator[Context]:
    client = redis.Redis.from_url(settings.redis_url or "")
    client.flushdb()
    config = dev_config(settings)
    context = Context(settings=settings, config=config, store=Store(client, centres=config.centres))
    context.store.save_api_key(API_KEY, Principal(centre=DEMO_CENTRE))
    context.store.save_api_key(OTHER_KEY, Principal(centre="OTHER"))
    worker_context.install(context)
    yield context
    worker_context.install(None)
    context.close()


@pytest.fixture
def api(settings: Settings, ctx: Context) -> Iterator[TestClient]:  # type: ignore[type-arg]
    with TestClient(create_app(settings, ctx=ctx)) as client:
        client.headers["Authorization"] = f"Bearer {API_KEY}"
        yield client


def order_body(**overrides: object) -> dict[str, object]:
    body: dict[str, object] = {
        "kind": "delivery",
        "dossier_code": "000.00.01.H26-261121-0001",
        "procedure_code": "1.001234",
        "citizen": {"name": "Nguyễn Văn A", "phone": "+84912345678"},
        "address": {"province_code": "01", "ward_code": "00004", "street": "12 Phố Huế"},
        "documents": [{"name": "Giấy chứng nhận quyền sử dụng đất", "original": True, "count": 1}],
    }
    body.update(overrides)
    return body
