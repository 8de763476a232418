"""Where a report is (定位): coordinates in any of China's systems, a grid code, or an address.

Coordinates are converted to WGS-84 at this edge; an address goes through the gazetteer
geocoder, and one it cannot place with enough confidence is kept for a person to place
(the manual-location queue, triage ``locate``) — never dropped, never guessed silently.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

from cityops.adapters.db.models import CaseRow
from cityops.domain.coords import CRS, to_wgs84, to_wgs84_many
from cityops.domain.errors import ValidationFailed
from cityops.service.reference import Snapshot


@dataclass(frozen=True, slots=True)
class Place:
    grid_code: str | None
    lon: float | None  # WGS-84
    lat: float | None
    how: dict[str, Any] | None = None  # how it was found, shown on the case
    needs_person: bool = False  # → the manual-location queue


def _outside(lon: float, lat: float) -> ValidationFailed:
    return ValidationFailed(
        f"location ({lon}, {lat}) is outside the city's grid / 位置不在本市网格内",
        field="location",
        reason="outside_jurisdiction",
    )


def locate(
    snap: Snapshot,
    lon: float | None,
    lat: float | None,
    grid_code: str | None,
    address: str | None,
    *,
    crs: str = CRS.WGS84.value,
    min_confidence: float = 0.6,
) -> Place:
    """Resolve the report's place to a grid cell, queue it for a person, or refuse it."""
    if (lon is None) != (lat is None):
        raise ValidationFailed("give both lon and lat / 经纬度需成对提供", field="location")
    if lon is not None and lat is not None:
        system = CRS.parse(crs)
        x, y = to_wgs84(lon, lat, system)
        layers = _layers_at(snap, x, y)
        return _placed(lon, lat, grid_code, system, x, y, snap.locator.locate(x, y), layers)
    if grid_code:
        if len(grid_code) != 14 or grid_code not in snap.region_names:
            raise ValidationFailed(f"unknown grid cell {grid_code} / 未知网格", field="grid_code")
        return Place(grid_code, None, None, {"source": "grid_code"})
    if address:
        return _geocode(snap, address, min_confidence)
    raise ValidationFailed(
        "a location is required: lon/lat, grid_code or address / 需要位置", field="location"
    )


def _placed(
    lon: float,
    lat: float,
    grid_code: str | None,
    system: CRS,
    x: float,
    y: float,
    code: str | None,
    layers: dict[str, str | None] | None,
) -> Place:
    """The place of a point given as (lon, lat) in ``system``, found at WGS-84 (x, y)."""
    if code is None:
        raise _outside(lon, lat)
    if grid_code and grid_code != code:
        raise ValidationFailed(
            f"coordinates fall in grid {code}, not {grid_code} / 坐标与网格不符",
            field="grid_code",
        )
    how: dict[str, Any] = {"source": "coordinates", "crs": system.value}
    if system not in (CRS.WGS84, CRS.CGCS2000):
        how["original"] = [lon, lat]
    return Place(code, round(x, 7), round(y, 7), _with_layers(how, layers))


@dataclass(frozen=True, slots=True)
class Where:
    """What a report says about its place (any of coordinates, grid code, address)."""

    lon: float | None
    lat: float | None
    grid_code: str | None = None
    address: str | None = None
    crs: str = CRS.WGS84.value


def locate_batch(
    snap: Snapshot, wheres: Sequence[Where], *, min_confidence: float = 0.6
) -> list[Place | ValidationFailed]:
    """:func:`locate` for a batch: the points' cells (in every layer) found in one vectorised
    lookup; each answer, or each refusal, is exactly what :func:`locate` gives alone."""
    out: list[Place | ValidationFailed | None] = [None] * len(wheres)
    points: list[tuple[int, CRS, float, float]] = []
    for i, w in enumerate(wheres):
        try:
            if w.lon is not None and w.lat is not None:
                system = CRS.parse(w.crs)
                points.append((i, system, *to_wgs84(w.lon, w.lat, system)))
            else:
                out[i] = locate(snap, w.lon, w.lat, w.grid_code, w.address, crs=w.crs,
                                min_confidence=min_confidence)  # fmt: skip
        except ValidationFailed as exc:
            out[i] = exc
    if points:
        xs, ys = [p[2] for p in points], [p[3] for p in points]
        codes = snap.locator.locate_many(xs, ys)
        layers = snap.layers.locate_many_all(xs, ys) if len(snap.layers) else None
        for k, (i, system, x, y) in enumerate(points):
            w = wheres[i]
            assert w.lon is not None and w.lat is not None
            at = {name: cells[k] for name, cells in layers.items()} if layers is not None else None
            try:
                out[i] = _placed(w.lon, w.lat, w.grid_code, system, x, y, codes[k], at)
            except ValidationFailed as exc:
                out[i] = exc
    assert all(o is not None for o in out)
    return cast(list[Place | ValidationFailed], out)


