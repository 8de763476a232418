"""Alarm → case (告警转案卷), one incident one case (一事一案): at or above the policy's level
an alarm opens a case in its type's category through the normal intake (channel ``iot``, the
urgent fast path) about its incident's subject (``incident.py``: gas in a well beside a gas
pipe is the pipe's), routed to that asset's owner. Further alarms of the incident join the
open case instead of opening more; the case's title follows the incident's highest level and
at the plan level the emergency plan is attached (once). Later changes of each alarm
(escalation, re-raise, clear) are noted on the case; a clear never closes it.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

import orjson
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cityops.adapters.db.alarm_models import AlarmEventRow, AlarmRow
from cityops.adapters.db.lifeline_models import LifelineAssetRow
from cityops.adapters.db.models import CaseRow
from cityops.bootstrap import App
from cityops.domain.lifeline.alarms import OPEN, Alarm, Change
from cityops.domain.lifeline.ruleset import LEVELS, CasePolicy, RuleSet
from cityops.domain.lifeline.units import symbol
from cityops.domain.model import Channel
from cityops.service.caselog import record_event
from cityops.service.intake import ReportInput, submit
from cityops.service.lifeline import plans
from cityops.service.lifeline.incident import CLOSED, INCIDENT, Incident, case_subject, incident_of
from cityops.service.principal import SYSTEM

if TYPE_CHECKING:
    from cityops.service.lifeline.engine import AlarmEngine

_NOTES = {"escalated": "告警升级", "reraised": "告警再次触发", "cleared": "告警解除"}


def level_name(level: int) -> str:
    zh, grade, _ = LEVELS.get(level, ("?", "?", "?"))
    return f"{zh}色（{grade}）"


def title_level(title: str) -> int:
    """The level a case's title names ("红色（一级）…"; 0: none)."""
    return next((n for n in sorted(LEVELS, reverse=True) if title.startswith(level_name(n))), 0)


# One follow-up at a time in a process: the batch worker and the tick (with its sweep) both
# follow up, and "does the incident have an open case?" must not interleave with opening one
# (the alarms of one engine are followed up in its process: docs/lifeline.md).
_FOLLOWING = threading.Lock()


def follow_up(app: App, engine: AlarmEngine, changes: list[Change]) -> None:
    with _FOLLOWING:
        _follow_up(app, engine, changes)


def _follow_up(app: App, engine: AlarmEngine, changes: list[Change]) -> None:
    policy = engine.ruleset.policy
    done: set[int] = set()
    # Highest level first: the alarm that opens the incident's case goes before the lower
    # ones of the same batch, which then join it instead of waiting for their next change.
    for change in sorted(changes, key=lambda c: -c.alarm.level):
        alarm = change.alarm
        if alarm.id is None or alarm.id in done:
            continue
        done.add(alarm.id)
        category = policy.categories.get(alarm.key[1])
        if alarm.case_id is not None and change.what in ("escalated", "reraised"):
            _leave_if_over(app, engine, alarm)
        if alarm.case_id is None:
            if alarm.is_open and category and not engine.policy.flapping(alarm):
                _open_or_join(app, engine, alarm, category, policy)
        elif change.what in _NOTES:
            _note(app, engine.ruleset, alarm, change)


def sweep(app: App, engine: AlarmEngine) -> None:
    """Open the cases that a failure left unopened, and let the alarms below the case level
    that came before their incident's case join it (run from the tick)."""
    pending = [Change(a, "raised", a.last_seen, a.level) for a in engine.caseless_open()]
    if pending:
        follow_up(app, engine, pending)


def _leave_if_over(app: App, engine: AlarmEngine, alarm: Alarm) -> None:
    """An alarm that escalates or returns after its case is over (结案, 作废, 并案) is a new
    matter: unlinked, it opens or joins its incident's open case like a new alarm (a closed
    case is neither retitled nor given a plan)."""
    assert alarm.id is not None and alarm.case_id is not None
    with app.sessions.begin() as s:
        case = s.get(CaseRow, alarm.case_id)
        row = s.get(AlarmRow, alarm.id, with_for_update=True)
        if case is None or case.state not in CLOSED or row is None:
            return
        row.case_id = None
        s.add(AlarmEventRow(alarm_id=alarm.id, at=app.clock(), what="case_over",
                            level=alarm.level, note=f"案卷 {case.case_no} 已结束",
                            data={"case_id": case.id, "state": case.state}))  # fmt: skip
    engine.link_case(alarm, None)


