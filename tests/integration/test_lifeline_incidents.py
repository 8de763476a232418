"""One incident, one case (一事一案): gas in the wells beside a gas pipe and the pipe's pressure
drop are one leak — one case about the pipe, for the pipe's owner, at the incident's highest
level, with one plan; a well beside no gas pipe still gets its own case."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from sqlalchemy import delete, or_, select

from cityops.adapters.db.alarm_models import AlarmEventRow, AlarmRow
from cityops.adapters.db.lifeline_models import (
    LifelineAdjacencyRow,
    LifelineAssetRow,
    LifelineDeviceRow,
)
from cityops.adapters.db.models import CaseRow
from cityops.bootstrap import App
from tests.conftest import Clock
from tests.helpers import Api, send_reading

GAS = "SJ-GPT-0001"  # gas pipe pressure, MPa, every 60 s; two wells with methane detectors beside
LONE = "SJ-CH4-0003"  # a methane detector in a well beside another pipe (its links cut below)


def _asset_of(app: App, device: str) -> LifelineAssetRow:
    with app.reads() as s:
        return s.scalars(select(LifelineAssetRow).join(
            LifelineDeviceRow, LifelineDeviceRow.asset_id == LifelineAssetRow.id)
            .where(LifelineDeviceRow.code == device)).one()  # fmt: skip


def _well_detectors(app: App, pipe: LifelineAssetRow) -> list[str]:
    """The methane detectors in the wells beside ``pipe``, by code."""
    with app.reads() as s:
        near = select(LifelineAdjacencyRow.neighbour_id).where(
            LifelineAdjacencyRow.asset_id == pipe.id)
        return list(s.scalars(select(LifelineDeviceRow.code).where(
            LifelineDeviceRow.asset_id.in_(near), LifelineDeviceRow.code.like("%CH4%"))
            .order_by(LifelineDeviceRow.code)))  # fmt: skip


def _owner(app: App, asset: LifelineAssetRow) -> str:
    return str(app.reference.get().departments_by_id[asset.owner_department_id].code)


def _alarms(app: App) -> dict[str, AlarmRow]:
    """The alarms by "device or asset code / type"."""
    with app.reads() as s:
        rows = s.scalars(select(AlarmRow).order_by(AlarmRow.id)).all()
    return {f"{r.facts.get('device') or r.subject}/{r.alarm_type}": r for r in rows}


def _case_events(app: App) -> list[AlarmEventRow]:
    with app.reads() as s:
        return list(s.scalars(select(AlarmEventRow).where(AlarmEventRow.what == "case")))


def _timeline(api: Api, case_id: int) -> list[dict[str, Any]]:
    return list(api.get("commander", f"/api/v1/cases/{case_id}").json()["timeline"])


def test_gas_in_two_wells_and_a_pressure_drop_are_one_case_for_the_pipes_owner(
    app: App, clock: Clock
) -> None:
    api = Api(app)
    pipe = _asset_of(app, GAS)
    well_a, well_b = _well_detectors(app, pipe)
    assert _owner(app, _asset_of(app, well_a)) != _owner(app, pipe)  # the wells are not gas's
    for _ in range(8):  # normal background
        for device in (well_a, well_b):
            send_reading(app, device, "ch4", 1.0, "%LEL")
        send_reading(app, GAS, "pressure", 0.30, "MPa")
        clock.advance(minutes=1)
    for v in (21.0, 22.0):  # 橙 in the first well (the second reading confirms the jump)
        send_reading(app, well_a, "ch4", v, "%LEL")
        clock.advance(minutes=1)
    first = _alarms(app)[f"{well_a}/gas_leak"]
    assert first.level == 3 and first.case_id is not None
    case_id = first.case_id
    case = api.get("commander", f"/api/v1/cases/{case_id}").json()
    assert case["routing"]["department"] == _owner(app, pipe) == "gas"
    assert case["title"] == f"橙色（二级）窨井可燃气体浓度：{pipe.name}"
    well = _asset_of(app, well_a)
    assert well.name in case["description"] and f"{well_a}:ch4 = 22" in case["description"]
    # The dispatch says it went to the pipe's owner, not "as the responsibility list proposed".
    [dispatch] = [e for e in case["timeline"] if e["action"] == "dispatch"]
    why = dispatch["data"]["why"]
    assert why.startswith(f"按设施权属派遣给其权属单位申江燃气集团：{pipe.name}")
    assert why != case["routing"]["explanation"]
    for v in (21.0, 22.0):  # the second well: the same leak, joins the case
        send_reading(app, well_b, "ch4", v, "%LEL")
        clock.advance(minutes=1)
    send_reading(app, GAS, "pressure", 0.22, "MPa")  # the pipe loses pressure …
    clock.advance(minutes=1)
    send_reading(app, GAS, "pressure", 0.21, "MPa")  # … 橙 drop, and the coupled rule's 红
    alarms = _alarms(app)
    assert {k.split("/")[1] for k in alarms} >= {"gas_leak", "gas_pressure_drop",
                                                 "gas_leak_coupled"}  # fmt: skip
    assert alarms[f"asset:{pipe.code}/gas_leak_coupled"].level == 4
    assert {a.case_id for a in alarms.values()} == {case_id}  # one case, every alarm linked
    with app.reads() as s:
        lifeline_cases = s.scalars(select(CaseRow.id).where(CaseRow.channel == "iot")).all()
    assert lifeline_cases == [case_id]
    joined = [e for e in _case_events(app) if e.data.get("joined")]
    assert len(joined) == len(alarms) - 1 and all(e.data["case_id"] == case_id for e in joined)
    case = api.get("commander", f"/api/v1/cases/{case_id}").json()
    assert case["title"].startswith("红色（一级）燃气泄漏耦合研判") and pipe.name in case["title"]
    assert case["routing"]["department"] == "gas" and case["state"] == "dispatched"
    actions = [e["action"] for e in case["timeline"]]
    assert actions.count("plan_attached") == 1 and actions.count("case_level") == 1
    assert actions.count("alarm_joined") == len(alarms) - 1
    [retitled] = [e for e in case["timeline"] if e["action"] == "case_level"]
    assert retitled["data"]["from_level"] == 3 and retitled["data"]["to_level"] == 4
    assert retitled["data"]["old_title"] == f"橙色（二级）窨井可燃气体浓度：{pipe.name}"
    assert case["lifeline"]["plan"]["code"] == "gas-leak-red"
    assert case["lifeline"]["incident"]["code"] == pipe.code  # what the phone's 位置 shows
    notes = [e["note"] for e in case["timeline"] if e["action"] == "alarm_joined"]
    assert any(n.startswith("关联告警：橙色 窨井可燃气体浓度") and well_b in n for n in notes)
    assert sorted(a["id"] for a in case["lifeline"]["alarms"]) == sorted(
        a.id for a in alarms.values())  # fmt: skip

    # One alarm cleared by hand: the note names it and what is still active on the case.
    r = api.post("commander", f"/api/v1/lifeline/alarms/{first.id}/clear",
                 json={"note": "误报排除"})  # fmt: skip
    assert r.status_code == 200, r.text
    still = sorted((a for a in alarms.values() if a.id != first.id),
                   key=lambda a: (-a.level, a.id))  # fmt: skip
    rules = {r.id: r.name for r in _ruleset(app).rules}
    listed = "、".join(f"{'红' if a.level == 4 else '橙'}色 {rules[str(a.rule_id)]}"
                      for a in still)  # fmt: skip
    [cleared] = [e for e in _timeline(api, case_id) if e["action"] == "alarm_cleared"]
    assert cleared["note"] == (
        "告警解除：窨井可燃气体浓度 橙色（由 commander 手动解除）；"
        f"本案仍有 {len(still)} 条告警未解除（{listed}）（误报排除）")


def _ruleset(app: App) -> Any:
    from tests.helpers import alarm_engine

    return alarm_engine(app).ruleset


def _lone_well_at_orange(app: App, clock: Clock) -> LifelineAssetRow:
    """LONE's well made to stand beside nothing, then a background and two readings at 橙."""
    well = _asset_of(app, LONE)
    with app.sessions.begin() as s:
        s.execute(delete(LifelineAdjacencyRow).where(or_(
            LifelineAdjacencyRow.asset_id == well.id,
            LifelineAdjacencyRow.neighbour_id == well.id)))  # fmt: skip
    for v in (1.0, 1.2, 0.9, 1.1, 1.0, 1.3, 1.1, 1.0, 21.0, 22.0):
        send_reading(app, LONE, "ch4", v, "%LEL")
        clock.advance(minutes=5)
    return well


