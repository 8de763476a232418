"""``apply_transition``: the only writer of case state. One locked row, one immutable event."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from cityops.adapters.db.alarm_models import CasePlanStepRow
from cityops.adapters.db.models import CaseEventRow, CaseRow
from cityops.bootstrap import App
from cityops.domain.errors import NotFound, ValidationFailed
from cityops.domain.model import CaseState, Channel, Priority, Urgency
from cityops.domain.timelimit import TimeLimit
from cityops.domain.workflow import (
    BY_ACTION,
    EVENT_NAMES,
    Actor,
    CaseView,
    Command,
    check_allowed,
    decide,
    next_level,
)
from cityops.service import deadlines, dedupe, notify
from cityops.service.access import ensure_can_act
from cityops.service.bus import Event
from cityops.service.caselog import record_event as record_event  # re-export: old import path
from cityops.service.principal import Principal
from cityops.service.reference import Snapshot


@dataclass(frozen=True, slots=True)
class Outcome:
    case_id: int
    case_no: str | None
    action: str
    from_state: str | None
    to_state: str
    event_seq: int
    replayed: bool = False  # the idempotency key was seen before; nothing new was written


def case_view(
    case: CaseRow, now: datetime, open_plan_steps: tuple[tuple[int, str], ...] = ()
) -> CaseView:
    return CaseView(
        state=CaseState(case.state),
        channel=Channel(case.channel),
        urgency=Urgency(case.urgency),
        category=case.category,
        department_id=case.department_id,
        reporter_user_id=case.reporter_user_id,
        level=case.level,
        resume_state=CaseState(case.resume_state) if case.resume_state else None,
        extension_pending=case.extension is not None,
        past_due=not case.stage_overdue and deadlines.stage_late(case, now),
        duplicate_suggested=case.duplicate_of is not None and case.state != CaseState.MERGED,
        open_plan_steps=open_plan_steps,
    )


def open_plan_steps(session: Session, case_id: int) -> tuple[tuple[int, str], ...]:
    """The emergency plan's steps not yet done on a case (none when no plan is attached)."""
    rows = session.execute(
        select(CasePlanStepRow.step_no, CasePlanStepRow.text)
        .where(CasePlanStepRow.case_id == case_id, CasePlanStepRow.done_at.is_(None))
        .order_by(CasePlanStepRow.step_no)
    ).all()
    return tuple((int(no), str(text)) for no, text in rows)


def apply_transition(
    session: Session,
    snap: Snapshot,
    case: CaseRow,
    principal: Principal,
    cmd: Command,
    now: datetime,
    correlation_id: str | None = None,
) -> CaseEventRow:
    """Decide and write. The caller holds the row lock and commits."""
    actor = Actor(principal.user_id, principal.role, principal.department_ids)
    rule = BY_ACTION.get(cmd.action)
    steps = open_plan_steps(session, case.id) if rule and "plan_done" in rule.guards else ()
    view = case_view(case, now, steps)
    target = None
    if cmd.action == "merge":
        check_allowed(view, actor, cmd.action)  # who/when first, then which case
        target, into = dedupe.find_target(session, case, principal, cmd.data.get("into"))
        default = f"并入案卷 {into.case_no} / merged into case {into.case_no}"
        cmd = replace(cmd, target=into, note=cmd.note or default)
    decision = decide(view, actor, cmd)
    before = case.state
    data: dict[str, Any] = dict(cmd.data)
    if target is not None:
        dedupe.move_reports(session, case, target, principal, now, data)
    ended_late = deadlines.stage_late(case, now)
    _apply_effects(case, snap, cmd, decision.to_state, now, data)
    case.state = decision.to_state.value
    # A stage's clock ends when the state leaves it; record whether it ended late (按期).
    new_stage_clock = cmd.action in ("redispatch", "check_fail", "reopen", "return")
    if cmd.action in ("complete", "dispatch", "close", "check_pass", "accept", "verify", "open"):
        data["overdue"] = ended_late or (cmd.action == "close" and case.ever_overdue)
    if ended_late:
        case.ever_overdue = True
    if decision.to_state is not CaseState.SUSPENDED and cmd.action not in ("resume",):
        deadlines.start_stage(case, snap, now, restart=new_stage_clock)
    outbox = None
    if decision.to_state is CaseState.CLOSED:
        case.closed_at = now
        # Every reporter, merged ones too, is told: written with the close, sent later.
        outbox = notify.case_closed(session, case, cmd.note, now)
        data["notify"] = outbox.summary
    event = record_event(
        session,
        case,
        action=cmd.action,
        from_state=before,
        principal=principal,
        now=now,
        note=cmd.note,
        media=cmd.media,
        data=data,
        correlation_id=correlation_id,
    )
    if outbox is not None:
        outbox.add_to(session, event.seq)
    return event


