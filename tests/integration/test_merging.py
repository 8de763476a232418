"""并案 by hand (merge, reject a suggestion) and the 结案 notices to every merged reporter."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from cityops.adapters.db.models import CaseEventRow, NotificationRow, ReportRow
from cityops.bootstrap import App
from cityops.domain.dedupe import Match
from cityops.domain.errors import ValidationFailed
from cityops.domain.model import Role
from cityops.domain.workflow import Command
from cityops.service.dedupe import attach_report
from cityops.service.notify import deliver
from cityops.service.principal import SYSTEM, Principal
from cityops.service.sweeper import sweep
from cityops.service.workflow import act
from tests.conftest import Clock
from tests.helpers import STREET_A, STREET_B, Api, point_in

LON, LAT, _ = point_in(STREET_A, seed=21)


def _citizen(api: Api, key: str, text: str = "小区门口垃圾堆积，气味很大", *,
             seed: int | None = None, dx_m: float = 0.0) -> dict[str, Any]:  # fmt: skip
    """A citizen's report (always the demo citizen, phone 13812345678), here or at ``seed``."""
    lon, lat, _ = point_in(STREET_A, seed=seed) if seed is not None else (LON, LAT, None)
    body = {"client_request_id": key, "category": "E0102", "description": text,
            "location": {"lon": lon + dx_m / 95_000, "lat": lat},
            "contact_phone": "13812345678"}  # fmt: skip
    r = api.post("citizen", "/api/v1/intake/citizen", json=body)
    assert r.status_code in (200, 201), r.text
    return dict(r.json())


def _detail(api: Api, case_id: int, who: str = "leader") -> dict[str, Any]:
    return dict(api.get(who, f"/api/v1/cases/{case_id}").json())


def _merge(api: Api, case_id: int, into: str, who: str = "acceptor", **kw: Any) -> Any:
    return api.post(who, f"/api/v1/cases/{case_id}/actions/merge", json={"into": into}, **kw)


def _error(r: Any) -> dict[str, Any]:
    return dict(r.json()["error"])


def test_merge_by_hand_moves_the_reports(app: App, clock: Clock) -> None:
    api = Api(app)
    first = _citizen(api, "m-1", "小区门口垃圾堆积没人清理")
    clock.advance(minutes=30)
    second = _citizen(api, "m-2", "小区门口有垃圾没人清理", dx_m=70)  # alike, 70 m: suggested
    assert second["merged"] is False
    dup = _detail(api, second["case_id"])
    assert dup["duplicate_suggestion"]["case_no"] == first["case_no"]
    assert dup["duplicate_suggestion"]["score"] > 0.45
    listed = api.get("acceptor", "/api/v1/cases", params={"suggested": "true"}).json()
    assert [c["id"] for c in listed["items"]] == [second["case_id"]]

    key = {"headers": {"Idempotency-Key": "merge-m-2"}}
    r = _merge(api, second["case_id"], first["case_no"], **key)
    assert r.status_code == 200, r.text
    assert (r.json()["to_state"], r.json()["replayed"]) == ("merged", False)
    again = _merge(api, second["case_id"], first["case_no"], **key)
    assert again.status_code == 200 and again.json()["replayed"] is True

    dup = _detail(api, second["case_id"])
    assert dup["state"] == "merged" and dup["state_label"] == "已并案"
    assert dup["merged_into"]["case_no"] == first["case_no"] and "duplicate_suggestion" not in dup
    assert dup["report_count"] == 0 and dup["reports"] == [] and dup["clock"] is None
    assert dup["timeline"][-1]["data"]["into"] == first["case_no"]
    assert dup["timeline"][-1]["note"] == f"并入案卷 {first['case_no']} / merged into case " \
                                          f"{first['case_no']}"  # fmt: skip
    target = _detail(api, first["case_id"])
    assert target["report_count"] == 2 and len(target["reports"]) == 2
    moved = [e for e in target["timeline"] if e["action"] == "merge_report"]
    assert len(moved) == 1 and moved[0]["data"]["from"]["case_no"] == second["case_no"]
    with app.reads() as s:
        reports = s.scalars(select(ReportRow).where(ReportRow.case_id == first["case_id"])).all()
        assert sorted(r.merged for r in reports) == [False, True]
        merges = s.scalar(select(func.count()).select_from(CaseEventRow).where(
            CaseEventRow.action == "merge"))  # fmt: skip
        assert merges == 1  # the replay wrote nothing
    assert api.get("acceptor", "/api/v1/cases", params={"suggested": "true"}).json()["total"] == 0
    # Anything further on the merged case is refused, listing what is allowed: nothing.
    later = _merge(api, second["case_id"], first["case_no"])
    assert later.status_code == 409 and _error(later)["details"]["allowed"] == []


