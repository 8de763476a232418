"""Lifeline assets (城市生命线: pipes, wells, bridges, tunnels) and the sensors on them.

Pure model and the validation behind the all-or-nothing imports: parsers turn CSV / GeoJSON /
JSON into specs and name every offending item; the service checks what needs the database
(owner departments, codes already stored).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from cityops.domain.lifeline.units import canonical


class AssetKind(StrEnum):
    GAS_PIPE = "gas_pipe"  # 燃气管段
    WATER_MAIN = "water_main"  # 供水干管
    HEATING_PIPE = "heating_pipe"  # 供热管段
    DRAINAGE_NODE = "drainage_node"  # 排水节点 (易涝点, 泵站前池, 出水口)
    BRIDGE_SPAN = "bridge_span"  # 桥梁 (一跨)
    TUNNEL_SECTION = "tunnel_section"  # 综合管廊舱段
    MANHOLE = "manhole"  # 窨井 / 检查井
    SEWER_WELL = "sewer_well"  # 污水井
    CABLE_WELL = "cable_well"  # 电力 / 通信井


ASSET_LABELS_ZH: dict[AssetKind, str] = {
    AssetKind.GAS_PIPE: "燃气管段", AssetKind.WATER_MAIN: "供水干管",
    AssetKind.HEATING_PIPE: "供热管段", AssetKind.DRAINAGE_NODE: "排水节点",
    AssetKind.BRIDGE_SPAN: "桥梁", AssetKind.TUNNEL_SECTION: "综合管廊舱段",
    AssetKind.MANHOLE: "窨井", AssetKind.SEWER_WELL: "污水井", AssetKind.CABLE_WELL: "电缆井",
}  # fmt: skip
# Linear assets carry a LineString; the others a Point (or a Polygon for a tunnel section).
GEOMETRY_TYPES: dict[AssetKind, tuple[str, ...]] = {
    AssetKind.GAS_PIPE: ("LineString",), AssetKind.WATER_MAIN: ("LineString",),
    AssetKind.HEATING_PIPE: ("LineString",), AssetKind.BRIDGE_SPAN: ("LineString", "Point"),
    AssetKind.TUNNEL_SECTION: ("LineString", "Polygon"),
}  # fmt: skip
POINT_ONLY = ("Point",)

# Codes are used in SenML names and MQTT topics: no ':', '/', '+', '#' or spaces.
CODE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
METRIC = re.compile(r"[a-z][a-z0-9_]{0,31}")
MAX_INTERVAL_S = 7 * 24 * 3600


@dataclass(frozen=True, slots=True)
class AssetSpec:
    code: str
    kind: AssetKind
    name: str
    owner: str  # department code (权属单位)
    geometry: dict[str, Any]  # GeoJSON, WGS-84
    attributes: dict[str, Any] = field(default_factory=dict)  # material, diameter_mm, …
    adjacent: tuple[str, ...] = ()  # codes of assets next to this one (wells by a gas pipe)


@dataclass(frozen=True, slots=True)
class MetricSpec:
    """One measured quantity of a device: a series (device, metric) in storage.

    Stored values are ``raw_in_declared_unit * scale + offset`` (the calibration); readings
    outside [range_min, range_max] are physically impossible for the sensor and rejected.
    """

    name: str
    unit: str  # canonical UCUM / SenML code (see units.py)
    interval_s: float  # nominal sampling interval
    scale: float = 1.0
    offset: float = 0.0
    range_min: float | None = None
    range_max: float | None = None


@dataclass(frozen=True, slots=True)
class DeviceSpec:
    code: str
    asset: str  # asset code
    name: str
    metrics: tuple[MetricSpec, ...]
    kind: str = ""  # e.g. methane detector, pressure transmitter
    lon: float | None = None  # where it is mounted; None: at its asset
    lat: float | None = None
    gateway: str | None = None
    active: bool = True


def code_problem(code: Any) -> str | None:
    if not isinstance(code, str) or CODE.fullmatch(code) is None:
        return "code must be 1–64 letters, digits, '.', '_' or '-' (no ':' or '/')"
    return None


def geometry_problem(kind: AssetKind, geometry: Any) -> str | None:
    if not isinstance(geometry, dict):
        return "geometry is required (GeoJSON)"
    allowed = GEOMETRY_TYPES.get(kind, POINT_ONLY)
    if geometry.get("type") not in allowed:
        return f"a {kind.value} needs a {' or '.join(allowed)} geometry"
    try:
        coords = geometry["coordinates"]
        kind_of = geometry["type"]
        if kind_of == "Point":
            points = [coords]
        elif kind_of == "LineString":
            points = list(coords)
        else:
            points = [p for ring in coords for p in ring]
        if kind_of == "LineString" and len(points) < 2:
            return "a LineString needs two points"
        for lon, lat, *_ in points:
            if not (-180 <= float(lon) <= 180 and -90 <= float(lat) <= 90):
                return "coordinates out of range (WGS-84 lon, lat)"
    except (KeyError, TypeError, ValueError):
        return "malformed GeoJSON coordinates"
    return None


def _float(raw: Any, what: str, problems: list[str]) -> float | None:
    if raw is None or raw == "":
        return None
    try:
        value = float(raw)
    except (TypeError, ValueError):
        problems.append(f"{what} must be a number")
        return None
    if value != value or value in (float("inf"), float("-inf")):
        problems.append(f"{what} must be finite")
        return None
    return value


def metric_spec(raw: Any, problems: list[str]) -> MetricSpec | None:
    """Validate one metric definition, appending what is wrong to ``problems``."""
    if not isinstance(raw, dict):
        problems.append("each metric must be an object")
        return None
    name = raw.get("name")
    before = len(problems)
    if not isinstance(name, str) or METRIC.fullmatch(name) is None:
        problems.append(f"metric name {name!r} must be lower-case letters, digits, '_'")
        name = "?"
    unit = canonical(str(raw.get("unit") or ""))
    if unit is None:
        problems.append(f"metric {name}: unknown unit {raw.get('unit')!r}")
    interval = _float(raw.get("interval_s"), f"metric {name}: interval_s", problems)
    if interval is None or not 0 < interval <= MAX_INTERVAL_S:
        problems.append(f"metric {name}: interval_s must be in (0, {MAX_INTERVAL_S}] seconds")
    cal = raw.get("calibration") or {}
    scale = _float(raw.get("scale", cal.get("scale") if isinstance(cal, dict) else None),
                   f"metric {name}: scale", problems)  # fmt: skip
    offset = _float(raw.get("offset", cal.get("offset") if isinstance(cal, dict) else None),
                    f"metric {name}: offset", problems)  # fmt: skip
    if scale == 0:
        problems.append(f"metric {name}: a calibration scale of 0 would erase every reading")
    lo = _float(raw.get("range_min"), f"metric {name}: range_min", problems)
    hi = _float(raw.get("range_max"), f"metric {name}: range_max", problems)
    if lo is not None and hi is not None and lo >= hi:
        problems.append(f"metric {name}: range_min must be below range_max")
    if len(problems) > before:
        return None
    assert unit is not None and interval is not None
    return MetricSpec(name, unit, interval, 1.0 if scale is None else scale,
                      offset or 0.0, lo, hi)  # fmt: skip
