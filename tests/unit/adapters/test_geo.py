"""Point → grid cell lookup: exact GEOS answers, ties to the smallest code, fast batches."""

from __future__ import annotations

import math
from functools import cache
from typing import Any

import numpy as np
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st
from shapely.geometry import box, mapping

from cityops.adapters.geo import GridIndex, GridLocator, LayeredGrid

D = 0.01  # about 1 km
LON0, LAT0 = 121.40, 31.20


def _square(i: int, j: int, size: float = D) -> dict[str, Any]:
    x, y = LON0 + i * D, LAT0 + j * D
    return mapping(box(x, y, x + size, y + size))


def _two() -> list[tuple[str, dict[str, Any]]]:
    # "B" west of "A" on purpose: ties must not depend on the input order
    return [("B", _square(0, 0)), ("A", _square(1, 0))]


@cache
def _jittered() -> tuple[GridIndex, list[tuple[str, Any]]]:
    """A 14 × 11 lattice of jittered quads sharing vertices, plus the awkward cases: a cell
    overlapping others, a cell with a hole (and an island cell in it), a two-part cell."""
    rng = np.random.default_rng(3)
    nx, ny = 14, 11
    gx, gy = np.meshgrid(np.arange(nx + 1), np.arange(ny + 1), indexing="ij")
    vx = LON0 + (gx + rng.uniform(-0.3, 0.3, gx.shape)) * D
    vy = LAT0 + (gy + rng.uniform(-0.3, 0.3, gy.shape)) * D
    cells: list[tuple[str, Any]] = []
    for i in range(nx):
        for j in range(ny):
            ring = [
                (vx[a, b], vy[a, b]) for a, b in ((i, j), (i + 1, j), (i + 1, j + 1), (i, j + 1))
            ]
            cells.append((f"Q{i:02d}{j:02d}", shapely.Polygon(ring)))
    cx, cy = LON0 + 20 * D, LAT0 + 3 * D
    island = box(cx + D, cy + D, cx + 2 * D, cy + 2 * D)
    parts = [box(cx, cy - 2 * D, cx + D, cy - D), box(cx + 2 * D, cy - 2 * D, cx + 3 * D, cy - D)]
    cells += [
        ("OVERLAP", box(LON0 + 3.5 * D, LAT0 + 3.5 * D, LON0 + 5.2 * D, LAT0 + 4.7 * D)),
        ("HOLED", box(cx, cy, cx + 3 * D, cy + 3 * D).difference(island)),
        ("ISLAND", island),
        ("TWOPART", shapely.MultiPolygon(parts)),
    ]
    index = GridIndex((code, mapping(geom)) for code, geom in cells).prepare()
    assert index._raster is not None  # the batches below take the fast path
    return index, cells


def _oracle(cells: list[tuple[str, Any]], lon: float, lat: float) -> str | None:
    """Brute force: the smallest code among the cells GEOS says the point intersects."""
    hits = [code for code, geom in cells if shapely.intersects_xy(geom, lon, lat)]
    return min(hits) if hits else None


def test_locate_inside_and_outside() -> None:
    index = GridIndex(_two())
    assert len(index) == 2
    assert index.locate(LON0 + 0.5 * D, LAT0 + 0.5 * D) == "B"
    assert index.locate(LON0 + 1.5 * D, LAT0 + 0.5 * D) == "A"
    assert index.locate(LON0 + 2.5 * D, LAT0 + 0.5 * D) is None
    assert index.locate(LON0 + 0.5 * D, LAT0 - 0.5 * D) is None
    assert index.locate(math.nan, LAT0) is None
    assert index.bounds == pytest.approx((LON0, LAT0, LON0 + 2 * D, LAT0 + D))


def test_points_that_are_not_numbers_are_nowhere() -> None:
    index, _ = _jittered()
    lons = np.array([math.nan, math.inf, -math.inf, LON0 + 5 * D] * 2000)
    lats = np.array([LAT0 + 5 * D, math.nan, LAT0 + 5 * D, math.inf] * 2000)
    assert index.locate_many(lons, lats) == [None] * 8000
    assert index.locate(math.inf, LAT0 + 5 * D) is None


def test_shared_edge_goes_to_the_smallest_code() -> None:
    for cells in (_two(), list(reversed(_two()))):
        index = GridIndex(cells)
        on_edge = (LON0 + D, LAT0 + 0.5 * D)
        assert index.locate(*on_edge) == "A"
        assert index.locate_many([on_edge[0]] * 5000, [on_edge[1]] * 5000) == ["A"] * 5000
        assert index.locate(LON0, LAT0 + 0.5 * D) == "B"  # the outer edge still belongs to B


def test_shared_corner_of_four_cells_goes_to_the_smallest_code() -> None:
    cells = [("D", _square(0, 0)), ("C", _square(1, 0)), ("B", _square(0, 1)), ("E", _square(1, 1))]
    index = GridIndex(cells).prepare()
    corner = LON0 + D, LAT0 + D
    assert shapely.intersects_xy(shapely.geometry.shape(cells[3][1]), *corner)
    assert index.locate(*corner) == "B"
    assert index.locate_many([corner[0]], [corner[1]]) == ["B"]


def test_grid_locator_keeps_the_old_interface() -> None:
    locator = GridLocator(_two())
    assert isinstance(locator, GridIndex)
    assert len(locator) == 2
    assert locator.locate(LON0 + 1.5 * D, LAT0 + 0.5 * D) == "A"
    assert len(GridLocator([])) == 0
    assert GridLocator([]).locate(LON0, LAT0) is None
    assert GridLocator([]).bounds is None
    assert GridLocator([]).locate_many(np.zeros(5000), np.zeros(5000)) == [None] * 5000


