"""The alarm engine: a telemetry ``BatchListener`` that cleans each batch, evaluates the rules
and the anomaly detector, and maintains alarms in one transaction per batch; a periodic
``tick`` for no-data rules and automatic clearing; rule state snapshotted and restored.

One engine per App and process (like the Ingestor): a lock serialises its batches and ticks.
The alarm rows are the truth and the engine's AlarmBook a copy of them, which another process
may outdate — the API acknowledges and clears by hand while a worker or the ingest child
ingests. Each write expects the rows it updates unchanged since the book read them
(``store.save``: a revision per row); when one moved, the book is reloaded and the batch's
decisions are made again on it, so a manual change is always seen before the engine next
writes that alarm. Manual changes go straight to the locked row (:meth:`AlarmEngine.manual`):
an engine that does not ingest never holds a book. Each tick starts from the rows.

The tick runs in the process whose engine sees the readings — ``telemetry(app)`` starts it
with that process's stream (docs/lifeline.md "Where the tick runs") — but is safe in any
other: an API that took one reading over HTTP beside a ``cityops mqtt`` worker ticks too. So
each tick first takes every series' newest reading time from ``telemetry_latest``, and judges
silence (the no-data rules) by what every process stored, not by what this one saw. Coupled
rules likewise: an engine only ever asserts the coupled alarms its record says hold, with
until when they hold (``holds_until`` on the alarm, the latest any engine saw), and a tick
ends one whose stored ``holds_until`` has passed — never from its own record, stale in a
process that does not see the readings (:func:`_coupled_ran_out`). And a tick changes no
rule state, so an engine that only ticked never snapshots over the ingesting
engine's state. The rule set may be replaced by another process (PUT
/lifeline/rules in the API): every engine reads the version in force again at most every
``lifeline_rules_check_s`` and rebuilds when it changed.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from cityops.adapters.db.alarm_models import AlarmRow, RuleStateRow
from cityops.adapters.db.lifeline_models import (
    LatestRow,
    LifelineAdjacencyRow,
    LifelineAssetRow,
)
from cityops.bootstrap import App
from cityops.config import Settings
from cityops.domain.errors import Conflict, NotFound
from cityops.domain.lifeline.alarms import Alarm, AlarmBook, AlarmPolicy, Change
from cityops.domain.lifeline.coupled import Adjacency
from cityops.domain.lifeline.evaluate import ANOMALY, Evaluator, SeriesInfo
from cityops.domain.lifeline.kernels import I64, NONE
from cityops.domain.lifeline.observations import Observations
from cityops.domain.lifeline.ruleset import RuleSet, parse_ruleset
from cityops.service.lifeline import rulesets, store
from cityops.service.telemetry.ingest import ReadingBatch
from cityops.service.telemetry.registry import RegistrySnapshot

log = logging.getLogger(__name__)
KEEP_SNAPSHOTS = 3  # per writer (rule_state_owner)
ATTEMPTS = 3  # decisions made again on reloaded rows, when other writers keep outdating them


def rule_state_owner(settings: Settings, *, mqtt_worker: bool) -> str:
    """Whose rule-state snapshot an engine takes and restores first (``RuleStateRow.taken_by``).

    Every process whose engine saw a reading snapshots it — a ``cityops mqtt`` worker that
    ingests the stream, and an API that took a few readings over HTTP beside it — and each must
    get its own back: the API's state, built from a handful of readings, would cost the worker
    its durations, rate rings and baselines. ``mqtt:{mqtt_client_id}`` for a ``cityops mqtt``
    worker and its ingest child (the child ingests for it; the client id is one per consumer
    process and stays across restarts); ``serve`` for every other process: the API, with or
    without a pipeline of its own (``serve --simulate``, ``serve`` with CITYOPS_MQTT_URL).
    """
    return f"mqtt:{settings.mqtt_client_id}"[:200] if mqtt_worker else "serve"


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
        self._rules_checked_at = time.monotonic()  # when the version in force was last read
        self._rules_seen = -1  # … and what it was
        self._book: AlarmBook | None = None
        self._assets: Assets | None = None
        self._snap: RegistrySnapshot | None = None
        self._saved_at = time.monotonic()
        self._dirty = False  # rule state changed (by a batch) since the last snapshot
        self.state_owner = rule_state_owner(app.settings, mqtt_worker=False)  # see Telemetry
        # The tick thread: _ticker is the one that should tick (None: stopped), _ticking the
        # one still in its loop (it may outlive a stop whose wait ran out, and then carries on
        # when started again: never two). Both under _ticker_lock, never held while ticking.
        self._ticker: threading.Thread | None = None
        self._ticking: threading.Thread | None = None
        self._ticker_lock = threading.Lock()
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
            self._dirty = True
            changes = self._apply(ev, obs)
            self._maybe_snapshot()
        self._hand_off(changes)

    def tick(self) -> list[Change]:
        """No-data and coupled windows, then automatic clears (run every few seconds), with
        the last-seen times of every process's readings (module docstring)."""
        from cityops.service.telemetry import telemetry

        now = int(self.app.clock().timestamp() * 1000)
        stored = self._stored()  # outside the lock: batches go on meanwhile
        with self._lock:
            # the newest snapshot, taken under the lock: one a batch built meanwhile is never
            # replaced by an older one (a rebuild back and forth, state lost for new series)
            ev = self._evaluator(telemetry(self.app).registry.get())
            assert self._snap is not None
            ev.saw(*self._as_k(self._snap, stored))
            self._book = None  # from the rows: the sweep below must not act on outdated alarms
            changes = self._apply(ev, ev.tick(now), now)
            # Not dirty: last_seen came from the rows; the rest is the batches' to change.
            self._maybe_snapshot()
        self._after(changes)
        from cityops.service.lifeline.policy import sweep

        sweep(self.app, self)
        return changes

    def start_ticker(self) -> None:
        """Tick every ``lifeline_tick_s`` in a daemon thread until :meth:`stop_ticker` or
        :meth:`close`. One thread at most: a thread still finishing its last tick after a
        stop carries on, rather than a second one beside it."""
        if self._ticker is not None:  # the common case, once per HTTP batch: no lock
            return
        with self._ticker_lock:
            if self._ticker is not None:
                return
            self._stop = threading.Event()
            if self._ticking is not None:  # it reads the new event when its tick is done
                self._ticker = self._ticking
                return
            thread = threading.Thread(target=self._run, name="lifeline-tick", daemon=True)
            self._ticker = self._ticking = thread
            thread.start()

    def stop_ticker(self) -> None:
        """End the tick thread and wait for it, at most ``STOP_WAIT_S`` (a long tick may
        outlast that: it ends after it, unless started again first)."""
        with self._ticker_lock:
            ticker, self._ticker = self._ticker, None
            self._stop.set()
        if ticker is not None:  # outside the lock: the thread takes it to leave
            ticker.join(timeout=self.STOP_WAIT_S)

    STOP_WAIT_S = 5.0

    def _run(self) -> None:
        me = threading.current_thread()
        while True:
            with self._ticker_lock:
                if self._ticker is not me:  # stopped (and not started again meanwhile)
                    self._ticking = None
                    return
                stop = self._stop
            if stop.wait(self.app.settings.lifeline_tick_s):
                continue  # stopped, or stopped and started again: the lock above decides
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
        """Open the cases still queued, stop the tick, snapshot the rule state — once: a
        second close, or an engine that saw nothing here, writes no snapshot (which would
        overwrite the one of the process that did see the readings). Call it after the
        stream drained, so the snapshot holds the last batches."""
        follow, follower, self._follow, self._follower = self._follow, self._follower, None, None
        if follow is not None and follower is not None:
            follow.put(None)  # after what is queued: cases still get opened
            follower.join(timeout=30)
        self.stop_ticker()
        with self._lock:
            if self._ev is not None and self._dirty:
                self.save_state()

    # -- building ---------------------------------------------------------------------------
    def _evaluator(self, snap: RegistrySnapshot) -> Evaluator:
        if self._ev is not None and self._built_for == (snap.generation, self._rules_in_force()):
            return self._ev
        version, content = rulesets.current(self.app)
        self.version, self.ruleset = version, parse_ruleset(content)
        self._rules_seen, self._rules_checked_at = version, time.monotonic()
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

    def _rules_in_force(self) -> int:
        """The rule-set version in force as last read: read again (one indexed query) once
        ``lifeline_rules_check_s`` has passed, not per batch."""
        now = time.monotonic()
        if now - self._rules_checked_at >= self.app.settings.lifeline_rules_check_s:
            self._rules_seen, self._rules_checked_at = rulesets.current_version(self.app), now
        return self._rules_seen

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
        # Its own newest snapshot; else the newest of any, so a deployment that moved from
        # `serve --simulate` to a worker keeps its state (once: the worker then has its own).
        newest = select(RuleStateRow).order_by(RuleStateRow.id.desc()).limit(1)
        with self.app.reads() as s:
            # its own, else one from before writers were recorded (migration 0010: likely
            # the same deployment's), else the newest of any
            row = s.scalars(newest.where(RuleStateRow.taken_by == self.state_owner)).first() \
                or s.scalars(newest.where(RuleStateRow.taken_by == "")).first() \
                or s.scalars(newest).first()  # fmt: skip
        if row is not None:
            try:
                ev.state.restore(row.data, ev.info.series_id, ev.info.asset_codes)
            except Exception:  # a damaged snapshot costs warm-up, never the engine
                log.exception("lifeline rule state snapshot %s unreadable", row.id)
            if ev.state.dropped:
                log.warning("lifeline rule state: %s changed shape since snapshot %s; they "
                            "start afresh", ", ".join(ev.state.dropped), row.id)  # fmt: skip
        ev.saw(*self._as_k(snap, self._stored()))  # offline detection right after a start

    def _stored(self) -> list[tuple[int, int]]:
        """Each series' newest stored reading time, (series id, ts): what every process
        ingested, for the no-data rules. One query per tick, one row per series — the whole
        table, as long as the registry (85,000 series: ~0.15 s on SQLite, every
        ``lifeline_tick_s``, outside the engine's lock); no filter would be cheaper, since any
        series may have moved since the last tick."""
        with self.app.reads() as s:
            return [(int(sid), int(ts)) for sid, ts in
                    s.execute(select(LatestRow.series_id, LatestRow.ts))]  # fmt: skip

    @staticmethod
    def _as_k(snap: RegistrySnapshot, latest: list[tuple[int, int]]) -> tuple[I64, I64]:
        """(k, ts) of ``snap`` for the series it knows."""
        k_of = snap.k_of_series
        pairs = [(k_of[sid], ts) for sid, ts in latest if sid in k_of]
        if not pairs:
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        k, ts = np.array(pairs, dtype=np.int64).T
        return np.ascontiguousarray(k), np.ascontiguousarray(ts)

    def save_state(self) -> None:
        ev = self._ev
        if ev is None:
            return
        data = ev.state.export(ev.info.series_id, ev.info.asset_codes)
        with self.app.sessions.begin() as s:
            s.add(RuleStateRow(taken_at=self.app.clock(), taken_by=self.state_owner,
                               ruleset_version=self.version, data=data))  # fmt: skip
            s.flush()
            old = s.scalars(select(RuleStateRow.id)  # only its own: others keep theirs
                            .where(RuleStateRow.taken_by == self.state_owner)
                            .order_by(RuleStateRow.id.desc())
                            .offset(KEEP_SNAPSHOTS)).all()  # fmt: skip
            if old:
                s.execute(delete(RuleStateRow).where(RuleStateRow.id.in_(old)))
        self._saved_at, self._dirty = time.monotonic(), False

    def _maybe_snapshot(self) -> None:
        # Only what a batch changed: an engine that only ticks has nothing of its own to save.
        if self._dirty and \
                time.monotonic() - self._saved_at >= self.app.settings.lifeline_state_snapshot_s:
            self.save_state()

    def _load_book(self) -> AlarmBook:
        if self._book is None:
            with self.app.reads() as s:
                now = int(self.app.clock().timestamp() * 1000)
                self._book = store.load_book(s, self.policy, now)
        return self._book

    # -- alarms -----------------------------------------------------------------------------
    def _apply(self, ev: Evaluator, obs: Observations, now: int | None = None) -> list[Change]:
        """The observations (and with ``now``, the tick's clears) on the book, written."""

        def decide(book: AlarmBook) -> tuple[list[Change], list[Alarm]]:
            changes = book.tick(now) if now is not None else []
            open_ids = np.array([i for i, key in enumerate(ev.keys) if key in book.open],
                                np.int64)  # fmt: skip
            interesting = (obs.peak > 0) | (obs.current > 0) | np.isin(obs.key, open_ids)
            touched: dict[int, Alarm] = {id(c.alarm): c.alarm for c in changes}
            for i in np.flatnonzero(interesting).tolist():
                key = ev.keys[int(obs.key[i])]
                if obs.peak[i] > 0:
                    facts = self._facts(ev, obs, i, key[1])
                    if obs.until[i] != NONE:  # coupled: the latest that any engine saw wins
                        held = book.open.get(key)
                        before = held.facts.get(HOLDS_UNTIL, NONE) if held is not None else NONE
                        facts[HOLDS_UNTIL] = max(int(obs.until[i]), int(before))
                    changes += book.observe(key, int(obs.peak[i]), int(obs.peak_ts[i]), **facts)
                changes += book.observe(key, int(obs.current[i]), int(obs.last_ts[i]))
                alarm = book.open.get(key) or book.recent.get(key)
                if alarm is not None:
                    touched[id(alarm)] = alarm
            if now is not None:
                for alarm in _coupled_ran_out(ev, book, now):
                    changes += book.observe(alarm.key, 0, alarm.facts.get(HOLDS_UNTIL, now))
                    touched[id(alarm)] = alarm
            return changes, list(touched.values())

        return self._commit(decide)

    def _commit(self, decide: Callable[[AlarmBook], tuple[list[Change], list[Alarm]]]
                ) -> list[Change]:  # fmt: skip
        """``decide`` on the book, then write the alarms it touched in one transaction. A row
        changed by another process since the book read it (or an alarm another engine opened
        first) fails the write: the book is reloaded from the rows and ``decide`` runs again
        on it — it must be a function of the book alone. Under the engine's lock."""
        attempt = 1
        while True:
            changes, touched = decide(self._load_book())
            if not touched:
                return changes
            try:
                with self.app.sessions.begin() as s:
                    store.save(s, touched, changes, self._ids_of)
                return changes
            except (store.StaleAlarm, IntegrityError) as exc:
                self._book = None  # memory must not run ahead of the rows
                if attempt == ATTEMPTS:
                    raise
                log.info("lifeline alarms changed elsewhere (%s); deciding again", exc)
                attempt += 1
            except Exception:
                self._book = None
                raise

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

    def link_case(self, alarm: Alarm, case_id: int | None) -> None:
        """The case (None: no more) is on the row; the book may have been reloaded since
        ``alarm`` was taken from it, so its copy learns the case too."""
        with self._lock:
            alarm.case_id = case_id
            held = self._book.held(alarm.key, alarm.id) if self._book is not None else None
            if held is not None:
                held.case_id = case_id

    # -- the API ----------------------------------------------------------------------------
    def manual(self, alarm_id: int, action: str, who: str, note: str | None) -> Change:
        """Acknowledge or clear one alarm by hand, on its row as stored now (locked until the
        write commits: PostgreSQL's row lock, SQLite's single writer). This process keeps no
        copy for it; an engine that does (here or elsewhere) finds the revision moved when it
        next writes the alarm, and decides again on the rows."""
        now = int(self.app.clock().timestamp() * 1000)
        with self.app.sessions.begin() as s:
            row = s.get(AlarmRow, alarm_id, with_for_update=True)
            if row is None:
                raise NotFound(f"alarm {alarm_id} not found / 无此告警", alarm_id=alarm_id)
            alarm = store.to_domain(row)
            book = AlarmBook(self.policy)
            book.load(alarm)
            change = book.acknowledge(alarm.key, who, now, note) if action == "acknowledge" \
                else book.clear(alarm.key, who, now, note)  # fmt: skip
            if change is None:
                raise Conflict(f"alarm {alarm_id} is {row.state}; cannot {action} / 告警状态不允许",
                               state=row.state, action=action)  # fmt: skip
            store.save(s, [alarm], [change], lambda _alarm: {})
        with self._lock:
            self._book = None  # this process's engine, if it ingests, reads the rows again
        self._after([change])
        return change


HOLDS_UNTIL = "holds_until"  # a coupled alarm's fact: until when its conditions hold (ms)


def _coupled_ran_out(ev: Evaluator, book: AlarmBook, now: int) -> list[Alarm]:
    """Open coupled alarms still current whose conditions ran out before ``now``, judged by
    the ``holds_until`` stored on the alarm — the latest that any engine saw the conditions
    hold — and not by this engine's own record, which a process that does not ingest (or
    ingests only some of the readings) keeps stale. Alarms stored before the fact existed
    hold at most a window after they were last seen."""
    window: dict[str, int] = {}
    for rule in ev.coupled:  # the longest of a type's coupled rules
        window[rule.type] = max(window.get(rule.type, 0), int(rule.within_s * 1000))
    out = []
    for key, alarm in book.open.items():
        w = window.get(key[1])
        if w is None or alarm.current <= 0 or not key[0].startswith("asset:"):
            continue
        if int(alarm.facts.get(HOLDS_UNTIL, alarm.last_seen + w)) < now:
            out.append(alarm)
    return out
