"""Intake (感知 → 上报): every channel's report becomes one unified report and a case.

The raw payload is kept verbatim; (channel, source_id) is the idempotency key, so a resubmitted
report returns the case it made the first time and never a second one.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, bindparam, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from cityops.adapters.db.ids import allocate_ids
from cityops.adapters.db.models import CaseEventRow, CaseRow, ReportRow
from cityops.bootstrap import App
from cityops.domain.dedupe import Match
from cityops.domain.errors import ValidationFailed
from cityops.domain.model import CaseState, Channel, Urgency
from cityops.domain.workflow import EVENT_NAMES, Command
from cityops.service import deadlines
from cityops.service.bus import Event
from cityops.service.classifying import Classification, report_text
from cityops.service.dedupe import (
    DEFAULT_POLICY,
    CandidatePool,
    attach_report,
    find_duplicate,
)
from cityops.service.locating import Place, Where, locate, locate_batch, set_place
from cityops.service.principal import SYSTEM, Principal
from cityops.service.reference import Snapshot
from cityops.service.routing import route, route_to_owner
from cityops.service.workflow import apply_transition

# Room for a channel's own 128-character id behind the submitting user's name (≤ 64).
SOURCE_ID_MAX = 200


@dataclass(frozen=True, slots=True)
class ReportInput:
    """What every channel adapter reduces its payload to."""

    channel: Channel
    source_id: str
    raw: str  # the payload exactly as received
    description: str
    category: str | None = None
    title: str | None = None
    lon: float | None = None
    lat: float | None = None
    grid_code: str | None = None
    address: str | None = None
    crs: str = "wgs84"  # of lon/lat: wgs84, gcj02, bd09 or cgcs2000 (converted at intake)
    component_code: str | None = None  # the 部件 the report is about, if the reporter knows it
    reporter_name: str | None = None
    reporter_phone: str | None = None
    reporter_user_id: int | None = None
    media: tuple[str, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)  # channel-specific facts (appeal type …)
    # The department owning what the report is about, when no 部件 says it (a lifeline asset's
    # alarm): routes to it; ``owned`` names the thing for the explanation.
    owner: str | None = None
    owned: str | None = None


@dataclass(frozen=True, slots=True)
class Submitted:
    case_id: int
    case_no: str
    state: str
    created: bool  # False: the idempotency key was seen before, or the report was merged
    merged: bool = False  # the report joined an open case about the same problem (并案)
    # The report the idempotency key names (the citizen portal's tracking code is its HMAC).
    report_id: int = field(kw_only=True)


def _check_category(snap: Snapshot, key: str | None) -> None:
    info = snap.categories.get(key or "")
    if key is not None and (info is None or not info.active):
        raise ValidationFailed(f"unknown category {key} / 未知分类", field="category")


def _check_component(snap: Snapshot, report: ReportInput) -> None:
    if report.component_code is None:
        return
    component = snap.components.get(report.component_code)
    if component is None:
        raise ValidationFailed(
            f"unknown component {report.component_code} / 未知部件", field="component_code"
        )
    if report.category and report.category != component.category:
        raise ValidationFailed(
            f"component {component.code} is a {component.name} ({component.category}), "
            f"not {report.category} / 部件类别不符",
            field="component_code",
        )


def amend_case(case: CaseRow, snap: Snapshot, data: dict[str, Any], now: datetime) -> None:
    """补正: a corrected category or location re-routes; the old values stay in the event."""
    if "category" in data:
        _check_category(snap, data["category"])
        data["old_category"], case.category = case.category, data["category"]
        info = snap.categories[case.category or ""]
        case.urgency = info.urgency.value
        suggested = [s["category"] for s in (case.classification or {}).get("suggestions", [])]
        if suggested:  # how good the machine's suggestions were, for the triage report
            data["suggestion_rank"] = (
                suggested.index(case.category) + 1 if case.category in suggested else None
            )
    if "location" in data:
        loc = data["location"]
        place = locate(snap, loc.get("lon"), loc.get("lat"), loc.get("grid_code"), None,
                       crs=loc.get("crs") or "wgs84")  # fmt: skip
        data["old_grid_code"] = case.grid_code
        set_place(case, place)
    route(case, snap, now, data.pop("_tz", None) or snap.calendar.tz)
    _settle_triage(case)
    data["routing"] = case.routing


def _settle_triage(case: CaseRow) -> None:
    """Which queue a case waits in: location first, then category, then routing."""
    if case.category is not None and case.triage == "classify":
        case.triage = None
    if case.category is None and case.triage is None:
        case.triage = "classify"


def _classify(
    app: App, snap: Snapshot, reports: list[ReportInput]
) -> list[tuple[ReportInput, Classification | None]]:
    """Give reports without a category (and no component to tell it) the model's category."""
    todo = [i for i, r in enumerate(reports) if r.category is None and r.component_code is None]
    out: list[tuple[ReportInput, Classification | None]] = [(r, None) for r in reports]
    if not todo:
        return out
    texts = [report_text(reports[i].title, reports[i].description) for i in todo]
    for i, decided in zip(todo, app.classifier.classify(snap, texts), strict=True):
        report = reports[i]
        out[i] = (replace(report, category=decided.category) if decided.category else report,
                  decided)  # fmt: skip
    return out


