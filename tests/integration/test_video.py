"""Video-AI alerts (视频AI告警): camera registry, webhook, thresholds, folding, idempotency."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from cityops.adapters.db.models import AuditRow, CameraRow, CaseRow, ReportRow
from cityops.bootstrap import App
from cityops.demo.city import generate_demo_city
from cityops.demo.gazetteer import GridCells
from cityops.domain.errors import ImportRejected
from cityops.domain.taxonomy import load_default_taxonomy
from cityops.service.video import default_video_events, parse_video_events
from tests.conftest import Clock
from tests.helpers import STREET_A, Api, point_in

URL = "/api/v1/intake/video"
CAMERA = "TEST-CAM-01"
HALF = 0.0003  # degrees: a ~60 m view square


def _square(lon: float, lat: float, half: float = HALF) -> dict[str, Any]:
    ring = [[lon - half, lat - half], [lon + half, lat - half], [lon + half, lat + half],
            [lon - half, lat + half], [lon - half, lat - half]]  # fmt: skip
    return {"type": "Polygon", "coordinates": [ring]}


def _key(api: Api, *channels: str) -> dict[str, str]:
    r = api.post("admin", "/api/v1/admin/api-keys",
                 json={"name": "视频平台", "channels": list(channels or ("video",))})  # fmt: skip
    assert r.status_code == 201, r.text
    return {"X-API-Key": r.json()["key"]}


def _camera(api: Api, code: str = CAMERA, seed: int = 3) -> tuple[float, float, str]:
    """A camera on a view square's corner; returns the view's centre and its grid cell."""
    lon, lat, grid = point_in(STREET_A, seed)
    item = {"code": code, "name": "测试路口监控", "lon": lon + HALF / 2, "lat": lat + HALF / 2,
            "view": _square(lon, lat)}  # fmt: skip
    r = api.post("admin", "/api/v1/admin/cameras", json={"cameras": [item]})
    assert r.status_code == 200, r.text
    return lon, lat, grid


def _alert(alert_id: str, at: datetime, **over: Any) -> dict[str, Any]:
    return {"alert_id": alert_id, "camera_code": CAMERA, "event_type": "street_vending",
            "confidence": 0.91, "occurred_at": at.isoformat(),
            "snapshot_url": f"https://vms.example.cn/snap/{alert_id}.jpg", **over}  # fmt: skip


def _send(api: Api, key: dict[str, str], body: dict[str, Any]) -> Any:
    return api.client.post(URL, json=body, headers=key)


def _counts(app: App) -> tuple[int, int]:
    with app.reads() as s:
        cases = s.scalar(select(func.count()).select_from(CaseRow)) or 0
        reports = s.scalar(select(func.count()).select_from(ReportRow)) or 0
    return cases, reports


def _report(app: App, source_id: str) -> ReportRow:
    with app.reads() as s:
        row = s.scalars(select(ReportRow).where(ReportRow.source_id == source_id)).one()
        s.expunge(row)
    return row


def test_alerts_open_fold_and_reopen_on_both_engines(app: App, clock: Clock) -> None:
    api = Api(app)
    key = _key(api)
    lon, lat, grid = _camera(api)
    before = _counts(app)
    # Vendors' platforms add fields of their own; the payload is kept byte for byte.
    body = {**_alert("a-1", clock.now), "vendor": {"模型": "HK-v3"}, "bbox": [10, 20, 80, 60]}
    raw = json.dumps(body, ensure_ascii=False, indent=1)
    headers = {**key, "Content-Type": "application/json"}
    r = api.client.post(URL, content=raw.encode(), headers=headers)
    assert r.status_code == 201, r.text
    first = r.json()
    assert (first["status"], first["alerts"], first["repeat"]) == ("created", 1, False)
    assert first["category"] == "E0502"
    detail = api.get("acceptor", f"/api/v1/cases/{first['case_id']}").json()
    assert (detail["category"], detail["grid_code"], detail["channel"]) == ("E0502", grid, "video")
    assert (detail["lon"], detail["lat"]) == pytest.approx((lon, lat), abs=1e-6)  # view's centre
    assert detail["timeline"][0]["media"] == ["https://vms.example.cn/snap/a-1.jpg"]
    assert detail["timeline"][0]["data"]["video"]["camera_code"] == CAMERA
    assert detail["reports"][0]["raw"] == raw
    assert _counts(app) == (before[0] + 1, before[1] + 1)

    # A repeat inside the window folds: one report, two alerts, no new case.
    clock.advance(minutes=5)
    r = _send(api, key, _alert("a-2", clock.now, event_type="占道经营"))
    assert r.status_code == 200, r.text
    assert (r.json()["status"], r.json()["case_id"], r.json()["alerts"]) == (
        "folded", first["case_id"], 2)  # fmt: skip
    # The same alert twice: answered as before, nothing counted again.
    for again, status in (("a-2", "folded"), ("a-1", "created")):
        r = _send(api, key, _alert(again, clock.now - timedelta(minutes=5 * (again == "a-1"))))
        assert r.status_code == 200, r.text
        assert (r.json()["status"], r.json()["case_id"], r.json()["repeat"]) == (
            status, first["case_id"], True)  # fmt: skip
    row = _report(app, f"{CAMERA}:street_vending:a-1")
    assert (row.alerts, row.last_alert_at) == (2, clock.now)
    assert _counts(app) == (before[0] + 1, before[1] + 1)

    # After the window a new report; the case is still open, so intake's 并案 joins it there.
    clock.advance(minutes=31)
    r = _send(api, key, _alert("a-3", clock.now))
    assert (r.status_code, r.json()["status"], r.json()["case_id"]) == (
        200, "merged", first["case_id"])  # fmt: skip
    assert _counts(app) == (before[0] + 1, before[1] + 2)
    # Once the case is closed (here: 作废), the next alert opens a new case.
    assert api.act("acceptor", first["case_id"], "invalidate", note="摊贩已离开").status_code == 200
    clock.advance(minutes=1)
    r = _send(api, key, _alert("a-4", clock.now))
    assert (r.status_code, r.json()["status"]) == (201, "created"), r.text
    assert r.json()["case_id"] != first["case_id"]
    assert _counts(app) == (before[0] + 2, before[1] + 3)


def test_a_crowd_alert_takes_the_urgent_fast_path(sqlite_app: App, clock: Clock) -> None:
    api = Api(sqlite_app)
    key = _key(api)
    _camera(api)
    # 人群聚集 (E0411) is urgent: the case is dispatched at once, and repeats fold into it.
    first = _send(api, key, _alert("c-1", clock.now, event_type="crowd", confidence=0.95)).json()
    assert (first["status"], first["category"]) == ("created", "E0411")
    case = api.get("leader", f"/api/v1/cases/{first['case_id']}").json()
    assert case["state"] == "dispatched"
    clock.advance(minutes=10)
    again = _send(api, key, _alert("c-2", clock.now, event_type="人群聚集", confidence=0.9))
    assert (again.json()["status"], again.json()["case_id"]) == ("folded", first["case_id"])


def test_the_alerts_own_place_wins(sqlite_app: App, clock: Clock) -> None:
    api = Api(sqlite_app)
    key = _key(api)
    _camera(api)
    lon, lat, grid = point_in(STREET_A, 11)
    r = _send(api, key, _alert("p-1", clock.now, event_type="garbage", lon=lon, lat=lat))
    assert r.status_code == 201, r.text
    detail = api.get("acceptor", f"/api/v1/cases/{r.json()['case_id']}").json()
    assert (detail["category"], detail["grid_code"]) == ("E0102", grid)
    assert _send(api, key, _alert("p-2", clock.now, lon=lon)).status_code == 422


def test_below_threshold_is_ignored_and_nothing_is_written(sqlite_app: App, clock: Clock) -> None:
    api = Api(sqlite_app)
    key = _key(api)
    _camera(api)
    before = _counts(sqlite_app)
    r = _send(api, key, _alert("low-1", clock.now, event_type="illegal_parking", confidence=0.5))
    assert r.status_code == 202, r.text
    assert r.json()["status"] == "ignored"
    assert "0.50" in r.json()["reason"] and "0.75" in r.json()["reason"]
    assert _counts(sqlite_app) == before
    # An inactive camera's alerts are ignored the same way.
    with sqlite_app.sessions.begin() as s:
        s.scalars(select(CameraRow).where(CameraRow.code == CAMERA)).one().active = False
    r = _send(api, key, _alert("off-1", clock.now))
    assert (r.status_code, r.json()["status"]) == (202, "ignored")
    assert _counts(sqlite_app) == before


def test_unknown_camera_or_type_is_refused(sqlite_app: App, clock: Clock) -> None:
    api = Api(sqlite_app)
    key = _key(api)
    _camera(api)
    before = _counts(sqlite_app)
    r = _send(api, key, _alert("u-1", clock.now, camera_code="NO-SUCH-CAM"))
    assert (r.status_code, r.json()["error"]["details"]["field"]) == (422, "camera_code")
    r = _send(api, key, _alert("u-2", clock.now, event_type="ufo"))
    assert r.status_code == 422
    error = r.json()["error"]
    assert error["details"]["field"] == "event_type"
    known = set(error["details"]["known"])
    assert {"street_vending", "garbage", "illegal_parking", "crowd"} <= known
    assert "占道经营" in error["message"]
    future = clock.now + timedelta(hours=1)
    assert _send(api, key, _alert("u-3", future)).status_code == 422
    for bad in ({"confidence": 1.5}, {"occurred_at": "2026-11-18T10:00:00"}, {"alert_id": ""}):
        assert _send(api, key, {**_alert("u-4", clock.now), **bad}).status_code == 422, bad
    assert _counts(sqlite_app) == before


def test_only_keys_with_the_video_channel_may_post(sqlite_app: App, clock: Clock) -> None:
    api = Api(sqlite_app)
    _camera(api)
    before = _counts(sqlite_app)
    r = _send(api, _key(api, "hotline", "citizen"), _alert("k-1", clock.now))
    assert (r.status_code, r.json()["error"]["code"]) == (403, "forbidden")
    assert api.post("acceptor", URL, json=_alert("k-2", clock.now)).status_code == 403
    assert api.client.post(URL, json=_alert("k-3", clock.now)).status_code == 401
    assert _counts(sqlite_app) == before
    # An admin may post for testing.
    assert api.post("admin", URL, json=_alert("k-4", clock.now)).status_code == 201


def test_camera_import_is_all_or_nothing(sqlite_app: App) -> None:
    api = Api(sqlite_app)
    lon, lat, _ = point_in(STREET_A, 5)
    good = {"code": "CAM-OK", "name": "好摄像头", "lon": lon, "lat": lat,
            "view": _square(lon, lat)}  # fmt: skip
    crossed = [[lon - HALF, lat - HALF], [lon + HALF, lat + HALF], [lon + HALF, lat - HALF],
               [lon - HALF, lat + HALF], [lon - HALF, lat - HALF]]  # fmt: skip
    bow_tie = {"type": "Polygon", "coordinates": [crossed]}
    items = [
        good,
        {**good, "name": "重复"},
        {**good, "code": "bad:code"},
        {**good, "code": "CAM-OUT", "lon": 120.0, "lat": 30.0, "view": None},
        {**good, "code": "CAM-FAR", "view": _square(lon + 0.01, lat)},
        {**good, "code": "CAM-BOW", "view": bow_tie},
        {"code": "CAM-NOLAT", "name": "缺纬度", "lon": lon},
        {**good, "code": "C" * 65},
    ]
    r = api.post("admin", "/api/v1/admin/cameras", json={"cameras": items})
    assert r.status_code == 422, r.text
    assert r.json()["error"]["code"] == "import_rejected"
    named = {p["item"].split(" ")[0] for p in r.json()["error"]["details"]["problems"]}
    assert named == {f"cameras[{i}]" for i in range(1, len(items))}
    reasons = " | ".join(p["reason"] for p in r.json()["error"]["details"]["problems"])
    for words in ("duplicate", "outside the city", "from the camera", "not a valid polygon",
                  "lon and lat", "letters, digits"):  # fmt: skip
        assert words in reasons, reasons
    with sqlite_app.reads() as s:
        assert not s.scalar(select(func.count()).select_from(CameraRow).where(
            CameraRow.code.like("CAM-%")))  # fmt: skip
        assert not s.scalar(select(func.count()).select_from(AuditRow).where(
            AuditRow.actor == "admin"))  # fmt: skip
    # The good one alone goes in; sent again, it is updated by its code.
    out = api.post("admin", "/api/v1/admin/cameras", json={"cameras": [good]}).json()
    assert (out["created"], out["updated"]) == (1, 0)
    out = api.post("admin", "/api/v1/admin/cameras", json={"cameras": [{**good, "name": "新名"}]})
    assert (out.json()["created"], out.json()["updated"]) == (0, 1)
    refused = api.post("dispatcher", "/api/v1/admin/cameras", json={"cameras": [good]})
    assert refused.status_code == 403


def test_demo_cameras_and_who_sees_them(sqlite_app: App) -> None:
    api = Api(sqlite_app)
    everything = api.get("dispatcher", "/api/v1/cameras").json()
    assert len(everything) == 24
    streets = {c["grid_code"][:9] for c in everything}
    assert len(streets) == 12 and all(c["view"] and c["active"] for c in everything)
    mine = api.get("inspector01", "/api/v1/cameras").json()
    assert len(mine) == 2 and all(c["grid_code"].startswith("319901001") for c in mine)
    assert len(api.get("admin", "/api/v1/cameras", params={"area": "319902"}).json()) == 8
    assert api.get("citizen", "/api/v1/cameras").status_code == 403
    # Every demo camera's view is a ~60 m square around its crossing, inside the city.
    cells = GridCells(generate_demo_city())
    for c in everything:
        ring = c["view"]["coordinates"][0]
        xs, ys = [p[0] for p in ring], [p[1] for p in ring]
        assert 50 < (max(ys) - min(ys)) * 111_320 < 70
        assert cells.locate((min(xs) + max(xs)) / 2, (min(ys) + max(ys)) / 2)[0] is not None


def test_the_mapping_file_names_real_subclasses() -> None:
    catalogue = default_video_events()
    taxonomy = {c.key for c in load_default_taxonomy().categories}
    for etype in catalogue.types.values():
        assert etype.category is None or etype.category in taxonomy, etype
        assert 0 < etype.threshold <= 1 and etype.fold > timedelta(0)
    expected = {"占道经营": "E0502", "暴露垃圾": "E0102", "违规停车": "E0504",
                "机动车乱停放": "E0504", "非机动车乱停放": "E0505", "乱堆物堆料": "E0107",
                "店外经营": "E0503", "沿街晾挂": "E0507", "Street-Vending": "E0502",
                "garbage": "E0102", "illegal_parking": "E0504", "crowd": "E0411"}  # fmt: skip
    for name, category in expected.items():
        found = catalogue.find(name)
        assert found is not None and found.category == category, name
    with pytest.raises(ImportRejected) as caught:
        parse_video_events({"events": {"a": {"name": "甲", "category": "X1", "threshold": 2,
                                             "fold_minutes": 0, "aliases": []},
                                       "b": {"name": "甲", "category": None, "threshold": 0.5,
                                             "fold_minutes": 5}}})  # fmt: skip
    assert {p.item for p in caught.value.problems} == {"events.a", "events.b"}
