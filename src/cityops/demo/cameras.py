"""The demo city's video-AI cameras: two at road crossings in each street (24 in all).

Each camera stands on a corner of its crossing (~10 m off the centre lines) and watches a
~60 m square centred on the crossing, so an alert without a place of its own is put in the
middle of the junction. Codes follow GB/T 28181's 20 digits: the district's 6, "01" (a
grassroots unit), "00" (public-security road access), "132" (network camera), "0" and a
6-digit serial.
"""

from __future__ import annotations

import math
from typing import Any

from shapely.geometry import LineString, shape

from cityops.bootstrap import App
from cityops.demo.city import DemoCity
from cityops.demo.gazetteer import Gazetteer, GridCells
from cityops.domain.model import RegionLevel
from cityops.service.admin import ImportResult
from cityops.service.video import import_cameras

_HALF_VIEW_M = 30.0  # the view is a 60 m square
_CORNER_M = 10.0  # the pole stands on the north-east corner of the crossing


def _crossings(gazetteer: Gazetteer) -> list[tuple[float, float, str, str]]:
    """(lon, lat, east–west road, north–south road) of every crossing of two roads."""
    east_west: list[tuple[str, LineString]] = []
    north_south: list[tuple[str, LineString]] = []
    for road in (e for e in gazetteer.entries if e["kind"] == "road"):
        line = LineString(shape(road["geometry"]).coords)
        flat = abs(line.coords[0][1] - line.coords[-1][1]) < 1e-9
        (east_west if flat else north_south).append((road["name"], line))
    out = []
    for ew_name, ew in east_west:
        for ns_name, ns in north_south:
            at = ew.intersection(ns)
            if not at.is_empty and at.geom_type == "Point":
                out.append((round(at.x, 6), round(at.y, 6), ew_name, ns_name))
    return out


def _square(lon: float, lat: float, half_m: float) -> dict[str, Any]:
    dlat = half_m / 111_320.0
    dlon = dlat / math.cos(math.radians(lat))
    ring = [[lon - dlon, lat - dlat], [lon + dlon, lat - dlat], [lon + dlon, lat + dlat],
            [lon - dlon, lat + dlat], [lon - dlon, lat - dlat]]  # fmt: skip
    return {"type": "Polygon", "coordinates": [[[round(x, 7), round(y, 7)] for x, y in ring]]}


def generate_cameras(
    city: DemoCity, gazetteer: Gazetteer, per_street: int = 2
) -> list[dict[str, Any]]:
    cells = GridCells(city)
    by_street: dict[str, list[tuple[float, float, str, str]]] = {}
    for crossing in _crossings(gazetteer):
        grid = cells.locate(crossing[0], crossing[1])[0]
        if grid is not None:
            by_street.setdefault(grid[:9], []).append(crossing)
    out: list[dict[str, Any]] = []
    for street in city.of_level(RegionLevel.STREET):
        found = sorted(by_street.get(street.code, []), key=lambda c: (-c[1], c[0]))
        # Spread out: the crossings a quarter and three quarters of the way down the street.
        picks = sorted({int((k + 0.5) * len(found) / per_street) for k in range(per_street)})
        for k in picks if found else ():
            lon, lat, ew, ns = found[k]
            dlat = _CORNER_M / 111_320.0
            dlon = dlat / math.cos(math.radians(lat))
            out.append({
                "code": f"{street.code[:6]}01001320{len(out) + 1:06d}",
                "name": f"{ew}与{ns}路口监控", "lon": round(lon + dlon, 6),
                "lat": round(lat + dlat, 6), "view": _square(lon, lat, _HALF_VIEW_M),
            })  # fmt: skip
    return out


def load_cameras(app: App, city: DemoCity, gazetteer: Gazetteer, actor: str) -> ImportResult:
    return import_cameras(app, generate_cameras(city, gazetteer), actor)
