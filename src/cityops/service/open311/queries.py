"""Open311 GET requests and servicerequestupdates: public steps only, personal data masked."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta, tzinfo
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from cityops.adapters.db.models import CaseEventRow, CaseRow
from cityops.bootstrap import App
from cityops.domain.errors import NotFound, ValidationFailed
from cityops.domain.model import STATE_LABELS_ZH, TERMINAL_STATES, CaseState
from cityops.domain.workflow import BY_ACTION
from cityops.service.open311.formats import parse_w3c, redact, service_notice, w3c
from cityops.service.open311.photos import public_media
from cityops.service.open311.services import check_jurisdiction
from cityops.service.reference import Snapshot

MAX_SPAN = timedelta(days=90)  # the spec's default and largest date window
MAX_RESULTS = 1000
# Workflow steps a citizen may follow; 督办, 延期, 升级, 超期, 补正 and 评价 stay internal.
PUBLIC_ACTIONS = frozenset({
    "accept", "invalidate", "verify", "refute", "fast_track", "open", "dispatch", "redispatch",
    "start", "return", "complete", "check_pass", "check_fail", "close", "suspend", "resume",
    "reopen", "merge",
})  # fmt: skip
_CLOSED = [s.value for s in TERMINAL_STATES]


def window(
    start: datetime | None, end: datetime | None, now: datetime
) -> tuple[datetime, datetime]:
    if start is None and end is None:
        return now - MAX_SPAN, now
    start = start or (end - MAX_SPAN if end else None)
    end = end or (start + MAX_SPAN if start else None)
    assert start is not None and end is not None
    if end < start:
        raise ValidationFailed("end_date is before start_date", field="end_date")
    if end - start > MAX_SPAN:
        raise ValidationFailed("start_date and end_date may not span more than 90 days")
    return start, end


def _csv(p: Mapping[str, str], name: str) -> tuple[str, ...]:
    return tuple(x.strip() for x in p.get(name, "").split(",") if x.strip())


def find_requests(app: App, p: Mapping[str, str], base_url: str) -> list[dict[str, Any]]:
    """GET requests: service_request_id overrides every other filter; newest first, ≤ 1000."""
    tz = app.settings.tz
    check_jurisdiction(app, p.get("jurisdiction_id"))
    ids, codes, statuses = _csv(p, "service_request_id"), _csv(p, "service_code"), _csv(p, "status")
    if len(ids) > MAX_RESULTS:
        raise ValidationFailed(f"at most {MAX_RESULTS} service_request_id values")
    bad = [s for s in statuses if s.lower() not in ("open", "closed")]
    if bad:
        raise ValidationFailed(f"status must be open or closed, not {bad[0]}", field="status")
    stmt = select(CaseRow)
    if ids:
        stmt = stmt.where(CaseRow.case_no.in_(ids))
    else:
        start, end = window(
            parse_w3c("start_date", p.get("start_date"), tz),
            parse_w3c("end_date", p.get("end_date"), tz),
            app.clock(),
        )
        stmt = stmt.where(CaseRow.created_at >= start, CaseRow.created_at <= end)
        if codes:
            stmt = stmt.where(CaseRow.category.in_(codes))
        wanted = {s.lower() for s in statuses}
        if len(wanted) == 1:
            closed = CaseRow.state.in_(_CLOSED)
            stmt = stmt.where(closed if "closed" in wanted else ~closed)
    stmt = stmt.order_by(CaseRow.created_at.desc(), CaseRow.id.desc()).limit(MAX_RESULTS)
    with app.reads() as s:
        cases = s.scalars(stmt).all()
        events = _public_events(s, [c.id for c in cases])
    snap = app.reference.get()
    return [_request(c, events.get(c.id, []), snap, tz, base_url) for c in cases]


def find_request(app: App, service_request_id: str, p: Mapping[str, str],
                 base_url: str) -> list[dict[str, Any]]:  # fmt: skip
    found = []
    if "," not in service_request_id:
        found = find_requests(app, {**p, "service_request_id": service_request_id}, base_url)
    if not found:
        raise NotFound(f"service_request_id {service_request_id} not found")
    return found


def _public_events(s: Session, case_ids: list[int]) -> dict[int, list[CaseEventRow]]:
    out: dict[int, list[CaseEventRow]] = {}
    for i in range(0, len(case_ids), 500):
        stmt = (
            select(CaseEventRow)
            .where(
                CaseEventRow.case_id.in_(case_ids[i : i + 500]),
                CaseEventRow.action.in_([*PUBLIC_ACTIONS, "submit"]),
            )
            .order_by(CaseEventRow.case_id, CaseEventRow.seq)
        )
        for e in s.scalars(stmt):
            out.setdefault(e.case_id, []).append(e)
    return out


def _place_name(case: CaseRow, snap: Snapshot) -> str | None:
    codes = (case.grid_code, case.community_code, case.street_code, case.district_code)
    names = [snap.region_names[c] for c in codes if c and c in snap.region_names]
    return ", ".join(names) or None


def _request(case: CaseRow, events: list[CaseEventRow], snap: Snapshot, tz: tzinfo,
             base_url: str) -> dict[str, Any]:  # fmt: skip
    state = CaseState(case.state)
    closed = state in TERMINAL_STATES
    info = snap.categories.get(case.category or "")
    dept = snap.departments_by_id.get(case.department_id or -1)
    known = (case.reporter_name, case.reporter_phone)
    latest = events[-1] if events and events[-1].action != "submit" else None
    note = redact(latest.note, *known) if latest else None
    media = public_media(events[0] if events else None, base_url)
    return {
        "service_request_id": case.case_no,
        "status": "closed" if closed else "open",
        "status_notes": note or f"{STATE_LABELS_ZH[state]} / {state.value}",
        "service_name": info.name if info else None,
        "service_code": case.category,
        "description": redact(case.description, *known),
        "agency_responsible": dept.name if dept else None,
        "service_notice": service_notice(info),
        "requested_datetime": w3c(case.created_at, tz),
        "updated_datetime": w3c(case.closed_at or case.updated_at, tz),
        "expected_datetime": None if closed else w3c(case.stage_due_at, tz),
        "address": redact(case.address, *known) or _place_name(case, snap),
        "address_id": case.grid_code,
        "zipcode": None,
        "lat": case.lat,
        "long": case.lon,
        "media_url": media[0] if media else None,
    }


def find_updates(app: App, p: Mapping[str, str], base_url: str) -> list[dict[str, Any]]:
    """servicerequestupdates: the public steps of every case in the window, oldest first."""
    tz = app.settings.tz
    check_jurisdiction(app, p.get("jurisdiction_id"))
    start, end = window(
        parse_w3c("start_date", p.get("start_date"), tz),
        parse_w3c("end_date", p.get("end_date"), tz),
        app.clock(),
    )
    stmt = (
        select(CaseEventRow, CaseRow.case_no, CaseRow.reporter_name, CaseRow.reporter_phone)
        .join(CaseRow, CaseRow.id == CaseEventRow.case_id)
        .where(
            CaseEventRow.at >= start,
            CaseEventRow.at <= end,
            CaseEventRow.action.in_(PUBLIC_ACTIONS),
        )
        .order_by(CaseEventRow.at, CaseEventRow.id)
        .limit(MAX_RESULTS)
    )
    snap = app.reference.get()
    out = []
    with app.reads() as s:
        for e, case_no, name, phone in s.execute(stmt):
            label = BY_ACTION[e.action].label_zh
            dept = snap.departments_by_id.get(e.department_id or -1)
            if e.action in ("dispatch", "redispatch") and dept:
                label = f"{label}：{dept.name}"
            out.append({
                "update_id": f"{e.case_id}-{e.seq}",
                "service_request_id": case_no,
                "status": "closed" if e.to_state in _CLOSED else "open",
                "updated_datetime": w3c(e.at, tz),
                "description": redact(e.note, name, phone) or label,
                "media_url": None,  # staff photos are internal
            })  # fmt: skip
    return out
