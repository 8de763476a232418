"""The citizen portal (市民随手拍, ``/citizen``): anonymous reports, tracking and 回访满意度.

Nobody signs in. A report is submitted for the portal (one idempotency key per submission, so a
double tap opens one case) and answered with a **tracking code**: an HMAC of the report's id
under the server's secret, shown once and kept by the citizen's browser. The case number alone
shows the public progress (the same steps Open311 publishes); number + code also shows that the
report is theirs and lets them rate the case once it is closed.

The rating goes through the workflow's ``rate`` step like the 回访 desk's callback (the acceptor
role, which the ``rate`` transition allows without a user id), with the report's id in the
event's data and the correlation id ``portal-rate:<report id>``: a report rates once, however
often it is sent. ``domain/evaluation.py`` counts those events as 满意度.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from datetime import datetime
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from cityops.adapters.db.models import CaseEventRow, CaseRow, CategoryRow, GazetteerRow, ReportRow
from cityops.bootstrap import App
from cityops.domain.errors import Conflict, NotFound, ValidationFailed
from cityops.domain.model import STATE_LABELS_ZH, TERMINAL_STATES, CaseState, Channel, Role
from cityops.domain.workflow import BY_ACTION, Command
from cityops.service import intake
from cityops.service.deadlines import clock_view
from cityops.service.open311.formats import redact
from cityops.service.open311.queries import PUBLIC_ACTIONS
from cityops.service.principal import Principal
from cityops.service.workflow import act

# Who submits for the portal (like an Open311 API key: the citizen channel only).
PORTAL = Principal(
    user_id=None, username="citizen-portal", role=Role.SYSTEM,
    channels=frozenset({Channel.CITIZEN}),
)  # fmt: skip
# Who records a verified reporter's rating: the 回访 desk's role, no user.
CALLBACK = Principal(user_id=None, username="citizen-portal", role=Role.ACCEPTOR)
CODE_LENGTH = 12
MAX_CHAIN = 5  # merged into a case that was merged into … (followed this far)


def tracking_code(app: App, report_id: int) -> str:
    """12 characters of base32 (60 bits): HMAC-SHA256 of the report id under the secret."""
    key = app.settings.secret_key.encode()
    mac = hmac.new(key, f"cityops-portal-track:{report_id}".encode(), hashlib.sha256).digest()
    return base64.b32encode(mac).decode()[:CODE_LENGTH]


def _normal_code(code: str | None) -> str | None:
    if not code:
        return None
    clean = re.sub(r"[^A-Za-z2-7]", "", code).upper()
    return clean if len(clean) == CODE_LENGTH else ""


def categories(app: App) -> list[dict[str, Any]]:
    """Active categories grouped by major class, with their plain words (keywords)."""
    with app.reads() as s:
        rows = s.scalars(
            select(CategoryRow).where(CategoryRow.active.is_(True))
            .order_by(CategoryRow.kind.desc(), CategoryRow.major_code, CategoryRow.key)
        ).all()  # fmt: skip
    groups: dict[str, dict[str, Any]] = {}
    for r in rows:
        key = f"{r.key[0]}{r.major_code}"
        group = groups.setdefault(key, {"code": key, "name": r.major_name, "kind": r.kind,
                                        "items": []})  # fmt: skip
        group["items"].append({
            "code": r.key, "name": r.name, "urgent": r.urgency == "urgent",
            "hint": r.filing_condition or "", "keywords": [str(k) for k in r.keywords or []][:8],
        })  # fmt: skip
    return list(groups.values())


def places(app: App, q: str, limit: int = 8) -> list[dict[str, Any]]:
    """Address search in the city's gazetteer (地名地址库): roads, places and door plates."""
    words = q.strip()
    if not words:
        return []
    like = f"%{words.replace('%', '').replace('_', '')}%"
    with app.reads() as s:
        rows = s.scalars(
            select(GazetteerRow)
            .where(or_(GazetteerRow.name.like(like), GazetteerRow.road.like(like)))
            .order_by(func.length(GazetteerRow.name), GazetteerRow.id)
            .limit(limit)
        ).all()
    return [
        {"name": r.name, "kind": r.kind, "district": r.district, "street": r.street,
         "lon": round(r.lon, 6), "lat": round(r.lat, 6)}
        for r in rows
    ]  # fmt: skip


def submit(app: App, fields: dict[str, Any], key: str, raw: str) -> dict[str, Any]:
    """An anonymous report; the same key again answers the same case and code."""
    source_id = f"portal:{key}"
    report = intake.ReportInput(
        channel=Channel.CITIZEN, source_id=source_id, raw=raw,
        description=fields["description"], category=fields["category"],
        lon=fields.get("lon"), lat=fields.get("lat"), address=fields.get("address"),
        media=tuple(fields.get("photos") or ()), reporter_name=fields.get("name"),
        reporter_phone=fields.get("phone"), extra={"portal": True},
    )  # fmt: skip
    result = intake.submit(app, report, PORTAL)
    code = tracking_code(app, result.report_id)
    return {"case_no": result.case_no, "state": result.state, "created": result.created,
            "merged": result.merged, "tracking_code": code}  # fmt: skip


def _case_by_no(s: Session, case_no: str) -> CaseRow:
    case = s.scalars(select(CaseRow).where(CaseRow.case_no == case_no.strip())).first()
    if case is None:
        raise NotFound(f"case {case_no} not found / 未找到案卷 {case_no}", field="case_no")
    return case


