"""Grid layers (多格合一) read from GeoJSON: declared CRS, cells, conversion to WGS-84, checks.

A layer file is a FeatureCollection of Polygon/MultiPolygon cells, each with ``properties.code``
(or a feature ``id``) and an optional ``properties.name``, in WGS-84, GCJ-02, BD-09 or CGCS2000.
The system is declared by the caller, by the file's GeoJSON ``crs`` member, or by both (then they
must agree); undeclared means WGS-84, as RFC 7946 says. Every vertex is converted to WGS-84 here,
and the converted layer is checked with :mod:`cityops.domain.gridcheck`; any problem rejects the
whole file, naming each offending cell.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import shapely
from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry

from cityops.domain.coords import CRS, to_wgs84
from cityops.domain.errors import ImportProblem, ImportRejected, ValidationFailed
from cityops.domain.gridcheck import check_grid, problems_to_import_rejected

LAYER_CODE = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")
CELL_CODE_MAX, CELL_NAME_MAX, LAYER_NAME_MAX = 32, 100, 100
_POLYGONAL = ("Polygon", "MultiPolygon")
_URN = "urn:ogc:def:crs:"


@dataclass(frozen=True, slots=True)
class LayerCell:
    code: str
    name: str
    geometry: BaseGeometry = field(compare=False)  # WGS-84


@dataclass(frozen=True, slots=True)
class ParsedLayer:
    crs: CRS  # the system the file was in
    cells: list[LayerCell]  # WGS-84, sorted by code


def check_layer_code(code: str) -> None:
    if not LAYER_CODE.match(code):
        raise ValidationFailed(
            f"layer code {code!r} must be 1–32 lower-case letters, digits, '-' or '_', "
            "starting with a letter / 图层编码格式不对",
            field="code",
        )


def _crs_member(fc: Mapping[str, Any]) -> CRS | None:
    """The GeoJSON 2008 ``crs`` member ({"type": "name", "properties": {"name": …}}), if any."""
    member = fc.get("crs")
    if member is None:
        return None
    props = member.get("properties") if isinstance(member, Mapping) else None
    name = props.get("name") if isinstance(props, Mapping) else None
    if not isinstance(member, Mapping) or member.get("type") != "name" or not isinstance(name, str):
        raise ImportRejected(
            "file rejected: unreadable crs member",
            [ImportProblem("crs", 'expected {"type": "name", "properties": {"name": "…"}}')],
        )
    text = name.strip()
    if text.lower().startswith(_URN):  # urn:ogc:def:crs:OGC:1.3:CRS84, …:EPSG::4326
        authority, *_, number = text[len(_URN) :].split(":")
        text = "wgs84" if number.upper() == "CRS84" else f"{authority}:{number}"
    elif text.upper() == "CRS84":
        text = "wgs84"
    return _parse_crs(text, "crs")


def _parse_crs(text: str, item: str) -> CRS:
    try:
        return CRS.parse(text)
    except ValidationFailed as exc:
        raise ImportRejected("file rejected: unknown coordinate system", [
            ImportProblem(item, exc.message)
        ]) from exc  # fmt: skip


def declared_crs(fc: Mapping[str, Any], crs: str | None) -> CRS:
    """The file's coordinate system: the caller's, the ``crs`` member's (they must agree)."""
    given = _parse_crs(crs, "crs parameter") if crs else None
    member = _crs_member(fc)
    if given and member and given is not member:
        raise ImportRejected("file rejected: conflicting coordinate systems", [
            ImportProblem("crs", f"the file declares {member.value}, the request {given.value}")
        ])  # fmt: skip
    return given or member or CRS.WGS84


def geometry_to_wgs84(geometry: BaseGeometry, crs: CRS) -> BaseGeometry:
    """Every vertex converted to WGS-84; equal vertices stay equal, so shared edges still match."""
    if crs in (CRS.WGS84, CRS.CGCS2000):
        return geometry

    def convert(coords: Any) -> Any:
        out = [to_wgs84(float(x), float(y), crs) for x, y in coords]
        return np.array(out, dtype=np.float64).reshape(-1, 2)

    return shapely.transform(geometry, convert)


