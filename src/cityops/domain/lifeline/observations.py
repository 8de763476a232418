"""What an evaluator reports per alarm key (:class:`Observations`), and how the per-rule
parts of a batch fold into it: the peak per key, every touched key's current level, the keys
observed at one instant (no-data, coupled)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from cityops.domain.lifeline import kernels as K


@dataclass(frozen=True, slots=True)
class Observations:
    """Per alarm key: the peak level seen (with where) and the level now."""

    key: K.I64
    peak: K.I8
    peak_ts: K.I64
    peak_rule: K.I64  # index into Evaluator.rules (-1: the anomaly detector)
    peak_k: K.I64  # the series (-1 for coupled and no-data keys)
    peak_value: K.F64
    current: K.I8
    last_ts: K.I64
    # coupled keys: until when their conditions hold unless new readings renew them (NONE:
    # other keys). Only held coupled keys are observed: no engine judges a coupled alarm gone
    # from its own record (which may lack what another process ingested); the service reads
    # this, stored on the alarm, to let any tick end the window.
    until: K.I64

    def __len__(self) -> int:
        return len(self.key)


def reduce_parts(parts: list[Any], n_keys: int) -> Observations:
    """Peak per key over the batch's points (first point reaching the peak)."""
    if not parts:
        return plain([], [], 0)
    key = np.concatenate([c[0] for c in parts])
    level = np.concatenate([c[1] for c in parts])
    hot = np.flatnonzero(level > 0)
    if not len(hot):
        return plain([], [], 0)
    ts = np.concatenate([c[2] for c in parts])[hot]
    rule = np.concatenate([np.full(len(c[0]), c[3], dtype=np.int64) for c in parts])[hot]
    ks = np.concatenate([c[4] for c in parts])[hot]
    vals = np.concatenate([c[5] for c in parts])[hot]
    key, level = key[hot], level[hot]
    order = np.lexsort((ts, -level.astype(np.int64), key))  # per key: highest, then earliest
    key, level, ts, rule, ks, vals = (a[order] for a in (key, level, ts, rule, ks, vals))
    head = np.ones(len(key), dtype=bool)
    head[1:] = key[1:] != key[:-1]
    none = np.full(int(head.sum()), K.NONE, np.int64)
    return Observations(key[head], level[head], ts[head], rule[head], ks[head], vals[head],
                        level[head], ts[head], none)  # fmt: skip


def merge_touched(obs: Observations, touched: K.I64, current: K.I8, parts: list[Any],
           n_keys: int) -> Observations:  # fmt: skip
    """Every touched key, with its peak (0 if none), current level and last point time."""
    last = np.full(n_keys, K.NONE, dtype=np.int64)
    for c in parts:
        np.maximum.at(last, c[0], c[2])
    peak = np.zeros(n_keys, dtype=np.int8)
    peak_ts, peak_rule = np.zeros(n_keys, np.int64), np.full(n_keys, -1, np.int64)
    peak_k, peak_value = np.full(n_keys, -1, np.int64), np.zeros(n_keys)
    peak[obs.key], peak_ts[obs.key], peak_rule[obs.key] = obs.peak, obs.peak_ts, obs.peak_rule
    peak_k[obs.key], peak_value[obs.key] = obs.peak_k, obs.peak_value
    t = touched
    return Observations(t, peak[t], peak_ts[t], peak_rule[t], peak_k[t], peak_value[t],
                        current[t], last[t], np.full(len(t), K.NONE, np.int64))  # fmt: skip


def plain(keys: list[K.I64], levels: list[K.I8], now: int,
           untils: list[K.I64] | None = None) -> Observations:  # fmt: skip
    key = np.concatenate(keys) if keys else np.zeros(0, np.int64)
    level = np.concatenate(levels).astype(np.int8) if levels else np.zeros(0, np.int8)
    n = len(key)
    at = np.full(n, now, dtype=np.int64)
    until = np.concatenate(untils) if untils else np.full(n, K.NONE, dtype=np.int64)
    return Observations(key, level, at, np.full(n, -1, np.int64), np.full(n, -1, np.int64),
                        np.zeros(n), level, at, until)  # fmt: skip


def concat(a: Observations, b: Observations) -> Observations:
    return Observations(*(np.concatenate([getattr(a, f), getattr(b, f)])
                          for f in Observations.__dataclass_fields__))  # fmt: skip
