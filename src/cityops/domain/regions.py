"""The jurisdiction tree (市 → 区 → 街道/镇 → 社区/村 → 网格) and its all-or-nothing imports.

Codes follow the national administrative division codes (GB/T 2260 and the statistical
urban-rural codes), extended by two digits for grid cells:

=========  ======  ===========================================================
level      digits  rule
=========  ======  ===========================================================
city       6       ``XXXX00`` — the prefecture-level code (for a municipality
                   such as Shanghai, its 市辖区 code ``310100``)
district   6       ``XXXXNN`` (NN ≠ 00), sharing the city's first 4 digits
street     9       district code + 3
community  12      street code + 3
grid       14      community code + 2
=========  ======  ===========================================================

A district is the only child whose code does not begin with its parent's whole code, because
both are 6-digit codes on the same national list.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

import shapely.wkt
from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry
from shapely.validation import explain_validity

from cityops.domain.errors import ImportProblem, ImportRejected, ValidationFailed
from cityops.domain.model import REGION_DEPTH, RegionLevel

CODE_LENGTH: dict[RegionLevel, int] = {
    RegionLevel.CITY: 6,
    RegionLevel.DISTRICT: 6,
    RegionLevel.STREET: 9,
    RegionLevel.COMMUNITY: 12,
    RegionLevel.GRID: 14,
}

PARENT_LEVEL: dict[RegionLevel, RegionLevel | None] = {
    RegionLevel.CITY: None,
    RegionLevel.DISTRICT: RegionLevel.CITY,
    RegionLevel.STREET: RegionLevel.DISTRICT,
    RegionLevel.COMMUNITY: RegionLevel.STREET,
    RegionLevel.GRID: RegionLevel.COMMUNITY,
}

_LEVEL_VALUES = frozenset(lvl.value for lvl in RegionLevel)
_POLYGONAL = ("Polygon", "MultiPolygon")
CSV_COLUMNS = ("code", "name", "level", "parent")  # plus optional "wkt"


@dataclass(frozen=True, slots=True)
class RegionSpec:
    """One validated region, ready to be stored; geometry is WGS-84 lon/lat."""

    code: str
    name: str
    level: RegionLevel
    parent_code: str | None
    geometry: BaseGeometry | None = field(default=None, compare=False)


def expected_code_length(level: RegionLevel) -> int:
    return CODE_LENGTH[level]


def level_of_code(code: str) -> RegionLevel | None:
    """The level a well-formed code implies (6 digits: city if it ends in 00, else district)."""
    if not code.isdigit():
        return None
    if len(code) == 6:
        return RegionLevel.CITY if code.endswith("00") else RegionLevel.DISTRICT
    return {9: RegionLevel.STREET, 12: RegionLevel.COMMUNITY, 14: RegionLevel.GRID}.get(len(code))


def code_problems(code: str, level: RegionLevel, parent_code: str | None) -> list[str]:
    """Everything wrong with ``code`` as a region of ``level`` under ``parent_code``."""
    problems = _format_problems(code, level)
    if problems:
        return problems
    if level is RegionLevel.CITY:
        return [] if parent_code is None else ["a city has no parent"]
    if parent_code is None:
        return [f"a {level.value} needs a parent"]
    return _prefix_problems(code, level, parent_code)


def _format_problems(code: str, level: RegionLevel) -> list[str]:
    if not code.isascii() or not code.isdigit():
        return [f"code {code!r} must contain digits only"]
    want = CODE_LENGTH[level]
    if len(code) != want:
        return [f"a {level.value} code has {want} digits, {code} has {len(code)}"]
    if level is RegionLevel.CITY and not code.endswith("00"):
        return [f"a city code ends in 00, got {code}"]
    if level is RegionLevel.DISTRICT and code.endswith("00"):
        return [f"a district code must not end in 00 (that is a city code), got {code}"]
    return []


def _prefix_problems(code: str, level: RegionLevel, parent_code: str) -> list[str]:
    if level is RegionLevel.DISTRICT:
        if code[:4] != parent_code[:4]:
            return [f"district {code} must share its first 4 digits with city {parent_code}"]
    elif not code.startswith(parent_code):
        return [f"code {code} does not begin with its parent's code {parent_code}"]
    return []


def validate_code(code: str, level: RegionLevel, parent_code: str | None = None) -> None:
    """Raise :class:`ValidationFailed` unless ``code`` is a valid ``level`` code under parent."""
    problems = code_problems(code, level, parent_code)
    if problems:
        raise ValidationFailed("; ".join(problems), code=code, level=level.value)


def geometry_problems(geometry: BaseGeometry) -> list[str]:
    """Why a region geometry is unusable: wrong type, empty, not lon/lat, or invalid."""
    if geometry.geom_type not in _POLYGONAL:
        return [f"geometry must be Polygon or MultiPolygon, got {geometry.geom_type}"]
    if geometry.is_empty:
        return ["geometry is empty"]
    problems: list[str] = []
    minx, miny, maxx, maxy = geometry.bounds
    if minx < -180 or maxx > 180 or miny < -90 or maxy > 90:
        problems.append(
            f"coordinates outside lon/lat range: bounds ({minx}, {miny}, {maxx}, {maxy}); "
            "expected WGS-84 longitude/latitude"
        )
    if not geometry.is_valid:
        problems.append(f"invalid polygon: {explain_validity(geometry)}")
    return problems


@dataclass
class _Row:
    """One input item before validation, whatever file format it came from."""

    where: str  # "features[3]" / "line 4"
    code: Any
    name: Any
    level: Any
    parent: Any
    geometry: BaseGeometry | None = None
    geometry_reasons: list[str] = field(default_factory=list)

    @property
    def label(self) -> str:
        return f"{self.where} {self.code}" if isinstance(self.code, str) else self.where


def _clean(value: Any) -> Any:
    """Strip strings; blank means absent (CSV cells and sloppy GeoJSON alike)."""
    if isinstance(value, str):
        return value.strip() or None
    return value


def _validate(rows: list[_Row], existing_codes: Collection[str]) -> list[RegionSpec]:
    problems: list[ImportProblem] = []
    first_at: dict[str, int] = {}
    levels: dict[str, RegionLevel] = {}  # in-file code → declared level
    for i, row in enumerate(rows):
        if isinstance(row.code, str) and row.code not in first_at:
            first_at[row.code] = i
            if isinstance(row.level, str) and row.level in _LEVEL_VALUES:
                levels[row.code] = RegionLevel(row.level)

    specs: list[RegionSpec] = []
    for i, row in enumerate(rows):
        reasons: list[str] = []
        code = row.code if isinstance(row.code, str) else None
        if code is None:
            reasons.append("missing code" if row.code is None else "code must be a string")
        elif first_at.get(row.code, i) != i:
            reasons.append(f"duplicate code {code} (first at {rows[first_at[row.code]].where})")
        name = row.name if isinstance(row.name, str) else None
        if name is None:
            reasons.append("missing name")
        level: RegionLevel | None = None
        try:
            level = RegionLevel(row.level)
        except ValueError:
            choices = ", ".join(lvl.value for lvl in RegionLevel)
            reasons.append(f"unknown level {row.level!r} (expected one of {choices})")
        parent = row.parent
        if parent is not None and not isinstance(parent, str):
            reasons.append("parent must be a code string or null")
            parent = None
        if level is not None:
            parent_reasons = _parent_problems(level, parent, levels, existing_codes)
            reasons += parent_reasons
            if code is not None:
                format_reasons = _format_problems(code, level)
                reasons += format_reasons
                # The prefix rule only means something once code and parent are acceptable.
                if not format_reasons and not parent_reasons and parent is not None:
                    reasons += _prefix_problems(code, level, parent)
            if level is RegionLevel.GRID and row.geometry is None and not row.geometry_reasons:
                reasons.append("a grid cell needs a polygon geometry")
        reasons += row.geometry_reasons
        if row.geometry is not None:
            reasons += geometry_problems(row.geometry)
        if reasons:
            problems += [ImportProblem(row.label, r) for r in reasons]
        elif code and name and level:
            specs.append(RegionSpec(code, name, level, parent, row.geometry))
    if problems:
        raise ImportRejected(f"regions rejected: {len(problems)} problem(s)", problems)
    # A parent's depth is always one less than its child's, so depth order is parents-first.
    return sorted(specs, key=lambda s: (REGION_DEPTH[s.level], s.code))


def _parent_problems(
    level: RegionLevel,
    parent: str | None,
    levels: Mapping[str, RegionLevel],
    existing_codes: Collection[str],
) -> list[str]:
    want = PARENT_LEVEL[level]
    if want is None:
        return [] if parent is None else [f"a city has no parent, got {parent}"]
    if parent is None:
        return [f"missing parent (a {level.value} belongs to a {want.value})"]
    if parent in levels:
        got: RegionLevel | None = levels[parent]
    elif parent in existing_codes:
        got = level_of_code(parent)
    else:
        return [f"unknown parent {parent} (not in this file nor among existing regions)"]
    if got is not want:
        shown = got.value if got else "unknown level"
        return [f"parent {parent} is a {shown}, a {level.value} belongs to a {want.value}"]
    return []


def _geojson_geometry(raw: Any) -> tuple[BaseGeometry | None, list[str]]:
    if raw is None:
        return None, []
    if not isinstance(raw, Mapping):
        return None, ["geometry must be a GeoJSON object"]
    if raw.get("type") not in _POLYGONAL:
        return None, [f"geometry must be Polygon or MultiPolygon, got {raw.get('type')!r}"]
    try:
        return shape(raw), []
    except Exception as exc:  # shapely raises several types for malformed coordinates
        return None, [f"malformed {raw.get('type')} coordinates: {exc}"]


def parse_region_features(
    feature_collection: Mapping[str, Any], existing_codes: Collection[str] = ()
) -> list[RegionSpec]:
    """Validate a GeoJSON FeatureCollection of regions, returned parents-before-children.

    Each feature has properties ``code``, ``name``, ``level``, ``parent`` (null for the city) and
    a Polygon/MultiPolygon geometry (required for grid cells). A parent must be in the same file or
    in ``existing_codes``. Raises :class:`ImportRejected` naming every offending feature.
    """
    features = feature_collection.get("features")
    if feature_collection.get("type") != "FeatureCollection" or not isinstance(features, list):
        raise ImportRejected(
            "regions rejected: not a GeoJSON FeatureCollection",
            [ImportProblem("file", "expected {type: FeatureCollection, features: [...]}")],
        )
    rows: list[_Row] = []
    for i, feature in enumerate(features):
        where = f"features[{i}]"
        if not isinstance(feature, Mapping):
            rows.append(_Row(where, None, None, None, None, None, ["feature must be an object"]))
            continue
        props = feature.get("properties") or {}
        if not isinstance(props, Mapping):
            props = {}
        geometry, reasons = _geojson_geometry(feature.get("geometry"))
        rows.append(
            _Row(
                where,
                _clean(props.get("code")),
                _clean(props.get("name")),
                _clean(props.get("level")),
                _clean(props.get("parent")),
                geometry,
                reasons,
            )
        )
    return _validate(rows, existing_codes)


def parse_region_csv(text: str, existing_codes: Collection[str] = ()) -> list[RegionSpec]:
    """Validate CSV with columns ``code,name,level,parent[,wkt]`` (WKT in lon/lat).

    Same rules as :func:`parse_region_features`; items are named ``line N <code>`` (header = 1).
    """
    # Spreadsheet exports often start with a UTF-8 BOM, which would corrupt the first header.
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    header = [h.strip() for h in reader.fieldnames or []]
    missing = [c for c in CSV_COLUMNS if c not in header]
    if missing:
        raise ImportRejected(
            "regions rejected: bad CSV header",
            [ImportProblem("line 1", f"missing column(s): {', '.join(missing)}")],
        )
    reader.fieldnames = header
    rows: list[_Row] = []
    for record in reader:
        values = {k: _clean(v) for k, v in record.items() if isinstance(k, str)}
        where = f"line {reader.line_num}"
        geometry: BaseGeometry | None = None
        reasons: list[str] = []
        if values.get("wkt") is not None:
            try:
                geometry = shapely.wkt.loads(values["wkt"])
            except Exception as exc:  # GEOS parse errors carry the useful message
                reasons.append(f"malformed WKT: {exc}")
        rows.append(
            _Row(
                where,
                values.get("code"),
                values.get("name"),
                values.get("level"),
                values.get("parent"),
                geometry,
                reasons,
            )
        )
    return _validate(rows, existing_codes)