def _cell_reasons(feature: Any) -> tuple[str | None, str | None, BaseGeometry | None, list[str]]:
    """(code, name, geometry, reasons) of one feature, before any conversion."""
    if not isinstance(feature, Mapping):
        return None, None, None, ["feature must be an object"]
    props = feature.get("properties")
    if not isinstance(props, Mapping):
        props = {}
    raw_code = props.get("code", feature.get("id"))
    code = str(raw_code).strip() if isinstance(raw_code, str | int) else None
    reasons = []
    if not code or len(code) > CELL_CODE_MAX:
        reasons.append(f"properties.code (or id) is required, at most {CELL_CODE_MAX} characters")
        code = None
    name = props.get("name")
    if name is not None and (not isinstance(name, str) or len(name) > CELL_NAME_MAX):
        reasons.append(f"properties.name must be text of at most {CELL_NAME_MAX} characters")
    raw = feature.get("geometry")
    geometry = None
    if not isinstance(raw, Mapping) or raw.get("type") not in _POLYGONAL:
        kind = raw.get("type") if isinstance(raw, Mapping) else raw
        reasons.append(f"geometry must be a Polygon or MultiPolygon, got {kind!r}")
    else:
        try:
            geometry = shape(raw)
        except Exception as exc:  # shapely raises several types for malformed coordinates
            reasons.append(f"malformed {raw['type']} coordinates: {exc}")
    if geometry is not None and not geometry.is_empty:
        minx, miny, maxx, maxy = geometry.bounds
        if minx < -180 or maxx > 180 or miny < -90 or maxy > 90:
            reasons.append("coordinates outside the lon/lat range (a projected CRS?)")
    text = name.strip() if isinstance(name, str) and name.strip() else code
    return code, text, geometry, reasons


def parse_layer(fc: Any, crs: str | None = None, *, tolerance_m2: float = 1.0) -> ParsedLayer:
    """Validate a layer file; raises :class:`ImportRejected` naming every offending cell.

    Cell problems (no code, duplicate code, not a polygon) are named ``features[i] code``; grid
    problems of the converted cells (invalid or self-intersecting rings, overlaps and gaps
    beyond ``tolerance_m2``) by cell code, as :func:`problems_to_import_rejected` names them.
    """
    features = fc.get("features") if isinstance(fc, Mapping) else None
    if not isinstance(features, list) or fc.get("type") != "FeatureCollection":
        raise ImportRejected(
            "layer rejected: not a GeoJSON FeatureCollection",
            [ImportProblem("file", "expected {type: FeatureCollection, features: [...]}")],
        )
    system = declared_crs(fc, crs)
    if not features:
        raise ImportRejected("layer rejected: no cells", [ImportProblem("file", "no features")])
    problems: list[ImportProblem] = []
    first_at: dict[str, int] = {}
    cells: list[LayerCell] = []
    for i, feature in enumerate(features):
        code, name, geometry, reasons = _cell_reasons(feature)
        if code is not None and first_at.setdefault(code, i) != i:
            reasons.append(f"duplicate code (first at features[{first_at[code]}])")
        problems += [ImportProblem(f"features[{i}] {code or ''}".strip(), r) for r in reasons]
        if not reasons and code and name and geometry is not None:
            cells.append(LayerCell(code, name, geometry_to_wgs84(geometry, system)))
    grid = check_grid(((c.code, c.geometry) for c in cells), tolerance_m2=tolerance_m2)
    problems += problems_to_import_rejected(grid).problems
    if problems:
        raise ImportRejected(f"layer rejected: {len(problems)} problem(s); nothing imported",
                             problems)  # fmt: skip
    return ParsedLayer(system, sorted(cells, key=lambda c: c.code))
