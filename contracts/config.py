"""Centres and their courier accounts: the shape of the `DD_CONFIG` file and the dev defaults."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec

from contracts.base import Record
from contracts.settings import Settings


class CourierAccount(Record, frozen=True, kw_only=True):
    """One centre's contract with one courier. Which fields a courier uses is said in its module."""

    base_url: str
    token: str = ""  # static tokens (GHN, GHTK); Viettel Post and VNPost log in with username/password
    shop_id: int | None = None  # GHN ShopId
    username: str | None = None  # Viettel Post, VNPost
    password: str | None = None
    customer_code: str | None = None  # VNPost customerCode / contractCode
    partner_code: str | None = None  # GHTK X-Client-Source
    callback_secret: str
    callback_ips: tuple[str, ...] = ()  # VNPost posts from listed addresses (its IP allow-list)
    options: dict[str, str] = {}  # courier-specific settings that the reference marks VERIFY
    timeout_seconds: float = 10.0

    @property
    def booking_seconds(self) -> int:
        """How long booking one order may take: a login, a token exchange, a lookup, a create and a
        retried call, each at full timeout (a booking job's RQ limit is this times its orders)."""
        return int(5 * self.timeout_seconds) + 10

    @property
    def lock_seconds(self) -> int:
        """How long one booking may hold its order: longer than booking it may take, so the lock never
        lapses under a running booking; a worker killed mid-booking delays the order by this much."""
        return self.booking_seconds + 15


class Procedure(Record, frozen=True, kw_only=True):
    """One administrative procedure (TTHC) in a centre's catalogue, and whether it may go by post."""

    name: str
    by_post: bool = True  # False: needs personal presence, excluded by QĐ 45 Điều 1.2
    public_postal_only: bool = False  # only the public postal service (VNPost, BCCI) may carry it


class Centre(Record, frozen=True, kw_only=True):
    code: str
    name: str
    phone: str
    street: str
    ward_code: str
    province_code: str
    couriers: dict[str, CourierAccount]
    default_courier: str | None = None
    default_couriers: dict[str, str] = {}  # by kind ("pickup", "delivery"), before default_courier
    # Empty: every procedure may go by post. Otherwise only the listed codes, as each entry says.
    procedures: dict[str, Procedure] = {}


class Config(Record, frozen=True, kw_only=True):
    centres: dict[str, Centre]

    def accounts(self, courier: str) -> list[CourierAccount]:
        return [c.couriers[courier] for c in self.centres.values() if courier in c.couriers]


class ConfigError(ValueError):
    """The config file is wrong; the message names the place."""


def _resolve_secrets(value: Any, environ: Mapping[str, str], path: str) -> Any:
    # Secrets may be written as "env:NAME" so the file itself can be committed to an ops repo.
    if isinstance(value, dict):
        return {k: _resolve_secrets(v, environ, f"{path}.{k}") for k, v in value.items()}
    if isinstance(value, str) and value.startswith("env:"):
        name = value[4:]
        if name not in environ:
            raise ConfigError(f"{path} refers to environment variable {name}, which is not set")
        return environ[name]
    return value


def parse_config(raw: Mapping[str, Any], environ: Mapping[str, str]) -> Config:
    try:
        return msgspec.convert(_resolve_secrets(dict(raw), environ, "$"), Config)
    except msgspec.ValidationError as error:
        raise ConfigError(str(error)) from None


DEMO_CENTRE = "DEMO"
# A demo catalogue: the codes follow the national procedure database's shape, the entries are illustrative.
DEMO_PROCEDURES: dict[str, Procedure] = {
    "1.001234": Procedure(name="Cấp bản sao trích lục hộ tịch"),
    "1.000656": Procedure(name="Đăng ký thay đổi, cải chính, bổ sung thông tin hộ tịch"),
    "2.000908": Procedure(name="Chứng thực bản sao từ bản chính giấy tờ, văn bản"),
    "1.004227": Procedure(name="Đăng ký kết hôn", by_post=False),  # both parties must appear in person
    "1.001612": Procedure(name="Cấp giấy phép lái xe quốc tế", public_postal_only=True),
}


def dev_config(settings: Settings) -> Config:
    """The dev world: one demo centre in Hà Nội with one sandbox account per courier."""
    secret = settings.dd_dev_callback_secret or ""
    sandbox, timeout = settings.sandbox_url, settings.dd_courier_timeout_seconds
    couriers = {
        "ghn": CourierAccount(
            base_url=f"{sandbox}/ghn/shiip/public-api", token="sandbox-ghn-token", shop_id=885,
            callback_secret=secret, timeout_seconds=timeout,
        ),
        "ghtk": CourierAccount(
            base_url=f"{sandbox}/ghtk", token="sandbox-ghtk-token", partner_code="S-DEMO",
            callback_secret=secret, timeout_seconds=timeout,
        ),
        "viettelpost": CourierAccount(
            base_url=f"{sandbox}/viettelpost", username="demo@dossier-dispatch.vn", password="sandbox-vtp-password",
            callback_secret=secret, timeout_seconds=timeout,
        ),
        "vnpost": CourierAccount(
            base_url=f"{sandbox}/vnpost", username="demo", password="sandbox-vnpost-password",
            customer_code="DEMO01", callback_secret=secret, callback_ips=("127.0.0.1",), timeout_seconds=timeout,
        ),
    }  # fmt: skip
    demo = Centre(
        code=DEMO_CENTRE,
        name="Trung tâm Phục vụ hành chính công (demo)",
        phone="0912000111",
        street="1 Tràng Tiền",
        ward_code="00070",  # Phường Hoàn Kiếm
        province_code="01",  # Thành phố Hà Nội
        couriers=couriers,
        default_courier="ghn",
        procedures=DEMO_PROCEDURES,
    )
    return Config(centres={DEMO_CENTRE: demo})
