"""Vietnamese working days, the acceptance date J, J+n deadlines and the redelivery plan."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, time, timedelta, timezone
from enum import StrEnum
from functools import cache

import holidays

from contracts.base import Record

# Vietnam has kept UTC+7 all year since 1975, so a fixed offset is exact and needs no tz database.
VIETNAM_TZ = timezone(timedelta(hours=7), "ICT")
# NĐ 61/2018 Đ18: a dossier received after 15:00 moves on the next working morning.
CUTOFF = time(15, 0)

_DAY = timedelta(days=1)


@cache
def _national(year: int) -> tuple[frozenset[date], frozenset[date]]:
    """The public holidays and the make-up working Saturdays that `holidays` knows for `year`."""
    # A swap can cross New Year (Sat 27/12/2014 worked for Fri 2/1/2015), so ask for the neighbours too.
    vn = holidays.country_holidays("VN", years=range(year - 1, year + 2))
    closed = frozenset(d for d in vn if d.year == year)
    if not closed:
        # The lunar calendar behind Tết has a finite range; outside it the package returns nothing.
        raise ValueError(f"no Vietnamese holiday data for {year}")
    makeup = frozenset(d for d in vn.weekend_workdays if d.year == year)
    return closed, makeup


class WorkingCalendar(Record, frozen=True, kw_only=True):
    """Monday to Friday, minus public holidays, plus the make-up Saturdays, then the local overrides.

    The national part comes from `holidays`: its holidays close a day, and its substituted-day swaps
    open the matching Saturday. `extra_holidays` closes more days (a provincial closure, a holiday
    announced after our `holidays` release); `extra_working_days` opens more (a make-up Saturday
    announced by the government). The extras win over the national data; a day may not be in both.
    """

    extra_holidays: frozenset[date] = frozenset()
    extra_working_days: frozenset[date] = frozenset()

    def __post_init__(self) -> None:
        if both := self.extra_holidays & self.extra_working_days:
            raise ValueError(f"days both closed and opened: {sorted(both)}")

    def is_working_day(self, d: date) -> bool:
        if d in self.extra_holidays:
            return False
        if d in self.extra_working_days:
            return True
        closed, makeup = _national(d.year)
        if d in closed:
            return False
        return d in makeup or d.weekday() < 5

    def next_working_day(self, d: date) -> date:
        """The first working day strictly after `d`."""
        d += _DAY
        while not self.is_working_day(d):
            d += _DAY
        return d

    def add_working_days(self, d: date, n: int) -> date:
        """The `n`-th working day after `d`, not counting `d` itself.

        So Friday + 1 is Monday, and Saturday + 1 is also Monday: a non-working `d` adds nothing.
        `n == 0` means "the first day from `d` on that is a working day": `d` itself when it is one,
        else the next working day. For every `d` and `n >= 1`, `working_days_between(d, result) == n`.
        """
        if n < 0:
            raise ValueError(f"n must be >= 0, got {n}")
        if n == 0:
            return d if self.is_working_day(d) else self.next_working_day(d)
        for _ in range(n):
            d = self.next_working_day(d)
        return d

    def working_days_between(self, a: date, b: date) -> int:
        """Working days in the half-open span (a, b]: `a` excluded, `b` included; negative when b < a."""
        if b < a:
            return -self.working_days_between(b, a)
        return sum(self.is_working_day(a + timedelta(days=i)) for i in range(1, (b - a).days + 1))


def acceptance_day(accepted_at: datetime, calendar: WorkingCalendar) -> date:
    """The date J from which a dossier or result accepted at `accepted_at` is counted.

    `accepted_at` must be timezone-aware; it is read in Vietnam time. Up to and including 15:00:00
    on a working day, J is that day; later, or on a non-working day, J is the next working day.
    TT 17/2017 Đ7 counts from "the acceptance date on the Phiếu gửi"; applying NĐ 61/2018 Đ18's
    15:00 cut-off to it is our policy, not a quotation (VERIFY with the centres).
    """
    if accepted_at.utcoffset() is None:
        raise ValueError("accepted_at must be timezone-aware")
    local = accepted_at.astimezone(VIETNAM_TZ)
    day = local.date()
    if calendar.is_working_day(day) and local.time() <= CUTOFF:
        return day
    return calendar.next_working_day(day)


class Route(StrEnum):
    """The four route classes of TT 17/2017 Đ7's J+n table."""

    LOCAL = "local"  # within one local unit (the table's "district"; see `route_for`)
    SAME_PROVINCE = "same_province"  # between units of one province
    CITY = "city"  # between provinces, either end a special-class or class-I city
    OTHER_PROVINCES = "other_provinces"  # between any other two provinces


