"""Point → grid cell lookup (一张图's smallest building block), one layer or several (多格合一).

``GridIndex`` answers "which cell holds this WGS-84 point?" exactly as GEOS would (a point on a
cell's boundary belongs to the cell; on a shared edge, to the cell with the smallest code), but
batches go through a bucket raster instead of one GEOS call per point:

* the layer's extent is cut into square-ish buckets (about 32 per boundary segment, at most
  8M); every boundary segment marks the buckets it touches (the boxes grown by a small margin);
* a bucket touched by no segment lies in a boundary-free region, so every point in it has the
  same answer: connected regions of such buckets are labelled and one centre per region is
  located with GEOS;
* a bucket crossed by exactly one straight segment has one answer per side of the line,
  borrowed from an untouched neighbour (or located once with GEOS); a point is then resolved by
  the sign of one orientation test, and only when that sign is within floating-point error of
  zero does the point go to GEOS;
* buckets holding a vertex (or several segments) send their points to GEOS (STRtree + prepared
  ``intersects_xy``).

So the raster is an accelerator, never an approximation. It is built on the first large batch
(or by :meth:`GridIndex.prepare`), so small indexes that answer a few points stay cheap.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import shapely
from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry

IntArray = npt.NDArray[np.intp]
FloatArray = npt.NDArray[np.float64]

EARTH_RADIUS_M = 6_371_008.8  # mean radius; distances are local equirectangular approximations
_M_PER_DEG = EARTH_RADIUS_M * math.pi / 180.0
_EMPTY, _COMPLEX = -1, -2  # raster table values; >= 0 is a cell index; <= -3 is a line slot
_MARGIN = 1e-3  # bucket boxes are grown by this fraction of a bucket before testing segments
_ORIENT_EPS = 1e-15  # relative error bound of the float orientation test (3x Shewchuk's)
_RASTER_MIN_BATCH = 4096  # batches at least this large build the raster
_BUCKETS_PER_SEGMENT, _MAX_BUCKETS = 32, 1 << 23


@dataclass(frozen=True, slots=True)
class Located:
    grid_code: str
    lon: float
    lat: float


@dataclass(frozen=True, slots=True)
class _Raster:
    minx: float
    miny: float
    maxx: float
    maxy: float
    inv_w: float  # buckets per degree of longitude
    inv_h: float
    nx: int
    ny: int
    table: npt.NDArray[np.int32]  # per bucket: cell index, _EMPTY, _COMPLEX or -3 - slot
    seg: FloatArray  # (segments, 4): ax, ay, bx, by of every boundary segment
    slot_seg: npt.NDArray[np.int32]  # (slots,): the one segment crossing the bucket
    sides: npt.NDArray[np.int32]  # (slots, 2): answer left of a→b, answer right of it


class GridIndex:
    """Grid cells of one layer, indexed for point lookup.

    ``cells`` are ``(code, GeoJSON geometry mapping)`` pairs in WGS-84 lon/lat (shapely
    geometries are taken as they are). Codes may repeat (a cell given in several pieces). Ties
    between cells — a point on a shared edge, or in an overlap — go to the smallest code,
    whatever the input order. Cells should pass ``cityops.domain.gridcheck`` first: for an
    invalid polygon "inside" means whatever GEOS's ray crossing says.
    """

    def __init__(self, cells: Iterable[tuple[str, Mapping[str, Any] | BaseGeometry]]) -> None:
        pairs = sorted(cells, key=lambda p: p[0])
        self._codes: tuple[str, ...] = tuple(code for code, _ in pairs)
        self._geoms = _geometries([geom for _, geom in pairs])
        shapely.prepare(self._geoms)
        self._tree = shapely.STRtree(self._geoms)
        self._answers: npt.NDArray[np.object_] = np.empty(len(pairs) + 1, dtype=object)
        self._answers[:-1] = self._codes  # index -1 (no cell) maps to None
        self._raster: _Raster | None = None
        self._raster_tried = False
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._codes)

    @property
    def codes(self) -> tuple[str, ...]:
        """The cell codes, sorted; :meth:`locate_indices` answers positions into this."""
        return self._codes

    @property
    def bounds(self) -> tuple[float, float, float, float] | None:
        """(min lon, min lat, max lon, max lat) of all cells, or None for an empty index."""
        if not len(self._codes):
            return None
        minx, miny, maxx, maxy = (float(v) for v in shapely.total_bounds(self._geoms))
        return None if math.isnan(minx) else (minx, miny, maxx, maxy)

    def prepare(self) -> GridIndex:
        """Build the bucket raster now rather than on the first large batch."""
        with self._lock:
            if not self._raster_tried:
                self._raster = _build_raster(self._geoms, self._exact_many)
                self._raster_tried = True
        return self

    # -- lookups -----------------------------------------------------------------------------

    def locate(self, lon: float, lat: float) -> str | None:
        """The code of the cell holding the point (smallest code on ties), or None."""
        index = self._locate_index(float(lon), float(lat))
        return None if index < 0 else self._codes[index]

    def locate_many(self, lons: npt.ArrayLike, lats: npt.ArrayLike) -> list[str | None]:
        """``locate`` for arrays of points, vectorised; the answers are exactly ``locate``'s."""
        return self._answers[self.locate_indices(lons, lats)].tolist()  # type: ignore[no-any-return]

    def locate_indices(self, lons: npt.ArrayLike, lats: npt.ArrayLike) -> IntArray:
        """Like :meth:`locate_many` but positions into :attr:`codes` (-1: no cell)."""
        x = np.ascontiguousarray(lons, dtype=np.float64).ravel()
        y = np.ascontiguousarray(lats, dtype=np.float64).ravel()
        if x.shape != y.shape:
            raise ValueError(f"lons and lats differ in length: {x.size} != {y.size}")
        if x.size >= _RASTER_MIN_BATCH and not self._raster_tried:
            self.prepare()
        raster = self._raster
        if raster is None:
            return self._exact_many(x, y)
        out, todo = _raster_lookup(raster, x, y)
        if todo.size:
            out[todo] = self._exact_many(x[todo], y[todo])
        return out

    def nearest(self, lon: float, lat: float) -> tuple[str, float]:
        """The nearest cell and the distance to it in metres (0 inside a cell).

        Metres are measured on a local equirectangular plane centred on the point (longitude
        scaled by cos(latitude)): within a fraction of a percent for the few kilometres that
        matter here; no antimeridian handling. Ties go to the smallest code.
        """
        if not len(self._codes):
            raise LookupError("the grid index is empty")
        inside = self.locate(lon, lat)
        if inside is not None:
            return inside, 0.0
        point = shapely.Point(lon, lat)
        first, _ = self._tree.query_nearest(point, return_distance=True)
        cos_lat = max(math.cos(math.radians(lat)), 1e-6)
        best = self._metres(int(first[0]), lon, lat, cos_lat)
        reach = best / (_M_PER_DEG * cos_lat) * (1 + 1e-9) + 1e-12  # degrees, an upper bound
        candidates = self._tree.query(point, predicate="dwithin", distance=reach)
        scored = sorted((self._metres(int(i), lon, lat, cos_lat), int(i)) for i in candidates)
        if not scored:
            return self._codes[int(first[0])], best
        return self._codes[scored[0][1]], scored[0][0]

    def _metres(self, index: int, lon: float, lat: float, cos_lat: float) -> float:
        scale = np.array([_M_PER_DEG * cos_lat, _M_PER_DEG])
        local = shapely.transform(self._geoms[index], lambda c: (c - [lon, lat]) * scale)
        return float(shapely.distance(local, shapely.Point(0.0, 0.0)))

    # -- exact (GEOS) paths ------------------------------------------------------------------

    def _locate_index(self, lon: float, lat: float) -> int:
        raster = self._raster
        if raster is not None:
            found = _raster_lookup_one(raster, lon, lat)
            if found != _COMPLEX:
                return found
        if not (math.isfinite(lon) and math.isfinite(lat)):
            return -1
        hits = self._tree.query(shapely.Point(lon, lat))
        for i in np.sort(hits):
            if shapely.intersects_xy(self._geoms[i], lon, lat):
                return int(i)
        return -1

    def _exact_many(self, x: FloatArray, y: FloatArray) -> IntArray:
        out = np.full(x.size, np.iinfo(np.intp).max, dtype=np.intp)
        ok = np.flatnonzero(np.isfinite(x) & np.isfinite(y))
        if ok.size and len(self._codes):
            pts, cells = self._tree.query(shapely.points(x[ok], y[ok]))
            pts = ok[pts]
            hit = shapely.intersects_xy(self._geoms[cells], x[pts], y[pts])
            np.minimum.at(out, pts[hit], cells[hit])
        out[out == np.iinfo(np.intp).max] = -1
        return out


