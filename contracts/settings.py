"""Settings: one frozen Struct filled from the environment by whoever starts a process."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

import msgspec


class Settings(msgspec.Struct, frozen=True, kw_only=True, rename="upper"):
    redis_url: str | None = None  # unset: the embedded store under dd_data_dir
    dd_data_dir: str = "./var"
    dd_host: str = "127.0.0.1"
    dd_port: int = 8000
    dd_sandbox_port: int = 8100
    dd_dev_api_key: str | None = None
    dd_dev_console_password: str | None = None  # the dev console's "demo" account; generated when unset
    dd_dev_callback_secret: str | None = None
    dd_sandbox_redis_url: str | None = None  # the sandboxes' own store (default: the dev store)
    dd_sandbox_autoplay: bool = True
    dd_sandbox_step_seconds: float = 1.0
    dd_config: str | None = None
    # always: the store runs `appendfsync always` (it fsyncs each write before it answers anyone).
    # waitaof: an external server under `appendfsync everysec` whose WAITAOF waits for the fsync
    # (Redis with redis/redis#13793); refused on Valkey, whose WAITAOF answers before it (README).
    dd_durability: Literal["waitaof", "always"] = "always"
    # Requests one API key may make per minute, counted in the store across api replicas (0: no limit).
    dd_api_requests_per_minute: int = 60_000
    # Request bodies larger than this are refused with 413 (statement files may be larger: 10 MB).
    dd_max_body_bytes: int = 1_000_000
    # Reverse proxies in front of the api, comma-separated addresses: rate limits then key on the
    # address they append to X-Forwarded-For.
    dd_trusted_proxies: str = "127.0.0.1"  # a proxy on the same host, as uvicorn trusted by default
    dd_public_url: str | None = None  # where couriers reach our callbacks; default http://host:port
    dd_dispatch_deadline_seconds: int = 120
    dd_courier_timeout_seconds: float = 10.0  # the dev sandbox accounts' HTTP timeout
    dd_courier_concurrency: int = 8  # bookings running or queued at one courier at a time
    # Waits between a booking's tries while its courier is unavailable; after the last one the order
    # shows in the exceptions queue and the sweep starts the series again (past the dispatch deadline).
    dd_dispatch_retry_seconds: str = "2,10,30,60,120"
    dd_breaker_cooldown_seconds: float = 30.0  # an open circuit lets a trial call through after this
    dd_sweep_interval_seconds: float = 5.0
    # Retention: orders finished this many days ago are archived to DD_ARCHIVE_DIR and their personal
    # data erased from the store, and raw callbacks older than this are trimmed. 0 keeps everything.
    dd_retention_days: int = 0
    dd_archive_dir: str | None = None  # default: <DD_DATA_DIR>/archive
    # A callback event older than this when it arrives is a replay: refused, set aside, never applied
    # (couriers retry for minutes, GHN 10 x 5 s; a scanner offline for a day still fits). 0: any age.
    dd_callback_max_age_hours: float = 72.0
    dd_poll_quiet_seconds: float = 3600.0  # an order silent this long (times its status' factor) is polled
    dd_log_level: str = "INFO"
    # Where outbound webhooks may go besides public addresses: "loopback", "private", comma-separated.
    dd_webhook_egress: str = ""
    # Citizen notices (TT 17/2017 Điều 12). Without an SMTP host, emails are kept in the outbox unsent.
    dd_smtp_host: str | None = None
    dd_smtp_port: int = 25
    dd_smtp_starttls: bool = False
    dd_smtp_username: str | None = None
    dd_smtp_password: str | None = None
    dd_smtp_from: str = "dossier-dispatch <no-reply@localhost>"
    dd_sms_provider: Literal["outbox"] = "outbox"  # the only one built in: kept in the store, not sent

    def __post_init__(self) -> None:
        try:
            waits = self.dispatch_retry
        except ValueError:
            raise ValueError("DD_DISPATCH_RETRY_SECONDS: comma-separated whole seconds, like 2,10,30") from None
        if not waits or min(waits) < 0:
            raise ValueError("DD_DISPATCH_RETRY_SECONDS: at least one wait, none negative")

    @property
    def dispatch_retry(self) -> list[int]:
        return [int(part) for part in self.dd_dispatch_retry_seconds.split(",") if part.strip()]

    @property
    def trusted_proxies(self) -> frozenset[str]:
        return frozenset(part.strip() for part in self.dd_trusted_proxies.split(",") if part.strip())

    @property
    def public_url(self) -> str:
        return self.dd_public_url or f"http://{self.dd_host}:{self.dd_port}"

    @property
    def webhook_egress(self) -> frozenset[str]:
        return frozenset(part.strip() for part in self.dd_webhook_egress.split(",") if part.strip())

    @property
    def sandbox_url(self) -> str:
        return f"http://{self.dd_host}:{self.dd_sandbox_port}"


def settings_from(environ: Mapping[str, str]) -> Settings:
    """Settings from an environment mapping; a bad value raises `msgspec.ValidationError` naming it."""
    return msgspec.convert(dict(environ), Settings, strict=False)
