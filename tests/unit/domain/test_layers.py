"""Reading a grid layer (多格合一): declared CRS, conversion of every vertex, the report."""

from __future__ import annotations

from typing import Any

import pytest
import shapely
from shapely.geometry import box

from cityops.domain.coords import CRS, wgs84_to_bd09, wgs84_to_gcj02
from cityops.domain.errors import ImportRejected, ValidationFailed
from cityops.domain.gridcheck import check_grid
from cityops.domain.layers import (
    check_layer_code,
    declared_crs,
    geometry_to_wgs84,
    parse_layer,
)

LON0, LAT0, D = 121.45, 31.15, 0.01  # about 1 km cells inside China (where GCJ-02 shifts)


def _square(i: int, j: int, w: float = 1) -> list[list[float]]:
    x, y = LON0 + i * D, LAT0 + j * D
    return [[x, y], [x + w * D, y], [x + w * D, y + D], [x, y + D], [x, y]]


def _feature(code: Any, ring: list[list[float]], name: str | None = None) -> dict[str, Any]:
    props = {"code": code, **({"name": name} if name else {})}
    return {"type": "Feature", "properties": props,
            "geometry": {"type": "Polygon", "coordinates": [ring]}}  # fmt: skip


def _block(convert: Any = None) -> dict[str, Any]:
    """A 3 × 3 block of touching cells Z-ij, optionally with every vertex converted."""
    features = []
    for i in range(3):
        for j in range(3):
            ring = _square(i, j)
            if convert:
                ring = [list(convert(x, y)) for x, y in ring]
            features.append(_feature(f"Z-{i}{j}", ring, f"综治网格{i}{j}"))
    return {"type": "FeatureCollection", "features": features}


def _problems(fc: Any, crs: str | None = None) -> dict[str, str]:
    with pytest.raises(ImportRejected) as err:
        parse_layer(fc, crs)
    out: dict[str, str] = {}
    for p in err.value.problems:  # an item with several reasons gets them all, joined
        out[p.item] = f"{out[p.item]}; {p.reason}" if p.item in out else p.reason
    return out


@pytest.mark.parametrize(
    ("convert", "crs", "member"),
    [
        (wgs84_to_gcj02, "gcj02", None),
        (wgs84_to_bd09, None, "BD09"),
        (wgs84_to_gcj02, "GCJ-02", "gcj02"),  # both declared, and they agree
        (None, None, "urn:ogc:def:crs:OGC:1.3:CRS84"),
        (None, None, "urn:ogc:def:crs:EPSG::4490"),  # CGCS2000 is taken as WGS-84
    ],
)
def test_every_vertex_is_converted_back_to_wgs84(
    convert: Any, crs: str | None, member: str | None
) -> None:
    fc = _block(convert)
    if member:
        fc["crs"] = {"type": "name", "properties": {"name": member}}
    layer = parse_layer(fc, crs)
    assert [c.code for c in layer.cells] == [f"Z-{i}{j}" for i in range(3) for j in range(3)]
    assert layer.cells[0].name == "综治网格00"
    for cell in layer.cells:
        i, j = int(cell.code[2]), int(cell.code[3])
        got = shapely.get_coordinates(cell.geometry)
        want = shapely.get_coordinates(shapely.Polygon(_square(i, j)))
        assert abs(got - want).max() < 1e-9, cell.code  # the inverse is refined to ~1e-12°
    # Shared vertices convert to the same numbers, so the cells still tile exactly.
    assert check_grid([(c.code, c.geometry) for c in layer.cells]) == []


def test_conversion_moves_the_layer_by_the_gcj02_offset() -> None:
    layer = parse_layer(_block(), "gcj02")  # a WGS-84 file wrongly declared GCJ-02
    x, _ = shapely.get_coordinates(layer.cells[0].geometry)[0]
    assert 1e-4 < abs(x - LON0) < 1e-2  # hundreds of metres, as the offset is near Shanghai