class GridLocator(GridIndex):
    """The original name, kept for existing callers (``GridLocator(cells).locate(lon, lat)``)."""


class LayeredGrid:
    """Several grid layers over the same city (多格合一): city-operations, police, governance …"""

    def __init__(self, layers: Mapping[str, GridIndex]) -> None:
        self._layers = dict(layers)

    def __len__(self) -> int:
        return len(self._layers)

    @property
    def layers(self) -> Mapping[str, GridIndex]:
        return dict(self._layers)

    def locate_all(self, lon: float, lat: float) -> dict[str, str | None]:
        """The point's cell in every layer (None where a layer has no cell there)."""
        return {name: index.locate(lon, lat) for name, index in self._layers.items()}

    def locate_many_all(
        self, lons: npt.ArrayLike, lats: npt.ArrayLike
    ) -> dict[str, list[str | None]]:
        return {name: index.locate_many(lons, lats) for name, index in self._layers.items()}


def _geometries(items: Sequence[Any]) -> npt.NDArray[np.object_]:
    """Shapely geometries from GeoJSON mappings; plain (Multi)Polygons in bulk, as ragged
    arrays (``shape()`` costs ~30 µs a cell, which is seconds for a city-wide layer)."""
    out: npt.NDArray[np.object_] = np.empty(len(items), dtype=object)
    done = np.zeros(len(items), dtype=bool)
    for kind, depth in ((shapely.GeometryType.POLYGON, 2), (shapely.GeometryType.MULTIPOLYGON, 3)):
        name = "Polygon" if depth == 2 else "MultiPolygon"
        at = [i for i, g in enumerate(items) if isinstance(g, Mapping) and g.get("type") == name]
        try:
            out[at] = _ragged(kind, depth, [items[i]["coordinates"] for i in at])
            done[at] = True
        except Exception:  # unclosed rings, 3-D or ragged coordinates …: one by one below
            pass
    for i in np.flatnonzero(~done).tolist():
        item = items[i]
        out[i] = shape(item) if isinstance(item, Mapping) else item
    return out