def _check(snap: Snapshot, report: ReportInput) -> None:
    """Everything but the place (which :func:`locate` checks, alone or for a batch)."""
    if not report.source_id or len(report.source_id) > SOURCE_ID_MAX:
        raise ValidationFailed(
            f"source_id (idempotency key) must be 1–{SOURCE_ID_MAX} characters", field="source_id"
        )
    if not report.description.strip():
        raise ValidationFailed("description is required / 需要问题描述", field="description")
    _check_category(snap, report.category)
    _check_component(snap, report)


def _validate(snap: Snapshot, report: ReportInput, min_confidence: float) -> Place:
    _check(snap, report)
    return locate(snap, report.lon, report.lat, report.grid_code, report.address,
                  crs=report.crs, min_confidence=min_confidence)  # fmt: skip


def _where(report: ReportInput) -> Where:
    return Where(report.lon, report.lat, report.grid_code, report.address, report.crs)


def submit(app: App, report: ReportInput, principal: Principal) -> Submitted:
    """Take one report in; create its case, or return the one its idempotency key made."""
    snap = app.reference.get()
    place = _validate(snap, report, app.settings.geocode_min_confidence)
    now = app.clock()
    key = (report.channel.value, report.source_id)
    try:
        with app.sessions.begin() as session:
            existing = _known(session, [report]).get(key)
            if existing is not None:
                return existing
            [(report, decided)] = _classify(app, snap, [report])
            match = _duplicate(session, snap, report, place, now)
            if match is not None and match.score >= DEFAULT_POLICY.merge_at:
                result, events = _merge(session, match, report, principal, now)
            else:
                [(case, report_id)], events = _insert_cases(
                    session, snap, [(report, place, match, decided)], principal, now, app
                )
                result = Submitted(case.id, case.case_no or "", case.state, True,
                                   report_id=report_id)  # fmt: skip
    except IntegrityError:
        # Another request with the same key won the race; answer with its case.
        with app.reads() as session:
            existing = _known(session, [report]).get(key)
        if existing is None:
            raise
        return existing
    _publish(app, now, events)
    return result


@dataclass(frozen=True, slots=True)
class Rejected:
    """A report of a batch that was refused, with the reason (nothing was written for it)."""

    source_id: str
    code: str
    message: str
    details: dict[str, Any]


