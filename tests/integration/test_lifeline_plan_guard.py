"""处置完成 on a case with an emergency plan (应急预案): refused (409, the open steps named) while
steps are open, unless the handler says why they are left (plan_note, kept in the event); the
case detail tells the phone the alarm's asset, where it is and the reading."""

from __future__ import annotations

from sqlalchemy import select

from cityops.adapters.db.alarm_models import AlarmRow
from cityops.adapters.db.models import CaseRow
from cityops.bootstrap import App
from tests.conftest import Clock
from tests.helpers import Api, send_reading

WELL = "SJ-CH4-0003"  # methane in a well, %{LEL}


def _red_gas_case(app: App, clock: Clock) -> tuple[int, str]:
    """A 红 gas leak: a normal background, then two readings over 25 %LEL; the case, started by
    the handler of the department it went to, and that handler."""
    for v in (1.0, 1.2, 0.9, 1.1, 1.0, 1.3, 1.1, 1.0, 30.0):
        send_reading(app, WELL, "ch4", v, "%LEL")
        clock.advance(minutes=5)
    send_reading(app, WELL, "ch4", 31.0, "%LEL")
    with app.reads() as s:
        alarm = s.scalars(select(AlarmRow).where(AlarmRow.level == 4)).one()
        case = s.get(CaseRow, alarm.case_id)
        assert case is not None and case.department_id is not None
        handler = f"handler-{app.reference.get().departments_by_id[case.department_id].code}"
    r = Api(app).post(handler, f"/api/v1/cases/{case.id}/actions/start", json={})
    assert r.status_code == 200, r.text
    return case.id, handler


def test_the_case_detail_names_the_asset_its_place_and_the_reading(
    app: App, clock: Clock
) -> None:
    case_id, handler = _red_gas_case(app, clock)
    case = Api(app).get(handler, f"/api/v1/cases/{case_id}").json()
    [alarm] = case["lifeline"]["alarms"]
    assert alarm["level"] == 4 and alarm["type"] == "gas_leak"
    asset = alarm["asset"]
    assert asset["code"].startswith("SJ-WL-") and asset["name"]
    assert asset["location"] == asset["name"]  # no address of its own: the name says where
    assert alarm["reading"] == {"device": WELL, "metric": "ch4", "value": 31.0,
                                "unit": "%{LEL}"}  # fmt: skip


def test_complete_is_refused_while_plan_steps_are_open_unless_a_reason_is_given(
    app: App, clock: Clock
) -> None:
    api = Api(app)
    case_id, handler = _red_gas_case(app, clock)
    plan = api.get(handler, f"/api/v1/cases/{case_id}").json()["lifeline"]["plan"]
    total = len(plan["steps"])
    assert total >= 2
    done = api.post(handler, f"/api/v1/lifeline/cases/{case_id}/plan-steps/1/done", json={})
    assert done.status_code == 200, done.text

    refused = api.post(handler, f"/api/v1/cases/{case_id}/actions/complete",
                       json={"note": "已处置"})  # fmt: skip
    assert refused.status_code == 409
    error = refused.json()["error"]
    assert error["code"] == "guard_failed" and error["details"]["guards"] == ["plan_done"]
    open_steps = error["details"]["open_plan_steps"]
    assert [s["no"] for s in open_steps] == list(range(2, total + 1))
    assert open_steps[0]["text"] == plan["steps"][1]["text"]
    blank = api.post(handler, f"/api/v1/cases/{case_id}/actions/complete",
                     json={"note": "已处置", "plan_note": "   "})  # fmt: skip
    assert blank.status_code == 409
    assert api.get(handler, f"/api/v1/cases/{case_id}").json()["state"] == "handling"

    reason = "其余步骤由燃气公司抢修队执行"
    r = api.post(handler, f"/api/v1/cases/{case_id}/actions/complete",
                 json={"note": "已处置", "plan_note": reason})  # fmt: skip
    assert r.status_code == 200, r.text
    case = api.get("leader", f"/api/v1/cases/{case_id}").json()
    assert case["state"] == "handled"
    [completed] = [e for e in case["timeline"] if e["action"] == "complete"]
    assert completed["data"]["plan_note"] == reason


def test_complete_goes_through_once_every_plan_step_is_done(app: App, clock: Clock) -> None:
    api = Api(app)
    case_id, handler = _red_gas_case(app, clock)
    plan = api.get(handler, f"/api/v1/cases/{case_id}").json()["lifeline"]["plan"]
    for step in plan["steps"]:
        r = api.post(handler, f"/api/v1/lifeline/cases/{case_id}/plan-steps/{step['no']}/done",
                     json={})  # fmt: skip
        assert r.status_code == 200, r.text
    r = api.post(handler, f"/api/v1/cases/{case_id}/actions/complete", json={"note": "已处置"})
    assert r.status_code == 200, r.text
    case = api.get("leader", f"/api/v1/cases/{case_id}").json()
    [completed] = [e for e in case["timeline"] if e["action"] == "complete"]
    assert "plan_note" not in completed["data"]
