"""并案: a report about an open case joins it instead of opening a second one.

At intake this happens automatically (a close match) or is suggested (a likely one); by hand,
the ``merge`` step moves a duplicate case's reports to the case that is being worked on.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from cityops.adapters.db.models import CaseRow, ReportRow
from cityops.domain.coords import M_PER_DEG_LAT
from cityops.domain.dedupe import Candidate, DedupePolicy, Match, best_match
from cityops.domain.errors import ValidationFailed
from cityops.domain.model import TERMINAL_STATES, CaseState
from cityops.domain.workflow import MergeTarget
from cityops.service.access import can_see
from cityops.service.caselog import record_event
from cityops.service.principal import Principal

# Incidents that spread along a road are one incident over a longer stretch.
DEFAULT_POLICY = DedupePolicy(
    distance_by_category={"E0402": 300.0, "E0405": 300.0, "E0401": 150.0},
    window_by_category={"E0405": timedelta(hours=12)},
)
_CLOSED = [s.value for s in TERMINAL_STATES]


def find_duplicate(
    session: Session,
    category: str | None,
    lon: float | None,
    lat: float | None,
    text: str,
    now: datetime,
    policy: DedupePolicy = DEFAULT_POLICY,
) -> Match | None:
    """The open case this report most likely repeats (并案), if any is near enough."""
    pool = CandidatePool.load(session, [(category, lon, lat)], now, policy)
    return pool.find(category, lon, lat, text, now)


# Built once: on the intake hot path, building the statement cost more than running it.
_OPEN_IN_BOX = select(
    CaseRow.id, CaseRow.category, CaseRow.lon, CaseRow.lat, CaseRow.created_at,
    CaseRow.description,
).where(
    CaseRow.category.is_not(None),
    CaseRow.state.not_in(_CLOSED),
    CaseRow.created_at >= bindparam("since"),
    CaseRow.lon.between(bindparam("lon0"), bindparam("lon1")),
    CaseRow.lat.between(bindparam("lat0"), bindparam("lat1")),
)  # fmt: skip


class CandidatePool:
    """The open cases a batch of reports (or one report) may repeat, read with one query;
    :meth:`find` then picks each report's best match."""

    def __init__(self, rows: list[Candidate], policy: DedupePolicy) -> None:
        self.policy = policy
        self._by_major: dict[str, list[Candidate]] = {}
        for c in rows:
            self._by_major.setdefault(c.category[:3], []).append(c)

    @classmethod
    def load(
        cls,
        session: Session,
        probes: list[tuple[str | None, float | None, float | None]],
        now: datetime,
        policy: DedupePolicy = DEFAULT_POLICY,
    ) -> CandidatePool:
        placed = [(c, x, y) for c, x, y in probes if c and x is not None and y is not None]
        if not placed:
            return cls([], policy)
        reach = max(policy.distance_for(c) for c, _, _ in placed) / M_PER_DEG_LAT
        window = max(policy.window_for(c) for c, _, _ in placed)
        xs = [x for _, x, _ in placed]
        ys = [y for _, _, y in placed]
        rows = session.connection().execute(_OPEN_IN_BOX, {
            "since": now - window, "lon0": min(xs) - reach * 1.25, "lon1": max(xs) + reach * 1.25,
            "lat0": min(ys) - reach, "lat1": max(ys) + reach,
        }).all()  # fmt: skip
        majors = {c[:3] for c, _, _ in placed}
        return cls([Candidate(r.id, r.category, r.lon, r.lat, r.created_at, r.description)
                    for r in rows if r.category[:3] in majors], policy)  # fmt: skip

    def find(
        self, category: str | None, lon: float | None, lat: float | None, text: str, now: datetime
    ) -> Match | None:
        if not category or lon is None or lat is None:
            return None
        reach = self.policy.distance_for(category)
        dlat = reach / M_PER_DEG_LAT
        dlon = dlat * 1.25
        since = now - self.policy.window_for(category)
        near = [
            c for c in self._by_major.get(category[:3], ())
            if abs(c.lon - lon) <= dlon and abs(c.lat - lat) <= dlat and c.created_at >= since
        ]  # fmt: skip
        return best_match(category, lon, lat, now, text, near, self.policy)


def attach_report(
    session: Session,
    match: Match,
    report_values: dict[str, Any],
    principal: Principal,
    now: datetime,
    media: tuple[str, ...],
) -> CaseRow:
    """Add the report to the case it repeats; the case's log says so (并案上报)."""
    case = _locked(session, match.case_id)
    while case.state == CaseState.MERGED and case.duplicate_of is not None:
        case = _locked(session, case.duplicate_of)  # merged by hand since it was matched
    session.add(ReportRow(**{**report_values, "case_id": case.id, "merged": True}))
    case.report_count += 1
    record_event(
        session, case, action="merge_report", from_state=case.state, principal=principal,
        now=now, media=media,
        data={"channel": report_values["channel"], "source_id": report_values["source_id"],
              "match": match.as_dict()},
    )  # fmt: skip
    return case


def _locked(session: Session, case_id: int) -> CaseRow:
    return session.scalars(select(CaseRow).where(CaseRow.id == case_id).with_for_update()).one()


def target_id(session: Session, case_no: str | None) -> int | None:
    """The id behind a case number, unlocked: lets the caller lock both cases in id order."""
    if not case_no:
        return None
    return session.scalar(select(CaseRow.id).where(CaseRow.case_no == case_no))


def find_target(
    session: Session, case: CaseRow, principal: Principal, case_no: str | None
) -> tuple[CaseRow, MergeTarget]:
    """The case to merge into, locked; unknown or out-of-scope numbers are input errors."""
    if not case_no or not str(case_no).strip():
        raise ValidationFailed("give the case number to merge into / 需要并入的案卷编号",
                               field="into")  # fmt: skip
    no = str(case_no).strip()
    found = target_id(session, no)
    target = _locked(session, found) if found is not None else None
    if target is None or not can_see(target, principal, set()):
        raise ValidationFailed(f"case {no} not found / 案卷 {no} 不存在", field="into")
    if target.id == case.id:
        raise ValidationFailed("a case cannot be merged into itself / 不能并入自身",
                               field="into")  # fmt: skip
    holder = None
    if target.state == CaseState.MERGED and target.duplicate_of is not None:
        holder = session.scalar(select(CaseRow.case_no).where(CaseRow.id == target.duplicate_of))
    return target, MergeTarget(no, CaseState(target.state), holder)


def move_reports(
    session: Session,
    duplicate: CaseRow,
    target: CaseRow,
    principal: Principal,
    now: datetime,
    data: dict[str, Any],
) -> None:
    """并案 by hand: the duplicate's reports, with their reporters, now belong to the target."""
    reports = session.scalars(
        select(ReportRow).where(ReportRow.case_id == duplicate.id).order_by(ReportRow.id)
    ).all()
    for report in reports:
        report.case_id, report.merged = target.id, True
    target.report_count += len(reports)
    duplicate.report_count = 0
    duplicate.duplicate_of = target.id  # the suggestion, or the choice, is now the fact
    if target.duplicate_of == duplicate.id:
        target.duplicate_of = None  # its suggestion pointed the other way: decided now
    source = {"case_id": duplicate.id, "case_no": duplicate.case_no}
    for report in reports:
        record_event(
            session, target, action="merge_report", from_state=target.state,
            principal=principal, now=now,
            data={"channel": report.channel, "source_id": report.source_id, "from": source},
        )  # fmt: skip
    data.update(into_case_id=target.id, into=target.case_no, reports=len(reports))
