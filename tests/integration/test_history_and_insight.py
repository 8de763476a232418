"""History import (历史案件导入), routing quality (分拨质量) and "me too" (附近同类案件)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from cityops.adapters.db.models import CaseEventRow, CaseRow
from cityops.bootstrap import App
from cityops.entrypoints.cli import cli
from tests.helpers import STREET_A, STREET_B, Api, point_in

HEADER = "source_id,channel,category,description,lon,lat,grid_code,reported_at,closed_at,"
HEADER += "department,state"
CSV_HEADERS = {"Content-Type": "text/csv; charset=utf-8"}
OCTOBER = {"from": "2026-10-01T00:00:00+08:00", "to": "2026-11-01T00:00:00+08:00"}


def _history() -> str:
    lon, lat, _ = point_in(STREET_A, seed=11)
    _, _, grid = point_in(STREET_A, seed=12)
    lon3, lat3, _ = point_in(STREET_A, seed=13)
    return "\n".join([
        HEADER,
        f"H-1,hotline,E0102,小区门口垃圾堆放,{lon},{lat},,2026-10-02T09:00:00+08:00,"
        "2026-10-03T15:00:00+08:00,bj-greening,closed",
        f'H-2,citizen,E0101,"道路不洁, 落叶未扫",,,{grid},2026-10-05 10:00,'
        "2026-10-06 11:30,,closed",
        f"H-3,hotline,E0102,重复投诉,{lon3},{lat3},,2026/10/08 08:00,2026/10/08 09:00,,invalid",
    ]) + "\n"  # fmt: skip


def _count(app: App, model: type[CaseRow] | type[CaseEventRow]) -> int:
    with app.reads() as s:
        return s.scalar(select(func.count()).select_from(model)) or 0


def _problems(r: Any) -> list[dict[str, str]]:
    assert r.status_code == 422, r.text
    body = r.json()["error"]
    assert body["code"] == "import_rejected"
    return list(body["details"]["problems"])


# -- history import ------------------------------------------------------------------------------


def test_history_import_lands_closed_cases_that_evaluation_counts(app: App) -> None:
    api = Api(app)
    r = api.post("admin", "/api/v1/admin/history", content=_history(), headers=CSV_HEADERS)
    assert r.status_code == 200, r.text
    assert r.json() | {"batch": None} == {"kind": "history", "created": 3, "closed": 2,
                                          "invalid": 1, "batch": None}  # fmt: skip
    cases = api.get("leader", "/api/v1/cases", params={"limit": 10}).json()["items"]
    assert sorted(c["state"] for c in cases) == ["closed", "closed", "invalid"]
    first = next(c for c in cases if c["title"] == "暴露垃圾" and c["state"] == "closed")
    detail = api.get("leader", f"/api/v1/cases/{first['id']}").json()
    assert detail["created_at"].startswith("2026-10-02T01:00")  # stored in UTC
    assert detail["closed_at"].startswith("2026-10-03T07:00")
    assert detail["department_name"] == "滨江区绿化和市容管理局"
    assert detail["case_no"].startswith("20261002")
    timeline = detail["timeline"]
    assert [(e["action"], e["to_state"], e["actor_role"]) for e in timeline] == [
        ("submit", "reported", "system"), ("close", "closed", "system")]  # fmt: skip
    assert all(e["data"]["imported"] is True for e in timeline)
    assert detail["reports"][0]["channel"] == "history"
    # 综合评价 counts them: reported, closed and invalid in the street of the cases.
    rows = api.get("leader", "/api/v1/evaluation", params={**OCTOBER, "dimension": "street"})
    assert rows.status_code == 200, rows.text
    street = next(row for row in rows.json()["rows"] if row["key"] == STREET_A)
    m = street["metrics"]
    assert (m["reported"], m["closed"], m["invalid"], m["dispatched"]) == (3, 2, 1, 0)


def test_history_import_is_all_or_nothing_and_names_every_bad_line(sqlite_app: App) -> None:
    api = Api(sqlite_app)
    lon, lat, _ = point_in(STREET_A, seed=21)
    ok = f"{lon},{lat},,2026-10-02T09:00:00+08:00,2026-10-03T09:00:00+08:00"
    text = "\n".join([
        HEADER,
        f"B-1,hotline,E0102,好的一行,{ok},,closed",  # line 2: fine
        f"B-2,hotline,X0000,未知分类,{ok},,closed",  # line 3
        f"B-3,hotline,E0102,未知部门,{ok},nobody,closed",  # line 4
        f"B-4,hotline,E0102,结案早于上报,{lon},{lat},,2026-10-05 09:00,"
        "2026-10-04 09:00,,closed",
        "B-5,hotline,E0102,城外,0.5,0.5,,2026-10-02 09:00,2026-10-03 09:00,,closed",  # line 6
        f"B-1,hotline,E0102,重复编号,{ok},,closed",  # line 7
        f"B-6,hotline,E0102,状态不对,{ok},,open",  # line 8
        f"B-7,fax,E0102,坏时间,{lon},{lat},,yesterday,2026-10-03 09:00,,closed",  # line 9
    ])  # fmt: skip
    before = _count(sqlite_app, CaseRow)
    r = api.post("admin", "/api/v1/admin/history", content=text, headers=CSV_HEADERS)
    by_line: dict[str, str] = {}
    for p in _problems(r):
        by_line[p["item"]] = by_line.get(p["item"], "") + p["reason"]
    assert sorted(by_line, key=lambda k: int(k.split()[1])) == [
        f"line {n}" for n in range(3, 10)]  # fmt: skip
    assert "unknown category" in by_line["line 3"]
    assert "unknown department" in by_line["line 4"]
    assert "before reported_at" in by_line["line 5"]
    assert "outside" in by_line["line 6"]
    assert "first on line 2" in by_line["line 7"]
    assert "closed or invalid" in by_line["line 8"]
    assert "unknown channel" in by_line["line 9"] and "reported_at" in by_line["line 9"]
    assert _count(sqlite_app, CaseRow) == before  # nothing was written
    # A header without a required column is refused before any row is read.
    r = api.post("admin", "/api/v1/admin/history", content="source_id,channel\nx,hotline\n",
                 headers=CSV_HEADERS)  # fmt: skip
    assert any("reported_at" in p["reason"] for p in _problems(r))
    # Only the admin imports, and only CSV.
    assert api.post("leader", "/api/v1/admin/history", content=text,
                    headers=CSV_HEADERS).status_code == 403  # fmt: skip
    assert api.post("admin", "/api/v1/admin/history", json={"a": 1}).status_code == 415


def test_history_reimport_is_refused_naming_the_duplicates(
    sqlite_app: App, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CITYOPS_DATABASE_URL", str(sqlite_app.engine.url))
    path = tmp_path / "history.csv"
    path.write_text("\ufeff" + _history(), encoding="utf-8")  # as spreadsheets save it
    runner = CliRunner()
    first = runner.invoke(cli, ["import", "cases", str(path)])
    assert first.exit_code == 0, first.output
    assert "3 cases imported" in first.output
    cases, events = _count(sqlite_app, CaseRow), _count(sqlite_app, CaseEventRow)
    assert (cases, events) == (3, 6)
    again = runner.invoke(cli, ["import", "cases", str(path)])
    assert again.exit_code == 2
    assert "line 2" in again.output and "already imported" in again.output
    r = Api(sqlite_app).post("admin", "/api/v1/admin/history", content=_history(),
                             headers=CSV_HEADERS)  # fmt: skip
    assert [p["item"] for p in _problems(r)] == ["line 2", "line 3", "line 4"]
    assert (_count(sqlite_app, CaseRow), _count(sqlite_app, CaseEventRow)) == (cases, events)


# -- routing quality -----------------------------------------------------------------------------


def _opened(api: Api, source: str) -> int:
    case_id = int(api.citizen_report(source).json()["case_id"])
    for who, action in [("acceptor", "accept"), ("inspector01", "verify"), ("acceptor", "open")]:
        r = api.act(who, case_id, action)
        assert r.status_code == 200, (action, r.text)
    return case_id


def test_routing_quality_counts_returns_against_the_rule(app: App) -> None:
    api = Api(app)
    depts = {d["code"]: d["id"] for d in api.get("admin", "/api/v1/departments").json()}
    returned, kept = _opened(api, "rq-1"), _opened(api, "rq-2")
    for case_id in (returned, kept):
        assert api.act("dispatcher", case_id, "dispatch").status_code == 200  # by the rule
    back = api.act("handler-bj-greening", returned, "return", note="不属于本单位")
    assert back.status_code == 200, back.text
    r = api.act("dispatcher", returned, "dispatch", department_id=depts["bj-chengguan"],
                note="属执法范畴")  # fmt: skip
    assert r.status_code == 200, r.text
    period = {"from": "2026-11-18T00:00:00+08:00", "to": "2026-11-19T00:00:00+08:00"}
    report = api.get("leader", "/api/v1/reports/routing-quality", params=period)
    assert report.status_code == 200, report.text
    top = report.json()["rows"][0]  # sorted by returns, most first
    assert top["kind"] == "rule" and top["rule_id"] is not None
    assert (top["category"], top["area"], top["department"]) == ("E0102", "319901",
                                                                 "bj-greening")  # fmt: skip
    assert (top["dispatches"], top["returned"], top["return_rate"]) == (2, 1, 0.5)
    assert top["hint"]["code"] == "bj-chengguan" and top["hint"]["cases"] == 1
    # The dispatcher's own choice after the return follows no rule: nothing else is counted.
    assert sum(row["dispatches"] for row in report.json()["rows"]) == 2
    as_csv = {**period, "format": "csv"}
    csv = api.get("auditor", "/api/v1/reports/routing-quality", params=as_csv)
    assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
    header, row = csv.text.lstrip("\ufeff").splitlines()[:2]
    assert header.startswith("kind,rule_id") and ",bj-chengguan," in row
    assert api.get("citizen", "/api/v1/reports/routing-quality",
                   params=period).status_code == 403  # fmt: skip
    bad = api.get("leader", "/api/v1/reports/routing-quality",
                  params={"from": period["to"], "to": period["from"]})  # fmt: skip
    assert bad.status_code == 422


# -- me too --------------------------------------------------------------------------------------

PUBLIC = {"case_no", "category", "category_name", "state", "state_label", "created_at",
          "distance_m", "lon", "lat", "report_count"}  # fmt: skip


def test_nearby_shows_citizens_open_cases_with_public_fields_only(sqlite_app: App) -> None:
    api = Api(sqlite_app)
    lon, lat, _ = point_in(STREET_A, seed=31)
    body = {"report_id": "near-1", "category": "E0102", "description": "王五家门口暴露垃圾",
            "location": {"lon": lon, "lat": lat}}  # fmt: skip
    r = api.post("inspector01", "/api/v1/intake/inspector", json=body)
    assert r.status_code == 201, r.text
    near_no = r.json()["case_no"]
    far = api.citizen_report("far-1", street=STREET_B).json()["case_no"]
    # A closed case of the same kind on the very spot (imported history) is not shown.
    closed = (f"{HEADER}\nN-1,hotline,E0102,已处理,{lon},{lat},,2026-10-02 09:00,"
              "2026-10-03 09:00,,closed\n")  # fmt: skip
    assert api.post("admin", "/api/v1/admin/history", content=closed,
                    headers=CSV_HEADERS).status_code == 200  # fmt: skip
    here = {"category": "E0102", "lon": lon + 0.0003, "lat": lat}  # about 30 m east
    r = api.get("citizen", "/api/v1/cases/nearby", params=here)
    assert r.status_code == 200, r.text
    out = r.json()
    assert [i["case_no"] for i in out["items"]] == [near_no] and far != near_no
    item = out["items"][0]
    assert set(item) == PUBLIC
    assert item["state"] == "reported" and 20 <= item["distance_m"] <= 40
    assert item["lon"] == round(item["lon"], 4) and item["report_count"] == 1
    assert "王五" not in r.text and "并案" in out["me_too_hint"]["zh"]
    # Staff who may see the case also get its id and description.
    staff = api.get("leader", "/api/v1/cases/nearby", params=here).json()["items"][0]
    assert staff["description"] == "王五家门口暴露垃圾" and "id" in staff
    # Another category, or a radius too small, finds nothing.
    other = api.get("citizen", "/api/v1/cases/nearby", params={**here, "category": "E0101"})
    assert other.json()["count"] == 0 and "欢迎上报" in other.json()["me_too_hint"]["zh"]
    small = api.get("citizen", "/api/v1/cases/nearby", params={**here, "radius": 10})
    assert small.json()["items"] == []


@pytest.mark.parametrize("params", [
    {"category": "X0102"}, {"category": "E9999"}, {"lon": 0.5, "lat": 0.5},
    {"radius": 5000}, {"radius": 0}, {"lon": "east"},
])  # fmt: skip
def test_nearby_rejects_bad_input(sqlite_app: App, params: dict[str, Any]) -> None:
    api = Api(sqlite_app)
    lon, lat, _ = point_in(STREET_A, seed=31)
    r = api.get("citizen", "/api/v1/cases/nearby",
                params={"category": "E0102", "lon": lon, "lat": lat, **params})  # fmt: skip
    assert r.status_code == 422, r.text


def test_nearby_needs_a_login(sqlite_app: App) -> None:
    params = {"category": "E0102", "lon": 121.5, "lat": 31.2}
    r = Api(sqlite_app).client.get("/api/v1/cases/nearby", params=params)
    assert r.status_code == 401
