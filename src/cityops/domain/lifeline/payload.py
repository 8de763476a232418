"""The platform's plain JSON payload → points (SenML has its own module, ``senml``).

Plain JSON (``application/json``), one object or an array of them::

    {"device": "SJ-GAS-W-0001", "ts": "2026-11-18T10:00:00+08:00",
     "values": {"ch4": 3.5, "temp": 18.2}, "units": {"ch4": "%LEL"}}

``ts`` is ISO 8601 with an offset or epoch seconds (absent: the receive time); ``units`` is
optional per metric (absent: the device's declared unit); ``device`` may be left out when the
transport names it (the MQTT topic's last level).
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

from cityops.domain.lifeline.points import PayloadError, PointColumns


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
