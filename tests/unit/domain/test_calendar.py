"""Working-time arithmetic, hand-checked against the official 2026 schedule.

The 2026 schedule is written out here (checked against chinesecalendar 1.11) so these
domain tests do not depend on the adapter or on which years a package release knows.
Working day: 08:30–12:00 and 13:30–17:30, i.e. 7.5 h.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cityops.domain.calendar import (
    Due,
    WorkCalendar,
    WorkingDay,
    YearSchedule,
    deadline_colour,
    resume_due,
)
from cityops.domain.errors import ValidationFailed
from cityops.domain.timelimit import TimeLimit, TimeUnit

SH = ZoneInfo("Asia/Shanghai")
HOUR = 3600.0


def _days(first: str, last: str) -> set[date]:
    start, end = date.fromisoformat(first), date.fromisoformat(last)
    return {start + timedelta(days=n) for n in range((end - start).days + 1)}


SCHEDULE_2026 = YearSchedule(
    2026,
    frozenset(
        _days("2026-01-01", "2026-01-03")  # 元旦
        | _days("2026-02-15", "2026-02-23")  # 春节
        | _days("2026-04-04", "2026-04-06")  # 清明
        | _days("2026-05-01", "2026-05-05")  # 劳动节
        | _days("2026-06-19", "2026-06-21")  # 端午
        | _days("2026-09-25", "2026-09-27")  # 中秋
        | _days("2026-10-01", "2026-10-07")  # 国庆
    ),
    frozenset(
        date.fromisoformat(d)
        for d in (
            "2026-01-04",
            "2026-02-14",
            "2026-02-28",
            "2026-05-09",
            "2026-09-20",
            "2026-10-10",
        )
    ),
    source="test",
)
CAL = WorkCalendar({2026: SCHEDULE_2026}, WorkingDay(), SH)


def sh(text: str) -> datetime:
    """Shanghai wall-clock time, e.g. sh("2026-09-30 16:00")."""
    return datetime.fromisoformat(text).replace(tzinfo=SH)


def due(start: str, limit: str) -> Due:
    return CAL.add(sh(start), TimeLimit.parse(limit))


# --------------------------------------------------------------------------- hand-checked


@pytest.mark.parametrize(
    ("start", "limit", "expected"),
    [
        # 国庆: Wed Sep 30 16:00 has 1.5 h; Oct 1–7 off; Thu Oct 8 from 08:30.
        ("2026-09-30 16:00", "3wh", "2026-10-08 10:00"),
        # Sat Oct 10 is an adjusted workday (调休上班).
        ("2026-10-09 17:00", "1wh", "2026-10-10 09:00"),
        # Sun Sep 20 is an adjusted workday; Sat Sep 19 is an ordinary weekend day.
        ("2026-09-19 10:00", "1wh", "2026-09-20 09:30"),
        # 中秋: Fri Sep 25 – Sun Sep 27 off.
        ("2026-09-24 17:00", "1wh", "2026-09-28 09:00"),
        # 春节: Sat Feb 14 works, Feb 15–23 off.
        ("2026-02-13 17:00", "2wh", "2026-02-14 10:00"),
        ("2026-02-14 17:00", "1wh", "2026-02-24 09:00"),
        ("2026-02-14 08:30", "3wd", "2026-02-25 17:30"),
        # Lunch break is not counted.
        ("2026-03-02 11:00", "2wh", "2026-03-02 14:30"),
        # Outside working hours: counting starts at the next working period.
        ("2026-03-02 07:00", "1wh", "2026-03-02 09:30"),
        ("2026-03-02 12:30", "1wh", "2026-03-02 14:30"),
        ("2026-03-02 20:00", "1wh", "2026-03-03 09:30"),
        # Friday evening -> Monday.
        ("2026-03-06 19:00", "2wh", "2026-03-09 10:30"),
        # A whole working day ends at the end of the period, not next morning.
        ("2026-03-02 08:30", "1wd", "2026-03-02 17:30"),
        ("2026-03-02 10:00", "1wd", "2026-03-03 10:00"),
        # Fractional amounts.
        ("2026-03-02 08:30", "0.5wh", "2026-03-02 09:00"),
        ("2026-03-02 08:30", "0.5wd", "2026-03-02 13:45"),  # 3.75 h
    ],
)
def test_add_working_time(start: str, limit: str, expected: str) -> None:
    result = due(start, limit)
    assert result.at == sh(expected)
    assert result.at.tzinfo is UTC
    assert result.warnings == ()


def test_add_accepts_any_timezone_and_returns_utc() -> None:
    start = datetime(2026, 3, 2, 3, 0, tzinfo=UTC)  # 11:00 in Shanghai
    result = CAL.add(start, TimeLimit.parse("2wh"))
    assert result.at == datetime(2026, 3, 2, 6, 30, tzinfo=UTC)  # 14:30 Shanghai


def test_naive_datetime_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        CAL.add(datetime(2026, 3, 2, 9, 0), TimeLimit.parse("1wh"))


def test_is_workday_follows_the_official_schedule() -> None:
    assert not CAL.is_workday(date(2026, 10, 1))  # 国庆, Thursday
    assert CAL.is_workday(date(2026, 10, 10))  # 调休, Saturday
    assert CAL.is_workday(date(2026, 9, 20))  # 调休, Sunday
    assert not CAL.is_workday(date(2026, 9, 19))  # ordinary Saturday
    assert CAL.is_workday(date(2026, 9, 28))  # ordinary Monday
    assert CAL.is_workday(date(2027, 1, 1))  # unknown year: weekdays only
    assert not CAL.is_workday(date(2027, 1, 2))
    assert CAL.knows_year(2026) and not CAL.knows_year(2027)


def test_crossing_into_unknown_year_warns_and_counts_weekends_only() -> None:
    # Thu Dec 31 16:30 has 1 h; Fri Jan 1 2027 counts as a workday (no schedule known).
    result = due("2026-12-31 16:30", "2wh")
    assert result.at == sh("2027-01-01 09:30")
    assert len(result.warnings) == 1
    assert "2027" in result.warnings[0] and "weekends only" in result.warnings[0]
    # Weekend in 2027 is still skipped.
    later = due("2027-01-08 17:00", "1wh")
    assert later.at == sh("2027-01-11 09:00")
    assert later.warnings == result.warnings


def test_deadline_ending_on_dec_31_does_not_warn_about_next_year() -> None:
    assert due("2026-12-31 08:30", "1wd") == Due(sh("2026-12-31 17:30"), ())


def test_loading_the_year_removes_the_warning() -> None:
    schedule_2027 = YearSchedule(2027, frozenset({date(2027, 1, 1)}), frozenset(), "admin")
    cal = CAL.with_schedule(schedule_2027)
    result = cal.add(sh("2026-12-31 16:30"), TimeLimit.parse("2wh"))
    assert result == Due(sh("2027-01-04 09:30"), ())
    assert not CAL.knows_year(2027)  # the original calendar is unchanged


def test_calendar_hours_ignore_holidays() -> None:
    result = due("2026-09-30 20:00", "24h")
    assert result == Due(sh("2026-10-01 20:00"), ())


def test_working_time_across_national_day() -> None:
    span = CAL.working_time(sh("2026-09-30 08:30"), sh("2026-10-08 17:30"))
    assert span.seconds == 15 * HOUR
    assert span.warnings == ()
    assert CAL.working_time(sh("2026-03-02 12:00"), sh("2026-03-02 13:30")).seconds == 0
    back = CAL.working_time(sh("2026-10-08 17:30"), sh("2026-09-30 08:30"))
    assert back.seconds == -15 * HOUR


def test_working_time_warns_per_unknown_year_touched() -> None:
    span = CAL.working_time(sh("2025-12-31 17:00"), sh("2027-01-04 09:00"))
    assert [w[:4] for w in span.warnings] == ["2025", "2027"]
    # Ending exactly at midnight does not touch the next year.
    assert CAL.working_time(sh("2026-12-31 09:00"), sh("2027-01-01 00:00")).warnings == ()


def test_remaining_is_negative_when_overdue() -> None:
    deadline = sh("2026-03-02 10:00")
    assert CAL.remaining(sh("2026-03-02 09:00"), deadline).seconds == HOUR
    # Mon 10:00-12:00, 13:30-17:30 and Tue 08:30-09:00.
    assert CAL.remaining(sh("2026-03-03 09:00"), deadline).seconds == -6.5 * HOUR


def test_working_day_parse_and_validation() -> None:
    wd = WorkingDay.parse("08:30-12:00, 13:30-17:30")
    assert wd == WorkingDay()
    assert wd.length == timedelta(hours=7.5)
    assert str(wd) == "08:30-12:00,13:30-17:30"
    assert WorkingDay.parse("9:00-17:00").periods == ((time(9), time(17)),)
    for bad in ("", "08:30", "12:00-08:00", "08:00-12:00,11:00-14:00", "25:00-26:00"):
        with pytest.raises(ValidationFailed):
            WorkingDay.parse(bad)
    with pytest.raises(ValidationFailed):
        WorkingDay(())


def test_custom_working_day() -> None:
    cal = WorkCalendar({2026: SCHEDULE_2026}, WorkingDay.parse("09:00-17:00"), SH)
    assert cal.add(sh("2026-03-02 16:00"), TimeLimit.parse("1wd")).at == sh("2026-03-03 16:00")
    assert cal.add(sh("2026-03-02 11:00"), TimeLimit.parse("2wh")).at == sh("2026-03-02 13:00")


@pytest.mark.parametrize(
    ("budget", "remaining", "colour"),
    [
        (100, 100, "green"),
        (100, 21, "green"),
        (100, 20, "yellow"),  # exactly 80% used
        (100, 0, "yellow"),
        (100, -1, "red"),
        (0, 0, "yellow"),
        (0, -1, "red"),
        (0, 5, "green"),
    ],
)
def test_deadline_colour(budget: float, remaining: float, colour: str) -> None:
    assert deadline_colour(budget, remaining) == colour


def test_resume_due_working_time() -> None:
    # Due Thu Oct 8 10:00; suspended Wed Sep 30 16:00 with 3 working hours left.
    result = resume_due(
        CAL,
        TimeUnit.WORKING_HOURS,
        sh("2026-09-30 16:00"),
        sh("2026-10-08 10:00"),
        sh("2026-10-12 08:30"),
    )
    assert result == Due(sh("2026-10-12 11:30"), ())


def test_resume_due_keeps_overdue_amount() -> None:
    # Overdue by 1 working hour at suspension: still 1 working hour overdue on resumption.
    result = resume_due(
        CAL,
        TimeUnit.WORKING_DAYS,
        sh("2026-03-02 11:00"),
        sh("2026-03-02 10:00"),
        sh("2026-03-03 09:00"),
    )
    assert result.at == sh("2026-03-02 17:00")
    assert CAL.remaining(sh("2026-03-03 09:00"), result.at).seconds == -HOUR


def test_resume_due_calendar_hours_and_warnings() -> None:
    result = resume_due(
        CAL,
        TimeUnit.CALENDAR_HOURS,
        sh("2026-10-01 10:00"),
        sh("2026-10-01 15:00"),
        sh("2026-10-02 08:00"),
    )
    assert result == Due(sh("2026-10-02 13:00"), ())
    warned = resume_due(
        CAL,
        TimeUnit.WORKING_HOURS,
        sh("2026-12-31 16:00"),
        sh("2026-12-31 17:30"),
        sh("2027-01-08 17:00"),
    )
    # 1.5 h left: Fri 17:00-17:30, then Mon 08:30-09:30 (2027 weekend still skipped).
    assert warned.at == sh("2027-01-11 09:30")
    assert len(warned.warnings) == 1 and "2027" in warned.warnings[0]
    with pytest.raises(ValidationFailed):
        resume_due(
            CAL,
            TimeUnit.WORKING_HOURS,
            sh("2026-03-02 11:00"),
            sh("2026-03-03 10:00"),
            sh("2026-03-02 10:00"),
        )


# --------------------------------------------------------------------------- properties

moments = st.datetimes(
    min_value=datetime(2025, 12, 1), max_value=datetime(2027, 3, 1), timezones=st.just(SH)
)
# Whole minutes up to 60 working days keep the expected values exact.
minutes = st.integers(min_value=1, max_value=60 * 450)


def _in_working_period(moment: datetime) -> bool:
    local = moment.astimezone(SH)
    if not CAL.is_workday(local.date()):
        return False
    return any(s <= local.time() <= e for s, e in CAL.working_day.periods)


@settings(max_examples=200, deadline=None)
@given(moments, minutes)
def test_add_then_measure_returns_the_amount(start: datetime, amount: int) -> None:
    result = CAL.add(start, TimeLimit(amount / 60, TimeUnit.WORKING_HOURS))
    assert result.at > start
    assert CAL.working_time(start, result.at).seconds == pytest.approx(amount * 60, abs=1e-6)
    assert _in_working_period(result.at)


@settings(max_examples=100, deadline=None)
@given(moments, minutes, minutes)
def test_add_is_monotonic_in_amount(start: datetime, a: int, b: int) -> None:
    small, large = sorted((a, b))
    due_small = CAL.add(start, TimeLimit(small / 60, TimeUnit.WORKING_HOURS)).at
    due_large = CAL.add(start, TimeLimit(large / 60, TimeUnit.WORKING_HOURS)).at
    assert due_small <= due_large


@settings(max_examples=100, deadline=None)
@given(moments, st.integers(min_value=1, max_value=60))
def test_working_days_are_whole_working_day_lengths(start: datetime, days: int) -> None:
    in_days = CAL.add(start, TimeLimit(days, TimeUnit.WORKING_DAYS))
    in_hours = CAL.add(start, TimeLimit(days * 7.5, TimeUnit.WORKING_HOURS))
    assert in_days == in_hours


@settings(max_examples=100, deadline=None)
@given(moments, moments)
def test_working_time_is_antisymmetric(a: datetime, b: datetime) -> None:
    forward, backward = CAL.working_time(a, b), CAL.working_time(b, a)
    assert forward.seconds == -backward.seconds
    assert forward.warnings == backward.warnings


@settings(max_examples=100, deadline=None)
@given(moments, moments, moments)
def test_working_time_is_additive(a: datetime, b: datetime, c: datetime) -> None:
    whole = CAL.working_time(a, c).seconds
    parts = CAL.working_time(a, b).seconds + CAL.working_time(b, c).seconds
    assert whole == pytest.approx(parts, abs=1e-6)


@settings(max_examples=100, deadline=None)
@given(moments, st.integers(min_value=-60 * 450, max_value=60 * 450))
def test_add_working_backwards_inverts_forwards(start: datetime, amount: int) -> None:
    moved = CAL.add_working(start, timedelta(minutes=amount)).at
    assert CAL.working_time(start, moved).seconds == pytest.approx(amount * 60, abs=1e-6)