def _apply_effects(
    case: CaseRow,
    snap: Snapshot,
    cmd: Command,
    to_state: CaseState,
    now: datetime,
    data: dict[str, Any],
) -> None:
    action = cmd.action
    if action in ("dispatch", "redispatch"):
        if cmd.department_id not in snap.departments_by_id:
            raise ValidationFailed(f"unknown department {cmd.department_id}", field="department_id")
        data["department"] = snap.departments_by_id[cmd.department_id].code
        followed = bool(case.routing and case.routing.get("department") == data["department"])
        data["routing_followed"] = followed
        # Why it went where it went: the rule's explanation, or the dispatcher's own reason.
        if followed and case.routing:
            data["why"] = case.routing.get("explanation")
            data["rule_id"] = case.routing.get("rule_id")
        else:
            data["why"] = cmd.note or "派遣员指定 / chosen by the dispatcher"
        case.department_id = cmd.department_id
        if case.triage == "route":  # the dispatcher decided what routing could not
            case.triage = None
    elif action == "return":
        data["returned_by"] = case.department_id
        if case.routing:
            data["rule_id"] = case.routing.get("rule_id")
        case.department_id = None
    elif action == "request_extension":
        limit = TimeLimit.parse(cmd.extension or "")
        case.extension = {"limit": str(limit), "note": cmd.note, "requested_at": now.isoformat()}
        data["limit"] = str(limit)
    elif action == "approve_extension":
        limit = TimeLimit.parse(str((case.extension or {})["limit"]))
        deadlines.extend(case, snap.calendar, limit)
        data["limit"] = str(limit)
        data["new_due_at"] = case.stage_due_at.isoformat() if case.stage_due_at else None
        case.extension = None
    elif action == "deny_extension":
        case.extension = None
    elif action == "suspend":
        case.resume_state, case.suspended_at = case.state, now
    elif action == "resume":
        deadlines.resume_clock(case, snap.calendar, now)
        case.resume_state = case.suspended_at = None
        data["new_due_at"] = case.stage_due_at.isoformat() if case.stage_due_at else None
    elif action == "supervise":
        case.priority = Priority.HIGH.value
    elif action == "escalate":
        data["from_level"], case.level = case.level, next_level(case.level)
        data["to_level"] = case.level
        case.escalated_for = case.stage_started_at
    elif action == "rate":
        case.rating = cmd.rating
        data["rating"] = cmd.rating
    elif action == "reopen":
        case.closed_at = None
    elif action == "overdue":
        case.stage_overdue = case.ever_overdue = True
        data.update(
            stage=case.stage, due_at=case.stage_due_at.isoformat() if case.stage_due_at else None
        )
    elif action == "reject_duplicate":
        data["rejected_case_id"], case.duplicate_of = case.duplicate_of, None
    elif action == "amend":
        from cityops.service.intake import amend_case  # local: intake imports this module

        amend_case(case, snap, data, now)


def _lock_case(session: Session, case_id: int) -> CaseRow:
    case = session.scalars(
        select(CaseRow).where(CaseRow.id == case_id).with_for_update()
    ).one_or_none()
    if case is None:
        raise NotFound(f"case {case_id} not found", case_id=case_id)
    return case


def act(
    app: App,
    case_id: int,
    principal: Principal,
    cmd: Command,
    idempotency_key: str | None = None,
) -> Outcome:
    """Take one workflow step on a case for a caller, in its own transaction."""
    snap = app.reference.get()
    now = app.clock()
    with app.sessions.begin() as session:
        if cmd.action == "merge":
            # Both cases get locked: always the lower id first, so that two opposite merges
            # wait for each other instead of deadlocking.
            other = dedupe.target_id(session, cmd.data.get("into"))
            if other is not None and other < case_id:
                _lock_case(session, other)
        case = _lock_case(session, case_id)
        ensure_can_act(case, principal)
        if idempotency_key:
            seen = session.scalars(
                select(CaseEventRow).where(
                    CaseEventRow.case_id == case_id, CaseEventRow.correlation_id == idempotency_key
                )
            ).first()
            if seen is not None:
                return Outcome(
                    case.id,
                    case.case_no,
                    seen.action,
                    seen.from_state,
                    seen.to_state,
                    seen.seq,
                    replayed=True,
                )
        event = apply_transition(session, snap, case, principal, cmd, now, idempotency_key)
        outcome = Outcome(
            case.id, case.case_no, cmd.action, event.from_state, event.to_state, event.seq
        )
        payload = _payload(case, event)
    app.bus.publish(Event(EVENT_NAMES[cmd.action], now, payload, idempotency_key))
    return outcome


def _payload(case: CaseRow, event: CaseEventRow) -> dict[str, Any]:
    return {
        "case_id": case.id,
        "case_no": case.case_no,
        "action": event.action,
        "from_state": event.from_state,
        "to_state": event.to_state,
        "category": case.category,
        "grid_code": case.grid_code,
        "department_id": case.department_id,
        "seq": event.seq,
        **({"into": event.data.get("into")} if event.action == "merge" else {}),
    }