def _asset(s: Session, alarm_id: int) -> LifelineAssetRow | None:
    row = s.get(AlarmRow, alarm_id)
    return s.get(LifelineAssetRow, row.asset_id) if row and row.asset_id else None


def _what(ruleset: RuleSet, rule_id: str | None, alarm_type: str) -> str:
    rule = next((r for r in ruleset.rules if r.id == rule_id), None)
    return rule.name if rule else alarm_type


def _reading(alarm: Alarm) -> str:
    facts = alarm.facts
    if "value" not in facts:
        return alarm.key[1]
    unit = symbol(str(facts.get("unit", "")))
    sep = "" if unit in ("℃", "°") else " "
    return f"{facts.get('device')}:{facts.get('metric')} = {facts.get('value'):g}{sep}{unit}" \
        .rstrip()  # fmt: skip


def _open_or_join(app: App, engine: AlarmEngine, alarm: Alarm, category: str,
                  policy: CasePolicy) -> None:  # fmt: skip
    """Join the incident's open case (at any level); else open one from ``min_level``."""
    assert alarm.id is not None
    with app.reads() as s:
        asset = _asset(s, alarm.id)
        incident = incident_of(s, engine.ruleset, asset, alarm.facts.get("rule")) \
            if asset is not None else None  # fmt: skip
    if asset is None or incident is None:
        return
    if incident.case_id is not None:
        _join(app, engine, alarm, asset, incident)
    elif alarm.level >= policy.min_level:
        _open_case(app, engine, alarm, asset, incident, category)


def _open_case(app: App, engine: AlarmEngine, alarm: Alarm, asset: LifelineAssetRow,
               incident: Incident, category: str) -> None:  # fmt: skip
    assert alarm.id is not None
    subject = incident.subject
    snap = app.reference.get()
    owner = snap.departments_by_id.get(subject.owner_department_id)
    reading = _reading(alarm)
    what = _what(engine.ruleset, alarm.facts.get("rule"), alarm.key[1])
    where = f"{subject.name}（{subject.code}）" if subject.id == asset.id else \
        f"{subject.name}（{subject.code}）相邻的{asset.name}（{asset.code}）"  # fmt: skip
    info = {"alarm_id": alarm.id, "type": alarm.key[1], "level": alarm.level,
            "rule": alarm.facts.get("rule"), "asset": subject.code, "alarm_asset": asset.code,
            "reading": reading}  # fmt: skip
    with app.reads() as s:  # cases the alarm had before (one that ended): a new report
        before = s.scalar(select(func.count()).where(
            AlarmEventRow.alarm_id == alarm.id, AlarmEventRow.what == "case")) or 0  # fmt: skip
    source_id = f"lifeline-alarm:{alarm.id}:{alarm.reraised}" + (f":{before}" if before else "")
    report = ReportInput(
        channel=Channel.IOT, source_id=source_id,
        raw=orjson.dumps(info).decode(), category=category,
        title=f"{level_name(alarm.level)}{what}：{subject.name}"[:200],
        description=(f"城市生命线{level_name(alarm.level)}告警：{where}{what}，{reading} / "
                     f"lifeline alarm {alarm.key[1]} level {alarm.level} on {asset.code}"
                     + (f" beside {subject.code}" if subject.id != asset.id else "")),
        lon=subject.lon, lat=subject.lat, extra={"lifeline_alarm": info},
        owner=owner.code if owner else None, owned=f"{subject.name}（{subject.code}）",
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
                            data={"case_id": result.case_id, "merged": result.merged,
                                  INCIDENT: subject.code}))  # fmt: skip
        case = s.get(CaseRow, result.case_id, with_for_update=True)
        if case is not None:
            _follow_level(app, s, engine.ruleset, case, alarm, subject.kind)
    engine.link_case(alarm, result.case_id)


