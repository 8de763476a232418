"""Vectorised rule kernels over one batch (numpy, no Python object per point).

Points arrive sorted by (series k, ts). Per-series state lives in arrays indexed by k and is
carried from batch to batch, so a duration, a rate or a repeat count spans batches exactly as
if the points had come one by one (the property tests check this against a naive loop).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]
I8 = npt.NDArray[np.int8]
B = npt.NDArray[np.bool_]
NONE = -1  # "no timestamp" in int64 state arrays
LEVEL_IDS = np.arange(1, 5, dtype=np.int8)


@dataclass(frozen=True, slots=True)
class Sorted:
    """A batch's points sorted by (k, ts), with series boundaries."""

    k: I64
    ts: I64
    value: F64
    first: B  # first point of its series in the batch
    last: B  # last point of its series in the batch

    @staticmethod
    def of(k: I64, ts: I64, value: F64) -> Sorted:
        order = np.lexsort((ts, k))
        k, ts, value = k[order], ts[order], value[order]
        first = np.ones(len(k), dtype=bool)
        first[1:] = k[1:] != k[:-1]
        last = np.ones(len(k), dtype=bool)
        last[:-1] = k[:-1] != k[1:]
        return Sorted(k, ts, value, first, last)

    def select(self, mask: B) -> Sorted:
        """A subset, keeping order; boundaries recomputed (a subset of whole series)."""
        k = self.k[mask]
        first = np.ones(len(k), dtype=bool)
        first[1:] = k[1:] != k[:-1]
        last = np.ones(len(k), dtype=bool)
        last[:-1] = k[:-1] != k[1:]
        return Sorted(k, self.ts[mask], self.value[mask], first, last)


def grade(values: F64, limits: F64, above: bool) -> I8:
    """The highest level whose limit ``values`` reach; ``limits`` is (n, 4), NaN = no level."""
    with np.errstate(invalid="ignore"):
        hit = values[:, None] >= limits if above else values[:, None] <= limits
    return np.asarray((hit * LEVEL_IDS).max(axis=1, initial=0), dtype=np.int8)


def run_starts(p: Sorted, cond: B, carried: I64) -> I64:
    """For each point where ``cond`` holds, when its unbroken run began (ms); NONE elsewhere.

    ``carried[k]`` is the start of a run still open at the end of the previous batch (NONE if
    the series' last condition was false); a run continues into this batch only through the
    series' first point.
    """
    n = len(cond)
    prev = np.zeros(n, dtype=bool)
    prev[1:] = cond[:-1]
    new_run = cond & (p.first | ~prev)
    idx = np.where(new_run, np.arange(n), -1)
    start = np.maximum.accumulate(idx) if n else idx
    out = np.full(n, NONE, dtype=np.int64)
    out[cond] = p.ts[start[cond]]
    from_first = cond & p.first[np.maximum(start, 0)] & (carried[p.k] != NONE)
    out[from_first] = carried[p.k[from_first]]
    return out


def hold(p: Sorted, raw: I8, since: I64, for_ms: float) -> I8:
    """Levels that have held ``for_ms``; ``since`` (nk, 4) is updated in place."""
    if for_ms <= 0:
        return raw
    out = np.zeros(len(raw), dtype=np.int8)
    for level in range(1, 5):
        cond = raw >= level
        starts = run_starts(p, cond, since[:, level - 1])
        held = cond & (p.ts - starts >= for_ms)
        out[held] = level
        since[p.k[p.last], level - 1] = np.where(cond[p.last], starts[p.last], NONE)
    return out


def rates(p: Sorted, last_ts: I64, last_value: F64, relative: bool, max_gap_ms: F64) -> F64:
    """Change per minute since the series' previous point (NaN where there is none, or the gap
    is over ``max_gap_ms``); ``last_ts``/``last_value`` are updated in place."""
    prev_t = np.empty(len(p.k), dtype=np.int64)
    prev_v = np.empty(len(p.k), dtype=np.float64)
    prev_t[1:], prev_v[1:] = p.ts[:-1], p.value[:-1]
    prev_t[p.first], prev_v[p.first] = last_ts[p.k[p.first]], last_value[p.k[p.first]]
    dt_min = (p.ts - prev_t) / 60_000.0
    ok = (prev_t != NONE) & (dt_min > 0) & (p.ts - prev_t <= max_gap_ms[p.k])
    with np.errstate(divide="ignore", invalid="ignore"):
        change = p.value - prev_v
        if relative:
            change = np.where(prev_v != 0, 100.0 * change / np.abs(prev_v), np.nan)
        out = np.where(ok, change / dt_min, np.nan)
    last_ts[p.k[p.last]] = p.ts[p.last]
    last_value[p.k[p.last]] = p.value[p.last]
    return out


def repeats(p: Sorted, cond: B, last_cond: B, history: I64, window_ms: float) -> B:
    """Points that are the N-th separate exceedance (rising edge) within ``window_ms``.

    ``history`` (nk, N) holds each series' latest N edges (NONE = empty, oldest first);
    ``last_cond`` (nk) the condition at the series' last point. Both are updated in place.
    """
    n_keep = history.shape[1]
    prev = np.zeros(len(cond), dtype=bool)
    prev[1:] = cond[:-1]
    prev[p.first] = last_cond[p.k[p.first]]
    edge = cond & ~prev
    last_cond[p.k[p.last]] = cond[p.last]
    out = np.zeros(len(cond), dtype=bool)
    ek, et = p.k[edge], p.ts[edge]
    if not len(ek):
        return out
    series = np.unique(ek)
    old = history[series]
    hk = np.repeat(series, n_keep)[old.ravel() != NONE]
    ht = old.ravel()[old.ravel() != NONE]
    k_all, t_all = np.concatenate([hk, ek]), np.concatenate([ht, et])
    is_new = np.concatenate([np.zeros(len(hk), bool), np.ones(len(ek), bool)])
    order = np.lexsort((~is_new, t_all, k_all))  # history first on equal times
    k_all, t_all, is_new = k_all[order], t_all[order], is_new[order]
    hit = np.zeros(len(k_all), dtype=bool)
    lag = n_keep - 1
    if len(k_all) > lag:
        hit[lag:] = (k_all[lag:] == k_all[: len(k_all) - lag]) & (
            t_all[lag:] - t_all[: len(k_all) - lag] <= window_ms
        )
    new_hits = hit[is_new]  # aligned with the edges in (k, ts) order, as ek/et already are
    out[np.flatnonzero(edge)] = new_hits
    # Keep each series' last n_keep edges.
    end = np.searchsorted(k_all, k_all, side="right")
    from_end = end - 1 - np.arange(len(k_all))
    keep = from_end < n_keep
    history[series] = NONE
    history[k_all[keep], n_keep - 1 - from_end[keep]] = t_all[keep]
    return out


def repeat_active(history: I64, ks: I64, now: I64, window_ms: float) -> B:
    """Whether the series still has N edges within the window ending at ``now``."""
    oldest = history[ks, 0]
    return np.asarray((oldest != NONE) & (now - oldest <= window_ms), dtype=bool)
