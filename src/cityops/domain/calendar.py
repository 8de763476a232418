"""Working-time arithmetic on the official Chinese calendar (工作日历).

Deadlines (时限) count working time inside a configurable working day on the workdays of
the official calendar: weekends and public holidays off, adjusted weekend workdays (调休)
on. The State Council publishes each year's schedule only weeks ahead, so a year without
an imported schedule falls back to weekends-only and says so in a warning, never a crash.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from types import MappingProxyType
from typing import Any, Literal
from zoneinfo import ZoneInfo

from cityops.domain.errors import ImportProblem, ImportRejected, ValidationFailed
from cityops.domain.timelimit import TimeLimit, TimeUnit

CITY_TZ = ZoneInfo("Asia/Shanghai")
_ONE_DAY = timedelta(days=1)
_TICK = timedelta(microseconds=1)
# Guards the day walk against a calendar with no working time at all (e.g. a bogus schedule).
_MAX_WALK_DAYS = 366 * 50


def missing_schedule_warning(year: int) -> str:
    return (
        f"{year} 年节假日安排未导入，按周末计算 / "
        f"no official holiday schedule for {year}: counted weekends only"
    )


@dataclass(frozen=True)
class YearSchedule:
    """One year's official days off (holidays) and adjusted working days (workdays, 调休)."""

    year: int
    holidays: frozenset[date]
    workdays: frozenset[date]
    source: str

    def __post_init__(self) -> None:
        # datetime is a date subclass but never equals a date, so it would silently miss.
        days = self.holidays | self.workdays
        stray = sorted(str(d) for d in days if type(d) is not date or d.year != self.year)
        both = sorted(str(d) for d in self.holidays & self.workdays)
        if stray or both:
            raise ValidationFailed(
                f"bad schedule for {self.year}: dates outside the year {stray}, "
                f"dates both holiday and workday {both}",
                year=self.year,
            )


_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_TOP_KEYS = ("year", "holidays", "workdays")
_ENTRY_KEYS = ("name", "dates", "from", "to")


class _Problems(list[ImportProblem]):
    def add(self, item: str, reason: str) -> None:
        self.append(ImportProblem(item, reason))


def parse_year_schedule(data: Mapping[str, Any], *, source: str) -> YearSchedule:
    """Validate an admin's schedule file (already loaded from YAML/JSON), all-or-nothing.

    Every problem is collected so the admin can fix the whole file in one pass.
    """
    problems = _Problems()
    if not isinstance(data, Mapping):
        problems.add("file", f"expected a mapping with {', '.join(_TOP_KEYS)}")
        raise ImportRejected(f"holiday schedule {source} rejected", problems)
    for key in data:
        if key not in _TOP_KEYS:
            problems.add(str(key), f"unknown key; expected {', '.join(_TOP_KEYS)}")

    year: int | None = None
    raw_year = data.get("year")
    if raw_year is None:
        problems.add("year", "missing: which year does this schedule cover?")
    elif isinstance(raw_year, bool) or not isinstance(raw_year, int) or not 1 <= raw_year <= 9999:
        problems.add("year", f"{raw_year!r} is not a year like 2027")
    else:
        year = raw_year

    holidays: dict[date, str] = {}  # date -> the entry that listed it, to name clashes
    raw_holidays = data.get("holidays")
    if raw_holidays is None:
        problems.add("holidays", "missing: list the official days off")
    elif not isinstance(raw_holidays, list):
        problems.add("holidays", "expected a list of named holiday periods")
    else:
        for index, entry in enumerate(raw_holidays):
            item, days = _holiday_entry(f"holidays[{index}]", entry, year, problems)
            for day in days:
                holidays.setdefault(day, item)

    workdays: set[date] = set()
    raw_workdays = data.get("workdays") or []  # `workdays:` left empty loads as None
    if not isinstance(raw_workdays, list):
        problems.add("workdays", "expected a list of dates (调休上班)")
        raw_workdays = []
    for index, value in enumerate(raw_workdays):
        item = f"workdays[{index}]"
        workday = _parse_date(value, item, year, problems)
        if workday in holidays:
            problems.add(
                item,
                f"{workday} is listed both as a workday and as a holiday ({holidays[workday]})",
            )
        elif workday is not None:
            workdays.add(workday)

    if problems or year is None:
        raise ImportRejected(
            f"holiday schedule {source} rejected: {len(problems)} problem(s)", problems
        )
    return YearSchedule(year, frozenset(holidays), frozenset(workdays), source)


