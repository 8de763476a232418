"""Checks a grid layer (单元网格) before it is imported: pure functions over shapely geometries.

Cells must be valid polygons that tile their area: no two cells may share ground (an overlap
would make a point's cell depend on tie-breaking) and no ground inside the layer's outline may be
left to no cell (a gap: reports there would fall into no cell). Areas are measured in square
metres on a sinusoidal projection centred on the layer (equal-area on the sphere, so no
tolerance depends on latitude); overlaps and gaps up to ``tolerance_m2`` (default 1 m²) are
ignored as digitising slivers.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry
from shapely.validation import explain_validity

from cityops.domain.errors import ImportProblem, ImportRejected

EARTH_RADIUS_M = 6_371_008.8
_M_PER_DEG = EARTH_RADIUS_M * math.pi / 180.0
_POLYGONAL = frozenset({"Polygon", "MultiPolygon"})
_MAX_NAMED = 5

ProblemKind = Literal["invalid", "overlap", "gap"]


@dataclass(frozen=True, slots=True)
class GridProblem:
    """One reason to refuse a layer. ``point`` is a WGS-84 (lon, lat) to look at, for gaps."""

    cell_code: str | None
    kind: ProblemKind
    detail: str
    area_m2: float | None = None
    other_code: str | None = None
    point: tuple[float, float] | None = None
    near: tuple[str, ...] = ()  # for gaps: every cell touching it (``detail`` names a few)


def check_grid(
    cells: Iterable[tuple[str, BaseGeometry]], *, tolerance_m2: float = 1.0
) -> list[GridProblem]:
    """Every problem of a layer: invalid cells, then overlaps, then gaps (each sorted)."""
    layer = _Layer.of(cells)
    return (
        _invalid(layer.all_codes, layer.raw)
        + layer.overlaps(tolerance_m2)
        + layer.gaps(tolerance_m2)
    )


def invalid_cells(cells: Iterable[tuple[str, BaseGeometry]]) -> list[GridProblem]:
    """Cells that are not usable polygons: wrong type, empty, self-intersecting rings …"""
    codes, geoms = _unzip(cells)
    return _invalid(codes, geoms)


def overlapping_cells(
    cells: Iterable[tuple[str, BaseGeometry]], *, tolerance_m2: float = 1.0
) -> list[GridProblem]:
    """Pairs of cells sharing more than ``tolerance_m2`` of ground (invalid cells repaired)."""
    return _Layer.of(cells).overlaps(tolerance_m2)


def gaps_between_cells(
    cells: Iterable[tuple[str, BaseGeometry]], *, tolerance_m2: float = 1.0
) -> list[GridProblem]:
    """Holes larger than ``tolerance_m2`` in the union of the cells (invalid cells repaired)."""
    return _Layer.of(cells).gaps(tolerance_m2)


def problems_to_import_rejected(
    problems: Sequence[GridProblem], *, layer: str = "grid layer"
) -> ImportRejected:
    """The all-or-nothing import error naming every problem (raise it; nothing is written)."""
    items = []
    for p in problems:
        if p.kind == "overlap":
            item = f"{p.cell_code} / {p.other_code}"
        elif p.kind == "gap" and p.point is not None:
            item = f"gap at ({p.point[0]:.6f}, {p.point[1]:.6f})"
        else:
            item = p.cell_code or p.kind
        items.append(ImportProblem(item, f"{p.kind}: {p.detail}"))
    count = len(items)
    return ImportRejected(f"{layer} rejected: {count} problem{'s' if count != 1 else ''}", items)


# -- internals -------------------------------------------------------------------------------


def _unzip(cells: Iterable[tuple[str, BaseGeometry]]) -> tuple[list[str], Any]:
    pairs = sorted(cells, key=lambda p: p[0])
    geoms = np.empty(len(pairs), dtype=object)
    geoms[:] = [g for _, g in pairs]
    return [c for c, _ in pairs], geoms


def _invalid(codes: list[str], geoms: Any) -> list[GridProblem]:
    out = []
    for code, geom in zip(codes, geoms, strict=True):
        if geom is None or geom.geom_type not in _POLYGONAL:
            kind = "nothing" if geom is None else geom.geom_type
            reason = f"expected a Polygon or MultiPolygon, got {kind}"
        elif geom.is_empty:
            reason = "empty geometry"
        elif not geom.is_valid:
            reason = f"invalid geometry: {explain_validity(geom)}"
        else:
            continue
        out.append(GridProblem(code, "invalid", reason))
    return out


def _usable(geom: Any) -> Any:
    """A polygonal, non-empty cell, repaired if invalid (so its overlaps and gaps still show)."""
    if geom is None or geom.geom_type not in _POLYGONAL or geom.is_empty:
        return None
    if geom.is_valid:
        return geom
    parts = shapely.get_parts(shapely.make_valid(geom))
    polygonal = [p for p in parts if p.geom_type in _POLYGONAL and not p.is_empty]
    return shapely.union_all(polygonal) if polygonal else None


def _central_meridian(geoms: Any) -> float:
    minx, _, maxx, _ = shapely.total_bounds(geoms)
    return float(minx + maxx) / 2.0


def _to_metres(geoms: Any, lon0: float) -> Any:
    """Sinusoidal projection about ``lon0``: equal-area, metres."""

    def forward(c: Any) -> Any:
        lat = np.radians(c[:, 1])
        return np.column_stack([(c[:, 0] - lon0) * _M_PER_DEG * np.cos(lat), c[:, 1] * _M_PER_DEG])

    return shapely.transform(geoms, forward)


def _to_lonlat(x: float, y: float, lon0: float) -> tuple[float, float]:
    lat = y / _M_PER_DEG
    cos_lat = max(math.cos(math.radians(lat)), 1e-12)
    return lon0 + x / (_M_PER_DEG * cos_lat), lat


@dataclass(frozen=True, slots=True)
class _Layer:
    all_codes: list[str]  # every input cell, sorted by code
    raw: Any  # their geometries, as given
    codes: list[str]  # the usable cells (polygonal, non-empty; repaired if invalid)
    projected: Any  # … in metres
    lon0: float
    # Cells whose edges GEOS's coverage validator rejects (overlapping, or not matching their
    # neighbours vertex for vertex): only these can overlap anything, so a clean layer is
    # checked in linear time instead of with one overlay per pair of neighbours.
    suspects: Any

    @classmethod
    def of(cls, cells: Iterable[tuple[str, BaseGeometry]]) -> _Layer:
        codes, raw = _unzip(cells)
        usable = [(c, g) for c, g in zip(codes, (_usable(g) for g in raw), strict=True) if g]
        geoms = np.empty(len(usable), dtype=object)
        geoms[:] = [g for _, g in usable]
        lon0 = _central_meridian(geoms) if len(usable) else 0.0
        projected = _to_metres(geoms, lon0)
        suspects = ~shapely.is_empty(shapely.coverage_invalid_edges(projected))
        return cls(codes, raw, [c for c, _ in usable], projected, lon0, suspects)

    @property
    def tree(self) -> Any:
        return shapely.STRtree(self.projected)

    def overlaps(self, tolerance_m2: float) -> list[GridProblem]:
        codes, projected, suspects = self.codes, self.projected, self.suspects
        if not suspects.any():
            return []
        left, right = self.tree.query(projected[suspects], predicate="intersects")
        left = np.flatnonzero(suspects)[left]
        left, right = np.minimum(left, right), np.maximum(left, right)
        pair = np.unique(np.stack([left, right])[:, left < right], axis=1)
        left, right = pair[0], pair[1]
        # touching neighbours are the rule; only interiors that meet can share ground
        inner = shapely.relate_pattern(projected[left], projected[right], "T********")
        left, right = left[inner], right[inner]
        areas = shapely.area(shapely.intersection(projected[left], projected[right]))
        out = []
        for a, b, area in zip(left.tolist(), right.tolist(), areas.tolist(), strict=True):
            if area > tolerance_m2:
                detail = f"cells {codes[a]} and {codes[b]} overlap by {area:.1f} m²"
                out.append(GridProblem(codes[a], "overlap", detail, float(area), codes[b]))
        out.sort(key=lambda p: (p.cell_code or "", p.other_code or ""))
        return out

    def union(self) -> Any:
        if not self.suspects.any():  # a valid coverage: the fast coverage union
            return shapely.coverage_union_all(self.projected)
        return shapely.union_all(self.projected)

    def gaps(self, tolerance_m2: float) -> list[GridProblem]:
        if not len(self.codes):
            return []
        tree = self.tree
        holes = [
            shapely.Polygon(ring)
            for part in shapely.get_parts(self.union())
            if part.geom_type == "Polygon"
            for ring in part.interiors
        ]
        out = []
        for hole in holes:
            area = float(hole.area)
            if area <= tolerance_m2:
                continue
            inside = hole.representative_point()
            lon, lat = _to_lonlat(inside.x, inside.y, self.lon0)
            near = sorted({self.codes[i] for i in tree.query(hole, predicate="intersects")})
            named = ", ".join(near[:_MAX_NAMED]) + (" …" if len(near) > _MAX_NAMED else "")
            detail = f"gap of {area:.1f} m² near ({lon:.6f}, {lat:.6f}), between cells {named}"
            out.append(GridProblem(None, "gap", detail, area, None, (lon, lat), tuple(near)))
        out.sort(key=lambda p: (-(p.area_m2 or 0.0), p.point or (0.0, 0.0)))
        return out
