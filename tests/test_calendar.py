"""The working-day calendar, the acceptance date J, the J+n table and the redelivery plan."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import holidays
import pytest
from hypothesis import given
from hypothesis import strategies as st
from vietnam_provinces import Province, VietNamDivisionType

from contracts.calendar import (
    CENTRAL_CITIES,
    VIETNAM_TZ,
    RedeliveryPlan,
    Route,
    WorkingCalendar,
    acceptance_day,
    due_date,
    redelivery_plan,
    route_for,
    transit_days,
)

CAL = WorkingCalendar()
# Dates below were read from `holidays` 0.109 (`country_holidays("VN", years=...)`), not guessed.
TET_2026 = [date(2026, 2, 16) + timedelta(days=i) for i in range(5)]  # Mon 16 .. Fri 20 February
NATIONAL_DAY_2025 = [date(2025, 9, 1), date(2025, 9, 2)]  # Mon, Tue
MAKEUP_SATURDAY_2026 = date(2026, 8, 22)  # worked to give Mon 31 August 2026 off
THU = date(2026, 3, 5)  # an ordinary week: Thu 5, Fri 6, Sat 7, Sun 8, Mon 9 March 2026
DAYS = st.dates(min_value=date(2016, 1, 1), max_value=date(2035, 12, 31))


def vn(d: date, hour: int, minute: int = 0, second: int = 0) -> datetime:
    return datetime(d.year, d.month, d.day, hour, minute, second, tzinfo=VIETNAM_TZ)


# --- working days -----------------------------------------------------------------------------------


def test_weekend_is_skipped() -> None:
    assert not CAL.is_working_day(date(2026, 3, 7))
    assert not CAL.is_working_day(date(2026, 3, 8))
    assert CAL.add_working_days(date(2026, 3, 6), 1) == date(2026, 3, 9)


def test_lunar_new_year_2026_is_skipped() -> None:
    assert set(TET_2026) <= set(holidays.country_holidays("VN", years=2026))
    assert not any(CAL.is_working_day(d) for d in TET_2026)
    # Fri 13 Feb: the weekend, five Tết days and another weekend pass before the next working day.
    assert CAL.add_working_days(date(2026, 2, 13), 1) == date(2026, 2, 23)


def test_national_day_2_september_is_skipped() -> None:
    assert set(NATIONAL_DAY_2025) <= set(holidays.country_holidays("VN", years=2025))
    assert not any(CAL.is_working_day(d) for d in NATIONAL_DAY_2025)
    assert CAL.add_working_days(date(2025, 8, 29), 1) == date(2025, 9, 3)


def test_makeup_saturday_known_to_holidays_is_a_working_day() -> None:
    assert not CAL.is_working_day(date(2026, 8, 31))  # the day off it pays for
    assert CAL.is_working_day(MAKEUP_SATURDAY_2026)
    assert CAL.add_working_days(date(2026, 8, 21), 1) == MAKEUP_SATURDAY_2026


def test_makeup_saturday_swapped_across_new_year_is_a_working_day() -> None:
    # `holidays`: Fri 2 Jan 2015 is "Day off (substituted from 12/27/2014)"; 31/12/2018 <- Sat 5/1/2019.
    assert CAL.is_working_day(date(2014, 12, 27))
    assert not CAL.is_working_day(date(2015, 1, 2))
    assert CAL.is_working_day(date(2019, 1, 5))
    assert not CAL.is_working_day(date(2018, 12, 31))


def test_announced_makeup_saturday_is_a_working_day() -> None:
    cal = WorkingCalendar(extra_working_days=frozenset({date(2026, 3, 7)}))
    assert cal.is_working_day(date(2026, 3, 7))
    assert cal.add_working_days(date(2026, 3, 6), 1) == date(2026, 3, 7)
    assert cal.add_working_days(date(2026, 3, 6), 2) == date(2026, 3, 9)


def test_extra_holiday_closes_a_weekday() -> None:
    cal = WorkingCalendar(extra_holidays=frozenset({date(2026, 3, 6)}))
    assert not cal.is_working_day(date(2026, 3, 6))
    assert cal.add_working_days(THU, 1) == date(2026, 3, 9)


def test_day_cannot_be_both_closed_and_opened() -> None:
    both = frozenset({date(2026, 3, 7)})
    with pytest.raises(ValueError, match="both closed and opened"):
        WorkingCalendar(extra_holidays=both, extra_working_days=both)


def test_adding_zero_keeps_a_working_day_and_rolls_a_non_working_day_forward() -> None:
    assert CAL.add_working_days(THU, 0) == THU
    assert CAL.add_working_days(date(2026, 3, 7), 0) == date(2026, 3, 9)


def test_counting_from_a_non_working_day_starts_at_the_next_working_day() -> None:
    assert CAL.add_working_days(date(2026, 3, 7), 1) == date(2026, 3, 9)
    assert CAL.add_working_days(date(2026, 3, 7), 2) == date(2026, 3, 10)


def test_negative_working_days_are_refused() -> None:
    with pytest.raises(ValueError):
        CAL.add_working_days(THU, -1)


def test_working_days_between_excludes_start_and_includes_end() -> None:
    assert CAL.working_days_between(THU, THU) == 0
    assert CAL.working_days_between(THU, date(2026, 3, 9)) == 2  # Fri, Mon
    assert CAL.working_days_between(date(2026, 3, 9), THU) == -2
    assert CAL.next_working_day(THU) == date(2026, 3, 6)


def test_year_without_holiday_data_is_refused_rather_than_treated_as_holiday_free() -> None:
    with pytest.raises(ValueError, match="no Vietnamese holiday data"):
        CAL.is_working_day(date(2200, 3, 5))


# --- acceptance date J -------------------------------------------------------------------------------


def test_dossier_accepted_before_15h_counts_from_that_day() -> None:
    assert acceptance_day(vn(THU, 14, 59), CAL) == THU
    assert acceptance_day(vn(THU, 15, 0, 0), CAL) == THU


def test_dossier_accepted_after_15h_counts_from_next_working_day() -> None:
    assert acceptance_day(vn(THU, 15, 1), CAL) == date(2026, 3, 6)
    assert acceptance_day(vn(date(2026, 3, 6), 15, 1), CAL) == date(2026, 3, 9)  # Friday -> Monday


def test_dossier_accepted_on_a_non_working_day_counts_from_next_working_day() -> None:
    assert acceptance_day(vn(date(2026, 3, 7), 9), CAL) == date(2026, 3, 9)
    assert acceptance_day(vn(date(2026, 2, 17), 9), CAL) == date(2026, 2, 23)


def test_utc_acceptance_time_is_read_in_vietnam_time() -> None:
    assert acceptance_day(datetime(2026, 3, 5, 7, 59, tzinfo=UTC), CAL) == THU  # 14:59 ICT
    assert acceptance_day(datetime(2026, 3, 5, 8, 1, tzinfo=UTC), CAL) == date(2026, 3, 6)  # 15:01 ICT
    assert acceptance_day(datetime(2026, 3, 4, 20, 0, tzinfo=UTC), CAL) == THU  # 03:00 ICT the next day


def test_naive_acceptance_time_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        acceptance_day(datetime(2026, 3, 5, 9, 0), CAL)


# --- routes and J+n ----------------------------------------------------------------------------------

J_N_TABLE = [
    (Route.LOCAL, False, 1),
    (Route.LOCAL, True, 2),
    (Route.SAME_PROVINCE, False, 2),
    (Route.SAME_PROVINCE, True, 4),
    (Route.CITY, False, 3),
    (Route.CITY, True, 6),
    (Route.OTHER_PROVINCES, False, 4),
    (Route.OTHER_PROVINCES, True, 8),
]


@pytest.mark.parametrize(("route", "with_appointment", "n"), J_N_TABLE)
def test_transit_days_follow_tt17_table(route: Route, with_appointment: bool, n: int) -> None:
    assert transit_days(route, with_appointment) == n


@pytest.mark.parametrize(("route", "with_appointment", "n"), J_N_TABLE)
def test_due_date_is_j_plus_n_working_days(route: Route, with_appointment: bool, n: int) -> None:
    monday = date(2026, 3, 9)
    expected = CAL.add_working_days(monday, n)
    assert due_date(vn(monday, 10), route, with_appointment, CAL) == expected
    assert CAL.working_days_between(monday, expected) == n


def test_due_date_counts_from_next_working_day_after_late_acceptance_before_tet() -> None:
    # Fri 13 Feb 2026 at 16:00: J is Mon 23 Feb, and J+8 is Thu 5 March.
    assert due_date(vn(date(2026, 2, 13), 16), Route.OTHER_PROVINCES, True, CAL) == date(2026, 3, 5)


def test_central_cities_are_the_centrally_run_cities_of_vietnam_provinces() -> None:
    codes = {
        f"{p.code:02d}" for p in Province.iter_all() if p.division_type is VietNamDivisionType.THANH_PHO_TRUNG_UONG
    }
    assert codes == CENTRAL_CITIES == {"01", "31", "46", "48", "79", "92"}


def test_same_ward_is_the_local_route() -> None:
    assert route_for("04", "04", same_ward=True) is Route.LOCAL


def test_different_wards_of_one_province_are_the_same_province_route() -> None:
    assert route_for("04", "04", same_ward=False) is Route.SAME_PROVINCE
    assert route_for("01", "01", same_ward=False) is Route.SAME_PROVINCE


def test_either_end_in_a_central_city_is_the_city_route() -> None:
    assert route_for("01", "04", same_ward=False) is Route.CITY
    assert route_for("04", "79", same_ward=False) is Route.CITY


def test_two_ordinary_provinces_are_the_other_provinces_route() -> None:
    assert route_for("04", "08", same_ward=False) is Route.OTHER_PROVINCES


def test_route_accepts_unpadded_codes_and_a_custom_city_list() -> None:
    assert route_for("1", "04", same_ward=False) is Route.CITY
    assert route_for("04", "8", same_ward=False, cities=frozenset({"8"})) is Route.CITY
    assert route_for("01", "04", same_ward=False, cities=frozenset()) is Route.OTHER_PROVINCES


def test_same_ward_in_two_provinces_is_refused() -> None:
    with pytest.raises(ValueError):
        route_for("01", "04", same_ward=True)
    with pytest.raises(ValueError):
        route_for("HN", "04", same_ward=False)


# --- redelivery --------------------------------------------------------------------------------------


def test_no_failed_attempt_means_no_redelivery_plan() -> None:
    assert redelivery_plan([], CAL) == RedeliveryPlan(next_attempt_due=None, return_due=None)


def test_first_failed_attempt_sets_the_next_invitation_two_working_days_later() -> None:
    assert redelivery_plan([THU], CAL) == RedeliveryPlan(next_attempt_due=date(2026, 3, 9))


def test_invitation_gap_skips_the_day_off_and_national_day() -> None:
    # Fri 28 Aug 2026; Mon 31 Aug (swapped day off), Tue 1 and Wed 2 Sep are closed: Thu 3, Fri 4.
    assert redelivery_plan([date(2026, 8, 28)], CAL) == RedeliveryPlan(next_attempt_due=date(2026, 9, 4))


def test_second_failed_attempt_returns_the_result_the_next_working_day() -> None:
    plan = redelivery_plan([date(2026, 2, 11), date(2026, 2, 13)], CAL)
    assert plan == RedeliveryPlan(next_attempt_due=None, return_due=date(2026, 2, 23))


def test_latest_failed_attempt_counts_whatever_the_order() -> None:
    plan = redelivery_plan([date(2026, 3, 9), THU], CAL)
    assert plan == RedeliveryPlan(return_due=date(2026, 3, 10))


def test_more_invitations_keep_inviting() -> None:
    plan = redelivery_plan([THU, date(2026, 3, 9)], CAL, invitations=3)
    assert plan == RedeliveryPlan(next_attempt_due=date(2026, 3, 11))
    assert redelivery_plan([THU], CAL, gap=1) == RedeliveryPlan(next_attempt_due=date(2026, 3, 6))


def test_zero_gap_or_invitations_is_refused() -> None:
    with pytest.raises(ValueError):
        redelivery_plan([THU], CAL, gap=0)
    with pytest.raises(ValueError):
        redelivery_plan([THU], CAL, invitations=0)


# --- properties --------------------------------------------------------------------------------------


@given(DAYS, st.integers(min_value=1, max_value=60))
def test_adding_working_days_lands_on_a_working_day(d: date, n: int) -> None:
    assert CAL.is_working_day(CAL.add_working_days(d, n))


@given(DAYS, st.integers(min_value=0, max_value=60))
def test_adding_working_days_is_monotonic_in_n(d: date, n: int) -> None:
    assert CAL.add_working_days(d, n) <= CAL.add_working_days(d, n + 1)
    if n >= 1:
        assert CAL.add_working_days(d, n) < CAL.add_working_days(d, n + 1)


@given(DAYS, st.integers(min_value=0, max_value=60))
def test_working_days_between_undoes_adding_from_a_working_day(d: date, n: int) -> None:
    start = CAL.add_working_days(d, 0)
    assert CAL.working_days_between(start, CAL.add_working_days(start, n)) == n


@given(DAYS, st.integers(min_value=1, max_value=60))
def test_working_days_between_undoes_adding_from_any_day(d: date, n: int) -> None:
    assert CAL.working_days_between(d, CAL.add_working_days(d, n)) == n


@given(DAYS, st.integers(min_value=0, max_value=23), st.integers(min_value=0, max_value=59))
def test_acceptance_day_is_a_working_day_not_before_the_local_date(d: date, hour: int, minute: int) -> None:
    j = acceptance_day(vn(d, hour, minute), CAL)
    assert CAL.is_working_day(j)
    assert j >= d


def test_attempts_closer_than_the_gap_are_not_separate_invitations() -> None:
    calendar = WorkingCalendar()
    wed, thu, fri = date(2026, 11, 25), date(2026, 11, 26), date(2026, 11, 27)
    assert redelivery_plan([wed, wed], calendar) == RedeliveryPlan(next_attempt_due=fri)
    assert redelivery_plan([wed, thu], calendar) == RedeliveryPlan(next_attempt_due=fri)
    assert redelivery_plan([thu, wed, fri], calendar) == RedeliveryPlan(return_due=date(2026, 11, 30))
