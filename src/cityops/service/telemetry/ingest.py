"""ingest(messages) → IngestResult: decode → resolve → clean → store → notify, per batch.

One write transaction per batch holds the readings (one bulk insert), the 1-hour roll-up
partials (numpy, merged by upsert), the latest values and the dead letters: a message's
good points and the record of its bad ones commit together or not at all. The 1-minute
roll-up is not written here: while readings are kept it is grouped from them when asked,
and raw retention rolls a minute up as it deletes it (``telemetry_store``) — at sampling
intervals of a minute or more it would be a second copy of the history, written per point.

Idempotent on (device, metric, ts): duplicates inside the batch are dropped in numpy; a
point not newer than its series' latest value (kept in memory) is checked against storage;
a concurrent writer is caught by the store's row count. Late and out-of-order points are
stored and merged into their roll-up buckets; the latest value only moves forward.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

import numpy as np
import numpy.typing as npt
from sqlalchemy import select
from sqlalchemy.orm import Session

from cityops.adapters.db.lifeline_models import DeadLetterRow, LatestRow
from cityops.adapters.db.telemetry_store import ReadingStore
from cityops.bootstrap import App
from cityops.domain.lifeline import points as P
from cityops.domain.lifeline.rollup import HOUR_MS, dedupe_keys, latest, partials
from cityops.domain.lifeline.units import UnitMismatch, conversion
from cityops.service.bus import Event
from cityops.service.telemetry.decode import RawMessage, decode
from cityops.service.telemetry.registry import DeviceRegistry, RegistrySnapshot

log = logging.getLogger(__name__)
I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]
MAX_LISTED_PROBLEMS = 20


@dataclass(frozen=True, slots=True)
class ReadingBatch:
    """The new readings of one batch, in columns: what rules and alarms subscribe to.

    ``k`` indexes the snapshot's arrays (device, asset, owner, unit, interval of each point).
    Points are in arrival order; ``late`` marks those older than their series' latest value
    before this batch (an alarm rule may want to ignore them).
    """

    snapshot: RegistrySnapshot
    k: I64
    series_id: I64
    ts: I64  # epoch milliseconds, UTC
    value: F64  # in the series' declared unit, calibrated
    late: npt.NDArray[np.bool_]
    received_at: float

    def __len__(self) -> int:
        return len(self.k)


class BatchListener(Protocol):
    """A downstream stage; runs after commit in the ingesting thread. Keep it quick (hand
    heavy work to your own queue); an exception is logged and never affects ingestion."""

    def on_batch(self, batch: ReadingBatch) -> None: ...


@dataclass(slots=True)
class MessageResult:
    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0
    reason: str | None = None  # the dead letter's reason code, when there is one
    problems: list[str] = field(default_factory=list)
    dead_letter_id: int | None = None


@dataclass(slots=True)
class IngestResult:
    messages: list[MessageResult]
    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0
    dead_letters: int = 0
    reasons: dict[str, int] = field(default_factory=dict)  # rejected points (or messages) by code


@dataclass(frozen=True, slots=True)
class Screened:
    """What ingest would keep of some messages, decided without storing (:meth:`Ingestor.
    screen`): each message's result (``accepted``: points kept; duplicates are not known yet,
    so none) and the kept points, their values in the series' unit but not calibrated."""

    result: IngestResult
    snapshot: RegistrySnapshot
    k: I64
    ts: I64  # epoch milliseconds, UTC
    value: F64  # in the series' declared unit, before calibration


class _Problems:
    """Rejections per message: (record, code, text), collected while resolving."""

    def __init__(self, n: int) -> None:
        self.by_message: list[list[tuple[int, str, str]]] = [[] for _ in range(n)]
        self.fatal: dict[int, P.PayloadError] = {}

    def add(self, m: int, origin: int, code: str, text: str) -> None:
        self.by_message[m].append((origin, code, text))