def _layers_at(snap: Snapshot, lon: float, lat: float) -> dict[str, str | None] | None:
    """The point's cell in every other grid layer (多格合一), e.g. ``{"police": "P-07"}``;
    None when the city has no other layers."""
    return snap.layers.locate_all(lon, lat) if len(snap.layers) else None


def _with_layers(how: dict[str, Any], layers: dict[str, str | None] | None) -> dict[str, Any]:
    """``how`` with the point's cells in the other layers, when the city has any."""
    if layers is not None:
        how["layers"] = layers
    return how


def _geocode(snap: Snapshot, address: str, min_confidence: float) -> Place:
    found = snap.geocoder.geocode(address)
    if found is not None and found.confidence >= min_confidence:
        code = snap.locator.locate(found.lon, found.lat)
        if code is not None:
            how = {"source": "geocoder", "address": address, **found.as_dict()}
            layers = _layers_at(snap, found.lon, found.lat)
            return Place(code, found.lon, found.lat, _with_layers(how, layers))
    # Kept for a person to place, with the machine's best guess as a suggestion.
    suggestion = found.as_dict() if found is not None else None
    how = {"source": "address", "address": address, "suggestion": suggestion}
    return Place(None, None, None, how, needs_person=True)


def set_place(case: CaseRow, place: Place) -> None:
    case.grid_code, case.lon, case.lat = place.grid_code, place.lon, place.lat
    code = place.grid_code
    case.community_code = code[:12] if code else None
    case.street_code = code[:9] if code else None
    case.district_code = code[:6] if code else None
    case.location = place.how
    case.triage = (
        "locate" if place.needs_person else (None if case.triage == "locate" else case.triage)
    )


MAX_POINTS = 10_000  # one batched locate


def where_is(
    snap: Snapshot, points: Sequence[tuple[float, float]], crs: str = CRS.WGS84.value
) -> list[dict[str, Any]]:
    """Each point's grid cell, jurisdiction path and cell in every layer (一张图, 多格合一).

    A point outside the city's grid says so, with the nearest cell and its distance in metres.
    Batches are located with the vectorised indexes, so thousands of points cost little.
    """
    system = CRS.parse(crs)
    for i, (lon, lat) in enumerate(points):
        if not (math.isfinite(lon) and math.isfinite(lat) and abs(lon) <= 180 and abs(lat) <= 90):
            raise ValidationFailed(f"point {i} ({lon}, {lat}) is not a lon/lat / 坐标无效",
                                   field=f"points[{i}]")  # fmt: skip
    xs, ys = to_wgs84_many([p[0] for p in points], [p[1] for p in points], system)
    grids = snap.locator.locate_many(xs, ys) if points else []
    layers = snap.layers.locate_many_all(xs, ys) if points else {}
    out = []
    for i, code in enumerate(grids):
        x, y = xs[i], ys[i]
        item: dict[str, Any] = {
            "lon": points[i][0], "lat": points[i][1], "crs": system.value,
            "wgs84": [round(x, 7), round(y, 7)], "inside": code is not None, "grid_code": code,
        }  # fmt: skip
        if code is not None:
            item["path"] = [{"code": r.code, "name": r.name, "level": r.level}
                            for r in snap.region_path(code)]  # fmt: skip
        else:
            item["reason"] = "outside_jurisdiction"
            item["nearest"] = _nearest(snap, x, y)
        item["layers"] = {name: _cell(snap, name, cells[i]) for name, cells in layers.items()}
        out.append(item)
    return out


def _cell(snap: Snapshot, layer: str, code: str | None) -> dict[str, Any] | None:
    if code is None:
        return None
    return {"code": code, "name": snap.layer_info[layer].cell_names.get(code)}


def _nearest(snap: Snapshot, lon: float, lat: float) -> dict[str, Any] | None:
    if not len(snap.locator):
        return None
    code, metres = snap.locator.nearest(lon, lat)
    return {"grid_code": code, "name": snap.region_names.get(code), "distance_m": round(metres, 1)}
