"""Reads: alarms (scoped like assets), one alarm with its log and the series around it, and
the lifeline part of a case's detail."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, false, func, select
from sqlalchemy.orm import Session

from cityops.adapters.db.alarm_models import AlarmEventRow, AlarmRow, CasePlanStepRow
from cityops.adapters.db.lifeline_models import (
    LifelineAdjacencyRow,
    LifelineAssetRow,
    LifelineDeviceRow,
    LifelineSeriesRow,
)
from cityops.adapters.db.models import CaseEventRow, CaseRow
from cityops.bootstrap import App
from cityops.domain.errors import NotFound, ValidationFailed
from cityops.domain.lifeline.ruleset import RuleKind, parse_ruleset
from cityops.domain.model import Role
from cityops.service.lifeline import rulesets
from cityops.service.lifeline.incident import case_subject
from cityops.service.lifeline.plans import step_view
from cityops.service.principal import SYSTEM, Principal
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
    q = (
        select(AlarmRow, LifelineAssetRow)
        .join(LifelineAssetRow, LifelineAssetRow.id == AlarmRow.asset_id)
        .where(visible_assets(who))
    )
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
    by_level = (select(AlarmRow.level, func.count())
                .join(LifelineAssetRow, LifelineAssetRow.id == AlarmRow.asset_id)
                .where(visible_assets(who), AlarmRow.state != "cleared")
                .group_by(AlarmRow.level))  # fmt: skip
    with app.reads() as s:
        total = s.scalar(select(func.count()).select_from(q.subquery())) or 0
        rows = s.execute(q.order_by(AlarmRow.last_seen.desc(), AlarmRow.id.desc())
                         .limit(limit).offset(offset)).all()  # fmt: skip
        open_by_level = {str(n): 0 for n in range(1, 5)} | {
            str(lv): int(n) for lv, n in s.execute(by_level)}
    # open_by_level: the caller's open alarms per level whatever the filters (the list's tally)
    return {"alarms": [view(a, b) for a, b in rows], "total": total, "limit": limit,
            "offset": offset, "open_by_level": open_by_level}  # fmt: skip


def _on_their_cases(who: Principal) -> ColumnElement[bool]:
    """Alarms linked to a case of the handler's department: one incident's case gathers
    alarms of assets other owners hold (the wells beside the gas company's pipe)."""
    if who.role is not Role.HANDLER or not who.department_ids:
        return false()
    theirs = select(CaseRow.id).where(CaseRow.department_id.in_(sorted(who.department_ids)))
    return AlarmRow.case_id.in_(theirs)


def _visible(s: Session, who: Principal, alarm_id: int) -> tuple[AlarmRow, LifelineAssetRow]:
    found = s.execute(select(AlarmRow, LifelineAssetRow)
                      .join(LifelineAssetRow, LifelineAssetRow.id == AlarmRow.asset_id)
                      .where(AlarmRow.id == alarm_id,
                             visible_assets(who) | _on_their_cases(who))).first()  # fmt: skip
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
        case = _linked_case(s, row.case_id) if row.case_id else None
    out = view(row, asset)
    out["case"] = case
    out["events"] = [{"at": _iso(e.at), "what": e.what, "level": e.level, "by": e.by,
                      "note": e.note, "data": e.data} for e in events]  # fmt: skip
    start = row.first_seen - SERIES_MARGIN
    # ``to`` is exclusive: a reading stamped this very moment is still in
    end = min((row.cleared_at or row.last_seen) + SERIES_MARGIN,
              app.clock() + timedelta(seconds=1))  # fmt: skip
    step = "raw" if end - start <= timedelta(hours=12) else "1m"
    end = max(end, start + timedelta(seconds=1))

    def around(device: str, metric: str, viewer: Principal = who) -> dict[str, Any]:
        return telemetry_queries.series(app, viewer, telemetry_queries.SeriesQuery(
            device, metric, start, end, step))  # fmt: skip

    device, metric = row.facts.get("device"), row.facts.get("metric")
    if device and metric:
        # An alarm seen through the handler's case: its own readings come with it.
        with app.reads() as s:
            own = s.scalar(select(func.count()).where(
                LifelineAssetRow.id == asset.id, visible_assets(who))) or 0  # fmt: skip
        out["series"] = around(device, metric, who if own else SYSTEM)
        out["related_series"] = []
    else:  # no data, coupled: the series that tell its story
        with app.reads() as s:
            pairs = _related_pairs(s, app, who, row, asset)
        out["related_series"] = [around(d, m) for d, m in pairs]
    return out


RELATED_MAX = 6  # charts on an alarm's page


def _related_pairs(s: Session, app: App, who: Principal, row: AlarmRow,
                   asset: LifelineAssetRow | None) -> list[tuple[str, str]]:  # fmt: skip
    """(device, metric) behind an alarm that names no single series: a device's alarm (no
    data) → each of its metrics; a coupled alarm → each condition's metric on the asset itself
    or, for ``at: adjacent``, on its neighbours (of the condition's kinds) — those ``who`` may
    see: the gas company's handler sees its pipe's alarm without the other owners' wells."""
    pairs = (select(LifelineDeviceRow.code, LifelineSeriesRow.metric)
             .join(LifelineSeriesRow, LifelineSeriesRow.device_id == LifelineDeviceRow.id)
             .join(LifelineAssetRow, LifelineAssetRow.id == LifelineDeviceRow.asset_id)
             .where(visible_assets(who)))  # fmt: skip
    kind, code = row.subject.split(":", 1)
    if kind == "device":
        found = s.execute(pairs.where(LifelineDeviceRow.code == code)
                          .order_by(LifelineSeriesRow.metric)).all()  # fmt: skip
        return [(d, m) for d, m in found][:RELATED_MAX]
    ruleset = parse_ruleset(rulesets.current(app)[1])  # in force: read, not re-validated
    rule = next((r for r in ruleset.rules
                 if r.kind is RuleKind.COUPLED and r.type == row.alarm_type), None)  # fmt: skip
    if rule is None or asset is None:
        return []
    neighbours = select(LifelineAdjacencyRow.neighbour_id).where(
        LifelineAdjacencyRow.asset_id == asset.id)
    out: list[tuple[str, str]] = []
    for term in rule.terms:
        metrics = {ruleset.by_id(r).metric for r in term.rules}
        where = pairs
        if term.at == "self":
            where = where.where(LifelineAssetRow.id == asset.id)
        else:
            where = where.where(LifelineAssetRow.id.in_(neighbours))
            if term.kinds:
                where = where.where(LifelineAssetRow.kind.in_([str(k) for k in term.kinds]))
        found = s.execute(where.where(LifelineSeriesRow.metric.in_(metrics))
                          .order_by(LifelineDeviceRow.code, LifelineSeriesRow.metric)).all()
        out += [(d, m) for d, m in found if (d, m) not in out]
    return out[:RELATED_MAX]


def _linked_case(s: Session, case_id: int) -> dict[str, Any] | None:
    """The case an alarm opened, with the emergency plan's steps (the case's own view checks
    who may open it)."""
    case = s.get(CaseRow, case_id)
    if case is None:
        return None
    return {"id": case.id, "case_no": case.case_no, "state": case.state, "title": case.title,
            "plan": case_plan(s, case_id)}  # fmt: skip


def case_plan(s: Session, case_id: int) -> dict[str, Any] | None:
    """The emergency plan (应急预案) on a case: as it was when attached (name, contacts,
    resources; an admin may have changed the plan since) with each step's progress."""
    steps = s.scalars(select(CasePlanStepRow).where(CasePlanStepRow.case_id == case_id)
                      .order_by(CasePlanStepRow.step_no)).all()  # fmt: skip
    if not steps:
        return None
    attached = s.scalar(
        select(CaseEventRow.data)
        .where(CaseEventRow.case_id == case_id, CaseEventRow.action == "plan_attached")
        .order_by(CaseEventRow.seq.desc())
        .limit(1)
    )
    plan = (attached or {}).get("plan") or {}
    return {"code": steps[0].plan_code, "name": plan.get("name"),
            "contacts": plan.get("contacts") or [], "resources": plan.get("resources") or [],
            "steps": [step_view(x) for x in steps]}  # fmt: skip


def case_part(s: Session, case_id: int) -> dict[str, Any]:
    """The alarms behind a case and its emergency plan steps (for the case detail)."""
    rows = s.execute(select(AlarmRow, LifelineAssetRow)
                     .outerjoin(LifelineAssetRow, LifelineAssetRow.id == AlarmRow.asset_id)
                     .where(AlarmRow.case_id == case_id).order_by(AlarmRow.id)).all()  # fmt: skip
    if not rows:
        return {}
    subject = case_subject(s, case_id)
    return {"lifeline": {
        "incident": _asset_brief(subject),
        "alarms": [{"id": a.id, "type": a.alarm_type, "level": a.level, "state": a.state,
                    "subject": a.subject, "count": a.count, "asset": _asset_brief(asset),
                    "reading": _reading(a.facts)} for a, asset in rows],
        "plan": case_plan(s, case_id),
    }}  # fmt: skip


def _asset_brief(asset: LifelineAssetRow | None) -> dict[str, Any] | None:
    """What a handler on site needs: which asset, and where (assets carry no address of their
    own unless imported with one; the name says the road and segment)."""
    if asset is None:
        return None
    where = (asset.attributes or {}).get("address") or asset.name
    return {"code": asset.code, "name": asset.name, "kind": asset.kind, "location": where,
            "lon": asset.lon, "lat": asset.lat}  # fmt: skip


def _reading(facts: dict[str, Any]) -> dict[str, Any] | None:
    """The reading that raised (or last raised) the alarm, when a sensor value was behind it."""
    if "value" not in facts:
        return None
    return {k: facts.get(k) for k in ("device", "metric", "value", "unit")}


def screen_summary(app: App, who: Principal) -> dict[str, Any]:
    """The big screen's lifeline figures: open alarms by level, by type (and level), by state;
    each asset's worst open alarm (the map's colours); raised and cleared in the last 24 h."""
    since = app.clock() - timedelta(hours=24)
    raised_recently, cleared_recently = AlarmRow.first_seen >= since, AlarmRow.cleared_at >= since
    with app.reads() as s:
        rows = s.execute(
            select(AlarmRow.id, AlarmRow.alarm_type, AlarmRow.level, AlarmRow.state,
                   LifelineAssetRow.code)
            .join(LifelineAssetRow, LifelineAssetRow.id == AlarmRow.asset_id)
            .where(visible_assets(who), AlarmRow.state != "cleared")
        ).all()  # fmt: skip
        # Both 24-h counts in one pass (COUNT … FILTER: SQLite ≥ 3.30 and PostgreSQL).
        raised, cleared = s.execute(
            select(func.count().filter(raised_recently), func.count().filter(cleared_recently))
            .select_from(AlarmRow)
            .join(LifelineAssetRow, LifelineAssetRow.id == AlarmRow.asset_id)
            .where(visible_assets(who), raised_recently | cleared_recently)
        ).one()  # fmt: skip
    by_level = {str(n): 0 for n in range(1, 5)}
    by_type: dict[str, dict[str, int]] = {}
    by_state = {"active": 0, "acknowledged": 0}
    assets: dict[str, dict[str, Any]] = {}
    for alarm_id, alarm_type, level, state, code in rows:
        by_level[str(level)] = by_level.get(str(level), 0) + 1
        levels = by_type.setdefault(alarm_type, {str(n): 0 for n in range(1, 5)})
        levels[str(level)] = levels.get(str(level), 0) + 1
        by_state[state] = by_state.get(state, 0) + 1
        worst = assets.get(code)
        if worst is None:
            assets[code] = {"level": level, "state": state, "alarms": 1, "alarm_id": alarm_id,
                            "types": [alarm_type]}  # fmt: skip
            continue
        worst["alarms"] += 1
        worst["types"].append(alarm_type)
        if level > worst["level"] or (level == worst["level"] and state == "active"):
            worst.update(level=level, state=state, alarm_id=alarm_id)
    return {"generated_at": app.clock().isoformat(), "open": len(rows), "by_level": by_level,
            "by_type": by_type, "by_state": by_state, "raised_24h": raised,
            "cleared_24h": cleared, "assets": assets}  # fmt: skip


def asset_layer(app: App, who: Principal, kind: str | None = None) -> dict[str, Any]:
    """The visible assets' geometries as a GeoJSON FeatureCollection (for the map layer)."""
    q = select(LifelineAssetRow).where(visible_assets(who)).order_by(LifelineAssetRow.code)
    if kind:
        q = q.where(LifelineAssetRow.kind == kind)
    with app.reads() as s:
        rows = s.scalars(q).all()
    return {"type": "FeatureCollection", "features": [
        {"type": "Feature", "geometry": a.geometry,
         "properties": {"code": a.code, "name": a.name, "kind": a.kind}} for a in rows
    ]}  # fmt: skip