def test_merge_refusals_are_clear(app: App) -> None:
    api = Api(app)
    a = _citizen(api, "e-a", seed=31)
    b = _citizen(api, "e-b", seed=32)
    c = _citizen(api, "e-c", seed=33)
    gone = _citizen(api, "e-gone", seed=34)
    assert api.act("acceptor", gone["case_id"], "invalidate", note="重复来电").status_code == 200

    for into, field_msg in [(a["case_no"], "itself"), ("20990101999999", "not found"),
                            (None, "case number")]:  # fmt: skip
        r = _merge(api, a["case_id"], into)  # type: ignore[arg-type]
        assert r.status_code == 422 and _error(r)["details"]["field"] == "into", r.text
        assert field_msg in _error(r)["message"]
    r = _merge(api, a["case_id"], gone["case_no"])
    assert r.status_code == 409 and _error(r)["code"] == "guard_failed"
    assert f"case {gone['case_no']} is invalid" in _error(r)["message"]

    assert _merge(api, a["case_id"], b["case_no"]).status_code == 200  # a → b
    cycle = _merge(api, b["case_id"], a["case_no"])  # b → a would close a loop
    assert cycle.status_code == 409 and _error(cycle)["code"] == "guard_failed"
    assert f"merged into {b['case_no']}" in _error(cycle)["message"]
    chain = _merge(api, c["case_id"], a["case_no"])  # c → a: a is no longer a case of its own
    assert chain.status_code == 409 and b["case_no"] in _error(chain)["message"]
    assert _merge(api, c["case_id"], b["case_no"]).status_code == 200  # the case holding a
    assert _detail(api, b["case_id"])["report_count"] == 3

    # Who may: the centre's desks; an inspector's step is illegal, an auditor only reads.
    d = _citizen(api, "e-d", seed=35)
    wrong = _merge(api, d["case_id"], b["case_no"], who="inspector01")
    assert wrong.status_code == 409 and _error(wrong)["code"] == "illegal_transition"
    assert _merge(api, d["case_id"], b["case_no"], who="auditor").status_code == 403
    assert _merge(api, d["case_id"], b["case_no"], who="dispatcher").status_code == 200


def test_a_dispatched_case_is_not_merged(app: App) -> None:
    api = Api(app)
    target = _citizen(api, "d-1", seed=41)
    late = _citizen(api, "d-2", seed=42)
    for who, action in [("acceptor", "accept"), ("inspector01", "verify"), ("acceptor", "open"),
                        ("dispatcher", "dispatch")]:  # fmt: skip
        assert api.act(who, late["case_id"], action).status_code == 200, action
    r = _merge(api, late["case_id"], target["case_no"], who="leader")
    assert r.status_code == 409 and _error(r)["code"] == "illegal_transition"
    # …but it may well be the case others are merged into.
    assert _merge(api, target["case_id"], late["case_no"]).status_code == 200


def test_the_target_must_be_in_the_callers_jurisdiction(app: App) -> None:
    api = Api(app)
    outside = _citizen(api, "j-1", seed=51)  # street A
    lon, lat, _ = point_in(STREET_B, seed=52)
    body = {"client_request_id": "j-2", "category": "E0102", "description": "路边垃圾",
            "location": {"lon": lon, "lat": lat}}  # fmt: skip
    inside = api.post("citizen", "/api/v1/intake/citizen", json=body).json()
    desk = Principal(None, "b-desk", Role.ACCEPTOR, scope_code=STREET_B)
    with pytest.raises(ValidationFailed) as info:
        act(app, inside["case_id"], desk, Command("merge", data={"into": outside["case_no"]}))
    assert "not found" in info.value.message


def test_rejecting_a_suggestion_keeps_the_cases_apart(app: App) -> None:
    api = Api(app)
    _citizen(api, "r-1", "小区门口垃圾堆积没人清理")
    second = _citizen(api, "r-2", "小区门口有垃圾没人清理", dx_m=70)
    case_id = second["case_id"]
    assert "duplicate_suggestion" in _detail(api, case_id)
    no_reason = api.act("acceptor", case_id, "reject_duplicate")
    assert no_reason.status_code == 409 and _error(no_reason)["code"] == "guard_failed"
    r = api.act("acceptor", case_id, "reject_duplicate", note="一个在东门，一个在西门")
    assert r.status_code == 200 and r.json()["to_state"] == "reported"
    detail = _detail(api, case_id)
    assert "duplicate_suggestion" not in detail and detail["duplicate_of"] is None
    assert detail["timeline"][-1]["data"]["rejected_case_id"] is not None
    again = api.act("acceptor", case_id, "reject_duplicate", note="再次")
    assert again.status_code == 409 and "no 并案 suggestion" in _error(again)["message"]


