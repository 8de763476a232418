"""A citizen's report flows to 结案, and the evaluation changes accordingly."""

from __future__ import annotations

from cityops.bootstrap import App
from tests.conftest import Clock
from tests.helpers import STREET_A, Api, point_in


def _evaluation(api: Api, dimension: str) -> dict[str, dict]:
    r = api.get("leader", "/api/v1/evaluation", params={
        "from": "2026-11-01T00:00:00+08:00", "to": "2026-12-01T00:00:00+08:00",
        "dimension": dimension})
    assert r.status_code == 200, r.text
    return {row["key"]: row for row in r.json()["rows"]}


def test_citizen_report_to_closed_and_rated(app: App, clock: Clock) -> None:
    api = Api(app)
    before = _evaluation(api, "street").get(STREET_A)
    r = api.citizen_report("e2e-1")
    assert r.status_code == 201, r.text
    case_id = r.json()["case_id"]
    assert r.json()["state"] == "reported"

    steps = [("acceptor", "accept", {}), ("inspector01", "verify", {"note": "属实"}),
             ("acceptor", "open", {}), ("dispatcher", "dispatch", {})]
    for who, action, body in steps:
        clock.advance(minutes=20)
        r = api.act(who, case_id, action, **body)
        assert r.status_code == 200, (action, r.text)

    detail = api.get("leader", f"/api/v1/cases/{case_id}").json()
    assert detail["state"] == "dispatched"
    assert detail["routing"]["explanation"]  # why it went where it went
    assert detail["department_id"] == detail["routing"]["department_id"]
    handler = api.handler_for(case_id)

    clock.advance(hours=1)
    assert api.act(handler, case_id, "start").status_code == 200
    clock.advance(hours=2)
    r = api.act(handler, case_id, "complete", note="已清运", media=["photo://after.jpg"])
    assert r.status_code == 200, r.text
    clock.advance(minutes=30)
    assert api.act("inspector01", case_id, "check_pass").status_code == 200
    assert api.act("acceptor", case_id, "close").status_code == 200
    r = api.act("citizen", case_id, "rate", rating=5)
    assert r.status_code == 200, r.text

    detail = api.get("citizen", f"/api/v1/cases/{case_id}").json()
    assert detail["state"] == "closed"
    actions = [e["action"] for e in detail["timeline"]]
    assert actions == ["submit", "accept", "verify", "open", "dispatch", "start", "complete",
                       "check_pass", "close", "rate"]
    assert detail["timeline"][6]["media"] == ["photo://after.jpg"]
    assert detail["reporter_phone"] == "138****5678"  # the citizen's own view is masked too

    after = _evaluation(api, "street")[STREET_A]
    old = before["metrics"] if before else {"reported": 0, "closed": 0}
    assert after["metrics"]["reported"] == old["reported"] + 1
    assert after["metrics"]["closed"] == old["closed"] + 1
    dept_rows = _evaluation(api, "department")
    assert dept_rows[str(detail["department_id"])]["metrics"]["handled"] >= 1


def test_urgent_report_takes_the_fast_path(app: App) -> None:
    api = Api(app)
    lon, lat, _ = point_in(STREET_A)
    body = {"report_id": "cave-in-1", "category": "E0401", "description": "路面塌陷约一平方米",
            "location": {"lon": lon, "lat": lat}}
    r = api.post("inspector01", "/api/v1/intake/inspector", json=body)
    assert r.status_code == 201, r.text
    detail = api.get("leader", f"/api/v1/cases/{r.json()['case_id']}").json()
    assert detail["state"] == "dispatched"
    assert [e["action"] for e in detail["timeline"]] == ["submit", "fast_track", "dispatch"]
    assert detail["clock"]["limit"].endswith("h") and not detail["clock"]["limit"].endswith("wh")
