"""The order lifecycle: one transition table and one `advance()`."""

from __future__ import annotations

from contracts.statuses import Status

S = Status

# Moves once the courier holds the parcel: it travels, may fail an attempt, may come back to the hub.
_IN_CUSTODY = frozenset(
    {
        S.IN_TRANSIT,
        S.OUT_FOR_DELIVERY,
        S.DELIVERY_FAILED,
        S.AWAITING_INSTRUCTION,
        S.HELD_FOR_COLLECTION,
        S.DELIVERED,
        S.RETURNING,
        S.RETURNED,
        S.LOST,
        S.DAMAGED,
        S.EXCEPTION,
    }
)
_BEFORE_PICKUP = frozenset({S.PICKUP_STARTED, S.PICKUP_FAILED, S.PICKED_UP, S.CANCELLED}) | _IN_CUSTODY

# current status -> statuses it may move to. Every status also accepts a repeat of itself (a second
# scan at another hub, a courier's resend): see `advance`.
TRANSITIONS: dict[Status, frozenset[Status]] = {
    # A courier callback can overtake the worker that records the booking, so accepted takes them all.
    S.ACCEPTED: frozenset({S.DISPATCH_FAILED, S.BOOKED}) | _BEFORE_PICKUP,
    S.DISPATCH_FAILED: frozenset({S.BOOKED, S.CANCELLED, S.EXCEPTION}),
    S.BOOKED: _BEFORE_PICKUP,
    S.PICKUP_STARTED: _BEFORE_PICKUP,
    S.PICKUP_FAILED: _BEFORE_PICKUP,
    S.PICKED_UP: _IN_CUSTODY,
    S.IN_TRANSIT: _IN_CUSTODY,
    S.OUT_FOR_DELIVERY: _IN_CUSTODY - {S.IN_TRANSIT},
    # After a failed attempt the parcel goes back to the hub, then out again.
    S.DELIVERY_FAILED: _IN_CUSTODY,
    S.AWAITING_INSTRUCTION: _IN_CUSTODY | {S.CANCELLED},
    S.HELD_FOR_COLLECTION: _IN_CUSTODY - {S.IN_TRANSIT, S.DELIVERY_FAILED},
    S.RETURNING: frozenset({S.RETURNED, S.LOST, S.DAMAGED, S.EXCEPTION}),
    # A clerk-needed state: the courier's next real scan moves the order on.
    S.EXCEPTION: _BEFORE_PICKUP | {S.BOOKED},
    S.DELIVERED: frozenset(),
    S.RETURNED: frozenset(),
    S.CANCELLED: frozenset(),
    # A parcel declared lost that turns up again.
    S.LOST: frozenset({S.DELIVERED, S.RETURNED}),
    S.DAMAGED: frozenset(),
}


class IllegalTransition(Exception):
    """An event that would move an order somewhere the table does not allow."""

    def __init__(self, current: Status, event: Status) -> None:
        super().__init__(f"an order in {current.value!r} cannot move to {event.value!r}")
        self.current = current
        self.event = event


def advance(current: Status, event: Status) -> Status:
    """The status after `event`; a repeat of the current status is a no-op."""
    if event == current or event in TRANSITIONS[current]:
        return event
    raise IllegalTransition(current, event)


# Clerk decisions and the statuses they may be taken in (the courier may still refuse).
DECISIONS: dict[str, frozenset[Status]] = {
    # Before the courier holds the dossier; after pickup the way back is `return`.
    "cancel": frozenset({S.ACCEPTED, S.DISPATCH_FAILED, S.BOOKED, S.PICKUP_STARTED, S.PICKUP_FAILED}),
    "redeliver": frozenset({S.DELIVERY_FAILED, S.AWAITING_INSTRUCTION}),
    "return": frozenset({S.DELIVERY_FAILED, S.AWAITING_INSTRUCTION, S.HELD_FOR_COLLECTION}),
}
