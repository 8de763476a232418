"""The demo city's components (部件): lamps, manholes and bins along its roads.

Street lamps stand every ~200 m, manhole covers of the five utilities alternate every
~200 m, bins every ~400 m. Owners follow the utilities; 外滩湾街道 keeps its own bins,
so a bin report there goes to the street squad while the responsibility list would send
it to the district — the case the component route exists for.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from shapely.geometry import LineString, shape

from cityops.demo.city import DemoCity
from cityops.demo.gazetteer import Gazetteer, GridCells

_MANHOLES = (("C0101", "water"), ("C0102", "water"), ("C0105", "power"), ("C0107", "telecom"),
             ("C0108", "gas"))  # fmt: skip
_NAMES = {"C0110": "路灯", "C0101": "上水井盖", "C0102": "污水井盖", "C0105": "电力井盖",
          "C0107": "通信井盖", "C0108": "燃气井盖", "C0303": "垃圾箱"}  # fmt: skip
_OFFSET = 0.00008  # ~8 m beside the centre line: on the pavement


def generate_components(city: DemoCity, gazetteer: Gazetteer) -> list[dict[str, Any]]:
    serials: dict[tuple[str, str], int] = defaultdict(int)
    out: list[dict[str, Any]] = []

    cells = GridCells(city)

    def add(category: str, owner: str | None, lon: float, lat: float, road: str) -> None:
        grid = cells.locate(lon, lat)[0]
        if grid is None:
            return
        district = grid[:6]
        if category == "C0303":  # bins belong to the district's sanitation, or the street's
            owner = (
                "wtw-squad"
                if grid.startswith("319901001")
                else ({"319901": "bj", "319902": "pc", "319903": "hw"}[district] + "-greening")
            )
        serials[(district, category)] += 1
        serial = serials[(district, category)]
        out.append({
            "code": f"{district}{category[1:]}{serial:06d}", "category": category,
            "name": f"{road}{_NAMES[category]}{serial:04d}", "lon": round(lon, 6),
            "lat": round(lat, 6), "owner": owner, "status": "normal", "address": road,
        })  # fmt: skip

    for road in (e for e in gazetteer.entries if e["kind"] == "road"):
        line = LineString(shape(road["geometry"]).coords)
        east_west = abs(line.coords[0][1] - line.coords[-1][1]) < 1e-9
        for i in range(int(line.length / 0.002)):
            at = line.interpolate(i * 0.002 + 0.0005)
            dx, dy = (0.0, _OFFSET) if east_west else (_OFFSET, 0.0)
            add("C0110", "roads", at.x + dx, at.y + dy, road["name"])
            category, owner = _MANHOLES[i % len(_MANHOLES)]
            add(category, owner, at.x, at.y, road["name"])
            if i % 2 == 0:
                add("C0303", None, at.x - dx, at.y - dy, road["name"])
    return out
