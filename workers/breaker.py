"""A circuit breaker per courier, kept in the store so every worker sees the same state."""

from __future__ import annotations

import time
from typing import Literal

import redis

from contracts.base import Record
from workers import keys

State = Literal["closed", "open", "half_open"]
TRIAL_SECONDS = 150


class BreakerView(Record, frozen=True, kw_only=True):
    courier: str
    state: State
    consecutive_failures: int
    opened_at: float | None
    retry_at: float | None  # when a trial call will be let through
    last_error: str | None = None  # what the last failed call met (never the courier's words about an order)


class Breaker:
    """Closed: calls go through. After `threshold` failures in a row: open, no calls for `cooldown`
    seconds. Then half-open: one trial call; success closes it, failure opens it again."""

    def __init__(self, client: redis.Redis, courier: str, *, threshold: int = 5, cooldown: float = 30.0) -> None:
        self.client = client
        self.courier = courier
        self.key = keys.breaker(courier)
        self.threshold = threshold
        self.cooldown = cooldown

    def view(self, now: float | None = None) -> BreakerView:
        now = time.time() if now is None else now
        raw = {k.decode(): v.decode() for k, v in self.client.hgetall(self.key).items()}
        failures = int(raw.get("failures", 0))
        opened = float(raw["opened_at"]) if raw.get("opened_at") else None
        last_error = raw.get("last_error")
        if opened is None:
            return BreakerView(courier=self.courier, state="closed", consecutive_failures=failures,
                               opened_at=None, retry_at=None, last_error=last_error)  # fmt: skip
        retry_at = opened + self.cooldown
        state: State = "open" if now < retry_at else "half_open"
        return BreakerView(courier=self.courier, state=state, consecutive_failures=failures,
                           opened_at=opened, retry_at=retry_at, last_error=last_error)  # fmt: skip

    def allow(self, now: float | None = None) -> bool:
        """May this call go to the courier? In half-open, only the one caller that wins the trial."""
        view = self.view(now)
        if view.state == "closed":
            return True
        if view.state == "open":
            return False
        # The trial key outlives any booking (a dead trial holder must not block trials for long, either).
        return bool(self.client.set(f"{self.key}:trial", "1", nx=True, ex=TRIAL_SECONDS))

    def release_trial(self) -> None:
        """The call never reached the courier: let another caller make the trial."""
        self.client.delete(f"{self.key}:trial")

    def succeeded(self) -> None:
        if self.client.exists(self.key):
            self.client.delete(self.key, f"{self.key}:trial")

    def failed(self, now: float | None = None, why: str | None = None) -> None:
        now = time.time() if now is None else now
        if why is not None:
            self.client.hset(self.key, "last_error", why[:200])
        failures = int(self.client.hincrby(self.key, "failures", 1))
        was_open = self.client.hexists(self.key, "opened_at")
        if failures >= self.threshold or was_open:  # a failed trial opens it again, for a fresh cooldown
            self.client.hset(self.key, "opened_at", repr(now))
            self.client.delete(f"{self.key}:trial")
