"""Canonical order statuses (one order = one leg), shared by every courier mapping."""

from __future__ import annotations

from enum import StrEnum


class Status(StrEnum):
    ACCEPTED = "accepted"
    DISPATCH_FAILED = "dispatch_failed"
    BOOKED = "booked"
    PICKUP_STARTED = "pickup_started"
    PICKUP_FAILED = "pickup_failed"
    PICKED_UP = "picked_up"
    IN_TRANSIT = "in_transit"
    OUT_FOR_DELIVERY = "out_for_delivery"
    DELIVERY_FAILED = "delivery_failed"
    AWAITING_INSTRUCTION = "awaiting_instruction"
    HELD_FOR_COLLECTION = "held_for_collection"
    DELIVERED = "delivered"
    RETURNING = "returning"
    RETURNED = "returned"
    CANCELLED = "cancelled"
    LOST = "lost"
    DAMAGED = "damaged"
    EXCEPTION = "exception"


TERMINAL: frozenset[Status] = frozenset(
    {Status.DELIVERED, Status.RETURNED, Status.CANCELLED, Status.LOST, Status.DAMAGED}
)

# Where a clerk must act; the console's exceptions queue lists these.
NEEDS_CLERK: frozenset[Status] = frozenset({Status.DISPATCH_FAILED, Status.AWAITING_INSTRUCTION, Status.EXCEPTION})

# Orders here have not reached the courier yet; the sweeper re-enqueues them past their deadline.
INTERNAL: frozenset[Status] = frozenset({Status.ACCEPTED})
