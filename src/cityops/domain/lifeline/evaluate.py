"""The rules stage for one registry snapshot: clean → rules → anomaly → coupled, per batch.

A rule set is compiled against the series (one boolean mask and one limits matrix per rule),
so a batch costs a few numpy passes per rule. Alarm keys are dense ints here; the service turns
them into alarms. State is per series (by ``series_id``) and per asset (by code), so it can be
exported, stored and restored across restarts, rule set edits and registry changes.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from cityops.domain.lifeline import kernels as K
from cityops.domain.lifeline.alarms import Key
from cityops.domain.lifeline.anomaly import CommonMode, SeasonalBaseline, hour_of_day, like_series
from cityops.domain.lifeline.cleaning import spikes
from cityops.domain.lifeline.coupled import Adjacency, coupled_until
from cityops.domain.lifeline.observations import (
    Observations,
    concat,
    merge_touched,
    plain,
    reduce_parts,
)
from cityops.domain.lifeline.ruleset import Rule, RuleKind, RuleSet
from cityops.domain.lifeline.state import StateArrays
from cityops.domain.lifeline.subspace import JointBaselines, JointConfig, groups_by_asset

ANOMALY = "anomaly"
_SPAN_POINTS_MAX = 256  # per series and span-rate rule


@dataclass(frozen=True, slots=True)
class SeriesInfo:
    """What the rules need to know about each series k (built by the service)."""

    series_id: K.I64
    metric: list[str]
    device: list[str]
    asset_index: K.I64  # [k] → index into the asset lists
    interval_s: K.F64
    asset_codes: list[str]
    asset_kinds: list[str]
    asset_attributes: list[dict[str, Any]]
    adjacency: Adjacency


class Evaluator:
    def __init__(self, ruleset: RuleSet, info: SeriesInfo, utc_offset_s: int = 8 * 3600) -> None:
        self.ruleset, self.info, self.utc_offset_s = ruleset, info, utc_offset_s
        n = len(info.series_id)
        self.n = n
        self.rules = [r for r in ruleset.rules if r.kind is not RuleKind.COUPLED]
        self.coupled = [r for r in ruleset.rules if r.kind is RuleKind.COUPLED]
        self.keys: list[Key] = []
        self._key_ids: dict[Key, int] = {}
        self.applies = [self._applies(r) for r in self.rules]
        self._override()
        self.key_of = [self._keys_for(r, m) for r, m in zip(self.rules, self.applies, strict=True)]
        self.limits = [self._limits(r) for r in self.rules]
        # per span rule: the series it covers, ascending (its rings' rows)
        self.span_rows = [np.flatnonzero(m) if r.kind is RuleKind.RATE and r.over_s > 0
                          else np.zeros(0, np.int64)
                          for r, m in zip(self.rules, self.applies, strict=True)]  # fmt: skip
        self.coupled_keys = [self._asset_keys(r) for r in self.coupled]
        cfg = ruleset.anomaly
        metrics = set(cfg.metrics)
        self.anomaly_applies = np.array([cfg.enabled and (not metrics or m in metrics)
                                         for m in info.metric], dtype=bool)  # fmt: skip
        self.anomaly_key = np.array([self._key(f"device:{d}", ANOMALY) if a else -1
                                     for d, a in zip(info.device, self.anomaly_applies,
                                                     strict=True)], dtype=np.int64)  # fmt: skip
        self.baseline = SeasonalBaseline(n, alpha=cfg.alpha, z=cfg.z, warmup=cfg.warmup)
        clean = ruleset.cleaning
        self.min_dev = np.array([clean.min_dev.get(m, 0.0) for m in info.metric])
        self.state = StateArrays(n)
        self._init_state()
        group = like_series([info.asset_kinds[a] for a in info.asset_index.tolist()], info.metric,
                            self.anomaly_applies, cfg.common_min_series)  # fmt: skip
        self.common = CommonMode(group, info.interval_s, cfg.common_min_series,
                                 self.state["common.resid"], self.state["common.dev"],
                                 self.state["common.at"])  # fmt: skip
        joint = JointConfig(min_series=cfg.joint_min_series, z=cfg.joint_z)
        groups = groups_by_asset(info.asset_index, self.anomaly_applies, joint.min_series)
        self.joint = JointBaselines(groups, info.asset_index, info.series_id,
                                    len(info.asset_codes), self.state, joint)  # fmt: skip
        self.joint_key = np.full(len(info.asset_codes), -1, dtype=np.int64)
        for a in self.joint.asset.tolist():
            self.joint_key[a] = self._key(f"asset:{info.asset_codes[a]}", ANOMALY)
        self.state.add_asset("anomaly.joint_cur", np.zeros(len(info.asset_codes), np.int8))

    # -- compile ---------------------------------------------------------------------------
    def _key(self, subject: str, alarm_type: str) -> int:
        key = (subject, alarm_type)
        found = self._key_ids.get(key)
        if found is None:
            found = self._key_ids[key] = len(self.keys)
            self.keys.append(key)
        return found

    def _applies(self, rule: Rule) -> K.B:
        info = self.info
        kinds, codes = {k.value for k in rule.asset_kinds}, set(rule.assets)
        a = info.asset_index
        return np.array([
            (rule.metric is None or info.metric[k] == rule.metric)
            and ((not kinds and not codes) or info.asset_kinds[a[k]] in kinds
                 or info.asset_codes[a[k]] in codes)
            for k in range(self.n)
        ], dtype=bool)  # fmt: skip

    def _override(self) -> None:
        """A rule naming assets replaces kind-wide rules of its type and metric there."""
        for i, rule in enumerate(self.rules):
            if not rule.assets:
                continue
            named = self.applies[i]
            for j, other in enumerate(self.rules):
                if j != i and not other.assets and (other.type, other.metric) == \
                        (rule.type, rule.metric):  # fmt: skip
                    self.applies[j] = self.applies[j] & ~named

    def _keys_for(self, rule: Rule, applies: K.B) -> K.I64:
        info = self.info
        out = np.full(self.n, -1, dtype=np.int64)
        for k in np.flatnonzero(applies).tolist():
            subject = f"device:{info.device[k]}" if rule.scope == "device" else \
                f"asset:{info.asset_codes[info.asset_index[k]]}"  # fmt: skip
            out[k] = self._key(subject, rule.type)
        return out

    def _asset_keys(self, rule: Rule) -> K.I64:
        kinds, codes = {k.value for k in rule.asset_kinds}, set(rule.assets)
        info = self.info
        return np.array([self._key(f"asset:{code}", rule.type)
                         if kind in kinds or code in codes else -1
                         for code, kind in zip(info.asset_codes, info.asset_kinds, strict=True)],
                        dtype=np.int64)  # fmt: skip

    def _limits(self, rule: Rule) -> K.F64:
        out = np.full((self.n, 4), np.nan)
        for level, limit in rule.levels.items():
            out[:, level - 1] = limit
        if rule.of_attribute:
            info = self.info
            scale = np.array([info.asset_attributes[a].get(rule.of_attribute,
                                                             rule.attribute_default)
                              for a in info.asset_index], dtype=np.float64)  # fmt: skip
            out *= scale[:, None]  # an asset without the attribute (nor default) gets NaN
        return out

    def _init_state(self) -> None:
        s, n = self.state, self.n
        s.add("last_seen", np.full(n, K.NONE, dtype=np.int64))
        s.add("clean.ring", np.full((n, self.ruleset.cleaning.window), np.nan), ring=np.nan)
        s.add("clean.outlier", np.zeros(n, dtype=bool))
        s.add("anomaly.mean", self.baseline.mean)
        s.add("anomaly.dev", self.baseline.dev)
        s.add("anomaly.seen", self.baseline.seen)
        s.add("anomaly.cur", np.zeros(n, dtype=np.int8))
        s.add("common.resid", np.full(n, np.nan))  # each series' latest residual (CommonMode)
        s.add("common.dev", np.zeros(n))
        s.add("common.at", np.full(n, K.NONE, dtype=np.int64))
        for i, r in enumerate(self.rules):
            s.add(f"{r.id}.cur", np.zeros(n, dtype=np.int8))
            if r.kind in (RuleKind.THRESHOLD, RuleKind.RATE):
                s.add(f"{r.id}.since", np.full((n, 4), K.NONE, dtype=np.int64))
            if r.kind is RuleKind.RATE and r.over_s > 0:
                # rings only for the series the rule covers (most series have none)
                width, rows = self._span_width(i, r), self.span_rows[i]
                s.add(f"{r.id}.span_ts", np.full((len(rows), width), K.NONE, dtype=np.int64),
                      ring=K.NONE, rows=rows)
                s.add(f"{r.id}.span_value", np.zeros((len(rows), width)), ring=0.0, rows=rows)
            elif r.kind is RuleKind.RATE:
                s.add(f"{r.id}.last_ts", np.full(n, K.NONE, dtype=np.int64))
                s.add(f"{r.id}.last_value", np.zeros(n))
            if r.kind is RuleKind.REPEAT:
                s.add(f"{r.id}.edges", np.full((n, r.count), K.NONE, dtype=np.int64),
                      ring=K.NONE)
                s.add(f"{r.id}.last_cond", np.zeros(n, dtype=bool))
        n_assets = len(self.info.asset_codes)
        for r in self.rules:  # when each rule last held at ≥ each level, per asset (coupled)
            s.add_asset(f"{r.id}.held", np.full((n_assets, 4), K.NONE, dtype=np.int64))

    def _span_width(self, i: int, rule: Rule) -> int:
        """Points kept per series for a rate over ``over_s``: the span at the fastest declared
        interval among the rule's series, twice over, capped. The kernel thins the ring by
        time, so a device reporting faster than declared still finds a reading a span back."""
        intervals = self.info.interval_s[self.applies[i]]
        fastest = float(intervals.min()) if len(intervals) else rule.over_s
        return K.ring_width(rule.over_s, fastest, _SPAN_POINTS_MAX)

    # -- per batch ---------------------------------------------------------------------------
    def process(self, k: K.I64, ts: K.I64, value: K.F64) -> tuple[Observations, int]:
        """Evaluate one batch (late points already removed). Returns the observations and the
        number of spikes held back."""
        s = self.state
        np.maximum.at(s["last_seen"], k, ts)
        p = K.Sorted.of(k, ts, value)
        spike = spikes(p, s["clean.ring"], s["clean.outlier"], self.ruleset.cleaning.z,
                       self.min_dev)  # fmt: skip
        sent = p
        if spike.any():
            p = p.select(~spike)
        parts: list[tuple[K.I64, K.I8, K.I64, int, K.I64, K.F64]] = []
        assets = self.info.asset_index
        for i, rule in enumerate(self.rules):
            if rule.kind is RuleKind.NO_DATA:
                continue
            mask = self.applies[i][p.k]
            if not mask.any():
                continue
            q = p.select(mask)
            level = self._levels(i, rule, q)
            s[f"{rule.id}.cur"][q.k[q.last]] = level[q.last]
            held = s.asset(f"{rule.id}.held")
            for lv in range(1, 5):
                hit = level >= lv
                if hit.any():
                    np.maximum.at(held[:, lv - 1], assets[q.k[hit]], q.ts[hit])
            parts.append((self.key_of[i][q.k], level, q.ts, i, q.k, q.value))
        self._anomaly(sent, spike, parts)
        obs = reduce_parts(parts, len(self.keys))
        # A batch of spikes only changed no condition: nothing coupled to assert (and at
        # now = 0 every pair that ever held would look fresh).
        coupled = self._coupled(int(p.ts.max())) if len(p.k) else plain([], [], 0)
        touched_keys = np.unique(np.concatenate([obs.key] + [c[0] for c in parts])) \
            if parts else obs.key  # fmt: skip
        current = self._current()
        merged = merge_touched(obs, touched_keys, current, parts, len(self.keys))
        return concat(merged, coupled), int(spike.sum())

    def _levels(self, i: int, rule: Rule, q: K.Sorted) -> K.I8:
        s, lim = self.state, self.limits[i][q.k]
        if rule.kind is RuleKind.THRESHOLD:
            raw = K.grade(q.value, lim, rule.direction == "above")
            return K.hold(q, raw, s[f"{rule.id}.since"], rule.for_s * 1000)
        if rule.kind is RuleKind.RATE:
            gap = self.info.interval_s * 5000.0
            if rule.over_s > 0:  # q holds covered series only: k → their ring rows
                row = np.searchsorted(self.span_rows[i], q.k)
                rows = K.Sorted(row, q.ts, q.value, q.first, q.last)
                rate = K.span_rates(rows, s[f"{rule.id}.span_ts"], s[f"{rule.id}.span_value"],
                                    rule.over_s * 1000, rule.relative,
                                    gap[self.span_rows[i]])  # fmt: skip
            else:
                rate = K.rates(q, s[f"{rule.id}.last_ts"], s[f"{rule.id}.last_value"],
                               rule.relative, gap)  # fmt: skip
            raw = K.grade(rate, lim, rule.direction == "above")
            return K.hold(q, raw, s[f"{rule.id}.since"], rule.for_s * 1000)
        cond = K.grade(q.value, lim, rule.direction == "above") >= 1
        edges = s[f"{rule.id}.edges"]
        hits = K.repeats(q, cond, s[f"{rule.id}.last_cond"], edges, rule.window_s * 1000)
        level = np.where(hits, rule.level, 0).astype(np.int8)
        # At the series' last point the condition stays on while N edges remain in the window.
        active = K.repeat_active(edges, q.k[q.last], q.ts[q.last], rule.window_s * 1000)
        level[q.last] = np.where(active, np.int8(rule.level), level[q.last])
        return level

    def _anomaly(self, sent: K.Sorted, spike: K.B, parts: list[Any]) -> None:
        mask = self.anomaly_applies[sent.k]
        if not mask.any():
            return
        q, kept = sent.select(mask), ~spike[mask]
        hour = hour_of_day(q.ts, self.utc_offset_s)
        dev, scale = self.baseline.deviations(q.k, hour, q.value)
        resid = np.where(self.baseline.warm(q.k, hour), dev / scale, np.nan)
        self.common.hold(q, resid, dev)
        if not kept.all():
            q, hour, dev, scale, resid = q.select(kept), hour[kept], dev[kept], scale[kept], \
                resid[kept]  # fmt: skip
        if not len(q.k):
            return
        # Judged against the network's own movement (rain lifts every gauge), then learnt. A
        # point flags only if it departs from the network both in its own spread and in the
        # metric's units: gauges that rise with the rest by the same metres but are quieter
        # than the others would stand out in spread alone.
        common_r, common_d = self.common.shift(q)
        z = np.minimum(np.abs(resid - common_r), np.abs(dev - common_d) / scale)
        self.baseline.update(q.k, hour, q.value)
        with np.errstate(invalid="ignore"):
            level = np.where(z > self.baseline.z, self.ruleset.anomaly.level, 0).astype(np.int8)
        self.state["anomaly.cur"][q.k[q.last]] = level[q.last]
        parts.append((self.anomaly_key[q.k], level, q.ts, -1, q.k, q.value))
        joint = self.joint.process(q)  # the asset's series together (subject: the asset)
        if len(joint.asset):
            level = np.where(joint.anomalous, self.ruleset.anomaly.level, 0).astype(np.int8)
            self.state.asset("anomaly.joint_cur")[joint.asset] = level
            parts.append((self.joint_key[joint.asset], level, joint.ts, -1,
                          np.full(len(level), -1, dtype=np.int64), joint.z))  # fmt: skip

    def _current(self) -> K.I8:
        out = np.zeros(len(self.keys), dtype=np.int8)
        for i, rule in enumerate(self.rules):
            if rule.kind is not RuleKind.NO_DATA:
                m = self.applies[i]
                np.maximum.at(out, self.key_of[i][m], self.state[f"{rule.id}.cur"][m])
        m = self.anomaly_applies
        np.maximum.at(out, self.anomaly_key[m], self.state["anomaly.cur"][m])
        a = self.joint.asset
        np.maximum.at(out, self.joint_key[a], self.state.asset("anomaly.joint_cur")[a])
        return out

    def _coupled(self, now: int) -> Observations:
        """The coupled keys that hold at ``now`` (the others are not observed: see
        :attr:`Observations.until`)."""
        keys, levels, untils = [], [], []
        held = {r.id: self.state.asset(f"{r.id}.held") for r in self.rules}
        for rule, key_ids in zip(self.coupled, self.coupled_keys, strict=True):
            subjects = np.flatnonzero(key_ids >= 0)
            until = coupled_until(rule, subjects, held, self.info.adjacency,
                                  self.info.asset_kinds)  # fmt: skip
            on = (until != K.NONE) & (now <= until)
            keys.append(key_ids[subjects[on]])
            levels.append(np.full(int(on.sum()), rule.level, dtype=np.int8))
            untils.append(until[on])
        return plain(keys, levels, now, untils)

    # -- per tick ---------------------------------------------------------------------------
    def saw(self, k: K.I64, ts: K.I64) -> None:
        """Series ``k`` had readings at ``ts`` (ms), wherever they were ingested: the no-data
        rules judge silence by these too, not only by the readings this evaluator saw."""
        np.maximum.at(self.state["last_seen"], k, ts)

    def tick(self, now: int) -> Observations:
        """No-data rules and the coupled keys still holding, at wall-clock ``now`` (ms)."""
        keys, levels, sinces = [], [], []
        seen = self.state["last_seen"]
        for i, rule in enumerate(self.rules):
            if rule.kind is not RuleKind.NO_DATA:
                continue
            ks = np.flatnonzero(self.applies[i] & (seen != K.NONE))
            due = seen[ks] + (rule.intervals * self.info.interval_s[ks] * 1000).astype(np.int64)
            late = now > due
            lv = np.zeros(len(self.keys), dtype=np.int8)
            np.maximum.at(lv, self.key_of[i][ks], np.where(late, rule.level, 0).astype(np.int8))
            # Silent since the first of its series fell overdue, not since this tick: an
            # engine started after the device went quiet still dates the alarm truly.
            since = np.full(len(self.keys), now, dtype=np.int64)
            np.minimum.at(since, self.key_of[i][ks[late]], due[late])
            ids = np.unique(self.key_of[i][ks])
            keys.append(ids)
            levels.append(lv[ids])
            sinces.append(since[ids])
        quiet = plain(keys, levels, now)
        if sinces:  # plain's peak_ts is its last_ts array too: a new one, not in place
            quiet = replace(quiet, peak_ts=np.concatenate(sinces))
        return concat(quiet, self._coupled(now))