def test_locate_many_matches_brute_force_on_a_large_batch() -> None:
    index, cells = _jittered()
    rng = np.random.default_rng(11)
    minx, miny, maxx, maxy = index.bounds or (0, 0, 0, 0)
    lons = rng.uniform(minx - D, maxx + D, 20_000)
    lats = rng.uniform(miny - D, maxy + D, 20_000)
    # and every vertex, and points on (or a rounding error off) every edge
    coords = np.vstack([shapely.get_coordinates(g) for _, g in cells])
    t = rng.uniform(0, 1, (len(coords) - 1, 1))
    on_edges = coords[:-1] + t * (coords[1:] - coords[:-1])
    lons = np.concatenate([lons, coords[:, 0], on_edges[:, 0]])
    lats = np.concatenate([lats, coords[:, 1], on_edges[:, 1]])
    got = index.locate_many(lons, lats)
    assert got == [_oracle(cells, x, y) for x, y in zip(lons.tolist(), lats.tolist(), strict=True)]
    assert got == [index.locate(x, y) for x, y in zip(lons.tolist(), lats.tolist(), strict=True)]


@st.composite
def _points(draw: st.DrawFn) -> tuple[float, float]:
    _, cells = _jittered()
    kind = draw(st.sampled_from(["anywhere", "vertex", "edge"]))
    if kind == "anywhere":
        lon = draw(st.floats(LON0 - D, LON0 + 24 * D, allow_nan=False))
        lat = draw(st.floats(LAT0 - 2 * D, LAT0 + 12 * D, allow_nan=False))
        return lon, lat
    _, geom = draw(st.sampled_from(cells))
    coords = shapely.get_coordinates(geom)
    k = draw(st.integers(0, len(coords) - 2))
    if kind == "vertex":
        return float(coords[k, 0]), float(coords[k, 1])
    t = draw(st.floats(0, 1))
    (ax, ay), (bx, by) = coords[k], coords[k + 1]
    return float(ax + t * (bx - ax)), float(ay + t * (by - ay))


@settings(max_examples=300, deadline=None)
@given(st.lists(_points(), min_size=1, max_size=40))
def test_locate_many_equals_locate_point_by_point(points: list[tuple[float, float]]) -> None:
    index, cells = _jittered()
    lons, lats = [p[0] for p in points], [p[1] for p in points]
    expected = [_oracle(cells, x, y) for x, y in points]
    assert [index.locate(x, y) for x, y in points] == expected
    assert index.locate_many(np.array(lons), np.array(lats)) == expected
    many = 4096 // len(points) + 1  # big enough for the raster path too
    assert index.locate_many(np.tile(lons, many), np.tile(lats, many)) == expected * many


def test_nearest_gives_metres() -> None:
    index = GridIndex(_two())
    code, metres = index.nearest(LON0 + 2 * D + 0.01, LAT0 + 0.5 * D)  # 0.01° east of "A"
    east = 0.01 * 6_371_008.8 * math.pi / 180 * math.cos(math.radians(LAT0 + 0.5 * D))
    assert code == "A"
    assert metres == pytest.approx(east, rel=1e-3)  # ≈ 952 m at 31.2° N
    code, metres = index.nearest(LON0 + 0.5 * D, LAT0 - 0.005)  # 0.005° south of "B"
    assert code == "B"
    assert metres == pytest.approx(0.005 * 111_195, rel=1e-3)
    assert index.nearest(LON0 + 0.5 * D, LAT0 + 0.5 * D) == ("B", 0.0)
    with pytest.raises(LookupError):
        GridIndex([]).nearest(LON0, LAT0)


def test_nearest_prefers_metres_over_degrees() -> None:
    # at 60° N a degree of longitude is half a degree of latitude: the cell 0.015° east
    # (≈ 835 m) is nearer than the one 0.01° north (≈ 1112 m), though farther in degrees
    lat = 60.0
    cells = [
        ("EAST", mapping(box(LON0 + 0.015, lat - 0.001, LON0 + 0.02, lat + 0.001))),
        ("NORTH", mapping(box(LON0 - 0.001, lat + 0.01, LON0 + 0.001, lat + 0.02))),
    ]
    code, metres = GridIndex(cells).nearest(LON0, lat)
    assert code == "EAST"
    assert metres == pytest.approx(0.015 * 111_195 * 0.5, rel=2e-3)


def test_layered_grid_answers_every_layer() -> None:
    ops = GridIndex(_two())
    police = GridIndex([("P1", mapping(box(LON0, LAT0, LON0 + 1.2 * D, LAT0 + D)))])
    layers = LayeredGrid({"city_ops": ops, "police": police})
    assert layers.locate_all(LON0 + 1.1 * D, LAT0 + 0.5 * D) == {"city_ops": "A", "police": "P1"}
    assert layers.locate_all(LON0 + 1.5 * D, LAT0 + 0.5 * D) == {"city_ops": "A", "police": None}
    assert layers.locate_many_all([LON0 + 0.5 * D], [LAT0 + 0.5 * D]) == {
        "city_ops": ["B"],
        "police": ["P1"],
    }


def test_locate_many_rejects_mismatched_arrays() -> None:
    with pytest.raises(ValueError, match="differ"):
        GridIndex(_two()).locate_many([1.0, 2.0], [1.0])
