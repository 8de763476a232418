"""Components by code, and the nearest component of a subclass (for routing to its owner)."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import shapely

from cityops.domain.coords import M_PER_DEG_LAT
from cityops.domain.coords import metres as distance


@dataclass(frozen=True, slots=True)
class ComponentInfo:
    code: str
    category: str
    name: str
    lon: float
    lat: float
    owner_department_id: int | None
    status: str


class ComponentIndex:
    def __init__(self, components: Iterable[ComponentInfo]) -> None:
        self.by_code: dict[str, ComponentInfo] = {}
        groups: dict[str, list[ComponentInfo]] = defaultdict(list)
        for c in components:
            self.by_code[c.code] = c
            groups[c.category].append(c)
        self._groups = {
            cat: (items, shapely.STRtree(shapely.points([(c.lon, c.lat) for c in items])))
            for cat, items in groups.items()
        }

    def __len__(self) -> int:
        return len(self.by_code)

    def get(self, code: str) -> ComponentInfo | None:
        return self.by_code.get(code)

    def nearest(
        self, category: str, lon: float, lat: float, max_metres: float
    ) -> tuple[ComponentInfo, float] | None:
        """The closest component of ``category`` within ``max_metres``, with its distance."""
        group = self._groups.get(category)
        if group is None:
            return None
        items, tree = group
        # Degrees of longitude shrink with latitude; search with the wider (latitude) bound.
        reach = max_metres / (M_PER_DEG_LAT * math.cos(math.radians(lat)))
        found = tree.query_nearest(shapely.Point(lon, lat), max_distance=reach)
        if not len(found):
            return None
        best = items[int(np.min(found))]
        metres = distance(lon, lat, best.lon, best.lat)
        return (best, metres) if metres <= max_metres else None
