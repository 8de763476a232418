"""Lifeline alarms end to end: readings → rules → alarm → case on the fast path (owner,
plan), acknowledge / clear, the coupled rule, rule-set edits and restart of rule state."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event, select

from cityops.adapters.db.alarm_models import AlarmRow
from cityops.adapters.db.lifeline_models import LifelineAssetRow, LifelineDeviceRow
from cityops.bootstrap import App, bootstrap
from cityops.service.telemetry import telemetry
from tests.conftest import Clock
from tests.helpers import Api, alarm_engine, send_reading

GAS = "SJ-GPT-0001"  # gas pipe pressure, MPa, every 60 s
WELL = "SJ-CH4-0001"  # methane in a well beside that pipe, %{LEL}


def _alarms(app: App) -> list[AlarmRow]:
    with app.reads() as s:
        return list(s.scalars(select(AlarmRow).order_by(AlarmRow.id)))


def _owner(app: App, device: str) -> str:
    with app.reads() as s:
        asset = s.scalars(select(LifelineAssetRow).join(
            LifelineDeviceRow, LifelineDeviceRow.asset_id == LifelineAssetRow.id)
            .where(LifelineDeviceRow.code == device)).one()  # fmt: skip
        return str(app.reference.get().departments_by_id[asset.owner_department_id].code)


def test_gas_in_a_well_opens_an_urgent_case_for_the_owner_with_a_plan(
    app: App, clock: Clock
) -> None:
    api = Api(app)
    for v in (1.0, 1.2, 0.9, 1.1, 1.0, 1.3, 1.1, 1.0):  # normal background, fills the window
        send_reading(app, WELL, "ch4", v, "%LEL")
        clock.advance(minutes=5)
    assert _alarms(app) == []
    send_reading(app, WELL, "ch4", 30.0, "%LEL")  # a lone jump is held back as a spike …
    assert _alarms(app) == []
    clock.advance(minutes=5)
    send_reading(app, WELL, "ch4", 31.0, "%LEL")  # … the second confirms it: 红 (≥ 25 %LEL)
    [alarm] = _alarms(app)
    assert (alarm.alarm_type, alarm.level, alarm.state) == ("gas_leak", 4, "active")
    assert alarm.case_id is not None and alarm.facts["device"] == WELL
    case = api.get("commander", f"/api/v1/cases/{alarm.case_id}").json()
    assert case["category"] == "E0403" and case["state"] == "dispatched"
    # The well lies beside a gas pipe: its gas is the pipe's leak, the pipe's owner's case.
    assert case["routing"]["department"] == _owner(app, GAS) != _owner(app, WELL)
    plan = case["lifeline"]["plan"]
    assert plan["code"] == "gas-leak-red" and plan["steps"][0]["done_at"] is None
    assert case["lifeline"]["alarms"][0]["id"] == alarm.id
    # A plan step done, then acknowledging and clearing the alarm by hand.
    r = api.post("leader", f"/api/v1/lifeline/cases/{alarm.case_id}/plan-steps/1/done",
                 json={"note": "已到场"})  # fmt: skip
    assert r.status_code == 200, r.text
    again = api.post("leader", f"/api/v1/lifeline/cases/{alarm.case_id}/plan-steps/1/done",
                     json={})  # fmt: skip
    assert again.status_code == 409
    ack = api.post("commander", f"/api/v1/lifeline/alarms/{alarm.id}/acknowledge", json={})
    assert ack.status_code == 200 and ack.json()["state"] == "acknowledged"
    assert ack.json()["series"]["points"]
    no_note = api.post("commander", f"/api/v1/lifeline/alarms/{alarm.id}/clear", json={})
    assert no_note.status_code == 422
    # The condition ends: after the hold time the alarm clears itself and notes the case.
    clock.advance(minutes=5)
    send_reading(app, WELL, "ch4", 1.0, "%LEL")
    clock.advance(minutes=6)
    send_reading(app, WELL, "ch4", 1.1, "%LEL")
    [alarm] = _alarms(app)
    assert alarm.state == "cleared" and alarm.cleared_how == "auto"
    case = api.get("commander", f"/api/v1/cases/{alarm.case_id}").json()
    actions = [e["action"] for e in case["timeline"]]
    assert "alarm_cleared" in actions and "plan_attached" in actions
    assert case["state"] == "dispatched"  # never closed by the alarm
    listed = api.get("commander", "/api/v1/lifeline/alarms?state=cleared&level=4").json()
    assert [a["id"] for a in listed["alarms"]] == [alarm.id]
    assert api.get("citizen", "/api/v1/lifeline/alarms").status_code == 403


def test_coupled_rule_and_rule_set_versions(app: App, clock: Clock) -> None:
    api = Api(app)
    for _ in range(8):
        send_reading(app, GAS, "pressure", 0.30, "MPa")
        send_reading(app, WELL, "ch4", 1.0, "%LEL")
        clock.advance(minutes=1)
    send_reading(app, WELL, "ch4", 6.0, "%LEL")  # 蓝 in the well …
    clock.advance(minutes=1)
    send_reading(app, WELL, "ch4", 6.5, "%LEL")
    clock.advance(minutes=1)
    send_reading(app, GAS, "pressure", 0.22, "MPa")  # … and the pipe loses pressure (a spike? …
    clock.advance(minutes=1)
    send_reading(app, GAS, "pressure", 0.21, "MPa")  # … no: 7.5 %/min since 0.30): coupled 红
    types = {a.alarm_type: a for a in _alarms(app)}
    assert types["gas_leak"].level == 1 and types["gas_leak"].case_id is None
    assert types["gas_leak_coupled"].level == 4 and types["gas_leak_coupled"].case_id
    # Rule sets: validation names every problem; a good one is a new version.
    bad: dict[str, Any] = {"rules": [{"id": "x", "kind": "threshold", "type": "Bad Type",
                                      "metric": "ch4", "levels": {"红": 1, "蓝": 2}}]}  # fmt: skip
    r = api.client.put("/api/v1/lifeline/rules", headers=api.headers("admin"), json=bad)
    assert r.status_code == 422, r.text
    reasons = " | ".join(p["reason"] for p in r.json()["error"]["details"]["problems"])
    assert "type" in reasons and "stricter" in reasons and "asset_kinds" in reasons
    current = api.get("commander", "/api/v1/lifeline/rules").json()
    assert current["version"] == 0
    url = "/api/v1/lifeline/rules"
    denied = api.client.put(url, headers=api.headers("commander"), json=current["content"])
    assert denied.status_code == 403
    ok = api.client.put(url + "?note=test", headers=api.headers("admin"), json=current["content"])
    assert ok.status_code == 200 and ok.json()["version"] == 1
    assert [v["version"] for v in api.get("admin", "/api/v1/lifeline/rules/versions").json()] \
        == [1]  # fmt: skip


def test_rule_state_survives_a_restart(app: App, clock: Clock) -> None:
    engine = alarm_engine(app)
    for v in (1.0, 1.2, 0.9, 1.1, 1.0, 1.3, 1.1):
        send_reading(app, WELL, "ch4", v, "%LEL")
        clock.advance(minutes=5)
    engine.close()  # snapshots the state (the cleaning window is full)
    from cityops.service.lifeline.engine import AlarmEngine

    fresh = AlarmEngine(app)
    telemetry(app).ingestor.listeners[:] = [fresh]
    send_reading(app, WELL, "ch4", 30.0, "%LEL")  # with the window restored, a lone jump is a spike
    assert _alarms(app) == [] and fresh.spikes == 1


def test_a_new_rule_set_version_reaches_the_engine_of_another_process(
    app: App, clock: Clock
) -> None:
    """PUT /lifeline/rules runs in the API process; the worker (or ingest child) that sees the
    readings is another App on the same database and must pick the new version up."""
    from cityops.service.lifeline import rulesets

    worker = bootstrap(app.settings.model_copy(update={"lifeline_rules_check_s": 3600}),
                       clock=clock)  # fmt: skip
    try:
        engine = alarm_engine(worker)
        send_reading(worker, WELL, "ch4", 1.0, "%LEL")
        assert engine.version == 0 and "offline" in {r.id for r in engine.ruleset.rules}
        content = rulesets.default_content()
        content["rules"] = [r for r in content["rules"] if r["id"] != "offline"]
        r = Api(app).client.put("/api/v1/lifeline/rules", json=content,
                                headers=Api(app).headers("admin"))  # fmt: skip
        assert r.status_code == 200 and r.json()["version"] == 1, r.text
        reads: list[str] = []  # the worker's statements on the rule sets

        def spy(_c: Any, _cur: Any, statement: str, *_: Any) -> None:
            if "lifeline_rule_sets" in statement:
                reads.append(statement)

        event.listen(worker.engine, "before_cursor_execute", spy)
        for v in (1.1, 1.0, 1.2):  # within the check interval: no query per batch
            clock.advance(minutes=1)
            send_reading(worker, WELL, "ch4", v, "%LEL")
        assert reads == [] and engine.version == 0
        # The interval has passed (as if an hour went by):
        worker.settings = worker.settings.model_copy(update={"lifeline_rules_check_s": 0})
        clock.advance(minutes=1)
        send_reading(worker, WELL, "ch4", 1.1, "%LEL")
        assert len(reads) == 2 and engine.version == 1  # the version, then the new content
        assert "offline" not in {r.id for r in engine.ruleset.rules}
    finally:
        telemetry(worker).close()
        worker.dispose()