def submit_batch(
    app: App, reports: list[ReportInput], principal: Principal
) -> list[Submitted | Rejected]:
    """Many reports in one transaction (a hotline system's sync, a bulk import).

    Each report is validated on its own: a bad one is answered with its reason and does not
    stop the others. Known idempotency keys return their cases, as with :func:`submit`.
    """
    snap, now = app.reference.get(), app.clock()
    results: list[Submitted | Rejected | None] = [None] * len(reports)
    checked: list[int] = []
    for i, report in enumerate(reports):
        try:
            _check(snap, report)
            checked.append(i)
        except ValidationFailed as exc:
            results[i] = Rejected(report.source_id, exc.code, exc.message, exc.details)
    located = locate_batch(snap, [_where(reports[i]) for i in checked],
                           min_confidence=app.settings.geocode_min_confidence)  # fmt: skip
    places: dict[int, Place] = {}
    for i, place in zip(checked, located, strict=True):
        if isinstance(place, ValidationFailed):
            results[i] = Rejected(reports[i].source_id, place.code, place.message, place.details)
        else:
            places[i] = place
    with app.reads() as session:
        known = _known(session, [reports[i] for i in places])
    fresh: dict[tuple[str, str], int] = {}  # first index of each new key in this batch
    for i in places:
        key = (reports[i].channel.value, reports[i].source_id)
        if key in known:
            results[i] = known[key]
        else:
            fresh.setdefault(key, i)
    events: list[tuple[str, dict[str, Any]]] = []
    new = list(fresh.values())
    decided = dict(zip(new, _classify(app, snap, [reports[i] for i in new]), strict=True))
    with app.sessions.begin() as session:
        order: list[int] = []
        matches: dict[int, Match | None] = {}
        categories = {i: _category(snap, decided[i][0]) for i in new}
        pool = CandidatePool.load(
            session, [(categories[i], places[i].lon, places[i].lat) for i in new], now
        )
        for i in new:
            report = decided[i][0]
            match = pool.find(categories[i], places[i].lon, places[i].lat, report.description,
                              now)  # fmt: skip
            if match is not None and match.score >= DEFAULT_POLICY.merge_at:
                results[i], merged = _merge(session, match, report, principal, now)
                events += merged
            else:
                order.append(i)
                matches[i] = match
        items = [(decided[i][0], places[i], matches[i], decided[i][1]) for i in order]
        cases, created = _insert_cases(session, snap, items, principal, now, app)
        events += created
        for i, (case, report_id) in zip(order, cases, strict=True):
            results[i] = Submitted(case.id, case.case_no or "", case.state, True,
                                   report_id=report_id)  # fmt: skip
    for i in places:
        if results[i] is None:  # a repeat of a key that is new in this very batch
            first = results[fresh[(reports[i].channel.value, reports[i].source_id)]]
            assert isinstance(first, Submitted)
            results[i] = Submitted(first.case_id, first.case_no, first.state, False,
                                   report_id=first.report_id)  # fmt: skip
    _publish(app, now, events)
    return [r for r in results if r is not None]


def _category(snap: Snapshot, report: ReportInput) -> str | None:
    component = snap.components.get(report.component_code or "")
    return report.category or (component.category if component else None)


def _duplicate(
    session: Session, snap: Snapshot, report: ReportInput, place: Place, now: datetime
) -> Match | None:
    category = _category(snap, report)
    return find_duplicate(session, category, place.lon, place.lat, report.description, now)


def _report_values(report: ReportInput, now: datetime) -> dict[str, Any]:
    return {
        "channel": report.channel.value, "source_id": report.source_id, "received_at": now,
        "raw": report.raw, "reporter_name": report.reporter_name,
        "reporter_phone": report.reporter_phone, "reporter_user_id": report.reporter_user_id,
        "merged": False, "alerts": 1, "last_alert_at": None,
    }  # fmt: skip


def _merge(
    session: Session, match: Match, report: ReportInput, principal: Principal, now: datetime
) -> tuple[Submitted, list[tuple[str, dict[str, Any]]]]:
    [report_id] = allocate_ids(session, _REPORTS, 1)
    case = attach_report(session, match, {**_report_values(report, now), "id": report_id},
                         principal, now, report.media)  # fmt: skip
    session.flush()  # on SQLite the next allocation is max(id) + 1: it must see this report
    result = Submitted(case.id, case.case_no or "", case.state, created=False, merged=True,
                       report_id=report_id)  # fmt: skip
    payload = {"case_id": case.id, "case_no": case.case_no, "channel": report.channel.value,
               **match.as_dict()}  # fmt: skip
    return result, [("ReportMerged", payload)]