def _holiday_entry(
    item: str, entry: Any, year: int | None, problems: _Problems
) -> tuple[str, list[date]]:
    if not isinstance(entry, Mapping):
        problems.add(item, "expected a mapping with name and dates or from/to")
        return item, []
    name = entry.get("name")
    if isinstance(name, str) and name.strip():
        item = f"{item} {name.strip()}"
    else:
        problems.add(item, "missing name (元旦, 春节 …)")
    for key in entry:
        if key not in _ENTRY_KEYS:
            problems.add(item, f"unknown key {key!r}; expected {', '.join(_ENTRY_KEYS)}")

    days: list[date] = []
    raw_dates = entry.get("dates", [])
    if not isinstance(raw_dates, list):
        problems.add(item, "dates: expected a list of dates")
        raw_dates = []
    days.extend(d for v in raw_dates if (d := _parse_date(v, item, year, problems)))
    has_from, has_to = "from" in entry, "to" in entry
    if has_from != has_to:
        problems.add(item, "a range needs both from and to")
    elif has_from:
        first = _parse_date(entry["from"], item, year, problems)
        last = _parse_date(entry["to"], item, year, problems)
        if first and last and first > last:
            problems.add(item, f"from {first} is after to {last}")
        elif first and last:
            days.extend(first + _ONE_DAY * n for n in range((last - first).days + 1))
    if "dates" not in entry and not has_from and not has_to:
        problems.add(item, "needs dates and/or a from/to range")
    return item, days


def _parse_date(value: Any, item: str, year: int | None, problems: _Problems) -> date | None:
    if isinstance(value, str) and _ISO_DATE.match(value.strip()):
        try:
            value = date.fromisoformat(value.strip())
        except ValueError:
            problems.add(item, f"{value!r} is not a real date")
            return None
    # datetime is a date subclass: a time of day here is a typo, not a date.
    if not isinstance(value, date) or isinstance(value, datetime):
        problems.add(item, f"{value!r} is not a date (expected YYYY-MM-DD)")
        return None
    if year is not None and value.year != year:
        problems.add(item, f"{value} is outside {year}")
        return None
    return value


_DEFAULT_PERIODS = ((time(8, 30), time(12, 0)), (time(13, 30), time(17, 30)))
_PERIOD = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")


@dataclass(frozen=True)
class WorkingDay:
    """Wall-clock working periods of one workday, in the calendar's time zone."""

    periods: tuple[tuple[time, time], ...] = _DEFAULT_PERIODS

    def __post_init__(self) -> None:
        if not self.periods:
            raise ValidationFailed("a working day needs at least one period")
        previous_end: time | None = None
        for start, end in self.periods:
            if start >= end or start.tzinfo or end.tzinfo:
                raise ValidationFailed(
                    f"working period {start:%H:%M}-{end:%H:%M} is empty or not wall-clock"
                )
            if previous_end is not None and start < previous_end:
                raise ValidationFailed(
                    f"working period starting {start:%H:%M} overlaps or precedes the one before"
                )
            previous_end = end

    @property
    def length(self) -> timedelta:
        anchor = date(2000, 1, 1)
        return sum(
            (datetime.combine(anchor, e) - datetime.combine(anchor, s) for s, e in self.periods),
            timedelta(),
        )

    @classmethod
    def parse(cls, text: str) -> WorkingDay:
        """``"08:30-12:00,13:30-17:30"`` -> WorkingDay."""
        periods: list[tuple[time, time]] = []
        for part in text.split(","):
            match = _PERIOD.match(part)
            try:
                if not match:
                    raise ValueError
                h1, m1, h2, m2 = (int(g) for g in match.groups())
                periods.append((time(h1, m1), time(h2, m2)))
            except ValueError:
                raise ValidationFailed(
                    f"bad working day {text!r}: expected periods like 08:30-12:00,13:30-17:30",
                    value=text,
                ) from None
        return cls(tuple(periods))

    def __str__(self) -> str:
        return ",".join(f"{s:%H:%M}-{e:%H:%M}" for s, e in self.periods)


