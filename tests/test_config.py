"""Settings from the environment and the DD_CONFIG file, with secrets given as env references."""

from __future__ import annotations

import tomllib
from pathlib import Path

import msgspec
import pytest

from contracts.addresses import resolve
from contracts.config import ConfigError, parse_config
from contracts.orders import Address
from contracts.settings import settings_from

EXAMPLE = Path(__file__).parent.parent / "docs" / "config.example.toml"


def test_settings_come_from_environment_names() -> None:
    settings = settings_from({"DD_PORT": "9001", "REDIS_URL": "redis://x:1/0", "DD_SANDBOX_AUTOPLAY": "0", "HOME": "/"})
    assert (settings.dd_port, settings.redis_url, settings.dd_sandbox_autoplay) == (9001, "redis://x:1/0", False)
    assert settings.public_url == "http://127.0.0.1:9001"


def test_bad_setting_names_the_variable() -> None:
    with pytest.raises(msgspec.ValidationError, match="DD_PORT"):
        settings_from({"DD_PORT": "eighty"})


def test_example_config_parses_with_secrets_from_environment() -> None:
    raw = tomllib.loads(EXAMPLE.read_text())
    config = parse_config(raw, {"GHN_TOKEN_HN": "tok", "GHN_CALLBACK_SECRET_HN": "sec"})
    centre = config.centres["HN-HCC"]
    assert centre.couriers["ghn"].token == "tok" and centre.couriers["ghn"].callback_secret == "sec"
    resolve(Address(province_code=centre.province_code, ward_code=centre.ward_code, street=centre.street))


def test_missing_secret_names_where_it_is_needed() -> None:
    raw = tomllib.loads(EXAMPLE.read_text())
    with pytest.raises(ConfigError, match=r"token refers to environment variable GHN_TOKEN_HN"):
        parse_config(raw, {"GHN_CALLBACK_SECRET_HN": "sec"})


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
    with pytest.raises(ConfigError, match="centre HN-HCC"):
        load_config(settings, {"GHN_TOKEN_HN": "t", "GHN_CALLBACK_SECRET_HN": "s"})
    path.write_text(EXAMPLE.read_text())
    assert load_config(settings, {"GHN_TOKEN_HN": "t", "GHN_CALLBACK_SECRET_HN": "s"}).centres["HN-HCC"]