# route -> (working days for a dossier or result, with an appointment slip or deadline notice).
TRANSIT_DAYS: dict[Route, tuple[int, int]] = {
    Route.LOCAL: (1, 2),
    Route.SAME_PROVINCE: (2, 4),
    Route.CITY: (3, 6),
    Route.OTHER_PROVINCES: (4, 8),
}

# Policy choice (VERIFY): TT 17 names "special-class or class-I cities", and before 2025 class I also
# covered cities inside provinces. We take the six centrally-run cities of the 2025 units, by
# `vietnam_provinces` code: Hà Nội, Hải Phòng, Huế, Đà Nẵng, Hồ Chí Minh, Cần Thơ.
CENTRAL_CITIES = frozenset({"01", "31", "46", "48", "79", "92"})


def transit_days(route: Route, with_appointment: bool) -> int:
    """The n of J+n for `route`; the longer column when an appointment slip or deadline notice travels."""
    plain, appointment = TRANSIT_DAYS[route]
    return appointment if with_appointment else plain


def _province(code: str) -> str:
    if not code.strip().isdigit():
        raise ValueError(f"{code!r} is not a province code")
    return f"{int(code):02d}"


def route_for(
    origin_province_code: str,
    destination_province_code: str,
    same_ward: bool,
    *,
    cities: frozenset[str] = CENTRAL_CITIES,
) -> Route:
    """The route class between two addresses on the 2025 two-level units.

    Districts were abolished on 1/7/2025, so the table's "within one district" has no direct
    successor. Policy (VERIFY): the same ward (commune) stands in for the same district; the same
    province otherwise gives `SAME_PROVINCE`. Between provinces it is `CITY` when either end is in
    `cities`, else `OTHER_PROVINCES`. Codes may be given as "1" or "01".
    """
    origin, destination = _province(origin_province_code), _province(destination_province_code)
    if origin == destination:
        return Route.LOCAL if same_ward else Route.SAME_PROVINCE
    if same_ward:
        raise ValueError(f"the same ward cannot be in provinces {origin} and {destination}")
    city_codes = {_province(c) for c in cities}
    return Route.CITY if {origin, destination} & city_codes else Route.OTHER_PROVINCES


def due_date(accepted_at: datetime, route: Route, with_appointment: bool, calendar: WorkingCalendar) -> date:
    """J+n: the last working day on which the item may be delivered and still be on time."""
    j = acceptance_day(accepted_at, calendar)
    return calendar.add_working_days(j, transit_days(route, with_appointment))


class RedeliveryPlan(Record, frozen=True, kw_only=True):
    """What happens after failed deliveries of a result; at most one of the two dates is set.

    Both None: nothing has failed yet, the J+n `due_date` still governs.
    `next_attempt_due` set: invite the recipient again by that day.
    `return_due` set: the invitations are used up; from that day the result goes back to the centre.
    """

    next_attempt_due: date | None = None
    return_due: date | None = None


def redelivery_plan(
    failed_attempts: Sequence[date],
    calendar: WorkingCalendar,
    gap: int = 2,
    invitations: int = 2,
) -> RedeliveryPlan:
    """The next step after `failed_attempts` (TT 17/2017 Đ5.2.h, Luật Bưu chính Đ17.1).

    The recipient is invited `invitations` times in all, the first failed delivery included, each at
    least `gap` working days after the previous one. An attempt sooner than that (a second try the
    same day, the next day) is no invitation in the law's sense and does not count. While fewer than
    `invitations` attempts count, the next one is due `gap` working days after the latest counted
    one. Once `invitations` count, `return_due` is the next working day after the latest attempt.
    Whether the first delivery counts as an invitation is a reading of the law (VERIFY): pass
    `invitations=3` for the stricter one.
    """
    if gap < 1 or invitations < 1:
        raise ValueError(f"gap and invitations must be >= 1, got {gap} and {invitations}")
    if not failed_attempts:
        return RedeliveryPlan()
    counted: list[date] = []
    for day in sorted(set(failed_attempts)):
        if not counted or calendar.working_days_between(counted[-1], day) >= gap:
            counted.append(day)
    if len(counted) < invitations:
        return RedeliveryPlan(next_attempt_due=calendar.add_working_days(counted[-1], gap))
    return RedeliveryPlan(return_due=calendar.next_working_day(max(failed_attempts)))
