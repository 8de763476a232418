"""Administration over the API: all-or-nothing imports, single-item edits, reads, the audit log.

Every refusal is checked for its status, its error code, that it names each offending item, and
that nothing was written. Most tests run on SQLite; the ones whose effect crosses into routing,
deadlines or row locking run on both engines.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import func, select

from cityops.adapters.db.models import AuditRow, DepartmentRow, RegionRow, RuleSetRow, UserRow
from cityops.bootstrap import App
from cityops.demo.city import DEMO_PASSWORD
from tests.conftest import T0, Clock
from tests.helpers import STREET_A, STREET_B, Api, point_in

NON_ADMINS = ("commander", "dispatcher", "acceptor", "leader", "auditor", "citizen",
              "inspector01", "handler-roads", "handler-bj-greening")  # fmt: skip
STAFF = ("admin", "commander", "dispatcher", "acceptor", "leader", "auditor", "inspector01",
         "handler-bj-greening")  # fmt: skip
NEW_COMMUNITY = "319901001099"  # under 外滩湾街道 (STREET_A); the demo city has 5 per street
# East of the demo city: a new grid cell must not overlap the existing ones.
SQUARE = "POLYGON((121.70 31.20, 121.701 31.20, 121.701 31.201, 121.70 31.201, 121.70 31.20))"


class AdminApi(Api):
    def patch(self, username: str, path: str, json: Any = None) -> Any:
        return self._send("PATCH", username, path, json=json)

    def fresh_login(self, username: str, password: str = DEMO_PASSWORD) -> Any:
        """Log in without the shared token cache (for users a test creates or changes)."""
        self._tokens.pop(username, None)
        return self.client.post(
            "/api/v1/auth/token", json={"username": username, "password": password}
        )


def _ok(r: Any, status: int = 200) -> Any:
    assert r.status_code == status, r.text
    return r.json()


def _error(r: Any, status: int, code: str) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.json()["error"]["code"] == code, r.text
    return dict(r.json()["error"]["details"])


def _problems(r: Any, status: int = 422, code: str = "import_rejected") -> list[dict[str, str]]:
    problems: list[dict[str, str]] = _error(r, status, code)["problems"]
    return problems


def _items(problems: list[dict[str, str]]) -> set[str]:
    return {p["item"] for p in problems}


def _count(app: App, model: Any) -> int:
    with app.reads() as s:
        return int(s.scalar(select(func.count()).select_from(model)) or 0)


def _dept_id(api: Api, code: str) -> int:
    return int(next(d["id"] for d in api.get("admin", "/api/v1/departments").json()
                    if d["code"] == code))  # fmt: skip


def _feature(code: str, name: str, level: str, parent: str | None, geometry: Any = None) -> Any:
    props = {"code": code, "name": name, "level": level, "parent": parent}
    return {"type": "Feature", "properties": props, "geometry": geometry}


def _category(api: Api, key: str) -> dict[str, Any]:
    return next(c for c in _ok(api.get("admin", "/api/v1/categories")) if c["key"] == key)


def _accept_limit(api: Api, source: str) -> str:
    case_id = _ok(api.citizen_report(source), 201)["case_id"]
    clock = _ok(api.get("leader", f"/api/v1/cases/{case_id}"))["clock"]
    assert clock["stage"] == "accept", clock
    return str(clock["limit"])


# --------------------------------------------------------------------------------------------
# Regions


def test_a_region_import_with_bad_features_writes_nothing_and_names_each(sqlite_app: App) -> None:
    api = AdminApi(sqlite_app)
    before = _count(sqlite_app, RegionRow)
    body = {"type": "FeatureCollection", "features": [
        _feature(NEW_COMMUNITY, "新港社区", "community", STREET_A),
        _feature("319901001098", "坏社区", "village", STREET_A),
        _feature("31990100109901", "坏网格", "grid", "319901001097"),  # no parent, no polygon
    ]}  # fmt: skip
    problems = _problems(api.post("admin", "/api/v1/admin/regions", json=body))
    items = _items(problems)
    assert items == {"features[1] 319901001098", "features[2] 31990100109901"}, problems
    assert any("unknown level 'village'" in p["reason"] for p in problems), problems
    assert any("unknown parent 319901001097" in p["reason"] for p in problems), problems
    assert _count(sqlite_app, RegionRow) == before
    children = _ok(api.get("admin", "/api/v1/regions", params={"parent": STREET_A}))
    assert NEW_COMMUNITY not in {c["code"] for c in children}

    # Not a FeatureCollection, not JSON, not a format we read: refused, nothing written.
    _problems(api.post("admin", "/api/v1/admin/regions", json=[1, 2]))
    r = api.post("admin", "/api/v1/admin/regions", content=b"{oops",
                 headers={"Content-Type": "application/json"})  # fmt: skip
    _error(r, 400, "malformed_json")
    r = api.post("admin", "/api/v1/admin/regions", content=b"<xml/>",
                 headers={"Content-Type": "application/xml"})  # fmt: skip
    assert r.status_code == 415, r.text
    assert _count(sqlite_app, RegionRow) == before

    # The good feature alone goes in; sent again it is an update.
    good = {"type": "FeatureCollection", "features": body["features"][:1]}
    assert _ok(api.post("admin", "/api/v1/admin/regions", json=good))["created"] == 1
    assert _ok(api.post("admin", "/api/v1/admin/regions", json=good))["updated"] == 1
    assert _count(sqlite_app, RegionRow) == before + 1


def test_regions_import_from_csv(sqlite_app: App) -> None:
    api = AdminApi(sqlite_app)
    before = _count(sqlite_app, RegionRow)
    csv_headers = {"Content-Type": "text/csv"}
    bad = (
        "code,name,level,parent,wkt\n"
        f"{NEW_COMMUNITY},新港社区,community,{STREET_A},\n"
        f"{NEW_COMMUNITY}01,新港一网格,grid,{NEW_COMMUNITY},\n"  # a grid needs a polygon
        f"1234,坏社区,community,{STREET_A},\n"
    )
    problems = _problems(api.post("admin", "/api/v1/admin/regions", content=bad.encode(),
                                  headers=csv_headers))  # fmt: skip
    assert _items(problems) == {f"line 3 {NEW_COMMUNITY}01", "line 4 1234"}, problems
    assert _count(sqlite_app, RegionRow) == before

    good = (
        "\ufeffcode,name,level,parent,wkt\n"  # spreadsheets add a BOM
        f"{NEW_COMMUNITY},新港社区,community,{STREET_A},\n"
        f'{NEW_COMMUNITY}01,新港一网格,grid,{NEW_COMMUNITY},"{SQUARE}"\n'
    )
    r = api.post("admin", "/api/v1/admin/regions", content=good.encode(), headers=csv_headers)
    assert _ok(r) == {"kind": "regions", "created": 2, "updated": 0}
    grids = _ok(api.get("admin", "/api/v1/regions",
                        params={"parent": NEW_COMMUNITY, "geometry": True}))  # fmt: skip
    assert [(g["code"], g["name"], g["geometry"]["type"]) for g in grids] == [
        (f"{NEW_COMMUNITY}01", "新港一网格", "Polygon")
    ]
    # A declared charset is honoured (Excel on Chinese Windows writes GB18030).
    renamed = f"code,name,level,parent\n{NEW_COMMUNITY},新港社区（更名）,community,{STREET_A}\n"
    r = api.post("admin", "/api/v1/admin/regions", content=renamed.encode("gb18030"),
                 headers={"Content-Type": "text/csv; charset=gb18030"})  # fmt: skip
    assert _ok(r)["updated"] == 1
    r = api.post("admin", "/api/v1/admin/regions", content=renamed.encode("gb18030"),
                 headers=csv_headers)  # fmt: skip
    _error(r, 422, "validation_failed")  # undeclared GB18030 is not UTF-8
    children = _ok(api.get("admin", "/api/v1/regions", params={"parent": STREET_A}))
    assert {c["code"]: c["name"] for c in children}[NEW_COMMUNITY] == "新港社区（更名）"
    assert _count(sqlite_app, RegionRow) == before + 2


# --------------------------------------------------------------------------------------------
# Departments


def test_a_department_import_names_a_bad_level_and_an_unknown_region(sqlite_app: App) -> None:
    api = AdminApi(sqlite_app)
    before = _count(sqlite_app, DepartmentRow)
    body = [
        {"code": "bj-river", "name": "滨江区河道管理所", "level": "district",
         "region_code": "319901", "kinds": ["water"]},
        {"code": "bad-level", "name": "坏层级", "level": "province", "region_code": "319901"},
        {"code": "bad-region", "name": "坏区域", "level": "district", "region_code": "319999"},
    ]  # fmt: skip
    problems = _problems(api.post("admin", "/api/v1/admin/departments", json=body))
    assert _items(problems) == {"departments[1] bad-level", "departments[2] bad-region"}
    assert any("unknown region 319999" in p["reason"] for p in problems), problems
    assert _count(sqlite_app, DepartmentRow) == before

    r = api.post("admin", "/api/v1/admin/departments", json=body[:1])
    assert _ok(r) == {"kind": "departments", "created": 1, "updated": 0}
    r = api.post("admin", "/api/v1/admin/departments", json=body[:1])
    assert _ok(r) == {"kind": "departments", "created": 0, "updated": 1}
    assert _count(sqlite_app, DepartmentRow) == before + 1


def test_a_department_shows_its_members_to_staff_only(sqlite_app: App) -> None:
    api = AdminApi(sqlite_app)
    dept_id = _dept_id(api, "bj-greening")
    for who in STAFF:
        d = _ok(api.get(who, f"/api/v1/departments/{dept_id}"))
        assert (d["code"], d["level"], d["region_code"]) == ("bj-greening", "district", "319901")
        member = {"username": "handler-bj-greening", "role": "handler",
                  "display_name": "处置员（滨江区绿化和市容管理局）"}  # fmt: skip
        assert member in d["members"], d
        assert all(set(m) == {"username", "display_name", "role"} for m in d["members"])
    _error(api.get("citizen", f"/api/v1/departments/{dept_id}"), 403, "forbidden")
    _error(api.get("leader", "/api/v1/departments/999999"), 404, "not_found")

    # A member moved elsewhere, or switched off, is no longer listed.
    _ok(api.patch("admin", "/api/v1/admin/users/handler-bj-greening", {"active": False}))
    d = _ok(api.get("leader", f"/api/v1/departments/{dept_id}"))
    assert "handler-bj-greening" not in {m["username"] for m in d["members"]}


# --------------------------------------------------------------------------------------------
# Responsibility list


def _which(api: Api, at: Any) -> str:
    _, _, grid = point_in(STREET_B)
    body = {"category": "E0102", "area": grid, "at": at.isoformat()}
    found = _ok(api.post("dispatcher", "/api/v1/rules/which", json=body))
    assert found["found"], found
    return str(found["department"])


def test_two_equally_specific_rules_are_rejected_and_no_version_is_made(sqlite_app: App) -> None:
    api = AdminApi(sqlite_app)
    versions = _ok(api.get("admin", "/api/v1/rules/versions"))
    body = {"version": "v-conflict", "effective_from": "2026-12-01T00:00:00+08:00", "rules": [
        {"category": "E0102", "area": "319902", "department": "pc-greening"},
        {"category": "E0102", "area": "319902", "department": "pc-chengguan"},
        {"category": "E0502", "area": "319902", "department": "pc-chengguan"},
    ]}  # fmt: skip
    problems = _problems(api.post("admin", "/api/v1/admin/rules", json=body))
    assert len(problems) == 1, problems
    text = problems[0]["item"] + problems[0]["reason"]
    assert "rule 1 (E0102 @ 319902 → pc-greening)" in text, problems
    assert "rule 2 (E0102 @ 319902 → pc-chengguan)" in text, problems
    assert _ok(api.get("admin", "/api/v1/rules/versions")) == versions
    assert _count(sqlite_app, RuleSetRow) == len(versions)
    _error(api.get("admin", "/api/v1/rules", params={"version": "v-conflict"}), 404, "not_found")

    # Unknown department, area and category are named too, each on its own item.
    body["rules"] = [
        {"category": "E0102", "area": "319902", "department": "nobody"},
        {"category": "E0102", "area": "319977", "department": "pc-greening"},
        {"category": "E9999", "area": "319902", "department": "pc-greening"},
    ]
    assert len(_items(_problems(api.post("admin", "/api/v1/admin/rules", json=body)))) == 3
    assert _count(sqlite_app, RuleSetRow) == len(versions)


def test_the_rules_in_force_are_readable_by_staff(sqlite_app: App) -> None:
    api = AdminApi(sqlite_app)
    for who in STAFF:
        listing = _ok(api.get(who, "/api/v1/rules"))
        assert (listing["version"], listing["in_force"]) == ("demo-v1", True)
    night = [r for r in listing["rules"] if r["department"] == "bj-night-squad"]
    assert {(r["category"], r["area"]) for r in night} == {("E0502", "319901"), ("E0506", "319901")}
    assert all(r["window"] == {"start": "20:00", "end": "06:00"} for r in night)
    assert all(isinstance(r["id"], int) for r in listing["rules"])
    versions = _ok(api.get("inspector01", "/api/v1/rules/versions"))
    assert [(v["version"], v["status"], v["rules"]) for v in versions] == [
        ("demo-v1", "in_force", len(listing["rules"]))
    ]
    assert _ok(api.get("leader", "/api/v1/rules", params={"version": "demo-v1"})) == listing
    _error(api.get("leader", "/api/v1/rules", params={"version": "v9"}), 404, "not_found")
    for path in ("/api/v1/rules", "/api/v1/rules/versions"):
        _error(api.get("citizen", path), 403, "forbidden")


def test_a_new_rules_version_takes_effect_at_its_date(app: App, clock: Clock) -> None:
    api = AdminApi(app)
    current = _ok(api.get("admin", "/api/v1/rules"))
    rules = [
        {**r, "department": "pc-chengguan"}
        if (r["category"], r["area"]) == ("E0102", "319902") else r
        for r in current["rules"]
    ]  # fmt: skip
    assert rules != current["rules"]
    switch = T0 + timedelta(days=1)
    body = {"version": "v2", "effective_from": switch.isoformat(), "rules": rules}
    assert _ok(api.post("admin", "/api/v1/admin/rules", json=body))["created"] == len(rules)

    assert _which(api, switch - timedelta(minutes=1)) == "pc-greening"
    assert _which(api, switch + timedelta(minutes=1)) == "pc-chengguan"
    versions = _ok(api.get("admin", "/api/v1/rules/versions"))
    assert [(v["version"], v["status"]) for v in versions] == [
        ("v2", "scheduled"), ("demo-v1", "in_force")
    ]  # fmt: skip
    assert _ok(api.get("admin", "/api/v1/rules"))["version"] == "demo-v1"

    # The same version again is a conflict, even with other content.
    body["effective_from"] = (switch + timedelta(days=1)).isoformat()
    _error(api.post("admin", "/api/v1/admin/rules", json=body), 409, "conflict")
    assert _count(app, RuleSetRow) == 2

    # Once the date has passed, the new list is the one in force, and new cases follow it.
    clock.advance(days=1, minutes=5)
    assert _ok(api.get("admin", "/api/v1/rules"))["version"] == "v2"
    case_id = _ok(api.citizen_report("rules-v2", street=STREET_B), 201)["case_id"]
    case = _ok(api.get("leader", f"/api/v1/cases/{case_id}"))
    assert (case["routing"]["ruleset"], case["routing"]["department"]) == ("v2", "pc-chengguan")


# --------------------------------------------------------------------------------------------
# Taxonomy


def test_editing_a_category_changes_the_deadline_of_new_cases(app: App) -> None:
    api = AdminApi(app)
    original = _category(api, "E0102")
    assert original["time_limits"]["accept"] == "1wh"
    old_case_limit = _accept_limit(api, "cat-before")
    assert old_case_limit == "1wh"

    r = api.patch("admin", "/api/v1/admin/categories/E0102",
                  {"name": "暴露垃圾（含堆物）", "time_limits": {"accept": "3wh"}})  # fmt: skip
    edited = _ok(r)
    assert edited["time_limits"] == {**original["time_limits"], "accept": "3wh"}
    assert _category(api, "E0102") == edited
    assert edited["name"] == "暴露垃圾（含堆物）"
    assert _accept_limit(api, "cat-after") == "3wh"

    audit = _ok(api.get("auditor", "/api/v1/admin/audit", params={"limit": 1}))[0]
    assert (audit["actor"], audit["action"], audit["target"]) == ("admin", "edit_category", "E0102")
    assert audit["detail"]["before"] == {"name": "暴露垃圾", "time_limits": original["time_limits"]}
    assert audit["detail"]["after"] == {"name": "暴露垃圾（含堆物）",
                                        "time_limits": edited["time_limits"]}  # fmt: skip

    # Switched off, it can no longer be reported; switched on again, it can.
    _ok(api.patch("admin", "/api/v1/admin/categories/E0102", {"active": False}))
    assert "E0102" not in {c["key"] for c in _ok(api.get("citizen", "/api/v1/categories"))}
    _error(api.citizen_report("cat-off"), 422, "validation_failed")
    _ok(api.patch("admin", "/api/v1/admin/categories/E0102", {"active": True}))
    assert _accept_limit(api, "cat-on") == "3wh"


def test_bad_category_edits_are_refused_and_change_nothing(sqlite_app: App) -> None:
    api = AdminApi(sqlite_app)
    path = "/api/v1/admin/categories/E0102"
    original = _category(api, "E0102")
    refused: list[tuple[dict[str, Any], str, set[str]]] = [
        ({"time_limits": {"accept": "3 days"}}, "validation_failed", {"time_limits.accept"}),
        ({"time_limits": {"accept": "0wh"}}, "validation_failed", {"time_limits.accept"}),
        ({"time_limits": {"verify": None}}, "validation_failed", {"time_limits.verify"}),
        ({"time_limits": {"lunch": "1h"}}, "validation_failed", {"time_limits.lunch"}),
        ({"urgency": "urgent"}, "validation_failed",
         {"time_limits.accept", "time_limits.verify", "time_limits.dispatch",
          "time_limits.handle", "time_limits.check"}),
        ({"name": None, "filing_condition": "  "}, "validation_failed",
         {"name", "filing_condition"}),
        ({}, "validation_failed", {"body"}),
        ({"name": ""}, "invalid_request", {"name"}),
        ({"urgency": "soon"}, "invalid_request", {"urgency"}),
        ({"colour": "red"}, "invalid_request", {"colour"}),
        ({"time_limits": ["1wh"]}, "invalid_request", {"time_limits"}),
    ]  # fmt: skip
    for body, code, fields in refused:
        details = _error(api.patch("admin", path, body), 422, code)
        if code == "validation_failed":
            assert _items(details["problems"]) == fields, (body, details)
        else:
            assert {p["field"] for p in details["problems"]} == fields, (body, details)
    _error(api.patch("admin", "/api/v1/admin/categories/E9999", {"name": "无"}), 404, "not_found")
    assert _category(api, "E0102") == original
    actions = {a["action"] for a in _ok(api.get("auditor", "/api/v1/admin/audit"))}
    assert "edit_category" not in actions

    # Urgent is fine once every stage runs on calendar hours.
    hours = {"accept": "0.5h", "verify": "1h", "dispatch": "0.5h", "handle": "4h", "check": "2h"}
    urgent = {"urgency": "urgent", "time_limits": hours}
    assert _ok(api.patch("admin", path, urgent))["urgency"] == "urgent"


# --------------------------------------------------------------------------------------------
# Users


def test_a_user_import_with_bad_items_writes_nothing(sqlite_app: App) -> None:
    api = AdminApi(sqlite_app)
    before = _ok(api.get("admin", "/api/v1/admin/users"))
    body = [
        {"username": "clerk1", "role": "acceptor", "password": "long-enough-1", "scope": "319900"},
        {"username": "mayor", "role": "mayor", "password": "long-enough-2"},
        {"username": "shorty", "role": "dispatcher", "password": "short"},
        {"username": "clerk1", "role": "acceptor", "password": "long-enough-3"},
        {"username": "fixer", "role": "handler", "password": "long-enough-4"},
    ]
    problems = _problems(api.post("admin", "/api/v1/admin/users", json=body))
    assert _items(problems) == {"users[1] mayor", "users[2] shorty", "users[3] clerk1",
                                "users[4] fixer"}, problems  # fmt: skip
    reasons = {p["reason"] for p in problems}
    assert {"unknown role mayor", "password needs at least 8 characters",
            "a handler needs a department"} <= reasons  # fmt: skip
    assert _ok(api.get("admin", "/api/v1/admin/users")) == before

    assert _ok(api.post("admin", "/api/v1/admin/users", json=body[:1]))["created"] == 1
    assert api.fresh_login("clerk1", "long-enough-1").status_code == 200


def test_users_are_listed_and_edited_by_the_admin(sqlite_app: App) -> None:
    api = AdminApi(sqlite_app)
    users = _ok(api.get("auditor", "/api/v1/admin/users"))
    assert {"admin", "citizen", "inspector01", "handler-roads"} <= {u["username"] for u in users}
    assert all("password" not in k for u in users for k in u), users[0]
    handler = next(u for u in users if u["username"] == "handler-roads")
    assert (handler["role"], handler["department"]) == ("handler", "roads")
    inspectors = _ok(api.get("admin", "/api/v1/admin/users", params={"role": "inspector"}))
    assert inspectors and all(u["role"] == "inspector" for u in inspectors)
    _error(api.get("admin", "/api/v1/admin/users", params={"role": "mayor"}), 422,
           "invalid_request")  # fmt: skip
    _error(api.get("dispatcher", "/api/v1/admin/users"), 403, "forbidden")

    # Move inspector01 to another street: their jurisdiction follows at once.
    path = "/api/v1/admin/users/inspector01"
    moved = _ok(api.patch("admin", path, {"scope": STREET_B, "display_name": "监督员（新川）"}))
    assert (moved["scope"], moved["display_name"]) == (STREET_B, "监督员（新川）")
    assert _ok(api.get("inspector01", "/api/v1/auth/me"))["scope_code"] == STREET_B

    refused: list[tuple[dict[str, Any], str]] = [
        ({"role": "system"}, "validation_failed"),
        ({"scope": "319999"}, "validation_failed"),
        ({"department": "nobody"}, "validation_failed"),
        ({"role": "handler"}, "validation_failed"),  # a handler needs a department
        ({"password": "short"}, "invalid_request"),
        ({"role": "mayor"}, "invalid_request"),
        ({"scope": "31990"}, "invalid_request"),
        ({"active": None}, "validation_failed"),
        ({"username": "renamed"}, "invalid_request"),
        ({}, "validation_failed"),
    ]
    for body, code in refused:
        _error(api.patch("admin", path, body), 422, code)
    _error(api.patch("admin", "/api/v1/admin/users/nobody", {"active": False}), 404, "not_found")
    assert _ok(api.get("admin", "/api/v1/admin/users", params={"role": "inspector"})) == [
        moved if u["username"] == "inspector01" else u for u in inspectors
    ]

    # Make them a handler of a department; a new password works and the old one stops working.
    body = {"role": "handler", "department": "roads", "password": "new-secret-1"}
    edited = _ok(api.patch("admin", path, body))
    assert (edited["role"], edited["department"]) == ("handler", "roads")
    assert api.fresh_login("inspector01").status_code == 401
    assert api.fresh_login("inspector01", "new-secret-1").status_code == 200
    audit = _ok(api.get("auditor", "/api/v1/admin/audit", params={"limit": 1}))[0]
    assert audit["detail"]["after"] == {"role": "handler", "department": "roads",
                                        "department_id": _dept_id(api, "roads"),
                                        "password": "changed"}, audit  # fmt: skip
    assert "new-secret-1" not in str(audit)

    # Switched off: their token stops working.
    token = api.fresh_login("inspector01", "new-secret-1").json()["access_token"]
    _ok(api.patch("admin", path, {"active": False}))
    r = api.client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 401, r.text
    api.fresh_login("inspector01")  # forget the token of the changed user


def test_the_last_active_admin_cannot_be_demoted_or_deactivated(app: App) -> None:
    api = AdminApi(app)
    users_before = _count(app, UserRow)
    for body in ({"role": "commander"}, {"active": False}):
        details = _error(api.patch("admin", "/api/v1/admin/users/admin", body), 409, "conflict")
        assert details == {"username": "admin"}
    demote = [{"username": "admin", "role": "auditor", "password": DEMO_PASSWORD},
              {"username": "newbie", "role": "citizen", "password": DEMO_PASSWORD}]  # fmt: skip
    _error(api.post("admin", "/api/v1/admin/users", json=demote), 409, "conflict")
    assert _count(app, UserRow) == users_before  # the newbie was not written either
    assert _ok(api.get("admin", "/api/v1/auth/me"))["role"] == "admin"

    # With a second admin, the first may step down; then the second is the last one.
    second = [{"username": "admin2", "role": "admin", "password": DEMO_PASSWORD}]
    _ok(api.post("admin", "/api/v1/admin/users", json=second))
    api.fresh_login("admin2")
    try:
        _ok(api.patch("admin2", "/api/v1/admin/users/admin", {"role": "commander"}))
        _error(api.patch("admin2", "/api/v1/admin/users/admin2", {"active": False}), 409,
               "conflict")  # fmt: skip
        _error(api.post("admin", "/api/v1/admin/users", json=second), 403, "forbidden")
        admins = _ok(api.get("admin2", "/api/v1/admin/users", params={"role": "admin"}))
        assert [(u["username"], u["active"]) for u in admins] == [("admin2", True)]
    finally:
        api.fresh_login("admin2")  # ids differ between tests: never share this token


# --------------------------------------------------------------------------------------------
# Audit and permissions


def test_the_audit_log_lists_each_change_with_its_actor(sqlite_app: App) -> None:
    api = AdminApi(sqlite_app)
    before = _count(sqlite_app, AuditRow)
    dept = [{"code": "bj-river", "name": "滨江区河道管理所", "level": "district",
             "region_code": "319901"}]  # fmt: skip
    _ok(api.post("admin", "/api/v1/admin/departments", json=dept))
    _ok(api.patch("admin", "/api/v1/admin/categories/E0101", {"closing_condition": "已整改"}))
    _ok(api.patch("admin", "/api/v1/admin/users/dispatcher", {"display_name": "派遣员 李娜娜"}))
    rules = _ok(api.get("admin", "/api/v1/rules"))["rules"]
    body = {"version": "v-audit", "effective_from": "2027-01-01T00:00:00+08:00", "rules": rules}
    _ok(api.post("admin", "/api/v1/admin/rules", json=body))
    feature = _feature(NEW_COMMUNITY, "新港社区", "community", STREET_A)
    regions = {"type": "FeatureCollection", "features": [feature]}
    _ok(api.post("admin", "/api/v1/admin/regions", json=regions))
    # Refusals leave no trace in the log.
    _error(api.post("admin", "/api/v1/admin/rules", json=body), 409, "conflict")
    _error(api.patch("admin", "/api/v1/admin/categories/E0101", {"urgency": "urgent"}), 422,
           "validation_failed")  # fmt: skip

    log = _ok(api.get("auditor", "/api/v1/admin/audit", params={"limit": 5}))
    assert [(a["actor"], a["action"], a["target"]) for a in log] == [
        ("admin", "import_regions", "1 regions"),
        ("admin", "import_rules", "v-audit"),
        ("admin", "edit_user", "dispatcher"),
        ("admin", "edit_category", "E0101"),
        ("admin", "import_departments", "1 departments"),
    ]
    assert log[2]["detail"] == {"before": {"display_name": "派遣员 李娜"},
                                "after": {"display_name": "派遣员 李娜娜"}}  # fmt: skip
    assert _count(sqlite_app, AuditRow) == before + 5
    for who in NON_ADMINS:
        if who != "auditor":
            _error(api.get(who, "/api/v1/admin/audit"), 403, "forbidden")


def test_only_the_admin_may_write(sqlite_app: App) -> None:
    api = AdminApi(sqlite_app)
    before = _count(sqlite_app, AuditRow)
    rules = {"version": "v-x", "effective_from": "2027-01-01T00:00:00+08:00", "rules": []}
    writes: list[tuple[str, str, Any]] = [
        ("POST", "/api/v1/admin/regions", {"type": "FeatureCollection", "features": []}),
        ("POST", "/api/v1/admin/departments", []),
        ("POST", "/api/v1/admin/taxonomy", {}),
        ("POST", "/api/v1/admin/rules", rules),
        ("POST", "/api/v1/admin/users", []),
        ("POST", "/api/v1/admin/holidays", {}),
        ("POST", "/api/v1/admin/api-keys", {"name": "x", "channels": ["hotline"]}),
        ("PATCH", "/api/v1/admin/categories/E0102", {"name": "x"}),
        ("PATCH", "/api/v1/admin/users/citizen", {"active": False}),
    ]
    for who in NON_ADMINS:
        for method, path, body in writes:
            r = api._send(method, who, path, json=body)
            _error(r, 403, "forbidden")
        r = api.post(who, "/api/v1/admin/regions", content=b"code,name,level,parent\n",
                     headers={"Content-Type": "text/csv"})  # fmt: skip
        _error(r, 403, "forbidden")
    assert _count(sqlite_app, AuditRow) == before
