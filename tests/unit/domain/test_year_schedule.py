"""Parsing an admin's holiday schedule file: all-or-nothing, every problem reported."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from cityops.domain.calendar import YearSchedule, parse_year_schedule
from cityops.domain.errors import ImportProblem, ImportRejected, ValidationFailed

VALID: dict[str, Any] = {
    "year": 2027,
    "holidays": [
        {"name": "元旦", "dates": ["2027-01-01"]},
        {"name": "春节", "from": "2027-02-06", "to": "2027-02-13"},
        {"name": "国庆", "dates": [date(2027, 10, 1)], "from": "2027-10-02", "to": "2027-10-07"},
    ],
    "workdays": ["2027-02-14", date(2027, 10, 9)],
}


def problems_of(data: dict[str, Any]) -> list[ImportProblem]:
    with pytest.raises(ImportRejected) as caught:
        parse_year_schedule(data, source="test.yaml")
    assert "test.yaml" in caught.value.message
    return caught.value.problems


def test_valid_file() -> None:
    schedule = parse_year_schedule(VALID, source="test.yaml")
    assert schedule.year == 2027
    assert schedule.source == "test.yaml"
    assert date(2027, 1, 1) in schedule.holidays
    assert {date(2027, 2, d) for d in range(6, 14)} <= schedule.holidays
    assert {date(2027, 10, d) for d in range(1, 8)} <= schedule.holidays
    assert len(schedule.holidays) == 1 + 8 + 7
    assert schedule.workdays == {date(2027, 2, 14), date(2027, 10, 9)}


def test_workdays_may_be_empty_or_missing() -> None:
    data = {"year": 2027, "holidays": [{"name": "元旦", "dates": ["2027-01-01"]}]}
    assert parse_year_schedule(data, source="x").workdays == frozenset()
    assert parse_year_schedule({**data, "workdays": None}, source="x").workdays == frozenset()


def test_missing_year() -> None:
    data = {k: v for k, v in VALID.items() if k != "year"}
    assert [p.item for p in problems_of(data)] == ["year"]


@pytest.mark.parametrize("year", ["2027", 27.5, True])
def test_bad_year(year: object) -> None:
    assert problems_of({**VALID, "year": year})[0].item == "year"


def test_bad_date() -> None:
    data = {**VALID, "holidays": [{"name": "元旦", "dates": ["2027-02-30", "1/1/2027"]}]}
    problems = problems_of(data)
    assert [p.item for p in problems] == ["holidays[0] 元旦", "holidays[0] 元旦"]
    assert "not a real date" in problems[0].reason
    assert "YYYY-MM-DD" in problems[1].reason


def test_date_outside_year() -> None:
    data = {**VALID, "workdays": ["2026-12-27"]}
    assert problems_of(data) == [ImportProblem("workdays[0]", "2026-12-27 is outside 2027")]


def test_from_after_to() -> None:
    data = {**VALID, "holidays": [{"name": "春节", "from": "2027-02-13", "to": "2027-02-06"}]}
    assert problems_of(data) == [
        ImportProblem("holidays[0] 春节", "from 2027-02-13 is after to 2027-02-06")
    ]


def test_date_both_holiday_and_workday() -> None:
    data = {**VALID, "workdays": ["2027-02-14", "2027-02-07"]}
    (problem,) = problems_of(data)
    assert problem.item == "workdays[1]"
    assert "holidays[1] 春节" in problem.reason


def test_structural_problems() -> None:
    data = {
        "year": 2027,
        "holiday": [],  # typo
        "workdays": "2027-02-14",
    }
    items = [p.item for p in problems_of(data)]
    assert items == ["holiday", "holidays", "workdays"]
    entries = {
        "year": 2027,
        "holidays": ["元旦", {"dates": ["2027-01-01"]}, {"name": "春节", "from": "2027-02-06"}],
    }
    problems = problems_of(entries)
    assert [p.item for p in problems] == ["holidays[0]", "holidays[1]", "holidays[2] 春节"]
    assert "both from and to" in problems[2].reason


def test_all_problems_reported_together() -> None:
    data = {
        "holidays": [
            {"name": "元旦", "dates": ["2027-13-01"]},
            {"name": "春节", "from": "2027-02-13", "to": "2027-02-06"},
            {"name": "国庆", "dates": ["2027-10-01"]},
        ],
        "workdays": ["2027-10-01", "not a date"],
    }
    problems = problems_of(data)
    assert {p.item for p in problems} == {
        "year",
        "holidays[0] 元旦",
        "holidays[1] 春节",
        "workdays[0]",
        "workdays[1]",
    }
    assert len(problems) == 5
    # Without a year, dates cannot be checked against it, but everything else is.
    rejected = ImportRejected("x", problems)
    assert len(rejected.details["problems"]) == 5


def test_dates_outside_year_reported_with_year_known() -> None:
    data = {
        "year": 2027,
        "holidays": [
            {"name": "元旦", "dates": ["2026-01-01"], "from": "2027-12-31", "to": "2028-01-01"}
        ],
    }
    reasons = [p.reason for p in problems_of(data)]
    assert reasons == ["2026-01-01 is outside 2027", "2028-01-01 is outside 2027"]


def test_year_schedule_validates_itself() -> None:
    with pytest.raises(ValidationFailed, match="outside the year"):
        YearSchedule(2027, frozenset({date(2026, 1, 1)}), frozenset(), "x")
    with pytest.raises(ValidationFailed, match=r"both holiday and workday \['2027-01-01'\]"):
        YearSchedule(2027, frozenset({date(2027, 1, 1)}), frozenset({date(2027, 1, 1)}), "x")
