"""Stage clocks (时限) on a case: start, pause (挂账), extend (延期), colour."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from cityops.adapters.db.models import CaseRow
from cityops.domain.calendar import WorkCalendar, deadline_colour, resume_due
from cityops.domain.model import STAGE_OF_STATE, CaseState, Stage, Urgency
from cityops.domain.timelimit import TimeLimit, TimeUnit
from cityops.service.reference import Snapshot

# Used while a case has no category yet (e.g. a hotline order still to be classified).
DEFAULT_LIMITS: dict[Stage, TimeLimit] = {
    Stage.ACCEPT: TimeLimit(1, TimeUnit.WORKING_HOURS),
    Stage.VERIFY: TimeLimit(2, TimeUnit.WORKING_HOURS),
    Stage.DISPATCH: TimeLimit(1, TimeUnit.WORKING_HOURS),
    Stage.HANDLE: TimeLimit(3, TimeUnit.WORKING_DAYS),
    Stage.CHECK: TimeLimit(4, TimeUnit.WORKING_HOURS),
}


def _add_warnings(case: CaseRow, warnings: tuple[str, ...]) -> None:
    if warnings:
        case.warnings = list(dict.fromkeys([*(case.warnings or []), *warnings]))


def stage_limit(case: CaseRow, snap: Snapshot, stage: Stage) -> TimeLimit:
    info = snap.categories.get(case.category or "")
    if info is not None and stage in info.limits:
        return info.limits[stage]
    return DEFAULT_LIMITS[stage]


def start_stage(case: CaseRow, snap: Snapshot, now: datetime, *, restart: bool = False) -> None:
    """Start the clock of the stage the case's state belongs to (keep it if it is the same)."""
    stage = STAGE_OF_STATE.get(CaseState(case.state))
    if stage is None:
        case.stage = case.stage_started_at = case.stage_due_at = case.stage_limit = None
        case.stage_overdue = False
        return
    if case.stage == stage.value and not restart:
        return
    limit = stage_limit(case, snap, stage)
    due = snap.calendar.add(now, limit)
    case.stage, case.stage_started_at, case.stage_due_at = stage.value, now, due.at
    case.stage_limit, case.stage_overdue = str(limit), False
    _add_warnings(case, due.warnings)


def stage_late(case: CaseRow, now: datetime) -> bool:
    return case.stage_due_at is not None and now > case.stage_due_at


def resume_clock(case: CaseRow, calendar: WorkCalendar, now: datetime) -> None:
    if case.stage_due_at is None or case.suspended_at is None or case.stage_limit is None:
        return
    unit = TimeLimit.parse(case.stage_limit).unit
    due = resume_due(calendar, unit, case.suspended_at, case.stage_due_at, now)
    case.stage_due_at = due.at
    _add_warnings(case, due.warnings)


def extend(case: CaseRow, calendar: WorkCalendar, limit: TimeLimit) -> None:
    if case.stage_due_at is None:
        return
    due = calendar.add(case.stage_due_at, limit)
    case.stage_due_at, case.stage_overdue = due.at, False
    _add_warnings(case, due.warnings)


def clock_view(case: CaseRow, calendar: WorkCalendar, now: datetime) -> dict[str, Any] | None:
    """The running clock as screens show it: due time, time left and colour (绿/黄/红)."""
    if case.stage_due_at is None or case.stage_started_at is None or case.stage_limit is None:
        return None
    at = case.suspended_at or now
    if (
        TimeLimit.parse(case.stage_limit).unit is TimeUnit.CALENDAR_HOURS
        or case.urgency == Urgency.URGENT
    ):
        budget = (case.stage_due_at - case.stage_started_at).total_seconds()
        remaining = (case.stage_due_at - at).total_seconds()
    else:
        budget = calendar.working_time(case.stage_started_at, case.stage_due_at).seconds
        remaining = calendar.remaining(at, case.stage_due_at).seconds
    return {
        "stage": case.stage,
        "limit": case.stage_limit,
        "started_at": case.stage_started_at.isoformat(),
        "due_at": case.stage_due_at.isoformat(),
        "remaining_seconds": round(remaining),
        "colour": deadline_colour(budget, remaining),
        "paused": case.suspended_at is not None,
    }
