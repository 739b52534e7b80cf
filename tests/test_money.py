"""The money record: facts merged in any arrival order give the same current figures."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from contracts.money import Charge, merge, money_record

T0 = datetime(2026, 11, 21, 2, 0, tzinfo=UTC)

charges = st.builds(
    Charge,
    field=st.sampled_from(["fee", "cod", "weight_grams", "cod_paid"]),
    amount=st.integers(0, 3),
    at=st.integers(0, 20).map(lambda m: T0 + timedelta(minutes=m)),
    source=st.sampled_from(["update_fee", "status 5"]),
)


def _arrive(facts: list[Charge]) -> tuple[Charge, ...]:
    kept: tuple[Charge, ...] = ()
    for fact in facts:  # one callback at a time, as ingest sees them
        kept = merge(kept, [fact])
    return kept


@given(st.lists(charges, max_size=12), st.randoms())
def test_current_figures_do_not_depend_on_arrival_order(facts: list[Charge], random: object) -> None:
    shuffled = list(facts)
    random.shuffle(shuffled)  # type: ignore[attr-defined]
    one, other = money_record(_arrive(facts), 2), money_record(_arrive(shuffled), 2)
    assert (one.fee, one.cod, one.weight_grams, one.cod_paid_at) == (
        other.fee, other.cod, other.weight_grams, other.cod_paid_at
    )  # fmt: skip
    again = money_record(_arrive(facts + facts), 2)  # retried callbacks change no figure
    assert (again.fee, again.cod, again.weight_grams, again.cod_paid_at) == (
        one.fee, one.cod, one.weight_grams, one.cod_paid_at
    )  # fmt: skip


@given(st.lists(charges, max_size=12))
def test_a_retried_callback_adds_nothing(facts: list[Charge]) -> None:
    kept = _arrive(facts)
    assert all(merge(kept, [fact]) == kept for fact in kept)


def test_repeated_values_are_not_history_but_changes_are() -> None:
    fee = [Charge(field="fee", amount=a, at=T0 + timedelta(hours=h), source="s") for h, a in enumerate([5, 5, 7, 7])]
    assert [(c.amount, c.at.hour) for c in merge((), fee)] == [(5, 2), (7, 4), (7, 5)]  # first, change, latest


def test_cod_other_than_asked_is_flagged() -> None:
    cod = Charge(field="cod", amount=45000, at=T0, source="update_cod")
    assert money_record((cod,), 50000).cod_mismatch
    assert not money_record((), 50000).cod_mismatch  # the courier said nothing: nothing to compare
