"""Reads: alarms (scoped like assets), one alarm with its log and the series around it, and
the lifeline part of a case's detail."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from cityops.adapters.db.alarm_models import AlarmEventRow, AlarmRow, CasePlanStepRow
from cityops.adapters.db.lifeline_models import LifelineAssetRow
from cityops.bootstrap import App
from cityops.domain.errors import NotFound, ValidationFailed
from cityops.service.lifeline.plans import step_view
from cityops.service.principal import Principal
from cityops.service.telemetry import queries as telemetry_queries
from cityops.service.telemetry.assets import visible_assets

STATES = ("active", "acknowledged", "cleared")
SERIES_MARGIN = timedelta(hours=1)


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def view(row: AlarmRow, asset: LifelineAssetRow | None) -> dict[str, Any]:
    return {
        "id": row.id, "subject": row.subject, "type": row.alarm_type, "rule": row.rule_id,
        "level": row.level, "current_level": row.current_level, "state": row.state,
        "count": row.count, "reraised": row.reraised, "first_seen": _iso(row.first_seen),
        "last_seen": _iso(row.last_seen), "acknowledged_by": row.acknowledged_by,
        "acknowledged_at": _iso(row.acknowledged_at), "cleared_at": _iso(row.cleared_at),
        "cleared_how": row.cleared_how, "cleared_by": row.cleared_by, "case_id": row.case_id,
        "asset": {"code": asset.code, "name": asset.name, "kind": asset.kind}
        if asset else None, "facts": row.facts,
    }  # fmt: skip


def list_alarms(
    app: App, who: Principal, *, state: str | None = None, level: int | None = None,
    alarm_type: str | None = None, asset: str | None = None, start: datetime | None = None,
    end: datetime | None = None, limit: int = 200, offset: int = 0,
) -> dict[str, Any]:  # fmt: skip
    q = select(AlarmRow, LifelineAssetRow).join(
        LifelineAssetRow, LifelineAssetRow.id == AlarmRow.asset_id).where(visible_assets(who))
    if state == "open":
        q = q.where(AlarmRow.state != "cleared")
    elif state is not None:
        if state not in STATES:
            raise ValidationFailed(f"state must be open or one of {list(STATES)}", field="state")
        q = q.where(AlarmRow.state == state)
    if level is not None:
        q = q.where(AlarmRow.level >= level)
    if alarm_type:
        q = q.where(AlarmRow.alarm_type == alarm_type)
    if asset:
        q = q.where(LifelineAssetRow.code == asset)
    if start is not None:
        q = q.where(AlarmRow.last_seen >= start)
    if end is not None:
        q = q.where(AlarmRow.first_seen < end)
    with app.reads() as s:
        rows = s.execute(q.order_by(AlarmRow.last_seen.desc(), AlarmRow.id.desc())
                         .limit(limit).offset(offset)).all()  # fmt: skip
    return {"alarms": [view(a, b) for a, b in rows], "limit": limit, "offset": offset}


def _visible(s: Session, who: Principal, alarm_id: int) -> tuple[AlarmRow, LifelineAssetRow]:
    found = s.execute(select(AlarmRow, LifelineAssetRow)
                      .join(LifelineAssetRow, LifelineAssetRow.id == AlarmRow.asset_id)
                      .where(AlarmRow.id == alarm_id, visible_assets(who))).first()  # fmt: skip
    if found is None:
        raise NotFound(f"alarm {alarm_id} not found / 无此告警", alarm_id=alarm_id)
    return found[0], found[1]


def check_visible(app: App, who: Principal, alarm_id: int) -> None:
    with app.reads() as s:
        _visible(s, who, alarm_id)


def alarm_detail(app: App, who: Principal, alarm_id: int) -> dict[str, Any]:
    with app.reads() as s:
        row, asset = _visible(s, who, alarm_id)
        events = s.scalars(select(AlarmEventRow).where(AlarmEventRow.alarm_id == alarm_id)
                           .order_by(AlarmEventRow.id)).all()  # fmt: skip
    out = view(row, asset)
    out["events"] = [{"at": _iso(e.at), "what": e.what, "level": e.level, "by": e.by,
                      "note": e.note, "data": e.data} for e in events]  # fmt: skip
    device, metric = row.facts.get("device"), row.facts.get("metric")
    if device and metric:
        start = row.first_seen - SERIES_MARGIN
        end = min((row.cleared_at or row.last_seen) + SERIES_MARGIN, app.clock())
        step = "raw" if end - start <= timedelta(hours=12) else "1m"
        out["series"] = telemetry_queries.series(app, who, telemetry_queries.SeriesQuery(
            device, metric, start, max(end, start + timedelta(seconds=1)), step))  # fmt: skip
    return out


def case_part(s: Session, case_id: int) -> dict[str, Any]:
    """The alarms behind a case and its emergency plan steps (for the case detail)."""
    alarms = s.scalars(select(AlarmRow).where(AlarmRow.case_id == case_id)).all()
    if not alarms:
        return {}
    steps = s.scalars(select(CasePlanStepRow).where(CasePlanStepRow.case_id == case_id)
                      .order_by(CasePlanStepRow.step_no)).all()  # fmt: skip
    return {"lifeline": {
        "alarms": [{"id": a.id, "type": a.alarm_type, "level": a.level, "state": a.state,
                    "subject": a.subject, "count": a.count} for a in alarms],
        "plan": {"code": steps[0].plan_code, "steps": [step_view(x) for x in steps]}
        if steps else None,
    }}  # fmt: skip