@dataclass(frozen=True)
class Due:
    at: datetime  # aware, UTC
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class Span:
    seconds: float
    warnings: tuple[str, ...] = ()


def _utc(moment: datetime, name: str) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware, got naive {moment!r}")
    return moment.astimezone(UTC)


class WorkCalendar:
    """Official workdays × working periods in the city's time zone.

    Arithmetic walks day by day (never minute by minute) and caches each date's working
    periods as UTC instants, so a 60-working-day limit is a few hundred cheap steps.
    """

    def __init__(
        self,
        schedules: Mapping[int, YearSchedule],
        working_day: WorkingDay = WorkingDay(),
        tz: tzinfo = CITY_TZ,
    ) -> None:
        for year, schedule in schedules.items():
            if year != schedule.year:
                raise ValidationFailed(f"schedule for {schedule.year} filed under {year}")
        self._schedules = dict(schedules)
        self._working_day = working_day
        self._tz = tz
        self._workday_cache: dict[date, bool] = {}
        self._period_cache: dict[date, tuple[tuple[datetime, datetime], ...]] = {}

    @property
    def schedules(self) -> Mapping[int, YearSchedule]:
        return MappingProxyType(self._schedules)

    @property
    def working_day(self) -> WorkingDay:
        return self._working_day

    @property
    def tz(self) -> tzinfo:
        return self._tz

    def knows_year(self, year: int) -> bool:
        return year in self._schedules

    def with_schedule(self, schedule: YearSchedule) -> WorkCalendar:
        return WorkCalendar(
            {**self._schedules, schedule.year: schedule}, self._working_day, self._tz
        )

    def is_workday(self, d: date) -> bool:
        if isinstance(d, datetime):
            raise TypeError("is_workday takes a date in the city's time zone, not a datetime")
        cached = self._workday_cache.get(d)
        if cached is None:
            schedule = self._schedules.get(d.year)
            weekday = d.weekday() < 5
            if schedule is None:
                cached = weekday
            else:
                cached = (weekday and d not in schedule.holidays) or d in schedule.workdays
            self._workday_cache[d] = cached
        return cached

    def add(self, start: datetime, limit: TimeLimit) -> Due:
        """Deadline for ``limit`` counted from ``start``; aware UTC."""
        start_utc = _utc(start, "start")
        if limit.unit is TimeUnit.CALENDAR_HOURS:
            return Due(start_utc + timedelta(hours=limit.amount))
        if limit.unit is TimeUnit.WORKING_DAYS:
            return self.add_working(start_utc, self._working_day.length * limit.amount)
        return self.add_working(start_utc, timedelta(hours=limit.amount))

    def add_working(self, start: datetime, amount: timedelta) -> Due:
        """Move ``amount`` of working time from ``start`` (backwards when negative)."""
        start_utc = _utc(start, "start")
        at, years = self._walk(start_utc, abs(amount), forward=amount >= timedelta(0))
        return Due(at, self._warnings(years))

    def working_time(self, a: datetime, b: datetime) -> Span:
        """Working seconds from ``a`` to ``b``; negative when ``b`` is before ``a``."""
        delta, years = self._working_delta(_utc(a, "a"), _utc(b, "b"))
        return Span(delta.total_seconds(), self._warnings(years))

    def remaining(self, now: datetime, due: datetime) -> Span:
        """Working seconds left until ``due``; negative once overdue."""
        return self.working_time(now, due)

    # The walks below work on UTC instants; only the choice of dates uses the city's tz.

    def _periods(self, d: date) -> tuple[tuple[datetime, datetime], ...]:
        cached = self._period_cache.get(d)
        if cached is None:
            cached = ()
            if self.is_workday(d):
                cached = tuple(
                    (
                        datetime.combine(d, s, tzinfo=self._tz).astimezone(UTC),
                        datetime.combine(d, e, tzinfo=self._tz).astimezone(UTC),
                    )
                    for s, e in self._working_day.periods
                )
            self._period_cache[d] = cached
        return cached

    def _local_date(self, moment: datetime) -> date:
        return moment.astimezone(self._tz).date()

    def _walk(self, start: datetime, amount: timedelta, forward: bool) -> tuple[datetime, set[int]]:
        unknown: set[int] = set()
        day, step = self._local_date(start), _ONE_DAY if forward else -_ONE_DAY
        for _ in range(_MAX_WALK_DAYS):
            if day.year not in self._schedules:
                unknown.add(day.year)
            periods = self._periods(day)
            for begin, end in periods if forward else reversed(periods):
                # Keep only the part of the period on the walking side of start.
                begin, end = (max(begin, start), end) if forward else (begin, min(end, start))
                if end <= begin:
                    continue
                if amount <= end - begin:
                    return (begin + amount if forward else end - amount), unknown
                amount -= end - begin
            day += step
        raise ValidationFailed(f"no working time found within {_MAX_WALK_DAYS} days of {start}")

    def _working_delta(self, a: datetime, b: datetime) -> tuple[timedelta, set[int]]:
        if b < a:
            delta, years = self._working_delta(b, a)
            return -delta, years
        total = timedelta(0)
        unknown: set[int] = set()
        if a == b:
            return total, unknown
        # Half-open [a, b): a b at midnight does not touch (or warn about) b's date.
        day, last = self._local_date(a), self._local_date(b - _TICK)
        while day <= last:
            if day.year not in self._schedules:
                unknown.add(day.year)
            for begin, end in self._periods(day):
                lo, hi = max(begin, a), min(end, b)
                if hi > lo:
                    total += hi - lo
            day += _ONE_DAY
        return total, unknown

    def _warnings(self, years: Iterable[int]) -> tuple[str, ...]:
        return tuple(missing_schedule_warning(y) for y in sorted(years))


