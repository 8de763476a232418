"""The deadline sweeper: marks overdue stages and escalates, through the workflow only.

It proposes transitions (``overdue``, ``escalate``) with the system as actor; their guards
make a second run in the same situation change nothing more. On the same beat it delivers the
pending notifications of the outbox (``service/notify.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select

from cityops.adapters.db.models import CaseRow
from cityops.bootstrap import App
from cityops.domain.errors import Conflict
from cityops.domain.model import TERMINAL_STATES, CaseState
from cityops.domain.workflow import ESCALATION_LEVELS, Command
from cityops.service.notify import Sender, deliver
from cityops.service.principal import SYSTEM
from cityops.service.workflow import act

_IDLE = [s.value for s in (*TERMINAL_STATES, CaseState.SUSPENDED)]


@dataclass(frozen=True, slots=True)
class SweepResult:
    marked_overdue: int
    escalated: int
    notified: int = 0  # notifications sent on this run


def sweep(app: App, sender: Sender | None = None) -> SweepResult:
    now = app.clock()
    grace = timedelta(hours=app.settings.escalate_after_overdue_hours)
    with app.reads() as s:
        late = s.scalars(
            select(CaseRow.id).where(
                CaseRow.stage_due_at < now,
                CaseRow.stage_overdue.is_(False),
                CaseRow.state.not_in(_IDLE),
            )
        ).all()
    marked = sum(_try(app, case_id, Command("overdue")) for case_id in late)
    with app.reads() as s:
        stale = s.execute(
            select(CaseRow.id, CaseRow.stage_started_at, CaseRow.escalated_for).where(
                CaseRow.stage_overdue.is_(True),
                CaseRow.stage_due_at < now - grace,
                CaseRow.level != ESCALATION_LEVELS[-1],
                CaseRow.state.not_in(_IDLE),
            )
        ).all()
    escalated = sum(
        _try(app, row.id, Command("escalate", note="超期自动升级 / auto-escalated: overdue"))
        for row in stale
        if row.escalated_for != row.stage_started_at  # once per stage occurrence
    )
    return SweepResult(marked, escalated, deliver(app, sender).sent)


def _try(app: App, case_id: int, cmd: Command) -> int:
    try:
        act(app, case_id, SYSTEM, cmd, idempotency_key=None)
    except Conflict:  # the case moved on meanwhile; the guard said no, which is fine
        return 0
    return 1