def _series_of(
    snap: RegistrySnapshot, dev: str, met: str, unit: str | None
) -> tuple[int, float, float] | tuple[str, str]:
    """(k, scale, shift) of a point's series and unit conversion, or (reason, text)."""
    k = snap.index.get((dev, met))
    if k is None:
        device = snap.devices.get(dev)
        code = P.UNKNOWN_METRIC if device is not None and device.active else P.UNKNOWN_DEVICE
        return code, f"{code.replace('_', ' ')} {dev}:{met}"
    if unit is None or unit == snap.unit[k]:
        return k, 1.0, 0.0
    try:
        scale, shift = conversion(unit, snap.unit[k])
    except UnitMismatch as exc:
        return P.BAD_UNIT, f"{dev}:{met}: {exc}"
    return k, scale, shift


class Ingestor:
    """The single writer of telemetry in this process (a lock serialises batches)."""

    def __init__(self, app: App, registry: DeviceRegistry, store: ReadingStore) -> None:
        self._app = app
        self._registry = registry
        self._store = store
        self._lock = threading.Lock()
        self._latest = np.empty(0, np.int64)  # per k: newest stored ts (ms), -1 for none
        self._generation = -1
        self.listeners: list[BatchListener] = []

    def _latest_for(self, snap: RegistrySnapshot) -> I64:
        if self._generation != snap.generation:
            latest_ts = np.full(len(snap), -1, dtype=np.int64)
            with self._app.reads() as s:
                for series_id, ts in s.execute(select(LatestRow.series_id, LatestRow.ts)):
                    k = snap.k_of_series.get(series_id)
                    if k is not None:
                        latest_ts[k] = ts
            self._latest, self._generation = latest_ts, snap.generation
        return self._latest

    def ingest(self, messages: Sequence[RawMessage]) -> IngestResult:
        with self._lock:
            return self._ingest(messages)

    def screen(self, messages: Sequence[RawMessage]) -> Screened:
        """Decode, resolve and clean as :meth:`ingest` does, storing nothing: what an API
        that forwards its readings to the ingesting worker checks before they leave. The kept
        values are not calibrated (the worker calibrates what it ingests)."""
        snap = self._registry.get()
        problems = _Problems(len(messages))
        k, t, v, msg, origin = self._resolve(snap, messages, problems)
        declared = v.copy()  # _clean calibrates in place
        now_ms = int(self._app.clock().timestamp() * 1000)
        keep = self._clean(snap, k, t, v, msg, origin, now_ms, problems)
        result = IngestResult([MessageResult() for _ in messages])
        self._tally(result, messages, problems, msg[keep], msg[keep])
        return Screened(result, snap, k[keep], t[keep], declared[keep])

    def record_dead_letters(self, result: IngestResult, messages: Sequence[RawMessage]) -> None:
        """Write the dead letters of a screened result, as :meth:`ingest` would have."""
        with self._app.sessions.begin() as s:
            self._dead_letters(s, result, messages)
        self._announce(result)

    def _ingest(self, messages: Sequence[RawMessage]) -> IngestResult:
        snap = self._registry.get()
        latest_before = self._latest_for(snap)
        problems = _Problems(len(messages))
        k, t, v, msg, origin = self._resolve(snap, messages, problems)
        now_ms = int(self._app.clock().timestamp() * 1000)
        keep = self._clean(snap, k, t, v, msg, origin, now_ms, problems)
        k, t, v, msg = k[keep], t[keep], v[keep], msg[keep]
        first = dedupe_keys(k, t)  # k ↔ series_id is one-to-one within a snapshot
        series = snap.series_id[k[first]]
        order = np.lexsort((t[first], series))  # key order: inserts walk the B-tree
        first, series = first[order], series[order]
        k, t, v, msg_new = k[first], t[first], v[first], msg[first]
        self._store.ensure_partitions(self._app.engine, t)
        result = IngestResult([MessageResult() for _ in messages])
        with self._app.sessions.begin() as s:
            conn = s.connection()
            maybe_stored = np.flatnonzero(t <= latest_before[k])
            if len(maybe_stored):
                stored = self._store.existing(conn, series[maybe_stored], t[maybe_stored])
                if stored:
                    hit = [(int(series[i]), int(t[i])) in stored for i in maybe_stored]
                    fresh = np.ones(len(k), dtype=bool)
                    fresh[maybe_stored[np.array(hit, dtype=bool)]] = False
                    k, t, v, series, msg_new = k[fresh], t[fresh], v[fresh], series[fresh], \
                        msg_new[fresh]  # fmt: skip
            inserted = self._store.insert_new_readings(conn, series, t, v)
            if not inserted.all():
                k, t, v, series, msg_new = k[inserted], t[inserted], v[inserted], \
                    series[inserted], msg_new[inserted]  # fmt: skip
            self._store.merge_rollups(conn, "1h", partials(series, t, v, HOUR_MS))
            lk, lt, lv = latest(k, t, v)
            newer = lt > latest_before[lk]
            self._store.upsert_latest(conn, snap.series_id[lk[newer]], lt[newer], lv[newer])
            self._tally(result, messages, problems, msg, msg_new)
            self._dead_letters(s, result, messages)
        late = t < latest_before[k]
        np.maximum.at(self._latest, k, t)
        self._notify(ReadingBatch(snap, k, series, t, v, late, messages[0].received_at
                                  if messages else 0.0), result)  # fmt: skip
        return result

    def _resolve(
        self, snap: RegistrySnapshot, messages: Sequence[RawMessage], problems: _Problems
    ) -> tuple[I64, I64, F64, I64, I64]:
        """Decode every message and map its points to series; one pass, plain lists.

        Each distinct (device, metric, unit) of the batch is resolved once — to its series
        ``k`` and the unit conversion, or to the reason it is refused — so the per-point
        work is one dict lookup and a few appends.
        """
        ks: list[int] = []
        times: list[float] = []
        values: list[float] = []
        msgs: list[int] = []
        origins: list[int] = []
        converted: list[tuple[int, float, float]] = []  # (position, scale, shift)
        seen: dict[tuple[str, str, str | None], tuple[int, float, float] | tuple[str, str]] = {}
        for m, message in enumerate(messages):
            try:
                cols = decode(message)
            except P.PayloadError as exc:
                problems.fatal[m] = exc
                continue
            for origin, code, text in cols.problems:
                problems.add(m, origin, code, text)
            start = len(ks)
            for dev, met, t, val, unit, o in zip(cols.devices, cols.metrics, cols.times,
                                                 cols.values, cols.units, cols.origin,
                                                 strict=True):  # fmt: skip
                key = (dev, met, unit)
                found = seen.get(key)
                if found is None:
                    found = seen[key] = _series_of(snap, dev, met, unit)
                if len(found) == 2:  # (code, text): refused
                    problems.add(m, o, found[0], found[1])
                    continue
                k, scale, shift = found
                if scale != 1.0 or shift != 0.0:
                    converted.append((len(ks), scale, shift))
                ks.append(k)
                times.append(t)
                values.append(val)
                origins.append(o)
            msgs.extend([m] * (len(ks) - start))
        v = np.array(values, dtype=np.float64)
        for pos, scale, shift in converted:
            v[pos] = v[pos] * scale + shift
        t_ms = np.rint(np.array(times, dtype=np.float64) * 1000).astype(np.int64)
        return (np.array(ks, dtype=np.int64), t_ms, v, np.array(msgs, dtype=np.int64),
                np.array(origins, dtype=np.int64))  # fmt: skip

    def _clean(
        self, snap: RegistrySnapshot, k: I64, t: I64, v: F64, msg: I64, origin: I64,
        now_ms: int, problems: _Problems,
    ) -> npt.NDArray[np.bool_]:  # fmt: skip
        """Calibrate in place; reject impossible values and times. Returns the keep mask."""
        v *= snap.scale[k]
        v += snap.offset[k]
        settings = self._app.settings
        oldest = now_ms - settings.telemetry_raw_retention_days * 86_400_000
        newest = now_ms + int(settings.telemetry_max_future_s * 1000)
        checks = (
            (t < oldest, P.TOO_OLD, "older than the raw retention"),
            (t > newest, P.FUTURE, "timestamp in the future"),
            ((v < snap.range_min[k]) | (v > snap.range_max[k]), P.OUT_OF_RANGE,
             "outside the sensor's range"),
        )  # fmt: skip
        keep = np.ones(len(k), dtype=bool)
        for bad, code, text in checks:
            bad &= keep
            for i in np.flatnonzero(bad).tolist():
                dev = snap.device_of[k[i]].code
                problems.add(int(msg[i]), int(origin[i]), code,
                             f"{dev}:{snap.metric[k[i]]} {text} (ts {t[i]}, value {v[i]:g})")
            keep &= ~bad
        return keep

    @staticmethod
    def _tally(result: IngestResult, messages: Sequence[RawMessage], problems: _Problems,
               msg_valid: I64, msg_new: I64) -> None:  # fmt: skip
        n = len(messages)
        valid = np.bincount(msg_valid, minlength=n) if len(msg_valid) else np.zeros(n, np.int64)
        new = np.bincount(msg_new, minlength=n) if len(msg_new) else np.zeros(n, np.int64)
        reasons: Counter[str] = Counter()
        for m, r in enumerate(result.messages):
            r.accepted = int(new[m])
            r.duplicates = int(valid[m] - new[m])
            r.rejected = len(problems.by_message[m])
            fatal = problems.fatal.get(m)
            if fatal is not None:
                r.reason, r.problems = fatal.code, [str(fatal)]
                reasons[fatal.code] += 1
            elif r.rejected:
                codes = Counter(code for _, code, _ in problems.by_message[m])
                reasons.update(codes)
                r.reason = codes.most_common(1)[0][0]
                r.problems = [f"record {o}: {text}" for o, _, text in problems.by_message[m]]
            result.accepted += r.accepted
            result.duplicates += r.duplicates
            result.rejected += r.rejected
        result.reasons = dict(reasons)

    @staticmethod
    def _dead_letters(s: Session, result: IngestResult, messages: Sequence[RawMessage]) -> None:
        rows: list[tuple[MessageResult, DeadLetterRow]] = []
        for r, message in zip(result.messages, messages, strict=True):
            if r.reason is None:
                continue
            listed = r.problems[:MAX_LISTED_PROBLEMS]
            more = len(r.problems) - len(listed)
            text = "; ".join(listed) + (f"; … and {more} more" if more else "")
            row = DeadLetterRow(
                received_at=datetime.fromtimestamp(message.received_at, UTC),
                source=message.source[:200], content_type=message.content_type[:64] or "-",
                reason=r.reason, message=text, raw=message.payload,
                points_rejected=r.rejected,  # 0 with a whole-message reason (malformed …)
                points_accepted=r.accepted, resolved=False,
            )  # fmt: skip
            s.add(row)
            rows.append((r, row))
        if rows:
            s.flush()
            for r, row in rows:
                r.dead_letter_id = row.id
            result.dead_letters = len(rows)

    def _notify(self, batch: ReadingBatch, result: IngestResult) -> None:
        if len(batch):
            for listener in list(self.listeners):
                try:
                    listener.on_batch(batch)
                except Exception:  # one bad stage never stops ingestion or the others
                    log.exception("telemetry listener %r failed", listener)
        self._announce(result)

    def _announce(self, result: IngestResult) -> None:
        if result.dead_letters:
            self._app.bus.publish(Event("TelemetryDeadLettered", self._app.clock(), {
                "messages": result.dead_letters, "reasons": result.reasons,
            }))  # fmt: skip
