"""What a process builds once and reuses: settings, config, the store client and courier HTTP clients."""

from __future__ import annotations

import gc
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field

import httpx
import redis

from contracts.addresses import resolve
from contracts.config import Centre, Config, ConfigError, dev_config, parse_config
from contracts.errors import FieldError
from contracts.orders import Address
from contracts.settings import Settings, settings_from
from workers.couriers import CourierClient, CourierRejected, client_for
from workers.embedded import ensure_store
from workers.store import Store


def load_config(settings: Settings, environ: Mapping[str, str]) -> Config:
    """DD_CONFIG names a TOML file of centres and courier accounts; without it, the dev world."""
    if settings.dd_config is None:
        return dev_config(settings)
    with open(settings.dd_config, "rb") as handle:
        config = parse_config(tomllib.load(handle), environ)
    for code, centre in config.centres.items():
        try:  # a centre whose own address does not resolve could book nothing: refuse at start
            resolve(Address(province_code=centre.province_code, ward_code=centre.ward_code, street=centre.street))
        except FieldError as error:
            raise ConfigError(f"centre {code}: {error}") from None
    return config


# Young objects a collection waits for (Python's default is 700). A callback or a batch of them allocates
# hundreds of containers that live until its answer or its write, and each is freed by its reference
# count, not by the collector: at 700 a batch triggered ~60 collections that found nothing, and the
# full ones among them walked every object of the process. bench.ingest: 2,590 collections and 40–47 µs
# of CPU per callback (a quarter of ingest's) before, 26 collections and ~2 µs after (docs/BENCHMARKS.md).
YOUNG_OBJECTS = 10_000


def settle_garbage_collector() -> None:
    """For a long-running process, once it has built what it keeps (imports, config, clients, the app):
    those move to the collector's permanent generation, so a full collection no longer walks them, and
    collections come after `YOUNG_OBJECTS` allocations instead of 700. Cycles are still collected;
    what is freed by reference counting (nearly everything) is freed as before."""
    gc.freeze()
    gc.set_threshold(YOUNG_OBJECTS, *gc.get_threshold()[1:])


def store_url(settings: Settings) -> str:
    """REDIS_URL, else the embedded store under DD_DATA_DIR (found running, or started)."""
    if settings.redis_url:
        return settings.redis_url
    return ensure_store(settings.dd_data_dir).url


@dataclass
class Context:
    settings: Settings
    config: Config
    store: Store
    http: httpx.Client = field(default_factory=lambda: httpx.Client(follow_redirects=False))
    _couriers: dict[tuple[str, str], CourierClient] = field(default_factory=dict)

    def centre(self, code: str) -> Centre:
        centre = self.config.centres.get(code)
        if centre is None:
            raise CourierRejected(f"centre {code!r} is not configured")
        return centre

    def courier(self, centre_code: str, courier: str) -> CourierClient:
        """One client per (centre, courier), built once: an httpx client costs ~25 ms to make."""
        key = (centre_code, courier)
        if key not in self._couriers:
            account = self.centre(centre_code).couriers.get(courier)
            if account is None:
                raise CourierRejected(f"centre {centre_code!r} has no {courier} account")
            self._couriers[key] = client_for(courier, account, self.http)
        return self._couriers[key]

    def close(self) -> None:
        self.http.close()
        self.store.client.close()


def build(environ: Mapping[str, str] | None = None) -> Context:
    environ = os.environ if environ is None else environ
    settings = settings_from(environ)
    url = store_url(settings)
    client = redis.Redis.from_url(url, health_check_interval=30)
    config = load_config(settings, environ)
    store = Store(client, durability=settings.dd_durability, url=url, centres=config.centres)
    store.check_durability()
    return Context(settings=settings, config=config, store=store)


_current: Context | None = None


def current() -> Context:
    """The process's context, built from the environment on first use (RQ jobs call this)."""
    global _current
    if _current is None:
        _current = build()
    return _current


def install(context: Context | None) -> None:
    global _current
    _current = context
