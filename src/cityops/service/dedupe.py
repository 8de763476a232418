"""并案 at intake: a report about an open case joins it instead of opening a second one."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from cityops.adapters.db.models import CaseRow, ReportRow
from cityops.domain.coords import M_PER_DEG_LAT
from cityops.domain.dedupe import Candidate, DedupePolicy, Match, best_match
from cityops.domain.model import TERMINAL_STATES
from cityops.service.principal import Principal
from cityops.service.workflow import record_event

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
    if not category or lon is None or lat is None:
        return None
    reach = policy.distance_for(category)
    dlat = reach / M_PER_DEG_LAT
    dlon = dlat * 1.25  # generous at China's latitudes; best_match measures exactly
    rows = session.execute(
        select(CaseRow.id, CaseRow.category, CaseRow.lon, CaseRow.lat, CaseRow.created_at,
               CaseRow.description)
        .where(
            CaseRow.category.startswith(category[:3]),
            CaseRow.state.not_in(_CLOSED),
            CaseRow.created_at >= now - policy.window_for(category),
            CaseRow.lon.between(lon - dlon, lon + dlon),
            CaseRow.lat.between(lat - dlat, lat + dlat),
        )
    ).all()  # fmt: skip
    candidates = [Candidate(r.id, r.category or "", r.lon, r.lat, r.created_at, r.description)
                  for r in rows]  # fmt: skip
    return best_match(category, lon, lat, now, text, candidates, policy)


def attach_report(
    session: Session,
    match: Match,
    report_values: dict[str, Any],
    principal: Principal,
    now: datetime,
    media: tuple[str, ...],
) -> CaseRow:
    """Add the report to the case it repeats; the case's log says so (并案上报)."""
    case = session.scalars(
        select(CaseRow).where(CaseRow.id == match.case_id).with_for_update()
    ).one()
    session.add(ReportRow(**{**report_values, "case_id": case.id, "merged": True}))
    case.report_count += 1
    record_event(
        session, case, action="merge_report", from_state=case.state, principal=principal,
        now=now, media=media,
        data={"channel": report_values["channel"], "source_id": report_values["source_id"],
              "match": match.as_dict()},
    )  # fmt: skip
    return case
