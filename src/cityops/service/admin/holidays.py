"""Official holiday schedules loaded as data."""

from __future__ import annotations

from sqlalchemy import delete

from cityops.adapters.db.models import HolidayScheduleRow
from cityops.bootstrap import App
from cityops.domain.calendar import YearSchedule
from cityops.service.admin.common import ImportResult, audit


def load_holidays(app: App, schedule: YearSchedule, actor: str) -> ImportResult:
    """Store an official schedule for a year (overrides the package's, if any)."""
    now = app.clock()
    with app.sessions.begin() as s:
        s.execute(delete(HolidayScheduleRow).where(HolidayScheduleRow.year == schedule.year))
        s.add(
            HolidayScheduleRow(
                year=schedule.year,
                holidays=sorted(d.isoformat() for d in schedule.holidays),
                workdays=sorted(d.isoformat() for d in schedule.workdays),
                source=schedule.source[:200],
                loaded_at=now,
            )
        )
        audit(
            s,
            actor,
            "load_holidays",
            str(schedule.year),
            {"holidays": len(schedule.holidays), "workdays": len(schedule.workdays)},
            now,
        )
    app.reference.invalidate()
    return ImportResult("holidays", 1)
