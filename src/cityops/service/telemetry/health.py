"""Device health (设备在线状态): online / offline / never reported, from the newest reading
against the device's shortest sampling interval (× ``telemetry_offline_intervals``, like
``/latest``), with the last values and the battery when the device reports one.

Status, counts and paging are computed in SQL over one row per device, so the console can
list "offline only" out of tens of thousands of sensors without loading them all.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, case, func, select

from cityops.adapters.db.lifeline_models import (
    LatestRow,
    LifelineAssetRow,
    LifelineDeviceRow,
    LifelineSeriesRow,
)
from cityops.bootstrap import App
from cityops.domain.errors import ValidationFailed
from cityops.service.principal import Principal
from cityops.service.telemetry.queries import _iso, _ms, device_series

STATUSES = ("online", "offline", "never")
BATTERY = ("battery", "battery_pct", "battery_v", "batt")  # metric names read as the battery


def _status(seen: Any, interval: Any, now_ms: int, factor: float) -> ColumnElement[str]:
    return case(
        (seen.is_(None), "never"),
        (seen >= now_ms - interval * (factor * 1000), "online"),
        else_="offline",
    )


def device_health(
    app: App, who: Principal, *, status: str | None = None, asset: str | None = None,
    kind: str | None = None, q: str | None = None, limit: int = 100, offset: int = 0,
) -> dict[str, Any]:  # fmt: skip
    """Visible active devices with their status; ``status`` filters (offline: the longest
    silent first), ``kind`` is the asset kind, ``q`` a part of the device or asset code."""
    if status is not None and status not in STATUSES:
        raise ValidationFailed(f"status must be one of {list(STATUSES)}", field="status")
    now_ms = _ms(app.clock())
    factor = app.settings.telemetry_offline_intervals
    seen = func.max(LatestRow.ts).label("seen")
    interval = func.min(LifelineSeriesRow.interval_s).label("interval")
    per_device = device_series(
        select(LifelineDeviceRow.id.label("device_id"), seen, interval), who, asset=asset,
        kind=kind,
    ).group_by(LifelineDeviceRow.id)  # fmt: skip
    if q:
        like = f"%{q.strip()}%"
        per_device = per_device.where(LifelineDeviceRow.code.ilike(like)
                                      | LifelineAssetRow.code.ilike(like))  # fmt: skip
    sub = per_device.subquery()
    state = _status(sub.c.seen, sub.c.interval, now_ms, factor).label("status")
    with app.reads() as s:
        counts = dict.fromkeys(STATUSES, 0)
        for name, n in s.execute(select(state, func.count()).group_by(state)):
            counts[name] = n
        page = (
            select(LifelineDeviceRow, LifelineAssetRow, sub.c.seen, sub.c.interval, state)
            .join(sub, sub.c.device_id == LifelineDeviceRow.id)
            .join(LifelineAssetRow, LifelineAssetRow.id == LifelineDeviceRow.asset_id)
        )  # fmt: skip
        if status is not None:
            page = page.where(state == status)
        order = (sub.c.seen.asc().nulls_first(), LifelineDeviceRow.code) if status == "offline" \
            else (LifelineDeviceRow.code,)  # fmt: skip
        rows = s.execute(page.order_by(*order).limit(limit).offset(offset)).all()
        values: dict[int, list[dict[str, Any]]] = {}
        for device_id, metric, unit, every, ts, value in s.execute(
            select(LifelineSeriesRow.device_id, LifelineSeriesRow.metric, LifelineSeriesRow.unit,
                   LifelineSeriesRow.interval_s, LatestRow.ts, LatestRow.value)
            .outerjoin(LatestRow, LatestRow.series_id == LifelineSeriesRow.id)
            .where(LifelineSeriesRow.device_id.in_([r[0].id for r in rows]))
            .order_by(LifelineSeriesRow.device_id, LifelineSeriesRow.metric)
        ):  # fmt: skip
            values.setdefault(device_id, []).append({
                "metric": metric, "unit": unit, "interval_s": every, "value": value,
                "ts": _iso(ts) if ts is not None else None})  # fmt: skip
    total = counts[status] if status else sum(counts.values())
    return {"total": total, "counts": counts, "limit": limit, "offset": offset,
            "offline_intervals": factor,
            "items": [_item(d, a, seen_ms, every, name, values.get(d.id, []), now_ms)
                      for d, a, seen_ms, every, name in rows]}  # fmt: skip


def _item(d: LifelineDeviceRow, a: LifelineAssetRow, seen_ms: int | None, every: float,
          status: str, metrics: list[dict[str, Any]], now_ms: int) -> dict[str, Any]:  # fmt: skip
    battery = next((m for m in metrics if m["metric"] in BATTERY and m["value"] is not None),
                   None)  # fmt: skip
    return {
        "code": d.code, "name": d.name, "kind": d.kind, "gateway": d.gateway,
        "asset": {"code": a.code, "name": a.name, "kind": a.kind},
        "status": status, "online": status == "online", "interval_s": every,
        "last_seen": _iso(seen_ms) if seen_ms is not None else None,
        "silent_s": (now_ms - seen_ms) / 1000 if seen_ms is not None else None,
        "battery": {"value": battery["value"], "unit": battery["unit"], "ts": battery["ts"]}
        if battery else None,
        "metrics": metrics,
    }  # fmt: skip
