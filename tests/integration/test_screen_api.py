"""指挥大屏 API: figures counted from the cases and their log, scoped, on SQLite and PostgreSQL."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cityops.bootstrap import App, bootstrap
from cityops.domain.model import Role
from cityops.service.principal import Principal
from cityops.service.screen import overview
from tests.conftest import Clock, _settings
from tests.helpers import STREET_A, STREET_B, Api, point_in

LOCAL_10AM = "2026-11-18T10:00:00+08:00"  # T0 in the city's zone


def _overview(api: Api, who: str = "commander") -> dict[str, Any]:
    r = api.get(who, "/api/v1/screen/overview")
    assert r.status_code == 200, r.text
    return dict(r.json())


def _inspector_report(api: Api, source: str, category: str) -> Any:
    lon, lat, _ = point_in(STREET_A, seed=len(source) * 7 + 3)
    body = {"report_id": source, "category": category, "description": "巡查发现问题",
            "location": {"lon": lon, "lat": lat}}  # fmt: skip
    r = api.post("inspector01", "/api/v1/intake/inspector", json=body)
    assert r.status_code == 201, r.text
    return r.json()


CENTRE_STEPS = [("acceptor", "accept", {}), ("inspector01", "verify", {"note": "属实"}),
                ("acceptor", "open", {}), ("dispatcher", "dispatch", {})]  # fmt: skip
HANDLING_STEPS = [("handler", "start", {}), ("handler", "complete", {"note": "已处理"}),
                  ("inspector01", "check_pass", {}), ("acceptor", "close", {})]  # fmt: skip


def _close(api: Api, clock: Clock, case_id: int) -> None:
    """Take a reported case to 结案 within every time limit."""
    for who, action, body in CENTRE_STEPS:
        clock.advance(minutes=10)
        assert api.act(who, case_id, action, **body).status_code == 200, action
    handler = api.handler_for(case_id)
    for who, action, body in HANDLING_STEPS:
        clock.advance(minutes=20)
        user = handler if who == "handler" else who
        assert api.act(user, case_id, action, **body).status_code == 200, action


def test_today_trends_and_top_lists_count_the_new_cases(app: App, clock: Clock) -> None:
    api = Api(app)
    before = _overview(api)
    first = api.citizen_report("screen-1")
    second = api.citizen_report("screen-2", category="E0103")
    urgent = _inspector_report(api, "screen-cave-in", "E0401")  # fast track: opened at once
    assert first.status_code == second.status_code == 201
    _close(api, clock, first.json()["case_id"])
    after = _overview(api)

    today, was = after["today"], before["today"]
    assert today["reported"] == was["reported"] + 3
    assert today["by_channel"]["citizen"] == was["by_channel"].get("citizen", 0) + 2
    assert today["by_channel"]["inspector"] == was["by_channel"].get("inspector", 0) + 1
    assert today["opened"] == was["opened"] + 2  # the closed one and the fast-tracked one
    assert today["closed"] == was["closed"] + 1
    assert today["closed_on_time"] == was["closed_on_time"] + 1
    assert today["open"] == was["open"] + 2
    assert today["on_time_rate"] == round(today["closed_on_time"] / today["closed"], 4)

    # 24 hourly buckets ending with the current hour; the reports came at 10:00, local time.
    hours = after["trend_24h"]["hours"]
    assert len(hours) == 24 and hours.index(LOCAL_10AM) >= 0
    at_ten = hours.index(LOCAL_10AM)
    assert after["trend_24h"]["reported"][at_ten] == before_at(before, LOCAL_10AM) + 3
    assert sum(after["trend_24h"]["closed"]) == sum(before["trend_24h"]["closed"]) + 1
    # 30 local days ending today.
    days = after["trend_30d"]["days"]
    assert len(days) == 30 and days[-1] == "2026-11-18"
    assert after["trend_30d"]["reported"][-1] == before["trend_30d"]["reported"][-1] + 3
    assert after["trend_30d"]["closed"][-1] == before["trend_30d"]["closed"][-1] + 1
    assert after["trend_30d"]["on_time_rate"][-1] is not None

    categories = {c["category"]: c for c in after["top_categories"]}
    assert categories["E0401"]["name"] and categories["E0401"]["count"] >= 1
    grids = {g["grid_code"]: g for g in after["hot_grids"]}
    cave_in = api.get("leader", f"/api/v1/cases/{urgent['case_id']}").json()
    assert grids[cave_in["grid_code"]]["open"] >= 1
    assert grids[cave_in["grid_code"]]["street_name"]


def before_at(snapshot: dict[str, Any], hour: str) -> int:
    hours = snapshot["trend_24h"]["hours"]
    return int(snapshot["trend_24h"]["reported"][hours.index(hour)]) if hour in hours else 0


def test_figures_are_scoped_to_the_callers_area(app: App) -> None:
    api = Api(app)
    api.citizen_report("scope-a", street=STREET_A)
    city = Principal(user_id=None, username="c", role=Role.COMMANDER, scope_code=None)
    street_b = Principal(user_id=None, username="b", role=Role.COMMANDER, scope_code=STREET_B)
    assert overview(app, city)["today"]["reported"] >= 1
    assert overview(app, street_b)["today"]["reported"] == 0


def test_only_the_operations_centre_reads_the_screen(app: App) -> None:
    api = Api(app)
    for who in ("commander", "leader", "dispatcher", "acceptor", "auditor", "admin"):
        assert api.get(who, "/api/v1/screen/map").status_code == 200, who
    for who in ("inspector01", "handler-roads", "citizen"):
        r = api.get(who, "/api/v1/screen/overview")
        assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden", who
    assert api.client.get("/api/v1/screen/overview").status_code == 401


def test_map_cells_markers_and_overdue_without_waiting_for_the_sweeper(
    app: App, clock: Clock
) -> None:
    api = Api(app)
    case = api.citizen_report("map-1").json()
    view = api.get("commander", "/api/v1/screen/map").json()
    marker = next(m for m in view["markers"] if m["id"] == case["case_id"])
    assert marker["lon"] and marker["lat"] and marker["overdue"] is False
    assert not {"reporter_name", "reporter_phone", "description"} & set(marker)
    cell = next(c for c in view["cells"] if c["code"] == marker["grid_code"])
    assert cell["open"] >= 1

    clock.advance(days=7)  # far past the accept stage's limit; nobody swept
    late = api.get("commander", "/api/v1/screen/map").json()
    assert next(m for m in late["markers"] if m["id"] == case["case_id"])["overdue"] is True
    assert next(c for c in late["cells"] if c["code"] == marker["grid_code"])["overdue"] >= 1
    assert _overview(api)["today"]["overdue"] >= 1


def test_feed_is_newest_first_and_named_like_the_live_stream(app: App, clock: Clock) -> None:
    api = Api(app)
    case_id = api.citizen_report("feed-1").json()["case_id"]
    clock.advance(minutes=5)
    assert api.act("acceptor", case_id, "accept").status_code == 200
    feed = api.get("leader", "/api/v1/screen/feed", params={"limit": 2}).json()
    assert [f["name"] for f in feed] == ["CaseAccepted", "ReportSubmitted"]
    assert feed[0]["case"]["id"] == case_id and feed[0]["payload"]["to_state"] == "accepted"
    assert "reporter_phone" not in feed[0]["case"]


def test_ranking_comes_from_the_evaluation_and_is_cached(app: App, clock: Clock) -> None:
    api = Api(app)
    _close(api, clock, api.citizen_report("rank-1").json()["case_id"])
    first = api.get("commander", "/api/v1/screen/ranking").json()
    assert first["rows"], first
    top = first["rows"][0]
    assert top["rank"] == 1 and top["name"] and top["score"] is not None
    assert set(top["metrics"]) >= {"closed", "on_time_handle_rate"}
    scores = [r["score"] for r in first["rows"]]
    assert scores == sorted(scores, reverse=True)
    clock.advance(minutes=1)
    assert api.get("commander", "/api/v1/screen/ranking").json() == first  # the cached answer


def test_days_follow_the_citys_zone_across_daylight_saving(sqlite_template: Path,
                                                           tmp_path: Path) -> None:  # fmt: skip
    """New York left DST on 2026-11-01, inside the 30 days: 23:30 on the 17th stays the 17th."""
    db = tmp_path / "ny.db"
    shutil.copy(sqlite_template, db)
    clock = Clock(datetime(2026, 11, 18, 4, 30, tzinfo=UTC))  # 2026-11-17 23:30 in New York
    settings = _settings(f"sqlite:///{db}").model_copy(update={"timezone": "America/New_York"})
    app = bootstrap(settings, clock=clock)
    try:
        api = Api(app)
        assert api.citizen_report("ny-late-evening").status_code == 201
        clock.now = datetime(2026, 11, 18, 15, 0, tzinfo=UTC)  # 10:00 on the 18th
        trend = _overview(api)["trend_30d"]
        assert trend["days"][-2:] == ["2026-11-17", "2026-11-18"]
        assert trend["reported"][-2:] == [1, 0]
        hours = _overview(api)["trend_24h"]["hours"]
        assert hours[-1] == "2026-11-18T10:00:00-05:00"
    finally:
        app.dispose()
