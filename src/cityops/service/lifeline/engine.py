"""The alarm engine: a telemetry ``BatchListener`` that cleans each batch, evaluates the rules
and the anomaly detector, and maintains alarms in one transaction per batch; a periodic
``tick`` for no-data rules and automatic clearing; rule state snapshotted and restored.

One engine per App and process (like the Ingestor): a lock serialises batches, ticks and the
API's acknowledge/clear, so the in-memory AlarmBook and the rows never disagree.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import select

from cityops.adapters.db.alarm_models import AlarmRow, RuleStateRow
from cityops.adapters.db.lifeline_models import (
    LatestRow,
    LifelineAdjacencyRow,
    LifelineAssetRow,
)
from cityops.bootstrap import App
from cityops.domain.errors import Conflict, NotFound
from cityops.domain.lifeline.alarms import Alarm, AlarmBook, AlarmPolicy, Change
from cityops.domain.lifeline.coupled import Adjacency
from cityops.domain.lifeline.evaluate import ANOMALY, Evaluator, Observations, SeriesInfo
from cityops.domain.lifeline.ruleset import RuleSet, parse_ruleset
from cityops.service.lifeline import rulesets, store
from cityops.service.telemetry.ingest import ReadingBatch
from cityops.service.telemetry.registry import RegistrySnapshot

log = logging.getLogger(__name__)
KEEP_SNAPSHOTS = 3


@dataclass(frozen=True, slots=True)
class Assets:
    ids: list[int]
    codes: list[str]
    kinds: list[str]
    attributes: list[dict[str, Any]]
    index: dict[str, int]
    adjacency: Adjacency


class AlarmEngine:
    def __init__(self, app: App) -> None:
        self.app = app
        self._lock = threading.RLock()
        self._ev: Evaluator | None = None
        self._built_for: tuple[int, int] | None = None  # (registry generation, rules version)
        self._book: AlarmBook | None = None
        self._assets: Assets | None = None
        self._snap: RegistrySnapshot | None = None
        self._saved_at = time.monotonic()
        self._ticker: threading.Thread | None = None
        self._stop = threading.Event()
        self._follow: queue.Queue[list[Change] | None] | None = None  # see start_follow_up
        self._follower: threading.Thread | None = None
        self.version, self.ruleset = -1, RuleSet(())
        self.points = self.spikes = 0
        s = app.settings
        self.policy = AlarmPolicy(int(s.lifeline_clear_hold_s * 1000),
                                  int(s.lifeline_reraise_window_s * 1000),
                                  s.lifeline_flap_count)  # fmt: skip

    # -- the BatchListener ------------------------------------------------------------------
    def on_batch(self, batch: ReadingBatch) -> None:
        keep = ~batch.late
        if not keep.any():
            return
        with self._lock:
            ev = self._evaluator(batch.snapshot)
            obs, spikes = ev.process(batch.k[keep], batch.ts[keep], batch.value[keep])
            self.points += int(keep.sum())
            self.spikes += spikes
            changes = self._apply(ev, obs, [])
            self._maybe_snapshot()
        self._hand_off(changes)

    def tick(self) -> list[Change]:
        """No-data and coupled windows, then automatic clears (run every few seconds)."""
        from cityops.service.telemetry import telemetry

        now = int(self.app.clock().timestamp() * 1000)
        with self._lock:
            ev = self._evaluator(telemetry(self.app).registry.get())
            book = self._load_book()
            changes = self._apply(ev, ev.tick(now), book.tick(now))
            self._maybe_snapshot()
        self._after(changes)
        from cityops.service.lifeline.policy import sweep

        sweep(self.app, self)
        return changes

    def start_ticker(self) -> None:
        """Tick every ``lifeline_tick_s`` in a daemon thread until :meth:`close`."""
        with self._lock:
            if self._ticker is not None:
                return
            self._stop.clear()
            self._ticker = threading.Thread(target=self._run, name="lifeline-tick", daemon=True)
            self._ticker.start()

    def _run(self) -> None:
        while not self._stop.wait(self.app.settings.lifeline_tick_s):
            try:
                self.tick()
            except Exception:  # keep ticking: the next round retries
                log.exception("lifeline tick failed")

    def reload_rules(self) -> None:
        with self._lock:
            self._built_for = None

    def warm(self, snap: RegistrySnapshot) -> None:
        """Build the evaluator now (rules, assets, restored state), not on the first batch."""
        with self._lock:
            self._evaluator(snap)

    def start_follow_up(self) -> None:
        """Open cases (and the rest of ``_after``) in a worker thread, not in the ingesting
        one: a case is an intake submission, dozens of statements, and would stall the
        telemetry stream behind it. Bounded: a storm of alarms slows ingestion, never
        grows memory without end. Without it (tests, HTTP-only) ``_after`` runs inline."""
        with self._lock:
            if self._follower is not None:
                return
            self._follow = queue.Queue(maxsize=1000)
            self._follower = threading.Thread(target=self._follow_up, args=(self._follow,),
                                              name="lifeline-cases", daemon=True)  # fmt: skip
            self._follower.start()

    def _hand_off(self, changes: list[Change]) -> None:
        if changes and self._follow is not None:
            self._follow.put(changes)
        else:
            self._after(changes)

    def _follow_up(self, follow: queue.Queue[list[Change] | None]) -> None:
        while True:
            changes = follow.get()
            try:
                if changes is None:
                    return
                self._after(changes)  # logs its own failures; the tick's sweep retries cases
            finally:
                follow.task_done()

    def drain_follow_up(self) -> None:
        """Wait until every handed-off change has been followed up (tests, shutdown)."""
        if self._follow is not None:
            self._follow.join()

    def close(self) -> None:
        follow, follower, self._follow, self._follower = self._follow, self._follower, None, None
        if follow is not None and follower is not None:
            follow.put(None)  # after what is queued: cases still get opened
            follower.join(timeout=30)
        self._stop.set()
        ticker, self._ticker = self._ticker, None
        if ticker is not None:
            ticker.join(timeout=5)
        with self._lock:
            if self._ev is not None:
                self.save_state()

    # -- building ---------------------------------------------------------------------------
    def _evaluator(self, snap: RegistrySnapshot) -> Evaluator:
        if self._ev is not None and self._built_for is not None and \
                self._built_for[0] == snap.generation:  # fmt: skip
            return self._ev
        version, content = rulesets.current(self.app)
        self.version, self.ruleset = version, parse_ruleset(content)
        assets = self._assets = self._load_assets()
        info = SeriesInfo(
            series_id=snap.series_id, metric=list(snap.metric),
            device=[d.code for d in snap.device_of],
            asset_index=np.array([assets.index[d.asset_code] for d in snap.device_of],
                                 dtype=np.int64),
            interval_s=snap.interval_s, asset_codes=assets.codes, asset_kinds=assets.kinds,
            asset_attributes=assets.attributes, adjacency=assets.adjacency,
        )  # fmt: skip
        offset = self.app.settings.tz.utcoffset(self.app.clock())
        ev = Evaluator(self.ruleset, info, int(offset.total_seconds()) if offset else 0)
        if self._ev is not None and self._snap is not None:
            old = self._ev.state.export(self._ev.info.series_id, self._ev.info.asset_codes)
            ev.state.restore(old, info.series_id, info.asset_codes)
        else:
            self._restore(ev, snap)
        self._ev, self._snap, self._built_for = ev, snap, (snap.generation, self.version)
        return ev

    def _load_assets(self) -> Assets:
        with self.app.reads() as s:
            rows = s.execute(select(LifelineAssetRow.id, LifelineAssetRow.code,
                                    LifelineAssetRow.kind, LifelineAssetRow.attributes)
                             .order_by(LifelineAssetRow.id)).all()  # fmt: skip
            pairs = s.execute(select(LifelineAdjacencyRow.asset_id,
                                     LifelineAdjacencyRow.neighbour_id)).all()  # fmt: skip
        pos = {r[0]: i for i, r in enumerate(rows)}
        return Assets([r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows],
                      [r[3] or {} for r in rows], {r[1]: i for i, r in enumerate(rows)},
                      Adjacency.of(len(rows), [(pos[a], pos[b]) for a, b in pairs]))  # fmt: skip

    def _restore(self, ev: Evaluator, snap: RegistrySnapshot) -> None:
        with self.app.reads() as s:
            row = s.scalars(select(RuleStateRow).order_by(RuleStateRow.id.desc())).first()
            latest = s.execute(select(LatestRow.series_id, LatestRow.ts)).all()
        for series_id, ts in latest:  # offline detection right after a start
            k = snap.k_of_series.get(series_id)
            if k is not None:
                ev.state["last_seen"][k] = ts
        if row is not None:
            try:
                ev.state.restore(row.data, ev.info.series_id, ev.info.asset_codes)
            except Exception:  # a damaged snapshot costs warm-up, never the engine
                log.exception("lifeline rule state snapshot %s unreadable", row.id)

    def save_state(self) -> None:
        ev = self._ev
        if ev is None:
            return
        data = ev.state.export(ev.info.series_id, ev.info.asset_codes)
        with self.app.sessions.begin() as s:
            s.add(RuleStateRow(taken_at=self.app.clock(), ruleset_version=self.version, data=data))
            s.flush()
            old = s.scalars(select(RuleStateRow.id).order_by(RuleStateRow.id.desc())
                            .offset(KEEP_SNAPSHOTS)).all()  # fmt: skip
            for row_id in old:
                s.delete(s.get(RuleStateRow, row_id))
        self._saved_at = time.monotonic()

    def _maybe_snapshot(self) -> None:
        if time.monotonic() - self._saved_at >= self.app.settings.lifeline_state_snapshot_s:
            self.save_state()

    def _load_book(self) -> AlarmBook:
        if self._book is None:
            with self.app.reads() as s:
                now = int(self.app.clock().timestamp() * 1000)
                self._book = store.load_book(s, self.policy, now)
        return self._book

    # -- alarms -----------------------------------------------------------------------------
    def _apply(self, ev: Evaluator, obs: Observations, changes: list[Change]) -> list[Change]:
        book = self._load_book()
        open_ids = np.array([i for i, key in enumerate(ev.keys) if key in book.open], np.int64)
        interesting = (obs.peak > 0) | (obs.current > 0) | np.isin(obs.key, open_ids)
        touched: dict[int, Alarm] = {id(c.alarm): c.alarm for c in changes}
        for i in np.flatnonzero(interesting).tolist():
            key = ev.keys[int(obs.key[i])]
            if obs.peak[i] > 0:
                facts = self._facts(ev, obs, i, key[1])
                changes += book.observe(key, int(obs.peak[i]), int(obs.peak_ts[i]), **facts)
            changes += book.observe(key, int(obs.current[i]), int(obs.last_ts[i]))
            alarm = book.open.get(key) or book.recent.get(key)
            if alarm is not None:
                touched[id(alarm)] = alarm
        if not touched:
            return changes
        try:
            with self.app.sessions.begin() as s:
                store.save(s, list(touched.values()), changes, self._ids_of)
        except Exception:
            self._book = None  # reload from the rows: memory must not run ahead of them
            raise
        return changes

    def _facts(self, ev: Evaluator, obs: Observations, i: int, alarm_type: str) -> dict[str, Any]:
        r, k = int(obs.peak_rule[i]), int(obs.peak_k[i])
        rule = ANOMALY if r < 0 and alarm_type == ANOMALY else ev.rules[r].id if r >= 0 else \
            next((x.id for x in self.ruleset.rules if x.type == alarm_type), alarm_type)
        facts: dict[str, Any] = {"rule": rule, "level_at": int(obs.peak_ts[i])}
        if k >= 0 and self._snap is not None:
            facts.update(device=ev.info.device[k], metric=ev.info.metric[k],
                         value=float(obs.peak_value[i]), unit=self._snap.unit[k])
        return facts

    def _ids_of(self, alarm: Alarm) -> dict[str, Any]:
        kind, code = alarm.key[0].split(":", 1)
        snap, assets = self._snap, self._assets
        out: dict[str, Any] = {}
        device = snap.devices.get(alarm.facts.get("device") or code) if snap else None
        if kind == "device" and device is not None:
            out.update(device_id=device.id, asset_id=device.asset_id)
        elif kind == "asset" and assets is not None and code in assets.index:
            out["asset_id"] = assets.ids[assets.index[code]]
            if device is not None:
                out["device_id"] = device.id
        return out

    def _after(self, changes: list[Change]) -> None:
        if not changes:
            return
        from cityops.service.lifeline.live import publish_changes
        from cityops.service.lifeline.policy import follow_up

        try:
            follow_up(self.app, self, changes)
        except Exception:  # the alarms are stored; the next tick retries the cases
            log.exception("lifeline alarm → case policy failed")
        publish_changes(self.app, changes)  # to the live stream (screens, consoles)

    def caseless_open(self) -> list[Alarm]:
        """Open alarms without a case yet (the sweep's work), read under the engine's lock:
        the pipeline thread changes the book while the tick or follow-up threads read it."""
        with self._lock:
            return [a for a in self._load_book().open.values() if a.case_id is None]

    def is_flapping(self, alarm: Alarm) -> bool:
        with self._lock:
            return self._load_book().flapping(alarm)

    def link_case(self, alarm: Alarm, case_id: int) -> None:
        with self._lock:
            alarm.case_id = case_id

    # -- the API ----------------------------------------------------------------------------
    def manual(self, alarm_id: int, action: str, who: str, note: str | None) -> Change:
        """Acknowledge or clear one alarm by hand."""
        with self._lock:
            with self.app.reads() as s:
                row = s.get(AlarmRow, alarm_id)
            if row is None:
                raise NotFound(f"alarm {alarm_id} not found / 无此告警", alarm_id=alarm_id)
            book = self._load_book()
            key = (row.subject, row.alarm_type)
            now = int(self.app.clock().timestamp() * 1000)
            change = book.acknowledge(key, who, now, note) if action == "acknowledge" else \
                book.clear(key, who, now, note)  # fmt: skip
            if change is None:
                raise Conflict(f"alarm {alarm_id} is {row.state}; cannot {action} / 告警状态不允许",
                               state=row.state, action=action)  # fmt: skip
            with self.app.sessions.begin() as s:
                store.save(s, [change.alarm], [change], self._ids_of)
        self._after([change])
        return change