DeadlineColour = Literal["green", "yellow", "red"]


def deadline_colour(budget_seconds: float, remaining_seconds: float) -> DeadlineColour:
    """红 overdue, 黄 once 80% of the budget is used, else 绿."""
    if remaining_seconds < 0:
        return "red"
    # Written without division so a zero budget needs no special case: due now -> yellow.
    used = budget_seconds - remaining_seconds
    return "yellow" if used >= 0.8 * max(budget_seconds, 0.0) else "green"


def resume_due(
    calendar: WorkCalendar,
    limit_unit: TimeUnit,
    suspended_at: datetime,
    due_at: datetime,
    resumed_at: datetime,
) -> Due:
    """New deadline after a suspension (挂账): the time left when suspended starts again.

    An already overdue case stays overdue by the same amount.
    """
    suspended, due = _utc(suspended_at, "suspended_at"), _utc(due_at, "due_at")
    resumed = _utc(resumed_at, "resumed_at")
    if resumed < suspended:
        raise ValidationFailed("a case cannot resume before it was suspended")
    if limit_unit is TimeUnit.CALENDAR_HOURS:
        return Due(resumed + (due - suspended))
    left, years = calendar._working_delta(suspended, due)
    moved = calendar.add_working(resumed, left)
    warnings = dict.fromkeys((*calendar._warnings(years), *moved.warnings))
    return Due(moved.at, tuple(warnings))