def test_a_well_beside_no_gas_pipe_keeps_its_own_case(app: App, clock: Clock) -> None:
    api = Api(app)
    well = _lone_well_at_orange(app, clock)
    [alarm] = _alarms(app).values()
    assert alarm.level == 3 and alarm.case_id is not None
    case = api.get("commander", f"/api/v1/cases/{alarm.case_id}").json()
    assert case["routing"]["department"] == _owner(app, well) != "gas"
    assert case["title"] == f"橙色（二级）窨井可燃气体浓度：{well.name}"
    [event] = _case_events(app)
    assert event.data["incident"] == well.code and not event.data.get("joined")
    assert case["lifeline"]["plan"] is None
    for v in (27.0, 28.0):  # the alarm escalates to 红: the case follows, with the plan
        send_reading(app, LONE, "ch4", v, "%LEL")
        clock.advance(minutes=5)
    case = api.get("commander", f"/api/v1/cases/{alarm.case_id}").json()
    assert case["title"] == f"红色（一级）窨井可燃气体浓度：{well.name}"
    assert case["lifeline"]["plan"]["code"] == "gas-leak-red"
    actions = [e["action"] for e in case["timeline"]]
    assert actions.count("alarm_escalated") == 1 and actions.count("case_level") == 1


def test_a_well_between_two_pipes_joins_the_one_with_an_open_case(
    app: App, clock: Clock
) -> None:
    first, second = _asset_of(app, GAS), _asset_of(app, "SJ-GPT-0002")
    assert first.code < second.code
    well_device = _well_detectors(app, first)[0]
    well = _asset_of(app, well_device)
    with app.sessions.begin() as s:  # the well lies beside the second pipe too
        s.add_all([LifelineAdjacencyRow(asset_id=well.id, neighbour_id=second.id),
                   LifelineAdjacencyRow(asset_id=second.id, neighbour_id=well.id)])  # fmt: skip
    for _ in range(8):
        send_reading(app, "SJ-GPT-0002", "pressure", 0.30, "MPa")
        send_reading(app, well_device, "ch4", 1.0, "%LEL")
        clock.advance(minutes=1)
    for _ in range(4):  # a drop, then under-pressure held two minutes: the second pipe's case
        send_reading(app, "SJ-GPT-0002", "pressure", 0.14, "MPa")
        clock.advance(minutes=1)
    pipe_alarms = _alarms(app)
    assert {k.split("/")[0] for k in pipe_alarms} == {"SJ-GPT-0002"}
    [case_id] = {a.case_id for a in pipe_alarms.values()}
    assert case_id is not None
    for v in (21.0, 22.0):
        send_reading(app, well_device, "ch4", v, "%LEL")
        clock.advance(minutes=1)
    gas = _alarms(app)[f"{well_device}/gas_leak"]
    assert gas.case_id == case_id  # not a new case on the first pipe (the first by code)
    [joined] = [e for e in _case_events(app) if e.alarm_id == gas.id]
    assert joined.data["joined"] and joined.data["incident"] == second.code