def test_crs_declarations() -> None:
    assert declared_crs({}, None) is CRS.WGS84  # RFC 7946: undeclared means WGS-84
    assert declared_crs({}, "bd09ll") is CRS.BD09
    named = {"crs": {"type": "name", "properties": {"name": "EPSG:4326"}}}
    assert declared_crs(named, None) is CRS.WGS84
    assert declared_crs(named, "wgs84") is CRS.WGS84
    with pytest.raises(ImportRejected) as err:
        declared_crs(named, "gcj02")
    assert err.value.problems[0].item == "crs" and "wgs84" in err.value.problems[0].reason
    with pytest.raises(ImportRejected) as err:
        declared_crs({}, "mercator")
    assert err.value.problems[0].item == "crs parameter"
    for bad in ({"type": "link", "properties": {"href": "x"}}, "EPSG:4326",
                {"type": "name", "properties": {"name": "EPSG:3857"}}):  # fmt: skip
        with pytest.raises(ImportRejected):
            declared_crs({"crs": bad}, None)


def test_wgs84_and_cgcs2000_geometries_are_kept_as_they_are() -> None:
    cell = box(LON0, LAT0, LON0 + D, LAT0 + D)
    assert geometry_to_wgs84(cell, CRS.WGS84) is cell
    assert geometry_to_wgs84(cell, CRS.CGCS2000) is cell


def test_the_report_names_each_offending_cell() -> None:
    fc = _block()
    features = fc["features"]
    bow_tie = [[LON0, LAT0 + 4 * D], [LON0 + D, LAT0 + 5 * D], [LON0 + D, LAT0 + 4 * D],
               [LON0, LAT0 + 5 * D], [LON0, LAT0 + 4 * D]]  # fmt: skip
    features[4] = _feature("Z-11", _square(1, 1, w=0.5))  # leaves a gap beside it
    features += [
        _feature("BOW", bow_tie),
        _feature("WIDE", _square(3, 0, w=1.5)),  # overlaps the next one by half a cell
        _feature("NEXT", _square(4, 0)),
        _feature("Z-00", _square(0, 5)),  # a second Z-00
        {"type": "Feature", "properties": {"code": "LINE"},
         "geometry": {"type": "LineString", "coordinates": [[LON0, LAT0], [LON0 + D, LAT0]]}},
        {"type": "Feature", "properties": {}, "geometry": None},
    ]  # fmt: skip
    problems = _problems(fc)
    assert "Self-intersection" in problems["BOW"]
    assert problems["NEXT / WIDE"].startswith("overlap: cells NEXT and WIDE overlap by")
    gap = [item for item in problems if item.startswith("gap at")]
    assert len(gap) == 1 and "Z-11" in problems[gap[0]], problems
    assert problems["features[12] Z-00"] == "duplicate code (first at features[0])"
    assert "LineString" in problems["features[13] LINE"]
    assert "properties.code" in problems["features[14]"]
    assert "got None" in problems["features[14]"]
    assert len(problems) == 6, problems


def test_a_layer_file_must_be_a_non_empty_feature_collection() -> None:
    assert set(_problems([1, 2])) == {"file"}
    assert set(_problems({"type": "FeatureCollection", "features": []})) == {"file"}
    assert set(_problems({"type": "Feature", "features": []})) == {"file"}
    far = {"type": "FeatureCollection", "features": [_feature(7, [[0, 0], [500, 0], [500, 1],
                                                                [0, 0]])]}  # fmt: skip
    assert "lon/lat range" in _problems(far)["features[0] 7"]
    # A numeric feature id is accepted as the code when properties have none.
    one = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "id": 42, "properties": None,
         "geometry": {"type": "Polygon", "coordinates": [_square(0, 0)]}}]}  # fmt: skip
    assert [(c.code, c.name) for c in parse_layer(one).cells] == [("42", "42")]


def test_layer_codes() -> None:
    check_layer_code("police")
    check_layer_code("zongzhi_2026")
    for bad in ("", "Police", "1st", "a" * 33, "警务"):
        with pytest.raises(ValidationFailed):
            check_layer_code(bad)
