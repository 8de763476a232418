"""China's coordinate systems: published reference values, round trips and the edge helpers."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cityops.domain.coords import (
    CRS,
    bd09_to_gcj02,
    bd09_to_wgs84,
    convert_geometry_coords,
    from_wgs84,
    gcj02_to_bd09,
    gcj02_to_wgs84,
    out_of_china,
    to_wgs84,
    to_wgs84_many,
    wgs84_to_bd09,
    wgs84_to_gcj02,
)
from cityops.domain.errors import ValidationFailed

# (WGS-84 lon, lat), (GCJ-02 lon, lat) — from googollee/eviltransform, python/test.py (TESTS).
EVILTRANSFORM_PAIRS = [
    ((121.5272106, 31.1774276), (121.531541859215, 31.17530398364597)),  # Shanghai
    ((113.912316, 22.543847), (113.9171764808363, 22.540796131694766)),  # Shenzhen
    ((116.377817, 39.911954), (116.38404722455657, 39.91334545536069)),  # Beijing
]

# Input (116.404, 39.915) near Tiananmen, outputs from wandergis/coordtransform, test/app.js.
COORDTRANSFORM_INPUT = (116.404, 39.915)
COORDTRANSFORM_WGS84_TO_GCJ02 = (116.41024449916938, 39.91640428150164)
COORDTRANSFORM_GCJ02_TO_BD09 = (116.41036949371029, 39.92133699351021)
# Their bd09togcj02 is the one-step closed form, itself ~1e-6° from the exact inverse.
COORDTRANSFORM_BD09_TO_GCJ02 = (116.39762729119315, 39.90865673957631)

# China's bounding box (lon 73.66–135.05 E, lat 3.86–53.55 N).
china_lons = st.floats(min_value=73.66, max_value=135.05)
china_lats = st.floats(min_value=3.86, max_value=53.55)


def _close(actual: tuple[float, float], expected: tuple[float, float], tol: float) -> bool:
    return abs(actual[0] - expected[0]) < tol and abs(actual[1] - expected[1]) < tol


def _metres(a: tuple[float, float], b: tuple[float, float]) -> float:
    # Equirectangular distance: plenty for sub-kilometre offsets.
    mean_lat = math.radians((a[1] + b[1]) / 2)
    dx = math.radians(a[0] - b[0]) * math.cos(mean_lat)
    dy = math.radians(a[1] - b[1])
    return 6_371_000.0 * math.hypot(dx, dy)


@pytest.mark.parametrize(("wgs", "gcj"), EVILTRANSFORM_PAIRS)
def test_wgs84_to_gcj02_matches_eviltransform(
    wgs: tuple[float, float], gcj: tuple[float, float]
) -> None:
    assert _close(wgs84_to_gcj02(*wgs), gcj, 1e-6)


@pytest.mark.parametrize(("wgs", "gcj"), EVILTRANSFORM_PAIRS)
def test_gcj02_to_wgs84_is_exact_on_eviltransform_pairs(
    wgs: tuple[float, float], gcj: tuple[float, float]
) -> None:
    # Tighter than eviltransform's own 0.5 m for its exact inverse.
    assert _close(gcj02_to_wgs84(*gcj), wgs, 1e-7)


def test_matches_coordtransform_outputs() -> None:
    assert _close(wgs84_to_gcj02(*COORDTRANSFORM_INPUT), COORDTRANSFORM_WGS84_TO_GCJ02, 1e-9)
    assert _close(gcj02_to_bd09(*COORDTRANSFORM_INPUT), COORDTRANSFORM_GCJ02_TO_BD09, 1e-9)
    gcj = bd09_to_gcj02(*COORDTRANSFORM_INPUT)
    assert _close(gcj, COORDTRANSFORM_BD09_TO_GCJ02, 1e-6)
    # Ours is the exact inverse: it re-encodes to the BD-09 input.
    assert _close(gcj02_to_bd09(*gcj), COORDTRANSFORM_INPUT, 1e-10)


def test_shanghai_bund_offset() -> None:
    bund = (121.4903, 31.2402)
    gcj = wgs84_to_gcj02(*bund)
    assert gcj[0] - bund[0] == pytest.approx(0.0045, abs=0.0003)
    assert gcj[1] - bund[1] == pytest.approx(-0.0020, abs=0.0003)
    assert 300 < _metres(gcj, bund) < 700


def test_bd09_is_further_shifted_than_gcj02() -> None:
    bund = (121.4903, 31.2402)
    assert _metres(wgs84_to_bd09(*bund), bund) > _metres(wgs84_to_gcj02(*bund), bund)


@pytest.mark.parametrize(
    "point",
    [(-0.1276, 51.5072), (139.6917, 35.6895), (151.2093, -33.8688), (-74.006, 40.7128)],
    ids=["london", "tokyo", "sydney", "new-york"],
)
def test_out_of_china_points_are_unchanged(point: tuple[float, float]) -> None:
    assert out_of_china(*point)
    for crs in CRS:
        assert to_wgs84(*point, crs) == point
        assert from_wgs84(*point, crs) == point


def test_in_china() -> None:
    assert not out_of_china(116.404, 39.915)


@settings(max_examples=300, deadline=None)
@given(lon=china_lons, lat=china_lats)
def test_gcj02_round_trip(lon: float, lat: float) -> None:
    assert _close(gcj02_to_wgs84(*wgs84_to_gcj02(lon, lat)), (lon, lat), 1e-7)


@settings(max_examples=300, deadline=None)
@given(lon=china_lons, lat=china_lats)
def test_bd09_round_trip(lon: float, lat: float) -> None:
    assert _close(bd09_to_wgs84(*wgs84_to_bd09(lon, lat)), (lon, lat), 1e-6)
    assert _close(bd09_to_gcj02(*gcj02_to_bd09(lon, lat)), (lon, lat), 1e-7)


@settings(max_examples=200, deadline=None)
@given(lon=china_lons, lat=china_lats, crs=st.sampled_from(list(CRS)))
def test_to_wgs84_inverts_from_wgs84(lon: float, lat: float, crs: CRS) -> None:
    assert _close(to_wgs84(*from_wgs84(lon, lat, crs), crs), (lon, lat), 1e-6)


def test_cgcs2000_is_wgs84() -> None:
    assert to_wgs84(121.5, 31.2, CRS.CGCS2000) == (121.5, 31.2)
    assert from_wgs84(121.5, 31.2, "EPSG:4490") == (121.5, 31.2)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("WGS-84", CRS.WGS84),
        ("wgs84", CRS.WGS84),
        ("EPSG:4326", CRS.WGS84),
        ("gcj-02", CRS.GCJ02),
        ("GCJ02", CRS.GCJ02),
        ("bd-09", CRS.BD09),
        ("BD09", CRS.BD09),
        ("BD09LL", CRS.BD09),
        (" bd09_ll ", CRS.BD09),
        ("CGCS2000", CRS.CGCS2000),
        ("EPSG:4490", CRS.CGCS2000),
        (CRS.GCJ02, CRS.GCJ02),
    ],
)
def test_crs_parse(text: str, expected: CRS) -> None:
    assert CRS.parse(text) is expected


@pytest.mark.parametrize("text", ["BD09MC", "EPSG:3857", "", "mars"])
def test_crs_parse_rejects_unknown(text: str) -> None:
    with pytest.raises(ValidationFailed) as info:
        CRS.parse(text)
    assert "GCJ-02" in info.value.message
    assert "EPSG:4326" in info.value.details["accepted"]


def test_geometry_polygon_ring_stays_closed() -> None:
    ring = [[121.40, 31.20], [121.41, 31.20], [121.41, 31.21], [121.40, 31.21], [121.40, 31.20]]
    converted = convert_geometry_coords([ring], CRS.GCJ02, CRS.WGS84)
    out_ring = converted[0]
    assert len(out_ring) == len(ring)
    assert out_ring[0] == out_ring[-1]
    for original, moved in zip(ring, out_ring, strict=True):
        assert _close((moved[0], moved[1]), gcj02_to_wgs84(original[0], original[1]), 1e-12)


def test_geometry_all_nesting_depths() -> None:
    point = [116.404, 39.915]
    expected = list(wgs84_to_gcj02(*point))
    assert convert_geometry_coords(point, "wgs84", "gcj02") == expected
    assert convert_geometry_coords([point, point], "wgs84", "gcj02") == [expected] * 2
    multi_polygon = [[[point, point, point, point]]]
    assert convert_geometry_coords(multi_polygon, "wgs84", "gcj02") == [[[expected] * 4]]


def test_geometry_keeps_altitude_and_direct_gcj_bd() -> None:
    converted = convert_geometry_coords([116.404, 39.915, 42.0], "gcj02", "bd09")
    assert converted[2] == 42.0
    assert _close((converted[0], converted[1]), COORDTRANSFORM_GCJ02_TO_BD09, 1e-9)


def test_geometry_same_crs_is_a_copy() -> None:
    coords = [[121.4, 31.2], [121.5, 31.3]]
    out = convert_geometry_coords(coords, CRS.WGS84, CRS.CGCS2000)
    assert out == coords
    assert out is not coords


@pytest.mark.parametrize("bad", [[["a", "b"]], [121.4], [[121.4, True]], 5])
def test_geometry_rejects_malformed(bad: object) -> None:
    with pytest.raises(ValidationFailed):
        convert_geometry_coords(bad, CRS.GCJ02, CRS.WGS84)  # type: ignore[arg-type]


def test_to_wgs84_many() -> None:
    gcj_lons = [gcj[0] for _, gcj in EVILTRANSFORM_PAIRS]
    gcj_lats = [gcj[1] for _, gcj in EVILTRANSFORM_PAIRS]
    lons, lats = to_wgs84_many(gcj_lons, gcj_lats, "GCJ-02")
    for (wgs, _), lon, lat in zip(EVILTRANSFORM_PAIRS, lons, lats, strict=True):
        assert _close((lon, lat), wgs, 1e-7)
    assert to_wgs84_many([], [], CRS.BD09) == ([], [])


def test_to_wgs84_many_rejects_ragged_columns() -> None:
    with pytest.raises(ValidationFailed):
        to_wgs84_many([121.0, 122.0], [31.0], CRS.GCJ02)
