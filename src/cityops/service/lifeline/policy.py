"""Alarm → case (告警转案卷): at or above the policy's level an alarm opens a case in its type's
category through the normal intake (channel ``iot``, the urgent fast path), routed to the
asset's owner; at the plan level the emergency plan is attached. Later changes of the alarm
(escalation, re-raise, clear) are noted on the case; a clear never closes it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import orjson
from sqlalchemy.orm import Session

from cityops.adapters.db.alarm_models import AlarmEventRow, AlarmRow
from cityops.adapters.db.lifeline_models import LifelineAssetRow
from cityops.adapters.db.models import CaseRow
from cityops.bootstrap import App
from cityops.domain.lifeline.alarms import Alarm, Change
from cityops.domain.lifeline.ruleset import LEVELS
from cityops.domain.model import Channel
from cityops.service.caselog import record_event
from cityops.service.intake import ReportInput, submit
from cityops.service.lifeline import plans
from cityops.service.principal import SYSTEM

if TYPE_CHECKING:
    from cityops.service.lifeline.engine import AlarmEngine

_NOTES = {"escalated": "告警升级", "reraised": "告警再次触发", "cleared": "告警解除"}


def level_name(level: int) -> str:
    zh, grade, _ = LEVELS.get(level, ("?", "?", "?"))
    return f"{zh}色（{grade}）"


def follow_up(app: App, engine: AlarmEngine, changes: list[Change]) -> None:
    policy = engine.ruleset.policy
    done: set[int] = set()
    for change in changes:
        alarm = change.alarm
        if alarm.id is None or alarm.id in done:
            continue
        done.add(alarm.id)
        category = policy.categories.get(alarm.key[1])
        if alarm.case_id is None:
            if alarm.is_open and category and alarm.level >= policy.min_level \
                    and not engine.policy.flapping(alarm):  # fmt: skip
                _open_case(app, engine, alarm, category, policy.plan_level)
        elif change.what in _NOTES:
            _note(app, alarm, change, policy.plan_level)


def sweep(app: App, engine: AlarmEngine) -> None:
    """Open the cases that a failure left unopened (run from the tick)."""
    pending = [Change(a, "raised", a.last_seen, a.level) for a in engine.caseless_open()]
    if pending:
        follow_up(app, engine, pending)


def _asset(s: Session, alarm_id: int) -> LifelineAssetRow | None:
    row = s.get(AlarmRow, alarm_id)
    return s.get(LifelineAssetRow, row.asset_id) if row and row.asset_id else None


def _open_case(app: App, engine: AlarmEngine, alarm: Alarm, category: str,
               plan_level: int) -> None:  # fmt: skip
    assert alarm.id is not None
    with app.reads() as s:
        asset = _asset(s, alarm.id)
    if asset is None:
        return
    snap = app.reference.get()
    owner = snap.departments_by_id.get(asset.owner_department_id)
    facts = alarm.facts
    reading = (f"{facts.get('device')}:{facts.get('metric')} = {facts.get('value'):g} "
               f"{facts.get('unit', '')}") if "value" in facts else alarm.key[1]  # fmt: skip
    rule = next((r for r in engine.ruleset.rules if r.id == facts.get("rule")), None)
    what = rule.name if rule else alarm.key[1]
    info = {"alarm_id": alarm.id, "type": alarm.key[1], "level": alarm.level,
            "rule": facts.get("rule"), "asset": asset.code, "reading": reading}  # fmt: skip
    report = ReportInput(
        channel=Channel.IOT, source_id=f"lifeline-alarm:{alarm.id}:{alarm.reraised}",
        raw=orjson.dumps(info).decode(), category=category,
        title=f"{level_name(alarm.level)}{what}：{asset.name}"[:200],
        description=(f"城市生命线{level_name(alarm.level)}告警：{asset.name}（{asset.code}）"
                     f"{what}，{reading} / lifeline alarm {alarm.key[1]} level {alarm.level} on "
                     f"{asset.code}"),
        lon=asset.lon, lat=asset.lat, extra={"lifeline_alarm": info},
        owner=owner.code if owner else None, owned=f"{asset.name}（{asset.code}）",
    )  # fmt: skip
    result = submit(app, report, SYSTEM)
    plans.ensure_defaults(app)  # before the write below: SQLite has one writer at a time
    with app.sessions.begin() as s:
        row = s.get(AlarmRow, alarm.id, with_for_update=True)
        if row is None:
            return
        row.case_id = result.case_id
        s.add(AlarmEventRow(alarm_id=alarm.id, at=app.clock(), what="case", level=alarm.level,
                            note=f"案卷 {result.case_no}",
                            data={"case_id": result.case_id, "merged": result.merged}))  # fmt: skip
        if alarm.level >= plan_level:
            _attach_plan(app, s, result.case_id, alarm, asset.kind)
    engine.link_case(alarm, result.case_id)


def _attach_plan(app: App, s: Session, case_id: int, alarm: Alarm, kind: str | None) -> None:
    plan = plans.choose(s, alarm.key[1], kind, alarm.level)
    case = s.get(CaseRow, case_id, with_for_update=True)
    if plan is not None and case is not None and alarm.id is not None:
        plans.attach(s, case, plan, alarm.id, app)


def _note(app: App, alarm: Alarm, change: Change, plan_level: int) -> None:
    assert alarm.case_id is not None and alarm.id is not None
    plans.ensure_defaults(app)
    with app.sessions.begin() as s:
        case = s.get(CaseRow, alarm.case_id, with_for_update=True)
        if case is None:
            return
        how = {"auto": "条件消失后自动解除", "manual": f"由 {alarm.cleared_by} 手动解除"}
        detail = how.get(alarm.cleared_how or "", "") if change.what == "cleared" else \
            level_name(change.level)  # fmt: skip
        data: dict[str, Any] = {"alarm_id": alarm.id, "what": change.what, "level": alarm.level,
                                "at": change.at}  # fmt: skip
        record_event(s, case, action="alarm_" + change.what, from_state=case.state,
                     principal=SYSTEM, now=app.clock(),
                     note=f"{_NOTES[change.what]}：{detail}" + (
                         f"（{change.note}）" if change.note else ""), data=data)  # fmt: skip
        if change.what == "escalated" and alarm.level >= plan_level:
            asset = _asset(s, alarm.id)
            _attach_plan(app, s, case.id, alarm, asset.kind if asset else None)