def _publish(app: App, now: datetime, events: list[tuple[str, dict[str, Any]]]) -> None:
    for name, payload in events:
        app.bus.publish(Event(name, now, payload))


# Built once: constructing a statement costs more than running it on this hot path.
_KNOWN = (
    select(ReportRow.source_id, CaseRow.id, CaseRow.case_no, CaseRow.state, ReportRow.id)
    .join(CaseRow, ReportRow.case_id == CaseRow.id)
    .where(
        ReportRow.channel == bindparam("channel"),
        ReportRow.source_id.in_(bindparam("ids", expanding=True)),
    )
)


def _known(session: Session, reports: list[ReportInput]) -> dict[tuple[str, str], Submitted]:
    """The cases that these reports' idempotency keys already made."""
    keys = {(r.channel.value, r.source_id) for r in reports}
    found: dict[tuple[str, str], Submitted] = {}
    conn = session.connection()
    for channel in {c for c, _ in keys}:
        ids = [sid for c, sid in keys if c == channel]
        for source_id, case_id, case_no, state, report_id in conn.execute(
            _KNOWN, {"channel": channel, "ids": ids}
        ):
            found[(channel, source_id)] = Submitted(case_id, case_no or "", state, False,
                                                    report_id=report_id)  # fmt: skip
    return found


class CaseDraft:
    """A new case before it is written: CaseRow's columns as plain attributes.

    The intake hot path builds thousands of these; an ORM instance costs several times more
    to make and to read back for the INSERT. Routing and deadlines only read and set columns,
    so they take a draft as they take a row (:meth:`row`); ``values()`` is the INSERT's row.
    """

    def __init__(self, **values: Any) -> None:
        self.__dict__.update(dict.fromkeys(_CASE_COLUMNS), **values)

    def row(self) -> CaseRow:
        return cast(CaseRow, self)  # same attribute names and types, no session

    def values(self) -> dict[str, Any]:
        return self.__dict__


def _new_case(
    snap: Snapshot, report: ReportInput, place: Place, decided: Classification | None, now: datetime
) -> CaseDraft:
    category = _category(snap, report)
    info = snap.categories.get(category or "")
    title = report.title or (info.name if info else report.description[:40])
    draft = CaseDraft(
        state=CaseState.REPORTED.value,
        channel=report.channel.value,
        category=category,
        component_code=report.component_code,
        urgency=(info.urgency if info else Urgency.NORMAL).value,
        title=title[:200],
        description=report.description,
        address=report.address,
        reporter_user_id=report.reporter_user_id,
        reporter_name=report.reporter_name,
        reporter_phone=report.reporter_phone,
        created_at=now,
        updated_at=now,
        event_seq=0,
        warnings=[],
        priority="normal",
        level="street",
        stage_overdue=False,
        ever_overdue=False,
        report_count=1,
        classification=decided.record if decided else None,
    )
    case = draft.row()
    set_place(case, place)
    _settle_triage(case)
    return draft


_CASES = cast(Table, CaseRow.__table__)
_REPORTS = cast(Table, ReportRow.__table__)
_EVENTS = cast(Table, CaseEventRow.__table__)
_CASE_COLUMNS = [c.key for c in _CASES.columns]
_INSERT_CASES, _INSERT_REPORTS, _INSERT_EVENTS = insert(_CASES), insert(_REPORTS), insert(_EVENTS)


