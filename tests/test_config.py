"""Settings from the environment and the DD_CONFIG file, with secrets given as env references."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

import msgspec
import pytest

from contracts.addresses import resolve
from contracts.config import ConfigError, Procedure, parse_config
from contracts.orders import Address, Courier
from contracts.settings import settings_from

EXAMPLE = Path(__file__).parent.parent / "docs" / "config.example.toml"
# Every variable the example names as "env:NAME" (the commented-out options name more).
EXAMPLE_SECRETS = (
    "GHN_TOKEN_HN",
    "GHN_CALLBACK_SECRET_HN",
    "GHTK_TOKEN_HN",
    "GHTK_PARTNER_CODE_HN",
    "GHTK_CALLBACK_SECRET_HN",
    "VTP_USERNAME_HN",
    "VTP_PASSWORD_HN",
    "VTP_CALLBACK_SECRET_HN",
    "VNPOST_USERNAME_HN",
    "VNPOST_PASSWORD_HN",
)


def test_settings_come_from_environment_names() -> None:
    settings = settings_from({"DD_PORT": "9001", "REDIS_URL": "redis://x:1/0", "DD_SANDBOX_AUTOPLAY": "0", "HOME": "/"})
    assert (settings.dd_port, settings.redis_url, settings.dd_sandbox_autoplay) == (9001, "redis://x:1/0", False)
    assert settings.public_url == "http://127.0.0.1:9001"


def test_bad_setting_names_the_variable() -> None:
    with pytest.raises(msgspec.ValidationError, match="DD_PORT"):
        settings_from({"DD_PORT": "eighty"})


def test_example_config_parses_with_secrets_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in EXAMPLE_SECRETS:
        monkeypatch.setenv(name, f"value-of-{name}")
    config = parse_config(tomllib.loads(EXAMPLE.read_text()), os.environ)
    centre = config.centres["HN-HCC"]
    resolve(Address(province_code=centre.province_code, ward_code=centre.ward_code, street=centre.street))

    assert set(centre.couriers) == {courier.value for courier in Courier}
    ghn, ghtk, vtp, vnpost = (centre.couriers[c] for c in ("ghn", "ghtk", "viettelpost", "vnpost"))
    assert (ghn.token, ghn.callback_secret, ghn.shop_id) == (
        "value-of-GHN_TOKEN_HN",
        "value-of-GHN_CALLBACK_SECRET_HN",
        885,
    )
    assert (ghtk.token, ghtk.partner_code) == ("value-of-GHTK_TOKEN_HN", "value-of-GHTK_PARTNER_CODE_HN")
    assert ghtk.options == {"district_mode": "empty", "pick_option": "cod"}
    assert (vtp.username, vtp.password) == ("value-of-VTP_USERNAME_HN", "value-of-VTP_PASSWORD_HN")
    assert vtp.callback_secret == "value-of-VTP_CALLBACK_SECRET_HN"
    assert vtp.options["callback_auth"] == "either" and vtp.options["national_type"] == "1"
    assert (vnpost.username, vnpost.password) == ("value-of-VNPOST_USERNAME_HN", "value-of-VNPOST_PASSWORD_HN")
    assert vnpost.customer_code and vnpost.callback_ips  # VNPost refuses every callback without an allow-list
    assert vnpost.options["service_code"] == "ETN011"
    # Every credential came from the environment: the file holds no literal secret.
    for account in centre.couriers.values():
        for secret in (account.token, account.password, account.callback_secret):
            assert secret in ("", None) or secret.startswith("value-of-")

    assert centre.default_couriers == {"pickup": "vnpost", "delivery": "ghn"}
    assert {centre.default_courier, *centre.default_couriers.values()} <= set(centre.couriers)
    procedures = centre.procedures
    assert procedures["1.001234"] == Procedure(name="Cấp bản sao trích lục hộ tịch")
    assert procedures["1.001612"].public_postal_only and procedures["1.001612"].by_post
    assert not procedures["1.004227"].by_post


def test_missing_secret_names_where_it_is_needed() -> None:
    raw = tomllib.loads(EXAMPLE.read_text())
    environ = dict.fromkeys(EXAMPLE_SECRETS, "x")
    del environ["GHTK_CALLBACK_SECRET_HN"]
    with pytest.raises(
        ConfigError, match=r"ghtk\.callback_secret refers to environment variable GHTK_CALLBACK_SECRET_HN"
    ):
        parse_config(raw, environ)


def test_dotenv_fills_only_unset_variables(tmp_path: Path) -> None:
    from service.cli import _load_dotenv

    (tmp_path / ".env").write_text('# local\nDD_PORT=9100\nexport DD_LOG_LEVEL="DEBUG"\nDD_HOST=10.0.0.1\n')
    environ = {"DD_HOST": "127.0.0.1"}
    _load_dotenv(str(tmp_path / ".env"), environ)
    settings = settings_from(environ)
    assert (settings.dd_port, settings.dd_log_level, settings.dd_host) == (9100, "DEBUG", "127.0.0.1")


def test_a_centre_whose_address_does_not_resolve_is_refused_at_start(tmp_path: Path) -> None:
    from workers.context import load_config

    broken = EXAMPLE.read_text().replace('ward_code = "00004"', 'ward_code = "99999"')
    path = tmp_path / "config.toml"
    path.write_text(broken)
    settings = settings_from({"DD_CONFIG": str(path)})
    environ = dict.fromkeys(EXAMPLE_SECRETS, "s")
    with pytest.raises(ConfigError, match="centre HN-HCC"):
        load_config(settings, environ)
    path.write_text(EXAMPLE.read_text())
    assert load_config(settings, environ).centres["HN-HCC"]
