"""The transition table, `advance()`, and reconciliation of events in any arrival order."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from contracts.events import Event, reconcile
from contracts.lifecycle import TRANSITIONS, IllegalTransition, advance
from contracts.statuses import TERMINAL, Status

T0 = datetime(2026, 11, 21, 8, 0, tzinfo=UTC)
ALL_PAIRS = [(a, b) for a in Status for b in Status]


def event(status: Status | None, minutes: int, raw: str | None = None) -> Event:
    raw = raw or (status.value if status else "mystery")
    when = T0 + timedelta(minutes=minutes)
    return Event(
        key=f"ghn|T|{raw}|{when.isoformat()}|",
        status=status,
        courier="ghn",
        raw_status=raw,
        event_time=when,
        received_at=when,
    )


def test_table_covers_every_status() -> None:
    assert set(TRANSITIONS) == set(Status)


@pytest.mark.parametrize(("current", "target"), ALL_PAIRS)
def test_advance_follows_the_table_exactly(current: Status, target: Status) -> None:
    if target == current or target in TRANSITIONS[current]:
        assert advance(current, target) is target
    else:
        with pytest.raises(IllegalTransition) as refused:
            advance(current, target)
        assert refused.value.current is current and refused.value.event is target
        assert current.value in str(refused.value) and target.value in str(refused.value)


def test_terminal_states_accept_only_their_follow_ups() -> None:
    assert TRANSITIONS[Status.DELIVERED] == frozenset()
    assert TRANSITIONS[Status.CANCELLED] == frozenset()
    assert TRANSITIONS[Status.LOST] == {Status.DELIVERED, Status.RETURNED}
    for terminal in TERMINAL:
        assert Status.IN_TRANSIT not in TRANSITIONS[terminal]


def test_couriers_may_skip_statuses() -> None:
    assert advance(Status.BOOKED, Status.IN_TRANSIT) is Status.IN_TRANSIT


def test_delivered_order_ignores_late_in_transit_scan() -> None:
    timeline = reconcile(
        Status.ACCEPTED, [event(Status.BOOKED, 0), event(Status.DELIVERED, 60), event(Status.IN_TRANSIT, 90)]
    )
    assert timeline.status is Status.DELIVERED
    late = timeline.entries[-1]
    assert not late.applied and "cannot move" in (late.note or "")


def test_out_of_order_arrival_is_sorted_by_event_time() -> None:
    timeline = reconcile(
        Status.ACCEPTED, [event(Status.DELIVERED, 60), event(Status.IN_TRANSIT, 30), event(Status.BOOKED, 0)]
    )
    assert timeline.status is Status.DELIVERED
    assert [e.event.status for e in timeline.entries] == [Status.BOOKED, Status.IN_TRANSIT, Status.DELIVERED]
    assert all(e.applied for e in timeline.entries)


def test_duplicate_events_appear_once() -> None:
    booked = event(Status.BOOKED, 0)
    assert len(reconcile(Status.ACCEPTED, [booked, booked, booked]).entries) == 1


def test_unmapped_code_is_kept_but_moves_nothing() -> None:
    timeline = reconcile(Status.ACCEPTED, [event(Status.BOOKED, 0), event(None, 5, raw="teleported")])
    assert timeline.status is Status.BOOKED
    assert timeline.entries[-1].note == "unmapped courier status"


def test_failed_delivery_goes_back_to_hub_and_out_again() -> None:
    steps = [Status.BOOKED, Status.PICKED_UP, Status.OUT_FOR_DELIVERY, Status.DELIVERY_FAILED, Status.IN_TRANSIT,
             Status.OUT_FOR_DELIVERY, Status.DELIVERED]  # fmt: skip
    timeline = reconcile(Status.ACCEPTED, [event(s, i) for i, s in enumerate(steps)])
    assert timeline.status is Status.DELIVERED and all(e.applied for e in timeline.entries)


JOURNEY = [Status.BOOKED, Status.PICKUP_STARTED, Status.PICKED_UP, Status.IN_TRANSIT, Status.OUT_FOR_DELIVERY,
           Status.DELIVERY_FAILED, Status.AWAITING_INSTRUCTION, Status.OUT_FOR_DELIVERY, Status.DELIVERED,
           Status.IN_TRANSIT, Status.CANCELLED]  # fmt: skip


@given(st.permutations(list(enumerate(JOURNEY))), st.lists(st.integers(0, len(JOURNEY) - 1), max_size=5))
def test_any_arrival_order_ends_in_the_same_status_and_timeline(
    arrival: list[tuple[int, Status]], repeats: list[int]
) -> None:
    events = [event(s, minute) for minute, s in arrival] + [event(JOURNEY[i], i) for i in repeats]
    expected = reconcile(Status.ACCEPTED, [event(s, minute) for minute, s in enumerate(JOURNEY)])
    assert reconcile(Status.ACCEPTED, events) == expected
    assert expected.status is Status.DELIVERED


@given(st.lists(st.sampled_from(list(Status)), max_size=12), st.randoms())
def test_arbitrary_feeds_are_order_independent(statuses: list[Status], rnd: object) -> None:
    events = [event(s, i) for i, s in enumerate(statuses)]
    shuffled = list(events)
    rnd.shuffle(shuffled)  # type: ignore[attr-defined]
    assert reconcile(Status.ACCEPTED, shuffled) == reconcile(Status.ACCEPTED, events)


@given(st.lists(st.tuples(st.sampled_from(list(Status)), st.integers(0, 2)), max_size=12), st.randoms())
def test_ties_in_event_time_are_broken_the_same_way_whatever_the_arrival(
    timed: list[tuple[Status, int]], rnd: object
) -> None:
    # Courier clocks have one-second resolution: many events share a time.
    events = [event(s, minute) for s, minute in timed]
    shuffled = list(events)
    rnd.shuffle(shuffled)  # type: ignore[attr-defined]
    assert reconcile(Status.ACCEPTED, shuffled) == reconcile(Status.ACCEPTED, events)
