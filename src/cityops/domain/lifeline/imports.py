"""Asset and device files → specs, naming every offending item (all-or-nothing imports).

Assets: GeoJSON features (properties ``code, kind, name, owner, adjacent`` and any others
kept as attributes) or CSV ``code,kind,name,owner,wkt|lon+lat[,adjacent][,…]`` (``adjacent``
separated by ``;``). Devices: a JSON list (or GeoJSON points) of
``{code, asset, name, kind, gateway, metrics: [{name, unit, interval_s, scale, offset,
range_min, range_max}]}``, or CSV with one row per metric
``device,asset,name,metric,unit,interval_s[,kind,scale,offset,range_min,range_max,lon,lat,gateway]``.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable
from typing import Any

import shapely.wkt
from shapely.errors import ShapelyError

from cityops.domain.errors import ImportProblem
from cityops.domain.lifeline.assets import (
    AssetKind,
    AssetSpec,
    DeviceSpec,
    MetricSpec,
    code_problem,
    geometry_problem,
    metric_spec,
)

ASSET_FIELDS = ("code", "kind", "name", "owner", "adjacent", "wkt", "lon", "lat", "geometry")
DEVICE_CSV_REQUIRED = ("device", "asset", "metric", "unit", "interval_s")
Problems = list[ImportProblem]


def _clean(value: Any) -> Any:
    return value.strip() or None if isinstance(value, str) else value


def _adjacent(raw: Any) -> tuple[str, ...] | None:
    if raw is None:
        return ()
    if isinstance(raw, str):
        return tuple(c.strip() for c in raw.split(";") if c.strip())
    if isinstance(raw, list) and all(isinstance(c, str) for c in raw):
        return tuple(raw)
    return None


def _asset(
    where: str, props: dict[str, Any], geometry: Any, problems: Problems,
    reasons: list[str] | None = None,
) -> AssetSpec | None:  # fmt: skip
    """Validate one asset; ``reasons`` may carry problems found already (a bad WKT)."""
    reasons = list(reasons or [])
    known_bad_geometry = bool(reasons)
    code = props.get("code")
    if (p := code_problem(code)) is not None:
        reasons.append(p)
    try:
        kind = AssetKind(str(props.get("kind")))
    except ValueError:
        reasons.append(f"kind must be one of {[k.value for k in AssetKind]}")
        kind = None
    name = props.get("name")
    if not isinstance(name, str) or not name.strip() or len(name) > 100:
        reasons.append("name is required (≤ 100 characters)")
    owner = props.get("owner")
    if not isinstance(owner, str) or not owner:
        reasons.append("owner (a department code) is required")
    if kind is not None and not known_bad_geometry and (g := geometry_problem(kind, geometry)):
        reasons.append(g)
    adjacent = _adjacent(props.get("adjacent"))
    if adjacent is None:
        reasons.append("adjacent must be a list of asset codes (or 'a;b' in CSV)")
    problems += [ImportProblem(f"{where} {code or '?'}", r) for r in reasons]
    if reasons:
        return None
    assert kind is not None and adjacent is not None
    attributes = {k: v for k, v in props.items() if k not in ASSET_FIELDS and v is not None}
    return AssetSpec(str(code), kind, str(name).strip(), str(owner), geometry, attributes,
                     adjacent)  # fmt: skip


def _unique(specs: Iterable[tuple[str, str]], kind: str, problems: Problems) -> None:
    seen: set[str] = set()
    for where, code in specs:
        if code in seen:
            problems.append(ImportProblem(where, f"{kind} {code} appears twice in the file"))
        seen.add(code)


def parse_asset_features(data: Any) -> tuple[list[AssetSpec], Problems]:
    if not isinstance(data, dict) or not isinstance(data.get("features"), list):
        return [], [ImportProblem("file", "a GeoJSON FeatureCollection is required")]
    specs: list[AssetSpec] = []
    problems: Problems = []
    for i, feature in enumerate(data["features"]):
        props = feature.get("properties") if isinstance(feature, dict) else None
        if not isinstance(props, dict):
            problems.append(ImportProblem(f"features[{i}]", "a Feature with properties"))
            continue
        spec = _asset(f"features[{i}]", props, feature.get("geometry"), problems)
        if spec is not None:
            specs.append(spec)
    _unique(((f"asset {s.code}", s.code) for s in specs), "asset", problems)
    return specs, problems


def _csv_rows(text: str, required: tuple[str, ...]) -> tuple[list[tuple[int, dict[str, Any]]],
                                                             Problems]:  # fmt: skip
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    header = [h.strip() for h in reader.fieldnames or []]
    missing = [c for c in required if c not in header]
    if missing:
        return [], [ImportProblem("line 1", f"missing column(s): {', '.join(missing)}")]
    reader.fieldnames = header
    rows = []
    for record in reader:
        rows.append((reader.line_num, {k: _clean(v) for k, v in record.items()
                                        if isinstance(k, str)}))  # fmt: skip
    return rows, []


def _csv_geometry(values: dict[str, Any], reasons: list[str]) -> Any:
    if values.get("wkt"):
        try:
            return json.loads(shapely.to_geojson(shapely.wkt.loads(values["wkt"])))
        except (ShapelyError, ValueError) as exc:
            reasons.append(f"malformed WKT: {exc}")
            return None
    try:
        return {"type": "Point", "coordinates": [float(values["lon"]), float(values["lat"])]}
    except (KeyError, TypeError, ValueError):
        reasons.append("give a wkt column, or lon and lat")
        return None


def parse_asset_csv(text: str) -> tuple[list[AssetSpec], Problems]:
    rows, problems = _csv_rows(text, ("code", "kind", "name", "owner"))
    specs: list[AssetSpec] = []
    for line, values in rows:
        reasons: list[str] = []
        geometry = _csv_geometry(values, reasons)
        spec = _asset(f"line {line}", values, geometry, problems, reasons)
        if spec is not None:
            specs.append(spec)
    _unique(((f"asset {s.code}", s.code) for s in specs), "asset", problems)
    return specs, problems


def _device(
    where: str, raw: dict[str, Any], metrics: list[Any], problems: Problems
) -> DeviceSpec | None:
    reasons: list[str] = []
    code = raw.get("code")
    if (p := code_problem(code)) is not None:
        reasons.append(p)
    asset = raw.get("asset")
    if not isinstance(asset, str) or not asset:
        reasons.append("asset (the asset's code) is required")
    name = raw.get("name") or code
    gateway = raw.get("gateway")
    if gateway is not None and code_problem(gateway) is not None:
        reasons.append("gateway must be a code like a device's")
    specs: list[MetricSpec] = []
    for m in metrics:
        spec = metric_spec(m, reasons)
        if spec is not None:
            specs.append(spec)
    names = [m.name for m in specs]
    if not metrics:
        reasons.append("a device needs at least one metric")
    elif len(set(names)) != len(names):
        reasons.append("a metric is listed twice")
    lon = raw.get("lon")
    lat = raw.get("lat")
    try:
        point = None if lon is None and lat is None else (float(lon), float(lat))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        reasons.append("lon and lat must be numbers (WGS-84)")
        point = None
    problems += [ImportProblem(f"{where} {code or '?'}", r) for r in reasons]
    if reasons:
        return None
    return DeviceSpec(str(code), str(asset), str(name), tuple(specs), str(raw.get("kind") or ""),
                      point[0] if point else None, point[1] if point else None, gateway,
                      raw.get("active", True) is not False)  # fmt: skip


def parse_device_items(data: Any) -> tuple[list[DeviceSpec], Problems]:
    """A JSON list, ``{"devices": [...]}`` or a GeoJSON FeatureCollection of Points."""
    items: Any
    if isinstance(data, dict) and isinstance(data.get("features"), list):
        items = []
        for f in data["features"]:
            props = dict(f.get("properties") or {}) if isinstance(f, dict) else {}
            geometry = f.get("geometry") if isinstance(f, dict) else None
            if isinstance(geometry, dict) and geometry.get("type") == "Point":
                props.setdefault("lon", geometry["coordinates"][0])
                props.setdefault("lat", geometry["coordinates"][1])
            items.append(props)
        label = "features"
    else:
        items = data.get("devices") if isinstance(data, dict) else data
        label = "devices"
    if not isinstance(items, list):
        return [], [ImportProblem("file", "a list of devices or a FeatureCollection is required")]
    specs: list[DeviceSpec] = []
    problems: Problems = []
    for i, raw in enumerate(items):
        if not isinstance(raw, dict):
            problems.append(ImportProblem(f"{label}[{i}]", "each device must be an object"))
            continue
        metrics = raw.get("metrics")
        spec = _device(f"{label}[{i}]", raw, metrics if isinstance(metrics, list) else [],
                       problems)  # fmt: skip
        if spec is not None:
            specs.append(spec)
    _unique(((f"device {s.code}", s.code) for s in specs), "device", problems)
    return specs, problems


_DEVICE_COLUMNS = ("asset", "name", "kind", "lon", "lat", "gateway")


def parse_device_csv(text: str) -> tuple[list[DeviceSpec], Problems]:
    """One row per (device, metric); a device's own columns must agree across its rows."""
    rows, problems = _csv_rows(text, DEVICE_CSV_REQUIRED)
    grouped: dict[str, tuple[int, dict[str, Any], list[dict[str, Any]]]] = {}
    for line, values in rows:
        code = values.get("device") or f"?line{line}"
        metric = {"name": values.get("metric"), "unit": values.get("unit"),
                  "interval_s": values.get("interval_s"), "scale": values.get("scale"),
                  "offset": values.get("offset"), "range_min": values.get("range_min"),
                  "range_max": values.get("range_max")}  # fmt: skip
        own = {"code": values.get("device"), **{c: values.get(c) for c in _DEVICE_COLUMNS}}
        if code in grouped:
            first_line, first, metrics = grouped[code]
            clash = [c for c in _DEVICE_COLUMNS if own[c] is not None and own[c] != first[c]]
            if clash:
                problems.append(ImportProblem(
                    f"line {line} {code}", f"{', '.join(clash)} differ(s) from line {first_line}"
                ))  # fmt: skip
            metrics.append(metric)
        else:
            grouped[code] = (line, own, [metric])
    specs = []
    for line, own, metrics in grouped.values():
        spec = _device(f"line {line}", own, metrics, problems)
        if spec is not None:
            specs.append(spec)
    return specs, problems
