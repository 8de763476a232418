"""Point → grid cell lookup with shapely's STRtree (一张图's smallest building block)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import shapely
from shapely.geometry import shape


@dataclass(frozen=True, slots=True)
class Located:
    grid_code: str
    lon: float
    lat: float


class GridLocator:
    """Finds the grid cell that contains a WGS-84 point.

    A point on a shared edge belongs to the cell with the smallest code, so the answer is
    deterministic whatever the tree's order.
    """

    def __init__(self, cells: Iterable[tuple[str, Mapping[str, Any]]]) -> None:
        pairs = sorted((code, shape(geom)) for code, geom in cells)
        self._codes = [code for code, _ in pairs]
        self._geoms = np.array([geom for _, geom in pairs], dtype=object)
        for geom in self._geoms:
            shapely.prepare(geom)
        self._tree = shapely.STRtree(self._geoms) if pairs else None

    def __len__(self) -> int:
        return len(self._codes)

    def locate(self, lon: float, lat: float) -> str | None:
        if self._tree is None:
            return None
        point = shapely.Point(lon, lat)
        hits = self._tree.query(point, predicate="intersects")
        return self._codes[int(min(hits))] if len(hits) else None
