"""Holiday schedules (节假日安排): built in from ``chinesecalendar``, or loaded from admin files.

The package only knows the years published before its release; the admin loads the next
year's schedule from a YAML/JSON file once the State Council announces it.
"""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import date
from importlib import metadata
from pathlib import Path
from typing import Any

import chinese_calendar
import yaml

from cityops.domain.calendar import YearSchedule, parse_year_schedule
from cityops.domain.errors import ValidationFailed

_SUFFIXES = {".yaml": "YAML", ".yml": "YAML", ".json": "JSON"}


def _package_version() -> str:
    try:
        return metadata.version("chinesecalendar")
    except metadata.PackageNotFoundError:
        return str(getattr(chinese_calendar, "__version__", "unknown"))


def builtin_schedules() -> dict[int, YearSchedule]:
    """Every year the installed ``chinesecalendar`` has data for."""
    source = f"chinesecalendar {_package_version()}"
    holidays: dict[int, set[date]] = defaultdict(set)
    workdays: dict[int, set[date]] = defaultdict(set)
    day: date
    for day in chinese_calendar.holidays:
        holidays[day.year].add(day)
    for day in chinese_calendar.workdays:
        workdays[day.year].add(day)
    # Only years the package lists something for: an empty schedule would claim knowledge.
    return {
        year: YearSchedule(year, frozenset(holidays[year]), frozenset(workdays[year]), source)
        for year in sorted(holidays.keys() | workdays.keys())
    }


def load_schedule_file(path: Path) -> YearSchedule:
    """Read and validate one year's schedule; ValidationFailed/ImportRejected on any problem."""
    kind = _SUFFIXES.get(path.suffix.lower())
    if kind is None:
        raise ValidationFailed(
            f"{path.name}: unsupported holiday schedule file type; use .yaml, .yml or .json",
            path=str(path),
        )
    try:
        # utf-8-sig: editors on Windows often prepend a BOM, which json.loads rejects.
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise ValidationFailed(
            f"cannot read holiday schedule {path}: {exc}", path=str(path)
        ) from exc
    try:
        data: Any = json.loads(text) if kind == "JSON" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise ValidationFailed(
            f"holiday schedule {path.name} is not valid {kind}: {exc}", path=str(path)
        ) from exc
    if not isinstance(data, dict):
        raise ValidationFailed(
            f"holiday schedule {path.name}: expected year, holidays and workdays at the top level",
            path=str(path),
        )
    return parse_year_schedule(data, source=f"file {path.name}")
