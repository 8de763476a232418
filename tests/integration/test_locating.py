"""Reports placed by address (gazetteer), by GCJ-02/BD-09 coordinates, or by a person."""

from __future__ import annotations

from typing import Any

from cityops.bootstrap import App
from cityops.domain.coords import wgs84_to_bd09, wgs84_to_gcj02
from tests.helpers import STREET_A, Api, point_in


def _hotline(api: Api, order: str, location: dict[str, Any]) -> Any:
    body = {"work_order_no": order, "appeal_type": "投诉", "content": "路边垃圾堆了好几天",
            "category": "E0102", "caller_name": "李四", "caller_phone": "13900001111",
            "location": location}  # fmt: skip
    return api.post("acceptor", "/api/v1/intake/hotline", json=body)


def test_an_address_is_geocoded_to_its_grid(app: App) -> None:
    api = Api(app)
    r = _hotline(api, "ADDR-1", {"address": "滨江区人民医院门口"})
    assert r.status_code == 201, r.text
    case = api.get("acceptor", f"/api/v1/cases/{r.json()['case_id']}").json()
    assert case["grid_code"] and case["triage"] is None
    assert case["location"]["source"] == "geocoder"
    assert case["location"]["method"] == "poi" and case["location"]["confidence"] >= 0.6
    assert case["routing"]["department"]  # routed like any located report


def test_an_unplaceable_address_waits_for_a_person(app: App) -> None:
    api = Api(app)
    r = _hotline(api, "ADDR-2", {"address": "老街坊那边的小卖部"})
    assert r.status_code == 201, r.text
    case_id = r.json()["case_id"]
    queue = api.get("acceptor", "/api/v1/cases", params={"triage": "locate"}).json()
    assert case_id in [c["id"] for c in queue["items"]]
    lon, lat, grid = point_in(STREET_A)
    fix = api.act("acceptor", case_id, "amend", location={"lon": lon, "lat": lat},
                  note="电话回访确认位置")  # fmt: skip
    assert fix.status_code == 200, fix.text
    case = api.get("acceptor", f"/api/v1/cases/{case_id}").json()
    assert case["grid_code"] == grid and case["triage"] is None
    assert case["routing"]["department"]
    queue = api.get("acceptor", "/api/v1/cases", params={"triage": "locate"}).json()
    assert case_id not in [c["id"] for c in queue["items"]]


def test_gcj02_and_bd09_coordinates_are_converted_at_intake(app: App) -> None:
    api = Api(app)
    for seed, order, crs, convert in ((3, "GCJ-1", "gcj02", wgs84_to_gcj02),
                                      (4, "BD-1", "bd09", wgs84_to_bd09)):  # fmt: skip
        lon, lat, grid = point_in(STREET_A, seed=seed)
        x, y = convert(lon, lat)
        r = _hotline(api, order, {"lon": x, "lat": y, "crs": crs})
        assert r.status_code == 201, r.text
        case = api.get("acceptor", f"/api/v1/cases/{r.json()['case_id']}").json()
        assert case["grid_code"] == grid
        assert abs(case["lon"] - lon) < 1e-6 and abs(case["lat"] - lat) < 1e-6
        layers = case["location"].pop("layers")  # the cell in every other grid layer
        assert case["location"] == {"source": "coordinates", "crs": crs, "original": [x, y]}
        assert set(layers) == {"police"} and layers["police"].startswith("JW")
    bad = _hotline(api, "BAD-CRS", {"lon": lon, "lat": lat, "crs": "mercator"})
    assert bad.status_code == 422
