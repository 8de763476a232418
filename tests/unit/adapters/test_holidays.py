"""Built-in schedules from chinesecalendar and admin schedule files."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

import chinese_calendar
import pytest

from cityops.adapters.holidays import builtin_schedules, load_schedule_file
from cityops.domain.calendar import WorkCalendar
from cityops.domain.errors import ImportRejected, ValidationFailed

EXAMPLE = Path(__file__).resolve().parents[3] / "docs" / "holiday-schedule.example.yaml"


def test_builtin_has_2026_with_the_official_adjustments() -> None:
    schedules = builtin_schedules()
    assert 2026 in schedules and 2004 in schedules
    s2026 = schedules[2026]
    assert s2026.source.startswith("chinesecalendar ")
    assert {date(2026, 10, d) for d in range(1, 8)} <= s2026.holidays
    assert {date(2026, 9, 20), date(2026, 10, 10), date(2026, 2, 14)} <= s2026.workdays


def test_builtin_matches_chinese_calendar_day_by_day() -> None:
    cal = WorkCalendar(builtin_schedules())
    day = date(2025, 1, 1)
    while day <= date(2026, 12, 31):
        assert cal.is_workday(day) == chinese_calendar.is_workday(day), day
        day += timedelta(days=1)


def test_builtin_does_not_claim_unpublished_years() -> None:
    schedules = builtin_schedules()
    latest = max(schedules)
    with pytest.raises(NotImplementedError):
        chinese_calendar.is_workday(date(latest + 1, 1, 1))
    assert latest + 1 not in schedules


YAML_TEXT = """\
year: 2027
holidays:
  - name: 元旦
    dates: [2027-01-01]
  - name: 春节
    from: "2027-02-06"
    to: "2027-02-13"
workdays: ["2027-02-14"]
"""


def test_load_yaml(tmp_path: Path) -> None:
    path = tmp_path / "2027.yaml"
    path.write_text(YAML_TEXT, encoding="utf-8")
    schedule = load_schedule_file(path)
    assert schedule.year == 2027
    assert date(2027, 1, 1) in schedule.holidays  # unquoted YAML date
    assert len(schedule.holidays) == 9
    assert schedule.workdays == {date(2027, 2, 14)}
    assert "2027.yaml" in schedule.source


def test_load_json_with_bom(tmp_path: Path) -> None:
    path = tmp_path / "2027.json"
    data = {
        "year": 2027,
        "holidays": [{"name": "元旦", "dates": ["2027-01-01"]}],
        "workdays": [],
    }
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8-sig")
    schedule = load_schedule_file(path)
    assert schedule.holidays == {date(2027, 1, 1)}


def test_example_file_is_a_valid_fictitious_schedule() -> None:
    text = EXAMPLE.read_text(encoding="utf-8")
    assert "FORMAT EXAMPLE" in text.splitlines()[0]
    schedule = load_schedule_file(EXAMPLE)
    assert schedule.year == 2099


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("bad.yaml", "year: 2027\nholidays: [unclosed\n"),
        ("bad.json", '{"year": 2027,'),
        ("list.yaml", "- 2027-01-01\n"),
        ("empty.yaml", ""),
        ("schedule.txt", "year: 2027\n"),
    ],
)
def test_malformed_file(tmp_path: Path, name: str, content: str) -> None:
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ValidationFailed) as caught:
        load_schedule_file(path)
    assert not isinstance(caught.value, ImportRejected)
    assert name in caught.value.message


def test_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(ValidationFailed, match="cannot read"):
        load_schedule_file(tmp_path / "missing.yaml")
    binary = tmp_path / "binary.yaml"
    binary.write_bytes(b"\xff\xfe\x00bad")
    with pytest.raises(ValidationFailed, match="cannot read"):
        load_schedule_file(binary)


def test_invalid_content_is_rejected_with_problems(tmp_path: Path) -> None:
    path = tmp_path / "2027.yaml"
    path.write_text(YAML_TEXT.replace("2027-02-13", "2028-02-13"), encoding="utf-8")
    with pytest.raises(ImportRejected) as caught:
        load_schedule_file(path)
    assert [p.item for p in caught.value.problems] == ["holidays[1] 春节"]