def _join(app: App, engine: AlarmEngine, alarm: Alarm, asset: LifelineAssetRow,
          incident: Incident) -> None:  # fmt: skip
    """Link the alarm to its incident's open case and note it there (no second case)."""
    assert alarm.id is not None and incident.case_id is not None
    what = _what(engine.ruleset, alarm.facts.get("rule"), alarm.key[1])
    reading = f"，{_reading(alarm)}" if "value" in alarm.facts else ""  # a coupled one has none
    plans.ensure_defaults(app)
    with app.sessions.begin() as s:
        row = s.get(AlarmRow, alarm.id, with_for_update=True)
        case = s.get(CaseRow, incident.case_id, with_for_update=True)
        if row is None or row.case_id is not None or case is None or case.state in CLOSED:
            return  # linked meanwhile, or the case closed: the next sweep decides again
        row.case_id = case.id
        s.add(AlarmEventRow(alarm_id=alarm.id, at=app.clock(), what="case", level=alarm.level,
                            note=f"并入案卷 {case.case_no}",
                            data={"case_id": case.id, "joined": True,
                                  INCIDENT: incident.subject.code}))  # fmt: skip
        record_event(s, case, action="alarm_joined", from_state=case.state, principal=SYSTEM,
                     now=app.clock(),
                     note=f"关联告警：{LEVELS[alarm.level][0]}色 {what}，{asset.name}"
                          f"（{asset.code}）{reading}",
                     data={"alarm_id": alarm.id, "type": alarm.key[1], "level": alarm.level,
                           "asset": asset.code})  # fmt: skip
        _follow_level(app, s, engine.ruleset, case, alarm, incident.subject.kind)
    engine.link_case(alarm, case.id)


def _follow_level(app: App, s: Session, ruleset: RuleSet, case: CaseRow, alarm: Alarm,
                  kind: str | None) -> None:  # fmt: skip
    """The case names its incident's highest level: a higher alarm retitles it (the old title
    stays in the event) and, at the plan level, brings the plan (one per case)."""
    was = title_level(case.title)  # 0: no level in it (an alarm merged into a citizen's case)
    if was and alarm.level > was:
        subject = case.title.split("：", 1)[1] if "：" in case.title else case.title
        what = _what(ruleset, alarm.facts.get("rule"), alarm.key[1])
        old, case.title = case.title, f"{level_name(alarm.level)}{what}：{subject}"[:200]
        record_event(s, case, action="case_level", from_state=case.state, principal=SYSTEM,
                     now=app.clock(), note=f"案卷升级为{level_name(alarm.level)}：{what}",
                     data={"alarm_id": alarm.id, "from_level": was, "to_level": alarm.level,
                           "old_title": old, "title": case.title})  # fmt: skip
    if alarm.level >= ruleset.policy.plan_level:
        plan = plans.choose(s, alarm.key[1], kind, alarm.level)
        if plan is not None and alarm.id is not None:
            plans.attach(s, case, plan, alarm.id, app)


def _note(app: App, ruleset: RuleSet, alarm: Alarm, change: Change) -> None:
    assert alarm.case_id is not None and alarm.id is not None
    plans.ensure_defaults(app)
    with app.sessions.begin() as s:
        case = s.get(CaseRow, alarm.case_id, with_for_update=True)
        if case is None:
            return
        what = _what(ruleset, alarm.facts.get("rule"), alarm.key[1])
        if change.what == "cleared":
            note = _clear_note(s, ruleset, case, alarm, what)
        else:
            note = f"{_NOTES[change.what]}：{what} {level_name(change.level)}"
        data: dict[str, Any] = {"alarm_id": alarm.id, "what": change.what, "level": alarm.level,
                                "at": change.at}  # fmt: skip
        record_event(s, case, action="alarm_" + change.what, from_state=case.state,
                     principal=SYSTEM, now=app.clock(),
                     note=note + (f"（{change.note}）" if change.note else ""),
                     data=data)  # fmt: skip
        if change.what != "cleared":
            about = case_subject(s, case.id) or _asset(s, alarm.id)
            _follow_level(app, s, ruleset, case, alarm, about.kind if about else None)


def _clear_note(s: Session, ruleset: RuleSet, case: CaseRow, alarm: Alarm, what: str) -> str:
    """Which alarm cleared and how, and whether the case's other alarms still stand — a clear
    of one alarm is not the end of the emergency."""
    how = {"auto": "条件消失后自动解除", "manual": f"由 {alarm.cleared_by} 手动解除"}
    zh = LEVELS.get(alarm.level, ("?",))[0]
    note = f"告警解除：{what} {zh}色（{how.get(alarm.cleared_how or '', '')}）"
    others = s.scalars(select(AlarmRow).where(
        AlarmRow.case_id == case.id, AlarmRow.id != alarm.id,
        AlarmRow.state.in_([str(x) for x in OPEN])).order_by(AlarmRow.level.desc(),
                                                            AlarmRow.id)).all()  # fmt: skip
    if not others:
        return note + "；本案告警均已解除"
    names = "、".join(f"{LEVELS.get(o.level, ('?',))[0]}色 "
                     f"{_what(ruleset, o.rule_id, o.alarm_type)}" for o in others)  # fmt: skip
    return note + f"；本案仍有 {len(others)} 条告警未解除（{names}）"
