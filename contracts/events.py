"""Tracking events and the reconciliation of any set of them into one timeline."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

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
    unconfirmed: bool = False  # e.g. GHTK "shipper reports ...": shown, never moves the order


class TimelineEntry(Record, frozen=True, kw_only=True):
    event: Event
    applied: bool
    note: str | None = None  # why an event did not move the order


class Timeline(Record, frozen=True, kw_only=True):
    status: Status
    entries: tuple[TimelineEntry, ...]


UNCONFIRMED = "reported by the courier's agent, waiting for the courier's confirmation"


def event_key(courier: str, tracking_code: str, raw_status: str, event_time: datetime, reason: str | None) -> str:
    """Deduplicate on (courier, tracking code, status, event time, reason): no courier gives event ids.

    The time is keyed in UTC, so a push in +07:00 and a poll in Z of the same instant are one event.
    """
    return f"{courier}|{tracking_code}|{raw_status}|{event_time.astimezone(UTC).isoformat()}|{reason or ''}"


def _order(entry: Event) -> tuple[datetime, int, str]:
    # Seconds-resolution times tie often; break ties by lifecycle position, then by key for determinism.
    return (entry.event_time, _RANK[entry.status], entry.key)


def _fact(event: Event) -> tuple[str, str | None, str, datetime]:
    return (event.courier, event.tracking_code, event.raw_status, event.event_time)


_RANK: dict[Status | None, int] = {None: -1} | {status: position for position, status in enumerate(Status)}


def reconcile(start: Status, events: list[Event]) -> Timeline:
    """Fold events in event-time order from `start`; the result does not depend on arrival order."""
    status = start
    entries: list[TimelineEntry] = []
    seen: set[str] = set()
    # A lookup often gives a step without the reason its callback carried: the same fact, told thinner.
    with_reason = {_fact(event) for event in events if event.reason_code}
    for event in sorted(events, key=_order):
        if event.key in seen or (with_reason and not event.reason_code and _fact(event) in with_reason):
            continue
        seen.add(event.key)
        if event.status is None:
            entries.append(TimelineEntry(event=event, applied=False, note="unmapped courier status"))
            continue
        if event.unconfirmed:
            entries.append(TimelineEntry(event=event, applied=False, note=UNCONFIRMED))
            continue
        try:
            status = advance(status, event.status)
        except IllegalTransition as refused:
            entries.append(TimelineEntry(event=event, applied=False, note=str(refused)))
            continue
        entries.append(TimelineEntry(event=event, applied=True))
    return Timeline(status=status, entries=tuple(entries))


def _latest(entries: list[Event]) -> Event | None:
    return max(entries, key=_order, default=None)


def contradicts(courier: str, known: list[Event], polled: list[Event]) -> str | None:
    """Where the courier's own tracking (a poll) disagrees with what its callbacks made of the order.

    Compares the courier's latest confirmed, mapped step in the poll with the latest courier step the
    timeline applied. A push the courier's tracking never shows, or a tracking that moved on where the
    lifecycle cannot follow, is for a clerk; None when the two agree (or there is nothing to compare).
    """
    said = _latest([e for e in polled if e.status is not None and not e.unconfirmed])
    timeline = reconcile(Status.ACCEPTED, known)
    applied = [
        e.event for e in timeline.entries if e.applied and e.event.source != "api" and e.event.courier == courier
    ]
    ours = _latest(applied)
    if said is None or ours is None or said.status == ours.status:
        return None
    return (
        f"callbacks made the order {ours.status} ({ours.raw_status!r} at {ours.event_time.isoformat()}), "
        f"but {courier}'s tracking says {said.status} ({said.raw_status!r} at {said.event_time.isoformat()})"
    )