def _insert_cases(
    session: Session,
    snap: Snapshot,
    items: list[tuple[ReportInput, Place, Match | None, Classification | None]],
    principal: Principal,
    now: datetime,
    app: App,
) -> tuple[list[tuple[CaseRow, int]], list[tuple[str, dict[str, Any]]]]:
    """Insert the cases, their reports and first events with a few multi-row statements;
    answer each case with its report's id.

    This is the intake hot path, so it writes through the Core instead of the ORM unit of
    work; ids are allocated first so each case's number is known before it is written (and
    each report's, which the caller answers with).
    """
    if not items:  # an empty executemany would insert one row of NULLs
        return [], []
    tz = app.settings.tz
    ids = allocate_ids(session, _CASES, len(items))
    report_ids = allocate_ids(session, _REPORTS, len(items))
    drafts: list[CaseDraft] = []
    reports, events, published = [], [], []
    for case_id, report_id, (report, place, match, decided) in zip(ids, report_ids, items,
                                                                   strict=True):  # fmt: skip
        draft = _new_case(snap, report, place, decided, now)
        case = draft.row()
        suggestion = None
        if match is not None and match.score >= DEFAULT_POLICY.suggest_at:
            case.duplicate_of, suggestion = match.case_id, match.as_dict()
        case.id = case_id
        case.case_no = f"{now.astimezone(tz):%Y%m%d}{case_id:06d}"
        route(case, snap, now, tz)
        if report.owner:
            route_to_owner(case, snap, report.owner, report.owned or "")
        deadlines.start_stage(case, snap, now)
        case.event_seq = 1
        drafts.append(draft)
        reports.append({**_report_values(report, now), "id": report_id, "case_id": case_id})
        events.append({
            "case_id": case_id, "seq": 1, "action": "submit", "from_state": None,
            "to_state": case.state, "at": now, "actor_id": principal.user_id,
            "actor_role": principal.role.value, "department_id": None, "note": None,
            "media": list(report.media), "correlation_id": None,
            "data": {"channel": report.channel.value, "source_id": report.source_id,
                     **report.extra,
                     **({"duplicate_suggestion": suggestion} if suggestion else {}),
                     **({"classification": decided.record} if decided else {})},
        })  # fmt: skip
        published.append((EVENT_NAMES["submit"], {
            "case_id": case_id, "case_no": case.case_no, "channel": report.channel.value,
            "category": case.category, "grid_code": case.grid_code,
        }))  # fmt: skip
    conn = session.connection()  # Core statements skip the ORM session's per-call overhead
    conn.execute(_INSERT_CASES, [d.values() for d in drafts])
    conn.execute(_INSERT_REPORTS, reports)
    conn.execute(_INSERT_EVENTS, events)
    cases = [d.row() for d in drafts]
    urgent = {c.id: c for c in cases if c.urgency == Urgency.URGENT.value and c.grid_code}
    if urgent:
        fast, states = _fast_track(session, snap, list(urgent), now)
        published += fast
        for case_id, state in states.items():
            urgent[case_id].state = state
    return list(zip(cases, report_ids, strict=True)), published


def _fast_track(
    session: Session, snap: Snapshot, case_ids: list[int], now: datetime
) -> tuple[list[tuple[str, dict[str, Any]]], dict[int, str]]:
    """紧急事项快速通道: no verification wait, immediate dispatch by the responsibility list.

    The just-written urgent cases of a batch are loaded with one query and flushed once.
    """
    events: list[tuple[str, dict[str, Any]]] = []
    states: dict[int, str] = {}
    urgent = select(CaseRow).where(CaseRow.id.in_(case_ids)).order_by(CaseRow.id)
    for case in session.scalars(urgent):
        apply_transition(session, snap, case, SYSTEM, Command("fast_track"), now)
        events.append((EVENT_NAMES["fast_track"], {"case_id": case.id}))
        if case.routing:
            dispatch = Command(
                "dispatch", department_id=case.routing["department_id"],
                note=case.routing["explanation"],
            )  # fmt: skip
            apply_transition(session, snap, case, SYSTEM, dispatch, now)
            events.append(
                (EVENT_NAMES["dispatch"], {"case_id": case.id, "department_id": case.department_id})
            )
        states[case.id] = case.state
    session.flush()
    return events, states