def test_an_alarm_that_escalates_after_its_case_closed_opens_a_new_one(
    app: App, clock: Clock
) -> None:
    """The case was finished while the gas stayed; the alarm then reaches 红: a new matter,
    a new case with the plan — the closed case is neither retitled nor given a plan."""
    api = Api(app)
    _lone_well_at_orange(app, clock)
    [alarm] = _alarms(app).values()
    first = alarm.case_id
    with app.sessions.begin() as s:  # finished (closed) while the alarm stayed open
        s.get(CaseRow, first).state = "closed"
    for v in (27.0, 28.0):
        send_reading(app, LONE, "ch4", v, "%LEL")
        clock.advance(minutes=5)
    [alarm] = _alarms(app).values()
    assert alarm.level == 4 and alarm.case_id not in (None, first)
    old = [e["action"] for e in _timeline(api, first)]
    assert "case_level" not in old and "plan_attached" not in old
    new = api.get("commander", f"/api/v1/cases/{alarm.case_id}").json()
    assert new["title"].startswith("红色（一级）") and new["lifeline"]["plan"] is not None
    with app.reads() as s:
        whats = list(s.scalars(select(AlarmEventRow.what).where(
            AlarmEventRow.alarm_id == alarm.id).order_by(AlarmEventRow.id)))  # fmt: skip
    assert whats.count("case") == 2 and "case_over" in whats


def test_two_follow_ups_of_one_incident_at_once_open_one_case(
    app: App, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The batch worker and the tick follow up in different threads: gas in both wells of one
    pipe, followed up at the same moment, is still one case (the second joins it)."""
    from cityops.domain.lifeline.alarms import Change
    from cityops.service.lifeline import plans, policy
    from tests.helpers import alarm_engine

    pipe = _asset_of(app, GAS)
    well_a, well_b = _well_detectors(app, pipe)
    follow_up = policy.follow_up
    monkeypatch.setattr(policy, "follow_up", lambda *a, **k: None)  # alarms stay caseless
    monkeypatch.setattr(policy, "sweep", lambda *a, **k: None)
    for values in ([1.0] * 8 + [21.0, 22.0]):
        for device in (well_a, well_b):
            send_reading(app, device, "ch4", values, "%LEL")
        clock.advance(minutes=1)
    engine = alarm_engine(app)
    plans.ensure_defaults(app)
    alarms = engine.caseless_open()
    assert len(alarms) == 2
    submit = policy.submit

    def slow_submit(*a: Any, **k: Any) -> Any:  # the other thread would look meanwhile
        time.sleep(0.5)
        return submit(*a, **k)

    monkeypatch.setattr(policy, "submit", slow_submit)
    threads = [threading.Thread(target=follow_up, args=(
        app, engine, [Change(a, "raised", a.last_seen, a.level)])) for a in alarms]  # fmt: skip
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with app.reads() as s:
        cases = s.scalars(select(CaseRow.id).where(CaseRow.channel == "iot")).all()
    assert len(cases) == 1 and {a.case_id for a in _alarms(app).values()} == set(cases)
