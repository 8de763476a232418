"""The demo city's second grid layer: police beats (警务网格) over 申江市 (多格合一).

Police beats are drawn by the police, not by the city: here 5 × 5 blocks, each the union of
the city-operations grid cells whose centres fall in one of 25 equal rectangles of the city's
extent. A block is 6 cells wide and 4 tall, so beats straddle district and street boundaries
(as real ones do) while still tiling the city exactly: they share the grid's vertices, which
keeps the layer free of gaps and overlaps for ``gridcheck``. Same city, same beats.
"""

from __future__ import annotations

import json
from typing import Any

import shapely

from cityops.demo.city import DemoCity

POLICE_LAYER, POLICE_LAYER_NAME = "police", "警务网格"
_BLOCKS_X, _BLOCKS_Y = 5, 5


def police_beats(city: DemoCity) -> dict[str, Any]:
    """A GeoJSON FeatureCollection (WGS-84) of the police beats, codes ``JW01`` … ``JW25``."""
    outline = city.region(city.city_code).geometry
    if outline is None:
        raise ValueError("the demo city has no outline")
    minx, miny, maxx, maxy = outline.bounds
    blocks: dict[tuple[int, int], list[Any]] = {}
    for grid in city.grids:
        centre = shapely.centroid(grid.geometry)
        i = min(int((centre.x - minx) / (maxx - minx) * _BLOCKS_X), _BLOCKS_X - 1)
        j = min(int((maxy - centre.y) / (maxy - miny) * _BLOCKS_Y), _BLOCKS_Y - 1)
        blocks.setdefault((j, i), []).append(grid.geometry)
    features = []
    for n, key in enumerate(sorted(blocks), start=1):  # numbered north-west first, row by row
        beat = shapely.orient_polygons(shapely.union_all(blocks[key]))
        features.append({
            "type": "Feature",
            "properties": {"code": f"JW{n:02d}", "name": f"第{n}警务区"},
            "geometry": json.loads(shapely.to_geojson(beat)),
        })  # fmt: skip
    return {"type": "FeatureCollection", "features": features}
