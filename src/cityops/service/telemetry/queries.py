"""Reads: series with aggregation, latest values with online/offline, dead letters."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVarTuple

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from cityops.adapters.db.lifeline_models import (
    DeadLetterRow,
    LatestRow,
    LifelineAssetRow,
    LifelineDeviceRow,
    LifelineSeriesRow,
    ReadingRow,
    Rollup1hRow,
    Rollup1mRow,
)
from cityops.adapters.db.telemetry_store import store_for
from cityops.bootstrap import App
from cityops.domain.errors import NotFound, ValidationFailed
from cityops.domain.lifeline.rollup import HOUR_MS, MINUTE_MS, Row, merge
from cityops.service.principal import Principal
from cityops.service.telemetry.assets import visible_assets

STEPS = {"raw": None, "1m": MINUTE_MS, "1h": HOUR_MS}
AGGS = ("avg", "min", "max", "last", "count")
MAX_POINTS = 20_000
Columns = TypeVarTuple("Columns")


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat().replace("+00:00", "Z")


@dataclass(frozen=True, slots=True)
class SeriesQuery:
    device: str
    metric: str
    start: datetime  # aware
    end: datetime  # aware, exclusive
    step: str = "raw"
    agg: str | None = None

    def check(self) -> None:
        if self.step not in STEPS:
            raise ValidationFailed(f"step must be one of {list(STEPS)}", field="step")
        if self.step == "raw" and self.agg is not None:
            raise ValidationFailed("agg applies to the 1m and 1h steps, not raw", field="agg")
        if self.agg is not None and self.agg not in AGGS:
            raise ValidationFailed(f"agg must be one of {list(AGGS)}", field="agg")
        if self.end <= self.start:
            raise ValidationFailed("'to' must be after 'from'", field="to")


def _series_row(app: App, principal: Principal, device: str, metric: str) -> LifelineSeriesRow:
    with app.reads() as s:
        row = s.scalars(
            select(LifelineSeriesRow)
            .join(LifelineDeviceRow, LifelineDeviceRow.id == LifelineSeriesRow.device_id)
            .join(LifelineAssetRow, LifelineAssetRow.id == LifelineDeviceRow.asset_id)
            .where(LifelineDeviceRow.code == device, LifelineSeriesRow.metric == metric,
                   visible_assets(principal))
        ).first()  # fmt: skip
    if row is None:
        raise NotFound(f"no series {device}:{metric} / 无此监测项", device=device, metric=metric)
    return row


def series(app: App, principal: Principal, q: SeriesQuery) -> dict[str, Any]:
    """Raw readings, or 1-minute / 1-hour buckets aggregated by ``agg`` (default avg).

    Buckets are aligned to UTC; a bucket is included when it starts in [from, to).
    """
    q.check()
    row = _series_row(app, principal, q.device, q.metric)
    start, end = _ms(q.start), _ms(q.end)
    width = STEPS[q.step]
    if width is not None and (end - start) // width > MAX_POINTS:
        raise ValidationFailed(f"too many {q.step} buckets (over {MAX_POINTS}); narrow the range "
                               "or use a coarser step", field="step")  # fmt: skip
    agg = q.agg or ("avg" if width else None)
    with app.reads() as s:
        if width is None:
            rows = s.execute(
                select(ReadingRow.ts, ReadingRow.value)
                .where(ReadingRow.series_id == row.id, ReadingRow.ts >= start, ReadingRow.ts < end)
                .order_by(ReadingRow.ts).limit(MAX_POINTS + 1)
            ).all()  # fmt: skip
            if len(rows) > MAX_POINTS:
                raise ValidationFailed(f"over {MAX_POINTS} raw readings; narrow the range or "
                                       "use step=1m or 1h", field="step")  # fmt: skip
            points = [{"ts": _iso(t), "value": v} for t, v in rows]
        else:
            first = start - start % width
            first = first if first >= start else first + width
            buckets = _buckets(app, s, row.id, width, first, end)
            points = [
                {"ts": _iso(b), "value": {"avg": total / n, "min": lo, "max": hi, "last": last,
                                          "count": n}[agg or "avg"], "count": n}
                for b, (n, total, lo, hi, _, last) in buckets
            ]  # fmt: skip
    return {"device": q.device, "metric": q.metric, "unit": row.unit, "step": q.step,
            "agg": agg, "from": q.start.isoformat(), "to": q.end.isoformat(),
            "points": points}  # fmt: skip


def _buckets(
    app: App, s: Session, series_id: int, width: int, first: int, end: int
) -> list[tuple[int, Row]]:
    """The series' buckets starting in [first, end), sorted: (bucket, partial).

    Hours are stored. A minute is stored once raw retention has taken its readings and
    grouped from the readings until then; both are merged, so a minute whose readings
    arrived on both sides of a retention sweep (retention raised meanwhile) is still whole.
    """
    table = Rollup1mRow if width == MINUTE_MS else Rollup1hRow
    stored = s.execute(
        select(table.bucket, table.count, table.sum, table.min, table.max, table.last_ts,
               table.last_value)
        .where(table.series_id == series_id, table.bucket >= first, table.bucket < end)
    )  # fmt: skip
    merged: dict[int, Row] = {b: tuple(rest) for b, *rest in stored}  # type: ignore[misc]
    if width == MINUTE_MS:
        stop = end + (-end) % width  # the last bucket's readings may lie past ``end``
        for b, *rest in store_for(app.engine).minute_partials(s.connection(), series_id, first,
                                                            stop):  # fmt: skip
            part: Row = tuple(rest)  # type: ignore[assignment]
            merged[b] = merge(merged[b], part) if b in merged else part
    return sorted(merged.items())


def device_series(
    columns: Select[*Columns], principal: Principal, *, asset: str | None = None,
    kind: str | None = None,
) -> Select[*Columns]:  # fmt: skip
    """``columns`` over each series of the visible active devices with its newest value (none
    when it never reported): device ⋈ asset ⋈ series ⟕ latest, optionally of one asset (code)
    or one asset kind. Shared by ``/latest`` and device health, so both see the same devices."""
    q = (
        columns.select_from(LifelineDeviceRow)
        .join(LifelineAssetRow, LifelineAssetRow.id == LifelineDeviceRow.asset_id)
        .join(LifelineSeriesRow, LifelineSeriesRow.device_id == LifelineDeviceRow.id)
        .outerjoin(LatestRow, LatestRow.series_id == LifelineSeriesRow.id)
        .where(visible_assets(principal), LifelineDeviceRow.active.is_(True))
    )
    if asset:
        q = q.where(LifelineAssetRow.code == asset)
    if kind:
        q = q.where(LifelineAssetRow.kind == kind)
    return q


def latest(
    app: App, principal: Principal, *, asset: str | None = None, device: str | None = None,
    kind: str | None = None, limit: int = 2000,
) -> list[dict[str, Any]]:  # fmt: skip
    """Each visible device's newest value per metric, and whether it is online: a device is
    offline when its newest reading is older than ``telemetry_offline_intervals`` × its
    shortest sampling interval (or it never reported)."""
    q = device_series(
        select(LifelineDeviceRow.code, LifelineAssetRow.code, LifelineAssetRow.kind,
               LifelineSeriesRow.metric, LifelineSeriesRow.unit, LifelineSeriesRow.interval_s,
               LatestRow.ts, LatestRow.value),
        principal, asset=asset, kind=kind,
    ).order_by(LifelineDeviceRow.code, LifelineSeriesRow.metric)  # fmt: skip
    if device:
        q = q.where(LifelineDeviceRow.code == device)
    now_ms = _ms(app.clock())
    factor = app.settings.telemetry_offline_intervals
    out: dict[str, dict[str, Any]] = {}
    with app.reads() as s:
        for dev, asset_code, asset_kind, metric, unit, interval, ts, value in s.execute(q):
            d = out.get(dev)
            if d is None:
                if len(out) >= limit:
                    break
                d = out[dev] = {"device": dev, "asset": asset_code, "asset_kind": asset_kind,
                                "last_seen": None, "online": False, "_seen": -1,
                                "_interval": interval, "metrics": {}}  # fmt: skip
            d["_interval"] = min(d["_interval"], interval)
            d["metrics"][metric] = {"value": value, "unit": unit,
                                    "ts": _iso(ts) if ts is not None else None}  # fmt: skip
            if ts is not None and ts > d["_seen"]:
                d["_seen"] = ts
    for d in out.values():
        seen, interval = d.pop("_seen"), d.pop("_interval")
        if seen >= 0:
            d["last_seen"] = _iso(seen)
            d["online"] = now_ms - seen <= factor * interval * 1000
    if device and not out:
        raise NotFound(f"no device {device} / 无此设备", device=device)
    return list(out.values())


def _raw_view(raw: bytes) -> dict[str, str]:
    try:
        return {"raw": raw.decode("utf-8"), "raw_encoding": "utf-8"}
    except UnicodeDecodeError:
        return {"raw": base64.b64encode(raw).decode(), "raw_encoding": "base64"}


def dead_letter_view(r: DeadLetterRow) -> dict[str, Any]:
    return {"id": r.id, "received_at": r.received_at.isoformat(), "source": r.source,
            "content_type": r.content_type, "reason": r.reason, "message": r.message,
            "points_rejected": r.points_rejected, "points_accepted": r.points_accepted,
            "resolved": r.resolved, "resolved_by": r.resolved_by,
            "resolved_at": r.resolved_at.isoformat() if r.resolved_at else None,
            "note": r.note, **_raw_view(r.raw)}  # fmt: skip


def dead_letter_filter(q: Any, resolved: bool | None, reason: str | None) -> Any:
    """Restrict a dead-letter query to resolved or open ones (None: both) and to a reason."""
    if resolved is not None:
        q = q.where(DeadLetterRow.resolved.is_(resolved))
    if reason:
        q = q.where(DeadLetterRow.reason == reason)
    return q


def dead_letters(
    app: App, *, resolved: bool | None = False, reason: str | None = None, limit: int = 100,
    before_id: int | None = None,
) -> dict[str, Any]:  # fmt: skip
    """Newest first; page with ``before_id`` (the last id of the previous page)."""
    q = dead_letter_filter(select(DeadLetterRow), resolved, reason)
    with app.reads() as s:
        total = s.scalar(select(func.count()).select_from(q.subquery())) or 0
        if before_id is not None:
            q = q.where(DeadLetterRow.id < before_id)
        rows = s.scalars(q.order_by(DeadLetterRow.id.desc()).limit(limit)).all()
    return {"total": total, "items": [dead_letter_view(r) for r in rows]}


def resolve_dead_letter(app: App, id_: int, who: str, note: str | None) -> dict[str, Any]:
    with app.sessions.begin() as s:
        row = s.get(DeadLetterRow, id_)
        if row is None:
            raise NotFound(f"no dead letter {id_}", id=id_)
        if not row.resolved:  # resolving twice keeps the first resolution
            row.resolved, row.resolved_at, row.resolved_by = True, app.clock(), who
            row.note = note
        return dead_letter_view(row)


def list_devices(
    app: App, principal: Principal, *, asset: str | None = None, kind: str | None = None,
    limit: int = 500, offset: int = 0,
) -> dict[str, Any]:  # fmt: skip
    q = (select(LifelineDeviceRow, LifelineAssetRow.code)
         .join(LifelineAssetRow, LifelineAssetRow.id == LifelineDeviceRow.asset_id)
         .where(visible_assets(principal)))  # fmt: skip
    if asset:
        q = q.where(LifelineAssetRow.code == asset)
    if kind:
        q = q.where(LifelineDeviceRow.kind == kind)
    with app.reads() as s:
        total = s.scalar(select(func.count()).select_from(q.subquery())) or 0
        rows = s.execute(q.order_by(LifelineDeviceRow.code).limit(limit).offset(offset)).all()
        metrics: dict[int, list[str]] = {}
        for device_id, metric in s.execute(
            select(LifelineSeriesRow.device_id, LifelineSeriesRow.metric)
            .where(LifelineSeriesRow.device_id.in_([d.id for d, _ in rows]))
            .order_by(LifelineSeriesRow.metric)
        ):
            metrics.setdefault(device_id, []).append(metric)
    return {"total": total, "items": [
        {"code": d.code, "name": d.name, "kind": d.kind, "asset": a, "active": d.active,
         "gateway": d.gateway, "metrics": metrics.get(d.id, [])} for d, a in rows
    ]}  # fmt: skip