def _close(api: Api, case_id: int) -> None:
    steps = [("acceptor", "accept", {}), ("inspector01", "verify", {}), ("acceptor", "open", {}),
             ("dispatcher", "dispatch", {})]  # fmt: skip
    for who, action, body in steps:
        assert api.act(who, case_id, action, **body).status_code == 200, action
    handler = api.handler_for(case_id)
    for who, action, body in [
        (handler, "start", {}),
        (handler, "complete", {"note": "已清运完毕"}),
        ("inspector01", "check_pass", {}),
        ("acceptor", "close", {}),
    ]:
        assert api.act(who, case_id, action, **body).status_code == 200, action  # fmt: skip


def test_closing_tells_every_reporter_once(app: App, clock: Clock) -> None:
    api = Api(app)
    case = _citizen(api, "n-1")
    clock.advance(minutes=10)
    hotline = {"work_order_no": "HL-n-2", "appeal_type": "投诉", "category": "E0102",
               "content": "小区门口垃圾堆积，味道很大", "caller_phone": "13900001111",
               "location": {"lon": LON, "lat": LAT}}  # fmt: skip
    merged = api.post("acceptor", "/api/v1/intake/hotline", json=hotline).json()
    assert merged["merged"] is True and merged["case_id"] == case["case_id"]
    again = _citizen(api, "n-3", "小区门口垃圾堆积，气味很大！", dx_m=5)  # the same citizen
    assert again["merged"] is True
    lon, lat, _ = point_in(STREET_A, seed=61)
    inspector = api.post("inspector01", "/api/v1/intake/inspector", json={
        "report_id": "n-4", "category": "E0102", "description": "垃圾满溢",
        "location": {"lon": lon, "lat": lat}}).json()  # fmt: skip
    lon, lat, _ = point_in(STREET_A, seed=62)
    anonymous = api.post("acceptor", "/api/v1/intake/manual", headers={"Idempotency-Key": "n-5"},
                         json={"category": "E0102", "description": "来信反映垃圾堆积",
                               "location": {"lon": lon, "lat": lat}}).json()  # fmt: skip
    for dup in (inspector, anonymous):
        assert _merge(api, dup["case_id"], case["case_no"]).status_code == 200
    assert _detail(api, case["case_id"])["report_count"] == 5

    _close(api, case["case_id"])
    listing = api.get("leader", f"/api/v1/cases/{case['case_id']}/notifications").json()
    assert listing["summary"] == {"reports": 5, "reporters": 4, "notified": 3,
                                  "without_contact": 1}  # fmt: skip
    items = listing["items"]
    assert sorted((n["channel"], n["recipient"]) for n in items) == [
        ("app", "inspector01"),
        ("sms", "13812345678"),
        ("sms", "13900001111"),
    ]
    assert {n["status"] for n in items} == {"pending"}
    assert all(case["case_no"] in n["body"] and "已清运完毕" in n["body"] for n in items)
    masked = api.get("dispatcher", f"/api/v1/cases/{case['case_id']}/notifications").json()
    assert "138****5678" in {n["recipient"] for n in masked["items"]}
    assert api.get("citizen", f"/api/v1/cases/{case['case_id']}/notifications").status_code == 403

    assert sweep(app).notified == 3
    assert sweep(app).notified == 0  # nothing is sent twice
    with app.reads() as s:
        rows = s.scalars(select(NotificationRow)).all()
        assert len(rows) == 3 and {(r.status, r.attempts) for r in rows} == {("sent", 1)}
        assert all(r.sent_at is not None for r in rows)


class _Down:
    def send(self, channel: str, recipient: str, body: str) -> None:
        raise ConnectionError("gateway down")


def test_a_failing_gateway_is_retried_then_given_up(app: App) -> None:
    api = Api(app)
    case = _citizen(api, "f-1", seed=71)
    _close(api, case["case_id"])
    first = deliver(app, _Down(), max_attempts=2)
    assert (first.sent, first.retrying, first.failed) == (0, 1, 0)
    second = deliver(app, _Down(), max_attempts=2)
    assert (second.sent, second.retrying, second.failed) == (0, 0, 1)
    assert deliver(app).sent == 0  # given up: not picked again
    with app.reads() as s:
        row = s.scalars(select(NotificationRow)).one()
        assert (row.status, row.attempts) == ("failed", 2)
        assert row.last_error == "ConnectionError: gateway down"


def test_an_auto_merge_follows_a_case_merged_meanwhile(app: App, clock: Clock) -> None:
    """Intake matched case a, then a desk merged a into b: the report lands on b."""
    api = Api(app)
    a = _citizen(api, "x-a", seed=81)
    b = _citizen(api, "x-b", seed=82)
    assert _merge(api, a["case_id"], b["case_no"]).status_code == 200
    match = Match(a["case_id"], 0.9, 5.0, 0.9, True)
    values = {"channel": "hotline", "source_id": "HL-x", "received_at": clock.now, "raw": "{}",
              "reporter_phone": "13900002222"}  # fmt: skip
    with app.sessions.begin() as s:
        joined = attach_report(s, match, values, SYSTEM, clock.now, ())
        assert joined.id == b["case_id"]
    assert _detail(api, b["case_id"])["report_count"] == 3
