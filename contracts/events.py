"""Tracking events and the reconciliation of any set of them into one timeline."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

import msgspec

from contracts.base import Record
from contracts.lifecycle import IllegalTransition, advance
from contracts.statuses import Status

Source = Literal["push", "poll", "api"]


class Event(Record, frozen=True, kw_only=True):
    """One thing that happened to one order, as the courier (or we) said it."""

    key: str  # dedupe key: the same fact told twice has the same key
    status: Status | None  # None: a courier code we cannot map; kept, shown, never guessed
    courier: str
    raw_status: str
    raw_text: str = ""
    reason_code: str | None = None
    reason: str | None = None
    event_time: datetime
    received_at: datetime
    location: str | None = None
    source: Source = "push"
    tracking_code: str | None = None


class TimelineEntry(Record, frozen=True, kw_only=True):
    event: Event
    applied: bool
    note: str | None = None  # why an event did not move the order


class Timeline(Record, frozen=True, kw_only=True):
    status: Status
    entries: tuple[TimelineEntry, ...]


def event_key(courier: str, tracking_code: str, raw_status: str, event_time: datetime, reason: str | None) -> str:
    """Deduplicate on (courier, tracking code, status, event time, reason): no courier gives event ids.

    The time is keyed in UTC, so a push in +07:00 and a poll in Z of the same instant are one event.
    """
    return f"{courier}|{tracking_code}|{raw_status}|{event_time.astimezone(UTC).isoformat()}|{reason or ''}"


def _order(entry: Event) -> tuple[datetime, int, str]:
    # Seconds-resolution times tie often; break ties by lifecycle position, then by key for determinism.
    rank = _RANK[entry.status] if entry.status is not None else -1
    return (entry.event_time, rank, entry.key)


_RANK: dict[Status, int] = {status: position for position, status in enumerate(Status)}


def reconcile(start: Status, events: list[Event]) -> Timeline:
    """Fold events in event-time order from `start`; the result does not depend on arrival order."""
    status = start
    entries: list[TimelineEntry] = []
    seen: set[str] = set()
    for event in sorted(events, key=_order):
        if event.key in seen:
            continue
        seen.add(event.key)
        if event.status is None:
            entries.append(TimelineEntry(event=event, applied=False, note="unmapped courier status"))
            continue
        try:
            status = advance(status, event.status)
        except IllegalTransition as refused:
            entries.append(TimelineEntry(event=event, applied=False, note=str(refused)))
            continue
        entries.append(TimelineEntry(event=event, applied=True))
    return Timeline(status=status, entries=tuple(entries))


EVENTS_DECODER = msgspec.json.Decoder(Event)
