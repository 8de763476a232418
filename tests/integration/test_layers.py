"""Several grid layers (多格合一): importing one, locating a point in all, cases recording them.

The demo city ships the police beats (``police``); these tests add a governance layer
(``zongzhi``) of four square cells round a known place, sent in GCJ-02 as map providers give it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import shapely
from sqlalchemy import func, select
from typer.testing import CliRunner

from cityops.adapters.db.models import AuditRow, LayerCellRow, RegionRow
from cityops.bootstrap import App
from cityops.domain.coords import wgs84_to_gcj02
from cityops.entrypoints.cli import cli
from tests.helpers import STREET_A, Api, point_in

D = 0.004  # cell side in degrees, about 400 m
LAYERS = "/api/v1/admin/layers"


class LayerApi(Api):
    def put(self, username: str, path: str, json: Any = None, **kw: Any) -> Any:
        return self._send("PUT", username, path, json=json, **kw)

    def delete(self, username: str, path: str) -> Any:
        return self._send("DELETE", username, path)


def _ok(r: Any) -> Any:
    assert r.status_code == 200, r.text
    return r.json()


def _rejected(r: Any) -> dict[str, str]:
    assert r.status_code == 422, r.text
    assert r.json()["error"]["code"] == "import_rejected", r.text
    return {p["item"]: p["reason"] for p in r.json()["error"]["details"]["problems"]}


def _square(x: float, y: float, w: float = D) -> list[list[float]]:
    return [[x, y], [x + w, y], [x + w, y + D], [x, y + D], [x, y]]


def _zongzhi(origin: tuple[float, float], n: int = 2, gcj02: bool = True) -> dict[str, Any]:
    """n × n cells ZZ-ij from ``origin`` (WGS-84), each vertex given in GCJ-02."""
    features = []
    for i in range(n):
        for j in range(n):
            ring = _square(origin[0] + i * D, origin[1] + j * D)
            if gcj02:
                ring = [list(wgs84_to_gcj02(x, y)) for x, y in ring]
            features.append({"type": "Feature",
                             "properties": {"code": f"ZZ-{i}{j}", "name": f"综治网格{i}{j}"},
                             "geometry": {"type": "Polygon", "coordinates": [ring]}})  # fmt: skip
    return {"type": "FeatureCollection", "features": features}


def _place() -> tuple[float, float, str, tuple[float, float]]:
    """A point of the demo city, its grid cell, and an origin putting it inside cell ZZ-00."""
    lon, lat, grid = point_in(STREET_A, seed=11)
    return lon, lat, grid, (lon - D / 2, lat - D / 2)


def _count(app: App, model: Any) -> int:
    with app.reads() as s:
        return int(s.scalar(select(func.count()).select_from(model)) or 0)


def test_a_gcj02_layer_is_imported_in_wgs84_listed_and_read_back(app: App) -> None:
    api = LayerApi(app)
    _, _, _, origin = _place()
    r = api.put("admin", f"{LAYERS}/zongzhi", _zongzhi(origin),
                params={"name": "综治网格", "crs": "gcj02"})  # fmt: skip
    assert _ok(r) == {"kind": "layer", "code": "zongzhi", "name": "综治网格", "crs": "gcj02",
                      "cells": 4, "replaced": 0}  # fmt: skip
    listed = {x["code"]: x for x in _ok(api.get("leader", LAYERS))}
    assert listed["police"]["cells"] == 25 and listed["police"]["name"] == "警务网格"
    assert listed["zongzhi"]["cells"] == 4 and listed["zongzhi"]["source_crs"] == "gcj02"

    fc = _ok(api.get("dispatcher", f"{LAYERS}/zongzhi"))
    assert fc["type"] == "FeatureCollection" and fc["layer"]["name"] == "综治网格"
    cell = next(f for f in fc["features"] if f["id"] == "ZZ-10")
    assert cell["properties"] == {"code": "ZZ-10", "name": "综治网格10"}
    got = shapely.get_coordinates(shapely.geometry.shape(cell["geometry"]))
    want = shapely.get_coordinates(shapely.Polygon(_square(origin[0] + D, origin[1])))
    assert abs(got - want).max() < 1e-9  # stored in WGS-84, not as sent

    log = _ok(api.get("admin", "/api/v1/admin/audit", params={"limit": 1}))[0]
    assert (log["action"], log["target"], log["detail"]["cells"]) == ("import_layer", "zongzhi", 4)


def test_bad_crs_and_bad_cells_are_refused_naming_each_and_write_nothing(app: App) -> None:
    api = LayerApi(app)
    _, _, _, origin = _place()
    before = (_count(app, LayerCellRow), _count(app, AuditRow))
    problems = _rejected(api.put("admin", f"{LAYERS}/zongzhi", _zongzhi(origin),
                                 params={"crs": "mercator"}))  # fmt: skip
    assert set(problems) == {"crs parameter"} and "mercator" in problems["crs parameter"]
    declared = {**_zongzhi(origin), "crs": {"type": "name", "properties": {"name": "BD09"}}}
    problems = _rejected(api.put("admin", f"{LAYERS}/zongzhi", declared,
                                 params={"crs": "gcj02"}))  # fmt: skip
    assert "bd09" in problems["crs"] and "gcj02" in problems["crs"]

    bad = _zongzhi(origin, n=3, gcj02=False)
    x, y = origin
    bad["features"][4]["geometry"]["coordinates"] = [  # ZZ-11 as a bow tie
        [[x + D, y + D], [x + 2 * D, y + 2 * D], [x + 2 * D, y + D], [x + D, y + 2 * D],
         [x + D, y + D]]]  # fmt: skip
    bad["features"][8]["geometry"]["coordinates"] = [_square(x + 1.5 * D, y + 2 * D, 1.5 * D)]
    problems = _rejected(api.put("admin", f"{LAYERS}/zongzhi", bad))
    assert "Self-intersection" in problems["ZZ-11"]
    assert "overlap by" in problems["ZZ-12 / ZZ-22"]
    assert before == (_count(app, LayerCellRow), _count(app, AuditRow))
    assert "zongzhi" not in {x["code"] for x in _ok(api.get("admin", LAYERS))}
    # Not a FeatureCollection; a code that is not a layer code; a non-admin.
    assert set(_rejected(api.put("admin", f"{LAYERS}/zongzhi", [1, 2]))) == {"file"}
    r = api.put("admin", f"{LAYERS}/Zong Zhi", _zongzhi(origin))
    assert r.status_code == 422 and r.json()["error"]["code"] == "validation_failed"
    for who in ("dispatcher", "auditor", "citizen"):
        assert api.put(who, f"{LAYERS}/zongzhi", _zongzhi(origin)).status_code == 403
        assert api.delete(who, f"{LAYERS}/police").status_code == 403
    assert api.get("citizen", LAYERS).status_code == 403
    assert before == (_count(app, LayerCellRow), _count(app, AuditRow))


def test_a_reimport_replaces_the_cells_at_once_and_a_bad_one_keeps_the_old(app: App) -> None:
    api = LayerApi(app)
    lon, lat, _, origin = _place()
    _ok(api.put("admin", f"{LAYERS}/zongzhi", _zongzhi(origin),
                params={"crs": "gcj02", "name": "综治网格"}))  # fmt: skip
    where = {"lon": lon, "lat": lat}
    assert _ok(api.get("leader", "/api/v1/map/locate", params=where))["layers"]["zongzhi"] == {
        "code": "ZZ-00", "name": "综治网格00"}  # fmt: skip

    overlapping = _zongzhi(origin, gcj02=False)
    overlapping["features"][1]["geometry"]["coordinates"] = [_square(*origin, 1.5 * D)]
    assert _rejected(api.put("admin", f"{LAYERS}/zongzhi", overlapping))
    fc = _ok(api.get("admin", f"{LAYERS}/zongzhi"))
    assert len(fc["features"]) == 4 and fc["layer"]["source_crs"] == "gcj02"  # untouched

    one = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"code": "ZZ-A"},  # no name: the code stands in
         "geometry": {"type": "Polygon", "coordinates": [_square(*origin, 2 * D)]}}]}  # fmt: skip
    r = _ok(api.put("admin", f"{LAYERS}/zongzhi", one))
    assert (r["name"], r["crs"], r["cells"], r["replaced"]) == ("综治网格", "wgs84", 1, 4)
    assert [f["id"] for f in _ok(api.get("admin", f"{LAYERS}/zongzhi"))["features"]] == ["ZZ-A"]
    assert _ok(api.get("leader", "/api/v1/map/locate", params=where))["layers"]["zongzhi"] == {
        "code": "ZZ-A", "name": "ZZ-A"}  # fmt: skip

    assert _ok(api.delete("admin", f"{LAYERS}/zongzhi")) == {"code": "zongzhi",
                                                              "deleted_cells": 1}  # fmt: skip
    assert api.get("admin", f"{LAYERS}/zongzhi").status_code == 404
    assert api.delete("admin", f"{LAYERS}/zongzhi").status_code == 404
    layers = _ok(api.get("leader", "/api/v1/map/locate", params=where))["layers"]
    assert set(layers) == {"police"}


def test_a_point_resolves_to_its_cell_in_every_layer(app: App) -> None:
    api = LayerApi(app)
    lon, lat, grid, origin = _place()
    _ok(api.put("admin", f"{LAYERS}/zongzhi", _zongzhi(origin), params={"crs": "gcj02"}))
    found = _ok(api.get("citizen", "/api/v1/map/locate", params={"lon": lon, "lat": lat}))
    assert found["inside"] and found["grid_code"] == grid
    assert [p["code"] for p in found["path"]] == ["319900", "319901", STREET_A, grid[:12], grid]
    assert [p["level"] for p in found["path"]] == ["city", "district", "street", "community",
                                                   "grid"]  # fmt: skip
    assert found["path"][2]["name"] == "外滩湾街道"
    assert found["layers"]["zongzhi"]["code"] == "ZZ-00"
    assert found["layers"]["police"]["code"].startswith("JW")

    gx, gy = wgs84_to_gcj02(lon, lat)
    same = _ok(api.get("leader", "/api/v1/map/locate",
                       params={"lon": gx, "lat": gy, "crs": "gcj02"}))  # fmt: skip
    assert (same["grid_code"], same["layers"]) == (grid, found["layers"])
    assert same["crs"] == "gcj02" and abs(same["wgs84"][0] - lon) < 1e-6

    # East of the city: outside the jurisdiction, with the nearest cell and how far it is.
    outside = _ok(api.get("leader", "/api/v1/map/locate", params={"lon": 121.70, "lat": 31.20}))
    assert not outside["inside"] and outside["reason"] == "outside_jurisdiction"
    assert outside["grid_code"] is None and "path" not in outside
    assert outside["nearest"]["grid_code"].startswith("3199")
    assert 5_000 < outside["nearest"]["distance_m"] < 12_000
    assert outside["layers"] == {"police": None, "zongzhi": None}

    batch = _ok(api.post("leader", "/api/v1/map/locate", json={
        "crs": "gcj02", "points": [[gx, gy], list(wgs84_to_gcj02(121.70, 31.20))]}))  # fmt: skip
    assert [b["grid_code"] for b in batch["items"]] == [grid, None]
    assert batch["items"][0]["layers"] == found["layers"]
    assert batch["items"][1]["nearest"]["grid_code"] == outside["nearest"]["grid_code"]
    r = api.post("leader", "/api/v1/map/locate", json={"points": [[200, 31.2]]})
    assert r.status_code == 422 and r.json()["error"]["details"]["field"] == "points[0]"
    assert api.post("leader", "/api/v1/map/locate", json={"points": []}).status_code == 422
    assert api.get("leader", "/api/v1/map/locate", params={"lon": lon}).status_code == 422


def test_intake_records_the_cell_of_every_layer_on_the_case(app: App) -> None:
    api = LayerApi(app)
    lon, lat, _, origin = _place()
    _ok(api.put("admin", f"{LAYERS}/zongzhi", _zongzhi(origin), params={"crs": "gcj02"}))
    body = {"client_request_id": "LAYERS-1", "category": "E0102",
            "description": "小区门口有暴露垃圾", "location": {"lon": lon, "lat": lat}}  # fmt: skip
    r = api.post("citizen", "/api/v1/intake/citizen", json=body)
    assert r.status_code == 201, r.text
    case = _ok(api.get("leader", f"/api/v1/cases/{r.json()['case_id']}"))
    police = _ok(api.get("leader", "/api/v1/map/locate", params={"lon": lon, "lat": lat}))
    assert case["location"]["layers"] == {"zongzhi": "ZZ-00",
                                          "police": police["layers"]["police"]["code"]}  # fmt: skip


def test_region_import_checks_the_grid_and_converts_a_declared_crs(app: App) -> None:
    api = LayerApi(app)
    before = _count(app, RegionRow)
    community = "319901001099"

    def fc(ring: list[list[float]], crs: str | None = None) -> dict[str, Any]:
        grid = {"type": "Feature", "properties": {"code": f"{community}01", "name": "新港一网格",
                "level": "grid", "parent": community},
                "geometry": {"type": "Polygon", "coordinates": [ring]}}  # fmt: skip
        parent = {"type": "Feature", "properties": {"code": community, "name": "新港社区",
                  "level": "community", "parent": STREET_A}, "geometry": None}  # fmt: skip
        member = {"crs": {"type": "name", "properties": {"name": crs}}} if crs else {}
        return {"type": "FeatureCollection", "features": [parent, grid], **member}

    lon, lat, grid, _ = _place()  # a new cell on top of an existing one
    problems = _rejected(api.post("admin", "/api/v1/admin/regions",
                                  json=fc(_square(lon, lat))))  # fmt: skip
    assert any(grid in item and f"{community}01" in item for item in problems), problems
    assert _count(app, RegionRow) == before

    ring = [list(wgs84_to_gcj02(x, y)) for x, y in _square(121.70, 31.20)]  # east of the city
    r = api.post("admin", "/api/v1/admin/regions", json=fc(ring, "GCJ-02"))
    assert r.status_code == 200, r.text
    cells = _ok(api.get("admin", "/api/v1/regions", params={"parent": community,
                                                            "geometry": True}))  # fmt: skip
    got = shapely.get_coordinates(shapely.geometry.shape(cells[0]["geometry"]))
    assert abs(got - shapely.get_coordinates(shapely.Polygon(_square(121.70, 31.20)))).max() < 1e-9
    r = api.post("admin", "/api/v1/admin/regions", params={"crs": "bd09"},
                 json=fc(ring, "GCJ-02"))  # fmt: skip
    assert set(_rejected(r)) == {"crs"}


@pytest.fixture
def cli_env(sqlite_app: App, monkeypatch: pytest.MonkeyPatch) -> App:
    monkeypatch.setenv("CITYOPS_DATABASE_URL", str(sqlite_app.engine.url))
    return sqlite_app


def test_cli_imports_a_layer_or_names_what_is_wrong(cli_env: App, tmp_path: Path) -> None:
    _, _, _, origin = _place()
    good, bad = tmp_path / "zongzhi.geojson", tmp_path / "bad.geojson"
    good.write_text(json.dumps(_zongzhi(origin)), encoding="utf-8")
    broken = _zongzhi(origin, gcj02=False)
    broken["features"][3]["geometry"]["coordinates"] = [_square(*origin, 1.5 * D)]
    bad.write_text(json.dumps(broken), encoding="utf-8")
    runner = CliRunner()
    result = runner.invoke(cli, ["import", "layer", "zongzhi", str(good), "--name", "综治网格",
                                 "--crs", "gcj02"])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "zongzhi (综治网格): created with 4 cells (source CRS gcj02)" in result.output
    result = runner.invoke(cli, ["import", "layer", "zongzhi", str(bad)])
    assert result.exit_code == 2
    assert "ZZ-00 / ZZ-11: overlap" in result.output and "ZZ-10 / ZZ-11" in result.output
    result = runner.invoke(cli, ["import", "layer", "zongzhi", str(good), "--crs", "gcj02"])
    assert result.exit_code == 0 and "replaced 4 cells with 4 cells" in result.output
    with cli_env.reads() as s:
        n = s.scalar(select(func.count()).select_from(LayerCellRow)
                     .where(LayerCellRow.layer_code == "zongzhi"))  # fmt: skip
    assert n == 4
