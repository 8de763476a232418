"""Reports about a 部件 go to its owner; component imports are checked whole."""

from __future__ import annotations

from functools import cache
from typing import Any

from cityops.bootstrap import App
from cityops.demo.components import generate_components
from cityops.demo.gazetteer import generate_gazetteer
from tests.helpers import Api, city


@cache
def _components() -> list[dict[str, Any]]:
    return generate_components(city(), generate_gazetteer(city()))


def _first(category: str, prefix: str) -> dict[str, Any]:
    return next(c for c in _components() if c["category"] == category
                and c["code"].startswith(prefix[:6]) and c["owner"] is not None
                and _grid(c).startswith(prefix))  # fmt: skip


def _grid(component: dict[str, Any]) -> str:
    from cityops.demo.gazetteer import GridCells

    return GridCells(city()).locate(component["lon"], component["lat"])[0] or ""


def _inspect(api: Api, rid: str, body: dict[str, Any]) -> Any:
    base = {"report_id": rid, "description": "部件损坏"}
    return api.post("inspector01", "/api/v1/intake/inspector", json={**base, **body})


def test_a_named_component_routes_to_its_owner(app: App) -> None:
    api = Api(app)
    bin_ = _first("C0303", "319901001")  # 外滩湾 keeps its own bins
    r = _inspect(api, "bin-1", {"category": "C0303", "component_code": bin_["code"],
                                "location": {"lon": bin_["lon"], "lat": bin_["lat"]}})  # fmt: skip
    assert r.status_code == 201, r.text
    case = api.get("leader", f"/api/v1/cases/{r.json()['case_id']}").json()
    assert case["component_code"] == bin_["code"]
    assert case["routing"]["department"] == "wtw-squad"
    assert bin_["code"] in case["routing"]["explanation"]
    # The responsibility list alone would have sent it to the district's sanitation.
    which = api.post("leader", "/api/v1/rules/which",
                     json={"category": "C0303", "area": case["grid_code"]}).json()  # fmt: skip
    assert which["department"] == "bj-greening"


def test_a_report_next_to_a_component_is_about_it(app: App) -> None:
    api = Api(app)
    lamp = _first("C0110", "319901001")
    r = _inspect(api, "lamp-1", {"category": "C0110",
                                 "location": {"lon": lamp["lon"] + 0.00005, "lat": lamp["lat"]}})
    assert r.status_code == 201, r.text
    case = api.get("leader", f"/api/v1/cases/{r.json()['case_id']}").json()
    assert case["component_code"] == lamp["code"]
    assert "米的部件" in case["routing"]["explanation"]


def test_component_errors(app: App) -> None:
    api = Api(app)
    lamp = _first("C0110", "319901001")
    where = {"lon": lamp["lon"], "lat": lamp["lat"]}
    unknown = _inspect(api, "x-1", {"category": "C0110", "component_code": "3199010110999999",
                                    "location": where})  # fmt: skip
    assert unknown.status_code == 422 and unknown.json()["error"]["details"]["field"] == (
        "component_code"
    )
    wrong = _inspect(api, "x-2", {"category": "C0303", "component_code": lamp["code"],
                                  "location": where})  # fmt: skip
    assert wrong.status_code == 422
    assert api.get("admin", "/api/v1/cases").json()["total"] == 0  # nothing written


def test_component_import_is_all_or_nothing(sqlite_app: App) -> None:
    from cityops.domain.errors import ImportRejected
    from cityops.service.geodata import import_components

    lamp = _first("C0110", "319901001")
    good = {**lamp, "code": lamp["code"][:10] + "900001"}
    bad_code = {**lamp, "code": "3199010303900002"}  # digits 7–10 say 垃圾箱, category 路灯
    outside = {**lamp, "code": lamp["code"][:10] + "900003", "lon": 116.4, "lat": 39.9}
    try:
        import_components(sqlite_app, [good, bad_code, outside], "test")
    except ImportRejected as exc:
        items = [p.item for p in exc.problems]
    else:
        raise AssertionError("expected the import to be rejected")
    assert any("3199010303900002" in i for i in items) and any("900003" in i for i in items)
    assert sqlite_app.reference.get().components.get(good["code"]) is None  # nothing written
    assert import_components(sqlite_app, [good], "test").created == 1
    assert sqlite_app.reference.get().components.get(good["code"]) is not None
