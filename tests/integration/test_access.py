"""Jurisdiction: each role sees, and acts on, only its own cases; personal data stays masked.

A case outside the caller's reach is "not found" (404), both to read and to act on; the auditor
reads everything and writes nothing (403); administration is for the admin only (403).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cityops.bootstrap import App
from cityops.demo.city import DEMO_PASSWORD
from tests.helpers import STREET_A, STREET_B, Api, point_in

PHONE, MASKED_PHONE = "13812345678", "138****5678"
NAME, MASKED_NAME = "张三", "张*"
CITIZEN_DISPLAY_NAME = "张小明"  # the demo citizen's account: 市民 张小明

WHOLE_CITY = ("admin", "commander", "leader", "acceptor", "dispatcher", "auditor")
SEES_PERSONAL = ("acceptor", "leader")
MASKED = ("dispatcher", "commander", "inspector01", "admin", "auditor")
NON_ADMINS = ("commander", "dispatcher", "acceptor", "leader", "auditor", "citizen",
              "inspector01", "handler-roads", "handler-bj-greening")  # fmt: skip


@dataclass
class World:
    api: Api
    a: int  # the citizen's report in STREET_A
    b: int  # the citizen's report in STREET_B
    i: int  # inspector01's report in STREET_A


def _created(r: Any) -> int:
    assert r.status_code == 201, r.text
    return int(r.json()["case_id"])


def _world(app: App) -> World:
    api = Api(app)
    a = _created(api.citizen_report("acc-a", street=STREET_A))
    b = _created(api.citizen_report("acc-b", street=STREET_B))
    lon, lat, _ = point_in(STREET_A, seed=2)
    body = {"report_id": "acc-i", "category": "E0102", "description": "绿地旁暴露垃圾",
            "location": {"lon": lon, "lat": lat}}  # fmt: skip
    i = _created(api.post("inspector01", "/api/v1/intake/inspector", json=body))
    return World(api, a, b, i)


def _ids(api: Api, who: str, **params: Any) -> set[int]:
    r = api.get(who, "/api/v1/cases", params={"limit": 500, **params})
    assert r.status_code == 200, (who, r.text)
    page = r.json()
    ids = {item["id"] for item in page["items"]}
    assert page["total"] == len(ids), (who, page["total"], ids)
    return ids


def _error(r: Any, status: int, code: str) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.json()["error"]["code"] == code, r.text
    return dict(r.json()["error"]["details"])


def _detail(api: Api, who: str, case_id: int) -> dict[str, Any]:
    r = api.get(who, f"/api/v1/cases/{case_id}")
    assert r.status_code == 200, (who, case_id, r.text)
    return dict(r.json())


def _not_found(api: Api, who: str, case_id: int) -> None:
    r = api.get(who, f"/api/v1/cases/{case_id}")
    details = _error(r, 404, "not_found")
    assert details == {"case_id": case_id}, details  # nothing about the case leaks


def _department_id(api: Api, code: str) -> int:
    return next(d["id"] for d in api.get("admin", "/api/v1/departments").json()
                if d["code"] == code)  # fmt: skip


def _to_dispatched(api: Api, case_id: int, inspector: str = "inspector01") -> None:
    steps = [("acceptor", "accept", {}), (inspector, "verify", {"note": "属实"}),
             ("acceptor", "open", {}), ("dispatcher", "dispatch", {})]  # fmt: skip
    for who, action, body in steps:
        r = api.act(who, case_id, action, **body)
        assert r.status_code == 200, (action, r.text)


# --------------------------------------------------------------------------------------------
# Who sees what


def test_whole_city_roles_see_every_case(app: App) -> None:
    w = _world(app)
    for who in WHOLE_CITY:
        assert _ids(w.api, who) == {w.a, w.b, w.i}, who
        for case_id in (w.a, w.b, w.i):
            assert _detail(w.api, who, case_id)["id"] == case_id


def test_an_inspector_sees_and_acts_only_in_their_street(app: App) -> None:
    w = _world(app)
    api = w.api
    assert _ids(api, "inspector01") == {w.a, w.i}
    assert _ids(api, "inspector05") == {w.b}
    for case_id in (w.a, w.i):
        _detail(api, "inspector01", case_id)
        _not_found(api, "inspector05", case_id)
    _detail(api, "inspector05", w.b)
    _not_found(api, "inspector01", w.b)
    # A filter narrows the scope, it never widens it.
    assert _ids(api, "inspector05", area=STREET_A) == set()
    assert _ids(api, "inspector01", area="319901") == {w.a, w.i}

    for case_id in (w.a, w.b):
        assert api.act("acceptor", case_id, "accept").status_code == 200
    _error(api.act("inspector05", w.a, "verify", note="属实"), 404, "not_found")
    _error(api.act("inspector01", w.b, "verify", note="属实"), 404, "not_found")
    assert _detail(api, "leader", w.a)["state"] == "accepted"
    assert _detail(api, "leader", w.b)["state"] == "accepted"
    assert api.act("inspector01", w.a, "verify", note="属实").status_code == 200
    assert api.act("inspector05", w.b, "verify", note="属实").status_code == 200


def test_a_handler_sees_a_case_only_once_it_is_dispatched_to_their_department(app: App) -> None:
    w = _world(app)
    api = w.api
    mine, other = "handler-bj-greening", "handler-pc-greening"  # E0102 in 319901 / 319902

    for who in (mine, other, "handler-roads"):
        assert _ids(api, who) == set(), who
        _not_found(api, who, w.a)
        _error(api.act(who, w.a, "start"), 404, "not_found")

    _to_dispatched(api, w.a)
    assert api.handler_for(w.a) == mine
    assert _ids(api, mine) == {w.a}
    assert _detail(api, mine, w.a)["state"] == "dispatched"
    _not_found(api, mine, w.b)
    for who in (other, "handler-roads"):
        assert _ids(api, who) == set(), who
        _not_found(api, who, w.a)
        _error(api.act(who, w.a, "start"), 404, "not_found")
        _error(api.act(who, w.a, "return", note="不归我管"), 404, "not_found")
    assert _detail(api, "leader", w.a)["state"] == "dispatched"
    assert api.act(mine, w.a, "start").status_code == 200

    # Redispatched elsewhere: the first department keeps reading its history, but acts no more.
    assert api.act(mine, w.a, "return", note="非本部门职责").status_code == 200
    new = _department_id(api, "bj-chengguan")
    r = api.act("dispatcher", w.a, "dispatch", department_id=new)
    assert r.status_code == 200, r.text
    assert _ids(api, "handler-bj-chengguan") == {w.a}
    _detail(api, mine, w.a)
    _error(api.act(mine, w.a, "start"), 404, "not_found")
    assert api.act("handler-bj-chengguan", w.a, "start").status_code == 200


def _login(api: Api, username: str, password: str = DEMO_PASSWORD) -> dict[str, str]:
    """A token for a user made by the test (kept out of the helpers' shared token cache)."""
    r = api.client.post("/api/v1/auth/token", json={"username": username, "password": password})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def test_a_citizen_sees_only_their_own_reports(app: App) -> None:
    w = _world(app)
    api = w.api
    r = api.post("admin", "/api/v1/admin/users", json=[
        {"username": "citizen-li", "display_name": "市民 李四", "role": "citizen",
         "password": DEMO_PASSWORD}])  # fmt: skip
    assert r.status_code == 200, r.text
    assert r.json()["created"] == 1
    li = _login(api, "citizen-li")

    assert _ids(api, "citizen") == {w.a, w.b}  # not inspector01's report
    r = api.client.get("/api/v1/cases", headers=li)
    assert r.status_code == 200 and r.json()["total"] == 0, r.text
    for case_id in (w.a, w.b, w.i):
        r = api.client.get(f"/api/v1/cases/{case_id}", headers=li)
        _error(r, 404, "not_found")
        r = api.client.post(f"/api/v1/cases/{case_id}/actions/rate", json={"rating": 1},
                            headers=li)  # fmt: skip
        _error(r, 404, "not_found")

    # Her own report, with the same client id the other citizen used: a case of her own.
    lon, lat, _ = point_in(STREET_B)
    body = {"client_request_id": "acc-a", "category": "E0102", "description": "路口垃圾",
            "location": {"lon": lon, "lat": lat}}  # fmt: skip
    r = api.client.post("/api/v1/intake/citizen", json=body, headers=li)
    mine = _created(r)
    assert mine not in (w.a, w.b, w.i)
    r = api.client.get("/api/v1/cases", headers=li)
    assert [c["id"] for c in r.json()["items"]] == [mine], r.text
    assert api.client.get(f"/api/v1/cases/{mine}", headers=li).status_code == 200
    _not_found(api, "citizen", mine)
    assert _ids(api, "citizen") == {w.a, w.b}
    _detail(api, "inspector05", mine)  # her street's inspector sees it, as for anyone's report


def test_the_auditor_reads_everything_but_cannot_act(app: App) -> None:
    w = _world(app)
    api = w.api
    for action, body in (
        ("accept", {}),
        ("invalidate", {"note": "x"}),
        ("supervise", {"note": "x"}),
    ):
        _error(api.act("auditor", w.a, action, **body), 403, "forbidden")
    detail = _detail(api, "auditor", w.a)
    assert detail["state"] == "reported"
    assert len(detail["timeline"]) == 1
    assert detail["allowed_actions"] == []

    _to_dispatched(api, w.b, inspector="inspector05")
    _error(api.act("auditor", w.b, "dispatch"), 403, "forbidden")
    _error(api.act("auditor", w.b, "start"), 403, "forbidden")
    assert len(_detail(api, "leader", w.b)["timeline"]) == 5
    assert api.get("auditor", "/api/v1/admin/audit").status_code == 200


# --------------------------------------------------------------------------------------------
# Personal data


def _hotline_case(api: Api) -> int:
    lon, lat, _ = point_in(STREET_A, seed=3)
    body = {"work_order_no": "HL-PII-1", "appeal_type": "投诉", "content": "门口垃圾无人清运",
            "caller_name": NAME, "caller_phone": PHONE, "category": "E0102",
            "location": {"lon": lon, "lat": lat}}  # fmt: skip
    return _created(api.post("acceptor", "/api/v1/intake/hotline", json=body))


def test_reporters_are_shown_in_full_only_to_acceptor_and_shift_leader(app: App) -> None:
    w = _world(app)
    api = w.api
    hotline = _hotline_case(api)
    _to_dispatched(api, hotline)
    _to_dispatched(api, w.a)
    handler = api.handler_for(hotline)
    assert handler == api.handler_for(w.a)

    for who in SEES_PERSONAL:
        for case_id in (hotline, w.a):
            detail = _detail(api, who, case_id)
            assert (detail["reporter_name"], detail["reporter_phone"]) == (NAME, PHONE), who
            assert PHONE in detail["reports"][0]["raw"], who
        items = {c["id"]: c for c in api.get(who, "/api/v1/cases").json()["items"]}
        assert items[hotline]["reporter_phone"] == PHONE, who
        assert items[hotline]["reporter_name"] == NAME, who

    for who in (*MASKED, handler):
        for case_id in (hotline, w.a):
            r = api.get(who, f"/api/v1/cases/{case_id}")
            assert r.status_code == 200, (who, r.text)
            detail = r.json()
            assert detail["reporter_phone"] == MASKED_PHONE, who
            assert detail["reporter_name"] == MASKED_NAME, who
            assert detail["reports"][0]["raw"] is None, who
            assert PHONE not in r.text and NAME not in r.text, (who, case_id)
        r = api.get(who, "/api/v1/cases", params={"limit": 500})
        items = {c["id"]: c for c in r.json()["items"]}
        assert items[hotline]["reporter_phone"] == MASKED_PHONE, who
        assert items[hotline]["reporter_name"] == MASKED_NAME, who
        assert PHONE not in r.text and NAME not in r.text, who
        # Searching by the number finds nothing: it is not a way around the mask.
        assert _ids(api, who, q=PHONE) == set(), who

    # The reporter's own view is masked too (they know their number).
    detail = _detail(api, "citizen", w.a)
    assert detail["reporter_phone"] == MASKED_PHONE


def test_the_reporting_citizen_is_not_named_to_other_roles(app: App) -> None:
    w = _world(app)
    api = w.api
    _to_dispatched(api, w.a)
    for who in (*MASKED, api.handler_for(w.a)):
        r = api.get(who, f"/api/v1/cases/{w.a}")
        assert r.status_code == 200, r.text
        assert CITIZEN_DISPLAY_NAME not in r.text, (who, r.json()["timeline"][0]["actor"])


def test_the_evaluation_export_holds_no_personal_data(app: App) -> None:
    w = _world(app)
    api = w.api
    _hotline_case(api)
    _to_dispatched(api, w.a)
    period = {"from": "2026-11-01T00:00:00+08:00", "to": "2026-12-01T00:00:00+08:00"}
    leaks = (PHONE, MASKED_PHONE, NAME, MASKED_NAME, CITIZEN_DISPLAY_NAME, "citizen")
    for who in ("leader", "admin", "commander", "auditor"):
        for dimension in ("department", "street", "grid", "inspector"):
            params = {**period, "dimension": dimension}
            r = api.get(who, "/api/v1/evaluation", params={**params, "format": "csv"})
            assert r.status_code == 200, (who, dimension, r.text)
            assert r.headers["content-type"].startswith("text/csv")
            for leak in leaks:
                assert leak not in r.text, (who, dimension, leak)
            if dimension == "street":
                assert STREET_A in r.text and STREET_B in r.text  # the cases are counted
            r = api.get(who, "/api/v1/evaluation", params=params)
            assert r.status_code == 200, r.text
            for leak in leaks:
                assert leak not in r.text, (who, dimension, leak)


# --------------------------------------------------------------------------------------------
# Administration is for the admin


ADMIN_ENDPOINTS: dict[str, Any] = {
    "/api/v1/admin/rules": {"version": "intruder-v2", "effective_from": "2026-11-01T08:00:00Z",
                            "rules": [{"category": "E0102", "area": "319901",
                                       "department": "roads"}]},
    "/api/v1/admin/users": [{"username": "intruder", "role": "admin",
                             "password": "intruder-password"}],
    "/api/v1/admin/regions": {"type": "FeatureCollection", "features": []},
    "/api/v1/admin/departments": [{"code": "intruders", "name": "入侵者", "level": "city",
                                   "region_code": "319900"}],
    "/api/v1/admin/taxonomy": {"categories": []},
    "/api/v1/admin/holidays": {"year": 2027, "holidays": [], "workdays": []},
    "/api/v1/admin/api-keys": {"name": "intruder", "channels": ["hotline"]},
}  # fmt: skip


def _which(api: Api) -> dict[str, Any]:
    r = api.post("leader", "/api/v1/rules/which",
                 json={"category": "E0102", "area": point_in(STREET_A)[2]})  # fmt: skip
    assert r.status_code == 200, r.text
    return dict(r.json())


def test_admin_endpoints_are_forbidden_to_everyone_else(app: App) -> None:
    api = Api(app)
    rule_before = _which(api)
    regions_before = api.get("admin", "/api/v1/regions").json()
    departments_before = api.get("admin", "/api/v1/departments").json()
    failures = []
    for who in NON_ADMINS:
        for path, body in ADMIN_ENDPOINTS.items():
            r = api.post(who, path, json=body)
            if r.status_code != 403 or r.json()["error"]["code"] != "forbidden":
                failures.append(f"{who} POST {path}: {r.status_code} {r.text}")
            elif r.json()["error"]["details"].get("allowed_roles") != ["admin"]:
                failures.append(f"{who} POST {path}: {r.text}")
    for path, body in ADMIN_ENDPOINTS.items():
        r = api.client.post(path, json=body)
        if r.status_code != 401:
            failures.append(f"anonymous POST {path}: {r.status_code} {r.text}")
    assert not failures, "\n".join(failures)

    # Nothing changed.
    assert _which(api) == rule_before
    assert rule_before["ruleset"] == "demo-v1"
    assert api.get("admin", "/api/v1/regions").json() == regions_before
    assert api.get("admin", "/api/v1/departments").json() == departments_before
    r = api.client.post("/api/v1/auth/token",
                        json={"username": "intruder", "password": "intruder-password"})  # fmt: skip
    assert r.status_code == 401, r.text

    # The admin may (the same user import succeeds).
    r = api.post("admin", "/api/v1/admin/users", json=ADMIN_ENDPOINTS["/api/v1/admin/users"])
    assert r.status_code == 200, r.text
    assert r.json()["created"] == 1


# --------------------------------------------------------------------------------------------
# Reports located only by an address


def test_a_report_located_only_by_address_reaches_the_centre_for_amendment(app: App) -> None:
    api = Api(app)
    body = {"category": "E0102", "description": "来电反映垃圾堆积", "reporter_name": NAME,
            "location": {"address": "滨江区海棠路1号"}}  # fmt: skip
    r = api.post("acceptor", "/api/v1/intake/manual", json=body,
                 headers={"Idempotency-Key": "addr-1"})  # fmt: skip
    case_id = _created(r)
    for who in ("acceptor", "leader", "dispatcher", "commander"):
        assert case_id in _ids(api, who), who
        _detail(api, who, case_id)
    lon, lat, grid = point_in(STREET_A)
    r = api.act("acceptor", case_id, "amend", location={"lon": lon, "lat": lat})
    assert r.status_code == 200, r.text
    assert _detail(api, "acceptor", case_id)["grid_code"] == grid
