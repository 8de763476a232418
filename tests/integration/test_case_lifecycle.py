"""Side paths of the workflow, deadlines and the sweeper, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from cityops.adapters.db.models import CaseEventRow, CaseRow
from cityops.bootstrap import App
from cityops.service.sweeper import sweep
from tests.conftest import Clock
from tests.helpers import Api


def _dispatched(api: Api, source: str) -> int:
    case_id = api.citizen_report(source).json()["case_id"]
    for who, action, body in [("acceptor", "accept", {}), ("inspector01", "verify", {}),
                              ("acceptor", "open", {}), ("dispatcher", "dispatch", {})]:
        r = api.act(who, case_id, action, **body)
        assert r.status_code == 200, (action, r.text)
    return case_id


def _case(app: App, case_id: int) -> CaseRow:
    with app.reads() as s:
        case = s.get(CaseRow, case_id)
        assert case is not None
        return case


def test_return_goes_back_to_dispatch_and_is_counted(app: App) -> None:
    api = Api(app)
    case_id = _dispatched(api, "ret-1")
    handler = api.handler_for(case_id)
    r = api.act(handler, case_id, "return", note="不属于本单位")
    assert r.status_code == 200 and r.json()["to_state"] == "opened"
    detail = api.get("leader", f"/api/v1/cases/{case_id}").json()
    assert detail["department_id"] is None
    returned = detail["timeline"][-1]
    assert returned["action"] == "return" and returned["data"]["rule_id"] is not None
    # The handler no longer holds it, so it can no longer act on it.
    assert api.act(handler, case_id, "start").status_code == 404


def test_rework_after_failed_check(app: App, clock: Clock) -> None:
    api = Api(app)
    case_id = _dispatched(api, "rework-1")
    handler = api.handler_for(case_id)
    api.act(handler, case_id, "start")
    api.act(handler, case_id, "complete", note="done")
    r = api.act("inspector01", case_id, "check_fail", note="未清理干净")
    assert r.json()["to_state"] == "handling"
    assert _case(app, case_id).stage == "handle"


def test_suspension_pauses_the_clock(app: App, clock: Clock) -> None:
    api = Api(app)
    case_id = _dispatched(api, "hang-1")
    due_before = _case(app, case_id).stage_due_at
    assert due_before is not None
    assert api.act("leader", case_id, "suspend", note="产权纠纷").status_code == 200
    clock.advance(days=7)  # a whole working week passes while suspended
    assert sweep(app).marked_overdue == 0 or _case(app, case_id).state == "suspended"
    assert api.act("leader", case_id, "resume").json()["to_state"] == "dispatched"
    due_after = _case(app, case_id).stage_due_at
    assert due_after is not None and due_after - due_before >= timedelta(days=7)
    assert _case(app, case_id).stage_overdue is False


def test_extension_moves_the_deadline(app: App) -> None:
    api = Api(app)
    case_id = _dispatched(api, "ext-1")
    handler = api.handler_for(case_id)
    due = _case(app, case_id).stage_due_at
    r = api.act(handler, case_id, "request_extension", note="需协调", extension="2wd")
    assert r.status_code == 200
    again = api.act(handler, case_id, "request_extension", note="再次", extension="1wd")
    assert again.status_code == 409  # one pending request at a time
    assert api.act("leader", case_id, "approve_extension").status_code == 200
    new_due = _case(app, case_id).stage_due_at
    assert due is not None and new_due is not None and new_due > due
    assert _case(app, case_id).extension is None


def test_sweeper_marks_overdue_and_escalates_once(app: App, clock: Clock) -> None:
    api = Api(app)
    case_id = _dispatched(api, "late-1")
    clock.advance(days=30)
    first = sweep(app)
    assert first.marked_overdue >= 1 and first.escalated >= 1
    case = _case(app, case_id)
    assert case.stage_overdue and case.level == "district"
    second = sweep(app)
    assert (second.marked_overdue, second.escalated) == (0, 0)  # idempotent
    with app.reads() as s:
        actions = s.scalars(select(CaseEventRow.action).where(CaseEventRow.case_id == case_id))
        assert sorted(a for a in actions if a in ("overdue", "escalate")) == ["escalate",
                                                                                 "overdue"]
    detail = api.get("leader", f"/api/v1/cases/{case_id}").json()
    assert detail["clock"]["colour"] == "red"


def test_supervise_raises_priority_and_reopen(app: App) -> None:
    api = Api(app)
    case_id = _dispatched(api, "sup-1")
    assert api.act("commander", case_id, "supervise", note="加快").status_code == 200
    assert _case(app, case_id).priority == "high"
    handler = api.handler_for(case_id)
    api.act(handler, case_id, "start")
    api.act(handler, case_id, "complete", note="ok")
    api.act("inspector01", case_id, "check_pass")
    api.act("acceptor", case_id, "close")
    r = api.act("leader", case_id, "reopen", note="市民投诉仍未解决")
    assert r.json()["to_state"] == "opened"
    assert _case(app, case_id).closed_at is None


def test_case_log_is_append_only(app: App) -> None:
    api = Api(app)
    case_id = api.citizen_report("immutable-1").json()["case_id"]
    with pytest.raises(DBAPIError), app.sessions.begin() as s:
        s.execute(text("UPDATE case_events SET note = 'x' WHERE case_id = :c"), {"c": case_id})
    with pytest.raises(DBAPIError), app.sessions.begin() as s:
        s.execute(text("DELETE FROM case_events WHERE case_id = :c"), {"c": case_id})


def test_deadline_into_an_unknown_year_warns(app: App, clock: Clock) -> None:
    clock.now = datetime(2026, 12, 31, 7, 0, tzinfo=UTC)  # 15:00 on New Year's Eve
    api = Api(app)
    case_id = _dispatched(api, "newyear-1")
    detail = api.get("leader", f"/api/v1/cases/{case_id}").json()
    assert any("2027" in w for w in detail["warnings"])
    # Loading the official schedule for 2027 as data makes later deadlines use it.
    schedule = {"year": 2027, "holidays": [{"name": "元旦", "dates": ["2027-01-01"]}]}
    r = api.post("admin", "/api/v1/admin/holidays", json=schedule)
    assert r.status_code == 200, r.text
    years = [y["year"] for y in api.get("admin", "/api/v1/calendar").json()["years"]]
    assert 2027 in years
    bad = api.post("admin", "/api/v1/admin/holidays", json={"year": 2027, "holidays": "x"})
    assert bad.status_code == 422


def test_hotline_batch_judges_each_order(app: App) -> None:
    api = Api(app)
    from tests.helpers import STREET_A, point_in

    lon, lat, _ = point_in(STREET_A)
    good = {"work_order_no": "B-1", "appeal_type": "投诉", "content": "路灯不亮",
            "category": "C0110", "location": {"lon": lon, "lat": lat}}
    outside = {**good, "work_order_no": "B-2", "location": {"lon": 116.4, "lat": 39.9}}
    malformed = {"work_order_no": "B-3"}
    r = api.post("acceptor", "/api/v1/intake/hotline/batch",
                 json={"orders": [good, outside, malformed, good]})
    assert r.status_code == 200, r.text
    statuses = [x["status"] for x in r.json()["results"]]
    assert statuses == ["created", "rejected", "rejected", "duplicate"]
    results = r.json()["results"]
    assert results[0]["case_id"] == results[3]["case_id"]
    assert results[1]["details"]["reason"] == "outside_jurisdiction"
    again = api.post("acceptor", "/api/v1/intake/hotline/batch", json={"orders": [good]})
    assert again.json()["results"][0]["status"] == "duplicate"