def _merged_into(s: Session, case: CaseRow) -> CaseRow | None:
    # A merge records its target in duplicate_of (service/dedupe.py), as 并案 follows it.
    if case.state != CaseState.MERGED.value or case.duplicate_of is None:
        return None
    return s.get(CaseRow, case.duplicate_of)


def _chain(s: Session, case_no: str) -> list[CaseRow]:
    """The case asked for, then each case it was merged into (并案), the live one last."""
    chain = [_case_by_no(s, case_no)]
    while len(chain) < MAX_CHAIN and (nxt := _merged_into(s, chain[-1])) is not None:
        chain.append(nxt)
    return chain


def _own_report(app: App, s: Session, chain: list[CaseRow], code: str | None) -> ReportRow | None:
    """The citizen's report in the chain that the code was issued for; None without a code."""
    clean = _normal_code(code)
    if clean is None:
        return None
    reports = s.scalars(
        select(ReportRow).where(ReportRow.case_id.in_([c.id for c in chain]))
    ).all()
    for r in reports:
        if hmac.compare_digest(tracking_code(app, r.id), clean or "-"):
            return r
    raise NotFound(
        "the case number and tracking code do not match / 案卷编号与查询码不匹配",
        field="tracking_code",
    )


def _when(at: datetime | None) -> str | None:
    return at.isoformat() if at else None


def track(app: App, case_no: str, code: str | None) -> dict[str, Any]:
    """Public progress of a case (following 并案), plus the citizen's own report with a code."""
    snap = app.reference.get()
    now = app.clock()
    with app.reads() as s:
        chain = _chain(s, case_no)
        mine = _own_report(app, s, chain, code)
        case = chain[-1]
        events = s.scalars(
            select(CaseEventRow)
            .where(
                CaseEventRow.case_id == case.id,
                CaseEventRow.action.in_([*PUBLIC_ACTIONS, "submit"]),
            )
            .order_by(CaseEventRow.seq)
        ).all()
        rated = None
        if mine is not None:
            rated = s.scalars(
                select(CaseEventRow).where(
                    CaseEventRow.case_id == case.id,
                    CaseEventRow.correlation_id == f"portal-rate:{mine.id}",
                )
            ).first()
        info = snap.categories.get(case.category or "")
        dept = snap.departments_by_id.get(case.department_id or -1)
        known = (case.reporter_name, case.reporter_phone)
        state = CaseState(case.state)
        closed = state in TERMINAL_STATES
        codes = (case.community_code, case.street_code, case.district_code)
        place = " ".join(reversed([snap.region_names[c] for c in codes
                                   if c and c in snap.region_names]))  # fmt: skip
        steps = [
            {"action": e.action, "label": BY_ACTION[e.action].label_zh if e.action in BY_ACTION
             else "上报", "at": e.at.isoformat(),
             "note": redact(e.note, *known) if e.action in ("close", "complete", "invalidate",
                                                            "refute", "merge") else None}
            for e in events
        ]  # fmt: skip
        answer: dict[str, Any] = {
            "case_no": case.case_no,
            "asked": chain[0].case_no,
            "merged_chain": [c.case_no for c in chain[:-1]],
            "state": state.value,
            "state_label": STATE_LABELS_ZH[state],
            "closed": closed,
            "category": case.category,
            "category_name": info.name if info else None,
            "place": place or None,
            "department": dept.name if dept else None,
            "report_count": case.report_count,
            "created_at": _when(case.created_at),
            "closed_at": _when(case.closed_at),
            "clock": None if closed else clock_view(case, snap.calendar, now),
            "steps": steps,
            "mine": None,
        }
        if mine is not None:
            answer["mine"] = {
                "received_at": _when(mine.received_at),
                "merged": mine.merged or len(chain) > 1,
                "rating": (rated.data or {}).get("rating") if rated else None,
                "rated_at": _when(rated.at) if rated else None,
                "can_rate": rated is None and state is CaseState.CLOSED,
            }
    return answer


def rate(app: App, case_no: str, code: str, rating: int, comment: str | None) -> dict[str, Any]:
    """回访满意度: once per report, after the case it belongs to is closed."""
    if not 1 <= rating <= 5:
        raise ValidationFailed("a rating from 1 to 5 is required / 需要 1–5 分评价", field="rating")
    with app.reads() as s:
        chain = _chain(s, case_no)
        mine = _own_report(app, s, chain, code)
        case_id, state = chain[-1].id, chain[-1].state
    if mine is None:
        raise ValidationFailed("the tracking code is required / 需要查询码", field="tracking_code")
    if state != CaseState.CLOSED.value:
        raise Conflict(
            "the case is not closed yet: rate it once it is / 案件尚未办结，办结后才能评价",
            reason="not_closed", state=state,
        )  # fmt: skip
    note = (comment or "").strip() or None
    cmd = Command(action="rate", rating=rating, note=note,
                  data={"report_id": mine.id, "via": "citizen_portal"})  # fmt: skip
    outcome = act(app, case_id, CALLBACK, cmd, f"portal-rate:{mine.id}")
    if outcome.replayed:
        raise Conflict(
            "you have already rated this case, thank you / 您已评价过该案件，感谢您的反馈",
            reason="already_rated",
        )
    return {"case_no": outcome.case_no, "rating": rating, "rated": True}
