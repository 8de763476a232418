"""Payload formats → points: SenML records and the platform's plain JSON.

Plain JSON (``application/json``), one object or an array of them::

    {"device": "SJ-GAS-W-0001", "ts": "2026-11-18T10:00:00+08:00",
     "values": {"ch4": 3.5, "temp": 18.2}, "units": {"ch4": "%LEL"}}

``ts`` is ISO 8601 with an offset or epoch seconds (absent: the receive time); ``units`` is
optional per metric (absent: the device's declared unit); ``device`` may be left out when the
transport names it (the MQTT topic's last level).

SenML: a record's resolved name is ``{device}:{metric}`` or ``{device}/{metric}`` (split at the
last ``:`` or ``/``; a leading ``urn:dev:cityops:`` is ignored), or a bare ``{metric}`` when the
transport names the device. ``v`` is the value; ``vb`` counts as 1/0 (a cover open, a pump on);
a record with only a sum ``s`` (a totaliser) stores the sum; ``vs``/``vd`` are not numeric and
are rejected.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

from cityops.domain.lifeline.points import (
    NON_NUMERIC,
    UNKNOWN_DEVICE,
    PayloadError,
    PointColumns,
)
from cityops.domain.lifeline.senml import (
    _BASE,
    _KNOWN,
    _NAME,
    RELATIVE_LIMIT,
    ResolvedPack,
    SenMLError,
    _base,
    _check_unknown,
    _number,
    _other_value,
)

URN_PREFIX = "urn:dev:cityops:"


def split_name(name: str, default_device: str | None) -> tuple[str | None, str]:
    """(device, metric) of a resolved SenML name."""
    cut = max(name.rfind(":"), name.rfind("/"))
    if cut < 0:
        return default_device, name
    device = name[:cut]
    if device.startswith(URN_PREFIX):
        device = device[len(URN_PREFIX) :]
    return device, name[cut + 1 :]


def points_from_senml(pack: ResolvedPack, default_device: str | None = None) -> PointColumns:
    out = PointColumns()
    devices, metrics, times, values, units, origin = (
        out.devices, out.metrics, out.times, out.values, out.units, out.origin
    )  # fmt: skip
    split: dict[str, tuple[str | None, str]] = {}  # a pack repeats few names
    for i, (name, t, unit, value, total) in enumerate(
        zip(pack.names, pack.times, pack.units, pack.values, pack.sums, strict=True)
    ):
        if type(value) is float:
            number = value
        elif type(value) is bool:
            number = 1.0 if value else 0.0
        elif value is None and total is not None:
            number = total
        else:
            out.problems.append((i, NON_NUMERIC, f"{name}: a string or data value"))
            continue
        parts = split.get(name)
        if parts is None:
            parts = split[name] = split_name(name, default_device)
        device, metric = parts
        if device is None or not metric:
            out.problems.append((i, UNKNOWN_DEVICE, f"{name}: the name names no device"))
            continue
        devices.append(device)
        metrics.append(metric)
        times.append(t)
        values.append(number)
        units.append(unit)
        origin.append(i)
    return out


def senml_points(pack: Any, now: float, default_device: str | None = None) -> PointColumns:
    """``points_from_senml(parse_pack(pack, now), default_device)`` in one pass: the hot path.

    Same checks, same errors, same points, but no intermediate columns, and each distinct
    name is validated and split once per pack (a pack repeats a few names many times).
    """
    if not isinstance(pack, list):
        raise SenMLError("a SenML pack is a JSON array of records")
    out = PointColumns()
    devices, metrics, times, values, units, origin, problems = (
        out.devices, out.metrics, out.times, out.values, out.units, out.origin, out.problems
    )  # fmt: skip
    bases: list[Any] = ["", 0.0, None, 0.0, 0.0]
    bn, bt, bu, bv, bs = bases
    names: dict[str, tuple[str | None, str]] = {}  # name → (device, metric), checked
    isfinite, known, base_keys = math.isfinite, _KNOWN, _BASE
    for i, rec in enumerate(pack):
        if type(rec) is not dict:
            raise SenMLError("a record must be a JSON object", i)
        if not known.issuperset(rec):
            _check_unknown(rec, i)
        if not base_keys.isdisjoint(rec):
            _base(rec, i, bases)
            bn, bt, bu, bv, bs = bases
        n = rec.get("n")
        if n is None:
            name = bn
        elif type(n) is str:
            name = bn + n
        else:
            raise SenMLError("n must be a string", i)
        parts = names.get(name)
        if parts is None:
            if not name or _NAME.fullmatch(name) is None:
                raise SenMLError(f"invalid or missing name {name!r}", i)
            parts = names[name] = split_name(name, default_device)
        t = rec.get("t")
        if t is None:
            t = bt
        elif (type(t) is float or type(t) is int) and isfinite(t):
            t = bt + t
        else:
            _number(rec, "t", i)  # raises with the precise reason
        s = _number(rec, "s", i) if "s" in rec else None
        v = rec.get("v")
        if v is not None:
            if "vs" in rec or "vb" in rec or "vd" in rec:
                raise SenMLError("more than one value field (v, vs, vb, vd)", i)
            if (type(v) is not float and type(v) is not int) or not isfinite(v):
                _number(rec, "v", i)  # raises with the precise reason
            number: float | None = float(bv + v)
        else:
            other = _other_value(rec, i, s)
            if type(other) is bool:
                number = 1.0 if other else 0.0
            elif other is None:  # only a sum: a totaliser
                number = None if s is None else bs + s
            else:
                number = None
        if not isfinite(t):
            raise SenMLError("time out of range", i)
        u = rec.get("u")
        if u is not None and type(u) is not str:
            raise SenMLError("u must be a string", i)
        if number is None:
            problems.append((i, NON_NUMERIC, f"{name}: a string or data value"))
            continue
        device, metric = parts
        if device is None or not metric:
            problems.append((i, UNKNOWN_DEVICE, f"{name}: the name names no device"))
            continue
        devices.append(device)
        metrics.append(metric)
        times.append(t + now if t < RELATIVE_LIMIT else t)
        values.append(number)
        units.append(u or bu)
        origin.append(i)
    return out


def _time(raw: Any, now: float, i: int) -> float:
    if raw is None:
        return now
    if type(raw) is int or type(raw) is float:
        if not math.isfinite(raw):
            raise PayloadError("ts must be finite", i, "not_finite")
        return float(raw)
    if type(raw) is str:
        try:
            moment = datetime.fromisoformat(raw)
        except ValueError:
            moment = None
        if moment is not None and moment.tzinfo is not None:
            return moment.timestamp()
    raise PayloadError("ts must be epoch seconds or ISO 8601 with a UTC offset", i)


def points_from_json(
    data: Any, now: float, default_device: str | None = None
) -> PointColumns:
    """Plain JSON (module docstring) → points; a structural error rejects the message."""
    items = data if isinstance(data, list) else [data]
    out = PointColumns()
    for i, item in enumerate(items):
        if type(item) is not dict:
            raise PayloadError("each reading must be a JSON object", i, "malformed_payload")
        device = item.get("device", default_device)
        if type(device) is not str or not device:
            raise PayloadError("device is required (a string)", i, "malformed_payload")
        values, units = item.get("values"), item.get("units") or {}
        if type(values) is not dict or not values:
            raise PayloadError("values must be an object of metric → number", i,
                               "malformed_payload")  # fmt: skip
        if type(units) is not dict:
            raise PayloadError("units must be an object of metric → unit", i, "malformed_payload")
        t = _time(item.get("ts"), now, i)
        for metric, value in values.items():
            if type(value) is not float and type(value) is not int:
                raise PayloadError(f"values.{metric} must be a number", i, "malformed_payload")
            if not math.isfinite(value):
                raise PayloadError(f"values.{metric} must be finite", i, "not_finite")
            unit = units.get(metric)
            if unit is not None and type(unit) is not str:
                raise PayloadError(f"units.{metric} must be a string", i, "malformed_payload")
            out.devices.append(device)
            out.metrics.append(metric)
            out.times.append(t)
            out.values.append(float(value))
            out.units.append(unit)
            out.origin.append(i)
    return out
