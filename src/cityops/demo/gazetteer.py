"""The demo city's gazetteer (地名地址库): roads, door plates and places of 申江市.

Twelve east–west and twelve north–south roads cross the city; door plates stand every
~200 m on both sides (odd numbers north/east, even south/west, as on Chinese streets), and
each street has a school, a park, a market and a health centre; each district a hospital.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import shapely
from shapely.geometry import LineString, Point

from cityops.demo.city import ROAD_NAMES, DemoCity
from cityops.domain.model import RegionLevel

_STEP = 0.002  # degrees between door plates (~190 m east–west, ~220 m north–south)
_SIDE = 0.00012  # door plates stand ~12 m off the road's centre line
_PLACE_KINDS = (("第一小学", 0.3), ("公园", 0.5), ("菜市场", 0.7), ("社区卫生服务中心", 0.85))


@dataclass(frozen=True, slots=True)
class Gazetteer:
    entries: tuple[dict[str, Any], ...]

    def near(self, lon: float, lat: float) -> dict[str, Any]:
        """The door plate closest to a point (for realistic hotline addresses)."""
        scale = math.cos(math.radians(lat))
        return min(
            (e for e in self.entries if e["kind"] == "address"),
            key=lambda e: ((e["lon"] - lon) * scale) ** 2 + (e["lat"] - lat) ** 2,
        )


class GridCells:
    """Which grid cell (and district, street) a point of the demo city falls in."""

    def __init__(self, city: DemoCity) -> None:
        self.city = city
        self.grids = [g for g in city.grids if g.geometry is not None]
        self.tree = shapely.STRtree([g.geometry for g in self.grids])

    def locate(self, lon: float, lat: float) -> tuple[str | None, str | None, str | None]:
        """(grid code, district name, street name) of a point, or Nones outside the city."""
        hits = self.tree.query(Point(lon, lat), predicate="intersects")
        if not len(hits):
            return None, None, None
        code = min(self.grids[int(i)].code for i in hits)
        return code, self.city.region(code[:6]).name, self.city.region(code[:9]).name


def generate_gazetteer(city: DemoCity) -> Gazetteer:
    bounds = shapely.union_all([g.geometry for g in city.grids]).bounds
    lon0, lat0, lon1, lat1 = bounds
    entries: list[dict[str, Any]] = []
    cells = GridCells(city)
    names = iter(ROAD_NAMES)
    roads: list[tuple[str, LineString, bool]] = []
    for k in range(12):  # east–west roads
        lat = round(lat0 + (k + 0.5) * (lat1 - lat0) / 12, 6)
        roads.append((next(names), LineString([(lon0 + 0.003, lat), (lon1 - 0.003, lat)]), True))
    for k in range(12):  # north–south roads
        lon = round(lon0 + (k + 0.5) * (lon1 - lon0) / 12, 6)
        roads.append((next(names), LineString([(lon, lat0 + 0.003), (lon, lat1 - 0.003)]), False))
    for name, line, east_west in roads:
        mid = line.interpolate(0.5, normalized=True)
        entries.append(_entry("road", name, mid.x, mid.y, cells, road=name,
                              geometry=[list(c) for c in line.coords]))  # fmt: skip
        steps = int(line.length / _STEP)
        for i in range(steps):
            at = line.interpolate(i * _STEP + _STEP / 2)
            for number, side in ((2 * i + 1, 1.0), (2 * i + 2, -1.0)):
                lon = at.x + (0.0 if east_west else side * _SIDE)
                lat = at.y + (side * _SIDE if east_west else 0.0)
                entries.append(_entry("address", f"{name}{number}号", lon, lat, cells,
                                      road=name, number=number))  # fmt: skip
    for street in city.of_level(RegionLevel.STREET):
        base = street.name.removesuffix("街道").removesuffix("镇")
        geometry = street.geometry
        assert geometry is not None
        minx, miny, maxx, maxy = geometry.bounds
        for suffix, frac in _PLACE_KINDS:
            spot = _inside(geometry, minx + frac * (maxx - minx), miny + (1 - frac) * (maxy - miny))
            entries.append(_entry("poi", f"{base}{suffix}", spot.x, spot.y, cells))
    for district in city.of_level(RegionLevel.DISTRICT):
        assert district.geometry is not None
        spot = district.geometry.representative_point()
        short = district.name.removesuffix("新区").removesuffix("区")
        entries.append(_entry("poi", f"{short}区人民医院", spot.x, spot.y, cells))
    return Gazetteer(tuple(e for e in entries if e["grid_code"] is not None))


def _inside(geometry: Any, x: float, y: float) -> Point:
    point = Point(x, y)
    return point if geometry.contains(point) else geometry.representative_point()


def _entry(kind: str, name: str, lon: float, lat: float, cells: GridCells, *,
           road: str | None = None, number: int | None = None,
           geometry: list[list[float]] | None = None) -> dict[str, Any]:  # fmt: skip
    lon, lat = round(lon, 6), round(lat, 6)
    grid, district, street = cells.locate(lon, lat)
    line = {"type": "LineString", "coordinates": geometry} if geometry else None
    return {
        "kind": kind,
        "name": name,
        "district": district,
        "street": street,
        "road": road,
        "number": number,
        "lon": lon,
        "lat": lat,
        "geometry": line,
        "grid_code": grid,
    }