def _ragged(kind: Any, depth: int, nested: list[Any]) -> npt.NDArray[np.object_]:
    coords: list[Any] = []
    offsets: list[list[int]] = [[0] for _ in range(depth)]
    for geom in nested:
        for part in geom if depth == 3 else [geom]:
            for ring in part:
                coords.extend(ring)
                offsets[0].append(len(coords))
            offsets[1].append(len(offsets[0]) - 1)
        if depth == 3:
            offsets[2].append(len(offsets[1]) - 1)
    array = np.array(coords, dtype=np.float64).reshape(-1, 2)
    if len(coords) != len(array):
        raise ValueError("coordinates are not all 2-D")
    return shapely.from_ragged_array(  # type: ignore[no-any-return]
        kind, array, tuple(np.array(o, dtype=np.int64) for o in offsets)
    )


# -- the bucket raster -----------------------------------------------------------------------


def _orient(seg: FloatArray, px: FloatArray, py: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Orientation of p against a→b (> 0: left) and the bound of its rounding error."""
    left = (seg[:, 0] - px) * (seg[:, 3] - py)
    right = (seg[:, 1] - py) * (seg[:, 2] - px)
    return left - right, _ORIENT_EPS * (np.abs(left) + np.abs(right))


def _raster_lookup(r: _Raster, x: FloatArray, y: FloatArray) -> tuple[IntArray, IntArray]:
    """Answers from the raster, and the positions that need GEOS."""
    inside = (x >= r.minx) & (x <= r.maxx) & (y >= r.miny) & (y <= r.maxy)  # False for NaN
    ix = np.minimum(((np.where(inside, x, r.minx) - r.minx) * r.inv_w).astype(np.intp), r.nx - 1)
    iy = np.minimum(((np.where(inside, y, r.miny) - r.miny) * r.inv_h).astype(np.intp), r.ny - 1)
    out = np.where(inside, r.table[iy * r.nx + ix], _EMPTY).astype(np.intp)
    line = np.flatnonzero(out <= -3)
    if line.size:
        slot = -3 - out[line]
        det, err = _orient(r.seg[r.slot_seg[slot]], x[line], y[line])
        side = np.where(det > err, 0, np.where(det < -err, 1, -1))
        out[line] = np.where(side >= 0, r.sides[slot, np.maximum(side, 0)], _COMPLEX)
    return out, np.flatnonzero(out == _COMPLEX)


def _raster_lookup_one(r: _Raster, x: float, y: float) -> int:
    """The same as :func:`_raster_lookup` for one point, in plain Python arithmetic."""
    if not (r.minx <= x <= r.maxx and r.miny <= y <= r.maxy):  # also NaN
        return _EMPTY
    ix = min(int((x - r.minx) * r.inv_w), r.nx - 1)
    iy = min(int((y - r.miny) * r.inv_h), r.ny - 1)
    found = int(r.table[iy * r.nx + ix])
    if found > -3:
        return found
    ax, ay, bx, by = (float(v) for v in r.seg[r.slot_seg[-3 - found]])
    left, right = (ax - x) * (by - y), (ay - y) * (bx - x)
    det, err = left - right, _ORIENT_EPS * (abs(left) + abs(right))
    if det > err:
        return int(r.sides[-3 - found, 0])
    if det < -err:
        return int(r.sides[-3 - found, 1])
    return _COMPLEX


def _segments(geoms: npt.NDArray[np.object_]) -> FloatArray | None:
    """Unique boundary segments (ax, ay, bx, by) of all polygon rings; None if not polygonal."""
    parts = shapely.get_parts(geoms[~shapely.is_empty(geoms)])
    if not parts.size:
        return np.empty((0, 4))
    if not np.all(shapely.get_type_id(parts) == 3):  # Polygon
        return None
    exteriors = shapely.get_exterior_ring(parts)
    rings = np.concatenate([exteriors, _interior_rings(parts)])
    coords, ring = shapely.get_coordinates(rings, return_index=True)
    same = ring[:-1] == ring[1:]
    seg: FloatArray = np.hstack([coords[:-1][same], coords[1:][same]])
    seg = seg[(seg[:, 0] != seg[:, 2]) | (seg[:, 1] != seg[:, 3])]
    flip = (seg[:, 0] > seg[:, 2]) | ((seg[:, 0] == seg[:, 2]) & (seg[:, 1] > seg[:, 3]))
    seg[flip] = seg[flip][:, [2, 3, 0, 1]]
    if not seg.size:
        return seg
    seg = seg[np.lexsort(seg.T[::-1])]  # a shared edge comes once from each of its cells
    return seg[np.r_[True, np.any(seg[1:] != seg[:-1], axis=1)]]


def _interior_rings(parts: npt.NDArray[np.object_]) -> npt.NDArray[np.object_]:
    counts = shapely.get_num_interior_rings(parts)
    holed = np.flatnonzero(counts)
    if not holed.size:
        return np.empty(0, dtype=object)
    owners = np.repeat(holed, counts[holed])
    starts = np.cumsum(counts[holed]) - counts[holed]
    nth = np.arange(owners.size) - np.repeat(starts, counts[holed])
    return shapely.get_interior_ring(parts[owners], nth)  # type: ignore[no-any-return]


def _build_raster(geoms: npt.NDArray[np.object_], exact: Any) -> _Raster | None:
    """The bucket raster of a layer (see the module docstring); None when it cannot help."""
    seg = _segments(geoms) if geoms.size else None
    if seg is None or not seg.size:
        return None
    minx, miny, maxx, maxy = (float(v) for v in shapely.total_bounds(geoms))
    w, h = maxx - minx, maxy - miny
    if not (w > 0 and h > 0 and math.isfinite(w + h)):
        return None
    target = min(max(_BUCKETS_PER_SEGMENT * len(seg), 4096), _MAX_BUCKETS)
    # buckets no finer than ~1e-9 of the coordinates, so that the margin dwarfs rounding
    size = max(
        math.sqrt(w * h / target), 1e-9 * max(abs(minx), abs(maxx), abs(miny), abs(maxy), 1.0)
    )
    nx, ny = max(1, min(round(w / size), 1 << 14)), max(1, min(round(h / size), 1 << 14))
    grid = _Grid(minx, miny, w / nx, h / ny, nx, ny)
    counts, one_seg = grid.touches(seg)
    table = np.full(nx * ny, _COMPLEX, dtype=np.int32)

    # boundary-free buckets: label the connected regions, locate one centre of each with GEOS
    free = counts == 0
    label, first = _regions(free, nx)
    answer = np.asarray(exact(*grid.centre(first)), dtype=np.int32)
    table[free] = answer[label[free]]

    # buckets crossed by one straight segment: one answer per side of it
    single = np.flatnonzero(counts == 1)
    single = single[~grid.holds_endpoint(seg[one_seg[single]], single)]
    slot_seg = one_seg[single].astype(np.int32)
    sides = _line_sides(grid, single, seg[slot_seg], table, one_seg, exact)
    table[single] = -3 - np.arange(single.size, dtype=np.int32)
    table[single[(sides == _COMPLEX).any(axis=1)]] = _COMPLEX
    return _Raster(minx, miny, maxx, maxy, nx / w, ny / h, nx, ny, table, seg, slot_seg, sides)


def _regions(free: npt.NDArray[np.bool_], nx: int) -> tuple[IntArray, IntArray]:
    """Connected regions (4-neighbour) of the free buckets: a region number per bucket (valid
    where free) and the first bucket of each region.

    Runs of free buckets along a row are joined to the runs they touch in the rows above and
    below (two touching runs overlap from the start of one of them, so checking above and below
    each run's first bucket finds every touching pair); then union-find with pointer jumping.
    """
    flat = free.ravel()
    starts = flat.copy()
    starts[1:] &= ~flat[:-1]
    starts[::nx] = flat[::nx]  # a row's first bucket starts a run whatever precedes it
    run = np.cumsum(starts) - 1
    first = np.flatnonzero(starts)
    if not first.size:
        return np.zeros(flat.size, dtype=np.intp), first
    pairs = []
    for other in (first + nx, first - nx):
        ok = (other >= 0) & (other < flat.size)
        ok[ok] = flat[other[ok]]
        pairs.append(np.stack([run[first[ok]], run[other[ok]]]))
    a, b = np.concatenate(pairs, axis=1) if pairs else (np.empty(0, np.intp),) * 2
    parent = np.arange(first.size)
    while a.size:
        ra, rb = parent[a], parent[b]
        lo, hi = np.minimum(ra, rb), np.maximum(ra, rb)
        apart = lo != hi
        if not apart.any():
            break
        a, b = a[apart], b[apart]
        np.minimum.at(parent, hi[apart], lo[apart])  # hook a root onto a smaller one
        while True:
            jumped = parent[parent]
            if np.array_equal(jumped, parent):
                break
            parent = jumped
    roots, region = np.unique(parent, return_inverse=True)
    return region[run], first[roots]


@dataclass(frozen=True, slots=True)
class _Grid:
    """Bucket geometry of a raster under construction."""

    minx: float
    miny: float
    bw: float
    bh: float
    nx: int
    ny: int

    def centre(self, bucket: IntArray) -> tuple[FloatArray, FloatArray]:
        iy, ix = np.divmod(bucket, self.nx)
        return self.minx + (ix + 0.5) * self.bw, self.miny + (iy + 0.5) * self.bh

    def box(self, bucket: IntArray, grow: float) -> tuple[FloatArray, ...]:
        iy, ix = np.divmod(bucket, self.nx)
        mx, my = grow * self.bw, grow * self.bh
        x0, y0 = self.minx + ix * self.bw, self.miny + iy * self.bh
        return x0 - mx, y0 - my, x0 + self.bw + mx, y0 + self.bh + my

    def touches(self, seg: FloatArray) -> tuple[npt.NDArray[np.int32], IntArray]:
        """Per bucket: how many segments touch its grown box, and one of them."""
        counts = np.zeros(self.nx * self.ny, dtype=np.int32)
        one = np.full(self.nx * self.ny, -1, dtype=np.intp)
        lo_x, hi_x = np.minimum(seg[:, 0], seg[:, 2]), np.maximum(seg[:, 0], seg[:, 2])
        lo_y, hi_y = np.minimum(seg[:, 1], seg[:, 3]), np.maximum(seg[:, 1], seg[:, 3])
        pad = 2 * _MARGIN
        ix0 = np.clip(np.floor((lo_x - self.minx) / self.bw - pad), 0, self.nx - 1).astype(np.intp)
        ix1 = np.clip(np.floor((hi_x - self.minx) / self.bw + pad), 0, self.nx - 1).astype(np.intp)
        iy0 = np.clip(np.floor((lo_y - self.miny) / self.bh - pad), 0, self.ny - 1).astype(np.intp)
        iy1 = np.clip(np.floor((hi_y - self.miny) / self.bh + pad), 0, self.ny - 1).astype(np.intp)
        wide = ix1 - ix0 + 1
        sizes = wide * (iy1 - iy0 + 1)
        begins = np.cumsum(sizes) - sizes  # where each segment's candidate buckets begin
        start = 0
        while start < len(seg):  # about 4M (segment, bucket) candidates at a time
            stop = int(np.searchsorted(begins, begins[start] + 4_000_000))
            stop = max(stop, start + 1)
            ids = np.repeat(np.arange(start, stop), sizes[start:stop])
            k = np.arange(ids.size) - np.repeat(
                begins[start:stop] - begins[start], sizes[start:stop]
            )
            bucket = (iy0[ids] + k // wide[ids]) * self.nx + ix0[ids] + k % wide[ids]
            x0, y0, x1, y1 = self.box(bucket, _MARGIN)
            s = seg[ids]
            hit = (lo_x[ids] <= x1) & (hi_x[ids] >= x0) & (lo_y[ids] <= y1) & (hi_y[ids] >= y0)
            dx, dy = s[:, 2] - s[:, 0], s[:, 3] - s[:, 1]
            o = [dx * (cy - s[:, 1]) - dy * (cx - s[:, 0]) for cx in (x0, x1) for cy in (y0, y1)]
            hit &= (np.minimum.reduce(o) <= 0) & (np.maximum.reduce(o) >= 0)
            counts += np.bincount(bucket[hit], minlength=counts.size).astype(np.int32)
            one[bucket[hit]] = ids[hit]
            start = stop
        return counts, one

    def holds_endpoint(self, seg: FloatArray, bucket: IntArray) -> npt.NDArray[np.bool_]:
        """Whether a segment's end lies in the bucket's grown box (then it meets another)."""
        x0, y0, x1, y1 = self.box(bucket, _MARGIN)
        inside = np.zeros(bucket.size, dtype=bool)
        for ex, ey in ((seg[:, 0], seg[:, 1]), (seg[:, 2], seg[:, 3])):
            inside |= (ex >= x0) & (ex <= x1) & (ey >= y0) & (ey <= y1)
        return inside


_FACES = {(1, 0): (1, 3), (-1, 0): (0, 2), (0, 1): (2, 3), (0, -1): (0, 1)}  # corner pairs


def _line_sides(
    grid: _Grid,
    single: IntArray,
    lines: FloatArray,
    table: npt.NDArray[np.int32],
    one_seg: IntArray,
    exact: Any,
) -> npt.NDArray[np.int32]:
    """The answer on each side of the line of every one-segment bucket.

    A side's region reaches a neighbour across a face wherever a face end lies strictly on that
    side. From a boundary-free neighbour the answer is taken as it is; from a one-segment
    neighbour crossed by the same segment it is passed along, round after round; a side that no
    neighbour reaches is located with GEOS at the bucket corner farthest on that side, and a
    side with no corner strictly on it gives the bucket up to GEOS (``_COMPLEX``).
    """
    unknown = -9
    sides = np.full((single.size, 2), unknown, dtype=np.int32)
    iy, ix = np.divmod(single, grid.nx)
    x0, y0 = grid.minx + ix * grid.bw, grid.miny + iy * grid.bh
    x1, y1 = x0 + grid.bw, y0 + grid.bh
    det = np.empty((4, single.size))
    err = np.empty((4, single.size))
    for c, (cx, cy) in enumerate(((x0, y0), (x1, y0), (x0, y1), (x1, y1))):
        det[c], err[c] = _orient(lines, cx, cy)
    strict = (det > err, det < -err)  # corner strictly left / right of the line
    slot_of = np.full(grid.nx * grid.ny, -1, dtype=np.intp)
    slot_of[single] = np.arange(single.size)
    link_slot, link_side, link_from = [], [], []
    for (di, dj), (ca, cb) in _FACES.items():
        nix, niy = ix + di, iy + dj
        ok = np.flatnonzero((nix >= 0) & (nix < grid.nx) & (niy >= 0) & (niy < grid.ny))
        other = niy[ok] * grid.nx + nix[ok]
        value = table[other]
        twin = slot_of[other]  # a one-segment neighbour crossed by the same segment
        same = (twin >= 0) & (one_seg[other] == one_seg[single[ok]])
        for side in (0, 1):
            reach = strict[side][ca, ok] | strict[side][cb, ok]
            take = np.flatnonzero(reach & (value >= _EMPTY))  # a boundary-free neighbour
            sides[ok[take], side] = value[take]
            pass_on = np.flatnonzero(reach & same)
            link_slot.append(ok[pass_on])
            link_side.append(np.full(pass_on.size, side))
            link_from.append(twin[pass_on])
    slot, which, source = (np.concatenate(a) for a in (link_slot, link_side, link_from))
    while slot.size:
        move = (sides[slot, which] == unknown) & (sides[source, which] != unknown)
        if not move.any():
            break
        sides[slot[move], which[move]] = sides[source[move], which[move]]
        keep = sides[slot, which] == unknown
        slot, which, source = slot[keep], which[keep], source[keep]

    slot, which = np.nonzero(sides == unknown)
    if slot.size:
        signed = np.where(which == 0, 1.0, -1.0)
        score = np.where(det[:, slot] * signed > err[:, slot], det[:, slot] * signed, -np.inf)
        best = np.argmax(score, axis=0)
        good = np.isfinite(score[best, np.arange(slot.size)])
        px = np.choose(best, [x0[slot], x1[slot], x0[slot], x1[slot]])
        py = np.choose(best, [y0[slot], y0[slot], y1[slot], y1[slot]])
        found = np.full(slot.size, _COMPLEX, dtype=np.int32)
        if good.any():
            found[good] = exact(px[good], py[good])
        sides[slot, which] = found
    return sides
