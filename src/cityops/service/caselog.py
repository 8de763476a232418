"""Appending to a case's log (案卷日志): one immutable event, the case's sequence moved on."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from cityops.adapters.db.models import CaseEventRow, CaseRow
from cityops.service.principal import Principal


def record_event(
    session: Session,
    case: CaseRow,
    *,
    action: str,
    from_state: str | None,
    principal: Principal,
    now: datetime,
    note: str | None = None,
    media: tuple[str, ...] = (),
    data: dict[str, Any] | None = None,
    correlation_id: str | None = None,
) -> CaseEventRow:
    case.event_seq += 1
    case.updated_at = now
    event = CaseEventRow(
        case_id=case.id,
        seq=case.event_seq,
        action=action,
        from_state=from_state,
        to_state=case.state,
        at=now,
        actor_id=principal.user_id,
        actor_role=principal.role.value,
        department_id=case.department_id,
        note=note,
        media=list(media),
        data=data or {},
        correlation_id=correlation_id,
    )
    session.add(event)
    return event
