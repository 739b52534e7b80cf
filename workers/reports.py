"""Reports read from the counters the store keeps with every change, the totals centres report, and
a rebuild of the counters from the stored orders and events."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime

import msgspec

from contracts.reports import Period, Report, Totals, build_report
from workers import audit, keys
from workers.store import Store

_TOTALS = msgspec.json.Decoder(Totals)
_ENCODE = msgspec.json.Encoder().encode


def report(
    store: Store, span: Period, centres: Sequence[str], *, centre: str | None = None, province_code: str | None = None
) -> Report:
    """One round trip: a hash per centre and month, and the centres' reported totals."""
    pairs = [(c, m) for c in centres for m in span.months]
    with store.client.pipeline(transaction=False) as pipe:
        for c, m in pairs:
            pipe.hgetall(keys.report(c, m))
        for c in centres:
            pipe.hmget(keys.report_totals(c), list(span.months))
        answers = pipe.execute()
    counters = {
        pair: {name.decode(): int(amount) for name, amount in raw.items()}
        for pair, raw in zip(pairs, answers[: len(pairs)], strict=True)
        if raw
    }
    totals = {
        (c, m): _TOTALS.decode(raw)
        for c, found in zip(centres, answers[len(pairs) :], strict=True)
        for m, raw in zip(span.months, found, strict=True)
        if raw is not None
    }
    return build_report(span, centres, counters, totals, centre=centre, province_code=province_code)


def save_totals(store: Store, centre: str, month: str, totals: Totals, by: str = "") -> None:
    with store.client.pipeline() as pipe:
        pipe.hset(keys.report_totals(centre), month, _ENCODE(totals))
        audit.stage(pipe, "report.totals", at=datetime.now(UTC), centre=centre, month=month, by=by or centre,
                    dossiers_received=totals.dossiers_received, results_returned=totals.results_returned)  # fmt: skip
        pipe.execute()
    store.make_durable()


def rebuild(store: Store, batch: int = 500) -> int:
    """Recount every stored order into fresh counters and swap them in; the number of orders counted.

    For a store written before the counters existed, or after a change of a centre's address or of
    the holiday calendar. Changes applied while it runs are lost from the counters: stop the workers.
    """
    client = store.client
    found: defaultdict[tuple[str, str], Counter[str]] = defaultdict(Counter)
    counted = 0
    for loaded in store.batches(batch):
        counted += len(loaded)
        for order, events in loaded.values():
            for (month, field), amount in store.counts(order, store.timeline_of(events)).items():
                found[(order.centre, month)][field] += amount
    stale = [k for k in client.scan_iter(match=f"{keys.PREFIX}:report:*", count=1000) if not k.endswith(b":totals")]
    with client.pipeline() as pipe:  # one MULTI: readers see the old counters or the new, never a mix
        if stale:
            pipe.delete(*stale)
        for (centre, month), fields in found.items():
            nonzero = {name: amount for name, amount in fields.items() if amount}
            if nonzero:
                pipe.hset(keys.report(centre, month), mapping=nonzero)
        pipe.execute()
    store.make_durable()
    return counted
