"""Read side: case lists with filters, case detail with its timeline — always scoped."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, String, cast, exists, func, or_, select
from sqlalchemy.orm import Session, aliased

from cityops.adapters.db.models import CaseEventRow, CaseRow, ReportRow, UserRow
from cityops.bootstrap import App
from cityops.domain.errors import NotFound, ValidationFailed
from cityops.domain.model import STATE_LABELS_ZH, TERMINAL_STATES, CaseState, Role
from cityops.domain.workflow import BY_ACTION, Actor, offered_actions
from cityops.service.access import can_see, visible_cases
from cityops.service.deadlines import clock_view
from cityops.service.lifeline.queries import case_part as lifeline_case_part
from cityops.service.principal import Principal
from cityops.service.reference import Snapshot
from cityops.service.routing import owner_dispatch
from cityops.service.workflow import case_view


def mask_name(name: str | None) -> str | None:
    if not name:
        return name
    return name[0] + "*" * max(len(name) - 1, 1)


def mask_phone(phone: str | None) -> str | None:
    if not phone:
        return phone
    return phone[:3] + "****" + phone[-4:] if len(phone) >= 8 else "*" * len(phone)


@dataclass(frozen=True, slots=True)
class CaseFilter:
    state: list[str] | None = None
    category: str | None = None
    area: str | None = None  # region code prefix
    department_id: int | None = None
    channel: str | None = None
    overdue: bool | None = None
    created_from: datetime | None = None
    created_to: datetime | None = None
    text: str | None = None
    triage: str | None = None  # "locate" or "classify": the manual queues
    suggested: bool | None = None  # open cases with an undecided 并案 suggestion (or without)
    extension_pending: bool | None = None  # a 延期 request waits for the shift leader
    returned: bool | None = None  # 回退: returned by a department and not dispatched since
    supervised: bool | None = None  # 督办: a commander or shift leader has pressed on it

    def clauses(self) -> list[ColumnElement[bool]]:
        out: list[ColumnElement[bool]] = []
        if self.state:
            bad = [s for s in self.state if s not in CaseState.__members__.values()]
            if bad:
                raise ValidationFailed(f"unknown state {bad[0]}", field="state")
            out.append(CaseRow.state.in_(self.state))
        if self.category:
            key = self.category
            out.append(
                CaseRow.category == key if len(key) == 5 else CaseRow.category.startswith(key)
            )
        if self.area:
            out.append(CaseRow.grid_code.startswith(self.area))
        if self.department_id is not None:
            out.append(CaseRow.department_id == self.department_id)
        if self.channel:
            out.append(CaseRow.channel == self.channel)
        if self.overdue is not None:
            out.append(CaseRow.stage_overdue.is_(self.overdue))
        if self.created_from:
            out.append(CaseRow.created_at >= self.created_from)
        if self.created_to:
            out.append(CaseRow.created_at < self.created_to)
        if self.triage:
            out.append(CaseRow.triage == self.triage)
        if self.suggested is not None:
            pending = CaseRow.duplicate_of.is_not(None) & CaseRow.state.not_in(
                [s.value for s in TERMINAL_STATES]
            )
            out.append(pending if self.suggested else ~pending)
        if self.extension_pending is not None:
            out.append(_extension_pending() if self.extension_pending else ~_extension_pending())
        if self.returned is not None:
            out.append(_returned() if self.returned else ~_returned())
        if self.supervised is not None:
            out.append(_has_event("supervise") if self.supervised else ~_has_event("supervise"))
        if self.text:
            like = f"%{self.text}%"
            out.append(
                or_(
                    CaseRow.title.like(like),
                    CaseRow.description.like(like),
                    CaseRow.address.like(like),
                    CaseRow.case_no.like(like),
                )
            )
        return out


def _extension_pending() -> ColumnElement[bool]:
    # Settled requests leave JSON null behind (not SQL NULL), on SQLite and PostgreSQL alike.
    return func.coalesce(cast(CaseRow.extension, String), "null") != "null"


def _has_event(action: str) -> ColumnElement[bool]:
    e = aliased(CaseEventRow)
    return exists().where(e.case_id == CaseRow.id, e.action == action)


def _returned() -> ColumnElement[bool]:
    """The last 回退 is later than the last 派遣/改派: the case waits to be dispatched again."""
    r = aliased(CaseEventRow)
    last_return = (
        select(func.max(r.seq)).where(r.case_id == CaseRow.id, r.action == "return")
    ).scalar_subquery()
    d = aliased(CaseEventRow)
    dispatched_since = exists().where(
        d.case_id == CaseRow.id, d.action.in_(("dispatch", "redispatch")), d.seq > last_return
    )
    return _has_event("return") & ~dispatched_since


def summary(case: CaseRow, snap: Snapshot, principal: Principal, now: datetime) -> dict[str, Any]:
    cat = snap.categories.get(case.category or "")
    dept = snap.departments_by_id.get(case.department_id or -1)
    personal = principal.sees_personal_data
    return {
        "id": case.id,
        "case_no": case.case_no,
        "state": case.state,
        "state_label": STATE_LABELS_ZH[CaseState(case.state)],
        "channel": case.channel,
        "category": case.category,
        "category_name": cat.name if cat else None,
        "urgency": case.urgency,
        "priority": case.priority,
        "level": case.level,
        "title": case.title,
        "address": case.address,
        "lon": case.lon,
        "lat": case.lat,
        "grid_code": case.grid_code,
        "grid_name": snap.region_names.get(case.grid_code or ""),
        "street_code": case.street_code,
        "department_id": case.department_id,
        "department_name": dept.name if dept else None,
        "created_at": case.created_at.isoformat(),
        "updated_at": case.updated_at.isoformat(),
        "closed_at": case.closed_at.isoformat() if case.closed_at else None,
        "clock": clock_view(case, snap.calendar, now),
        "overdue": case.stage_overdue,
        "warnings": case.warnings or [],
        "reporter_name": case.reporter_name if personal else mask_name(case.reporter_name),
        "reporter_phone": case.reporter_phone if personal else mask_phone(case.reporter_phone),
        "rating": case.rating,
        "triage": case.triage,
        "location": case.location,
        "component_code": case.component_code,
        "report_count": case.report_count,
        "duplicate_of": case.duplicate_of,  # a 并案 suggestion; once merged: the case it joined
    }


def list_cases(
    app: App, principal: Principal, flt: CaseFilter, limit: int = 50, offset: int = 0
) -> tuple[int, list[dict[str, Any]]]:
    snap, now = app.reference.get(), app.clock()
    where = [visible_cases(principal), *flt.clauses()]
    with app.reads() as s:
        total = s.scalar(select(func.count()).select_from(CaseRow).where(*where)) or 0
        rows = s.scalars(
            select(CaseRow).where(*where).order_by(CaseRow.id.desc()).limit(limit).offset(offset)
        ).all()
        return total, [summary(c, snap, principal, now) for c in rows]


def _load_visible(s: Session, case_id: int, principal: Principal) -> CaseRow:
    case = s.get(CaseRow, case_id)
    past = set(
        s.scalars(
            select(CaseEventRow.department_id).where(
                CaseEventRow.case_id == case_id, CaseEventRow.department_id.is_not(None)
            )
        ).all()
    )
    if case is None or not can_see(case, principal, {d for d in past if d is not None}):
        raise NotFound(f"case {case_id} not found", case_id=case_id)
    return case


def case_detail(app: App, principal: Principal, case_id: int) -> dict[str, Any]:
    snap, now = app.reference.get(), app.clock()
    with app.reads() as s:
        case = _load_visible(s, case_id, principal)
        events = s.scalars(
            select(CaseEventRow).where(CaseEventRow.case_id == case_id).order_by(CaseEventRow.seq)
        ).all()
        names = {i: n for i, n in s.execute(select(UserRow.id, UserRow.display_name))}
        reports = s.scalars(select(ReportRow).where(ReportRow.case_id == case_id)).all()
        out = summary(case, snap, principal, now)
        view = case_view(case, now)
        actor = Actor(principal.user_id, principal.role, principal.department_ids)
        out.update(
            description=case.description,
            routing=case.routing,
            classification=case.classification,  # the machine's category decision and why
            extension=case.extension,
            allowed_actions=[
                {"action": a, "label": BY_ACTION[a].label_zh} for a in offered_actions(view, actor)
            ],
            timeline=[_event(e, snap, names, principal, case.routing) for e in events],
            **_duplicate(s, case, events),
            **lifeline_case_part(s, case_id),  # alarms behind the case, emergency plan steps
            reports=[
                {
                    "channel": r.channel,
                    "source_id": r.source_id,
                    "received_at": r.received_at.isoformat(),
                    "raw": r.raw if principal.sees_personal_data else None,
                }
                for r in reports
            ],
        )
        return out


def _duplicate(s: Session, case: CaseRow, events: Sequence[CaseEventRow]) -> dict[str, Any]:
    """The pending 并案 suggestion with its scores, or the case this one was merged into."""
    if case.duplicate_of is None:
        return {}
    other = s.get(CaseRow, case.duplicate_of)
    ref = {"case_id": case.duplicate_of, "case_no": other.case_no if other else None,
           "state": other.state if other else None}  # fmt: skip
    if case.state == CaseState.MERGED:
        return {"merged_into": ref}
    scores: dict[str, Any] = next((e.data["duplicate_suggestion"] for e in events
                   if e.action == "submit" and "duplicate_suggestion" in e.data), {})  # fmt: skip
    return {"duplicate_suggestion": {**scores, **ref}}


def _why_owner(e: CaseEventRow, routing: dict[str, Any] | None) -> dict[str, Any]:
    """A dispatch that followed an owner routing says it went to the owner (its stored ``why``
    is the routing's explanation, which reads as the responsibility list's proposal)."""
    why = e.data.get("why") if e.action in ("dispatch", "redispatch") else None
    owner = owner_dispatch(routing) if why and why == (routing or {}).get("explanation") else None
    return {**e.data, "why": owner} if owner else e.data


# Log entries that are no transition (lifeline alarms and plans note themselves on cases).
_LOG_LABELS = {"submit": "上报", "merge_report": "并案上报", "plan_attached": "启动应急预案",
               "plan_step": "预案步骤完成", "alarm_escalated": "告警升级",
               "alarm_reraised": "告警再次触发", "alarm_cleared": "告警解除",
               "alarm_joined": "关联告警", "case_level": "案卷升级"}  # fmt: skip


def _event(
    e: CaseEventRow, snap: Snapshot, names: dict[int, str], principal: Principal,
    routing: dict[str, Any] | None = None,
) -> dict[str, Any]:
    dept = snap.departments_by_id.get(e.department_id or -1)
    label = (
        BY_ACTION[e.action].label_zh
        if e.action in BY_ACTION
        else _LOG_LABELS.get(e.action, e.action)
    )
    actor = names.get(e.actor_id or -1, e.actor_role)
    if e.actor_role == Role.CITIZEN and not principal.sees_personal_data:
        actor = "市民"  # a citizen is personal data like the reporter fields
    return {
        "seq": e.seq,
        "action": e.action,
        "label": label,
        "from_state": e.from_state,
        "to_state": e.to_state,
        "at": e.at.isoformat(),
        "actor": actor,
        "actor_role": e.actor_role,
        "department": dept.name if dept else None,
        "note": e.note,
        "media": e.media,
        "data": _why_owner(e, routing),
        "correlation_id": e.correlation_id,
    }
