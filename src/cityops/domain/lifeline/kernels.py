"""Vectorised rule kernels over one batch (numpy, no Python object per point).

Points arrive sorted by (series k, ts). Per-series state lives in arrays indexed by k and is
carried from batch to batch, so a duration, a rate or a repeat count spans batches exactly as
if the points had come one by one (the property tests check this against a naive loop).
"""

from __future__ import annotations

import math
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


def ring_width(over_s: float, fastest_s: float, cap: int) -> int:
    """Points a span rule keeps per series: twice the span at the fastest declared interval,
    plus two, at most ``cap``. The ring is thinned by time (:func:`span_rates`), so it reaches
    back about two spans at any reporting rate; the width sets only its resolution."""
    return max(2, min(2 * math.ceil(over_s / max(fastest_s, 1.0)) + 2, cap))


def span_rates(p: Sorted, ring_ts: I64, ring_value: F64, over_ms: float, relative: bool,
               max_gap_ms: F64) -> F64:  # fmt: skip
    """Change per minute against the series' value ``over_ms`` ago.

    The ring keeps a reading only if it comes at least ``over_ms / (C/2)`` after the last one
    it kept (C = the rings' width): thinned by time, C readings reach back two spans however
    fast the device reports — a device that speeds up during an incident must not push the
    span out of its ring, which would silence the rule exactly then. Every reading, kept or
    not, gets its rate against the kept ones before it. The reference is chosen among the
    series' last C kept readings that are at most ``over_ms + max_gap_ms`` back: the latest at
    least ``over_ms`` back, else (after a start or an outage) the oldest, if it is at least
    half the span back: a shorter span is noisier, but a leak right after an outage still
    shows. NaN without a reference.

    ``ring_ts``/``ring_value`` (nk, C) hold each series' last C kept readings, oldest first
    (NONE = empty, on the left); they are updated in place, so the span reaches across batches
    and restarts exactly as if the points had come one by one.
    """
    cap = ring_ts.shape[1]
    n = len(p.k)
    if not n:
        return np.zeros(0)
    over = math.ceil(over_ms)  # t_ref ≤ t - over_ms, in whole ms
    step = math.ceil(2.0 * over_ms / cap)  # kept readings lie at least this far apart
    series = p.k[p.first]
    rank = np.cumsum(p.first) - 1  # each new point's series, 0 … len(series) - 1
    old_t = ring_ts[series]
    held = (old_t != NONE).ravel()
    ring_rank = np.repeat(np.arange(len(series)), cap)[held]
    ring_t = old_t.ravel()[held]
    t0 = int(min(int(p.ts.min()), int(ring_t.min()) if len(ring_t) else int(p.ts.min())))
    # every time of the batch and the rings (and `after` below, at most the newest + step)
    # must stay inside its series' band of keys
    top = max(int(p.ts.max()), int(ring_t.max()) if len(ring_t) else 0)
    width = top + step - t0 + 1
    keys = rank * width + (p.ts - t0)  # sorted: p is sorted by (k, ts)
    # Which new points the ring keeps: greedily, the first at least `step` after the last kept.
    end = np.flatnonzero(p.last)[rank]  # each point's series' last index
    newest = old_t[:, -1]
    after = np.where(newest != NONE, newest + step, t0)
    first_kept = np.searchsorted(keys, np.arange(len(series)) * width + (after - t0))
    starts = first_kept[first_kept <= np.flatnonzero(p.last)]
    gaps_ok = np.ones(n, dtype=bool)
    gaps_ok[1:] = (p.ts[1:] - p.ts[:-1] >= step) | p.first[1:]
    if gaps_ok.all():  # every reading far enough from the one before (the usual case)
        kept = np.arange(n) >= first_kept[rank]
    else:
        nxt = np.searchsorted(keys, keys + step)
        nxt = np.where(nxt <= end, nxt, n)
        kept = _chain(starts, nxt)
    kept_rank = np.concatenate([ring_rank, rank[kept]])
    kept_t = np.concatenate([ring_t, p.ts[kept]])
    kept_v = np.concatenate([ring_value[series].ravel()[held], p.value[kept]])
    order = np.argsort(kept_rank * width + (kept_t - t0), kind="stable")
    kept_rank, kept_t, kept_v = kept_rank[order], kept_t[order], kept_v[order]
    kept_keys = kept_rank * width + (kept_t - t0)
    # For each new point: its candidates are kept[lo:pos] — before it, its series' last C, in
    # reach; the reference is the latest at least a span back, else the oldest candidate.
    pos = np.searchsorted(kept_keys, keys, side="left")
    reach = np.floor(over_ms + max_gap_ms[p.k]).astype(np.int64)
    lo = np.maximum(np.maximum(np.searchsorted(kept_keys, rank * width), pos - cap),
                    np.searchsorted(kept_keys, keys - reach, side="left"))  # fmt: skip
    ref = np.searchsorted(kept_keys, keys - over, side="right") - 1
    ref = np.where(ref >= lo, ref, lo)
    has = lo < pos
    ref = np.where(has, ref, 0) if len(kept_t) else np.zeros(n, dtype=np.int64)
    ref_t = kept_t[ref] if len(kept_t) else np.zeros(n, dtype=np.int64)
    ref_v = kept_v[ref] if len(kept_t) else np.zeros(n)
    elapsed = p.ts - ref_t
    ok = has & (elapsed >= over_ms / 2)  # a whole span, or half of one as the oldest
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        change = p.value - ref_v
        if relative:
            change = np.where(ref_v != 0, 100.0 * change / np.abs(ref_v), np.nan)
        out = np.where(ok, change / (elapsed / 60_000.0), np.nan)
    keep, column = _last_per_series(kept_rank, cap)
    ring_ts[series] = NONE
    ring_ts[series[kept_rank[keep]], column] = kept_t[keep]
    ring_value[series[kept_rank[keep]], column] = kept_v[keep]
    return np.asarray(out, dtype=np.float64)


def _chain(starts: I64, nxt: I64) -> B:
    """The points on the chains ``s, nxt[s], nxt[nxt[s]] …`` from each start (``nxt`` = n:
    none), by pointer doubling: log2 of the longest chain passes, not one per point."""
    n = len(nxt)
    jump = np.append(nxt, n)
    on = np.zeros(n + 1, dtype=bool)
    on[starts] = True
    while True:
        on[jump[on]] = True  # chains now marked 2^i steps further
        if (jump[:n] == n).all():
            return on[:n]
        jump = jump[jump]


def _last_per_series(k_sorted: I64, n_keep: int) -> tuple[B, I64]:
    """Which of the points (sorted by series) are among their series' last ``n_keep``, and
    their column in a right-aligned ring of that width."""
    end = np.searchsorted(k_sorted, k_sorted, side="right")
    from_end = end - 1 - np.arange(len(k_sorted))
    keep = from_end < n_keep
    return keep, n_keep - 1 - from_end[keep]


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
    keep, column = _last_per_series(k_all, n_keep)  # each series' last n_keep edges
    history[series] = NONE
    history[k_all[keep], column] = t_all[keep]
    return out


def repeat_active(history: I64, ks: I64, now: I64, window_ms: float) -> B:
    """Whether the series still has N edges within the window ending at ``now``."""
    oldest = history[ks, 0]
    return np.asarray((oldest != NONE) & (now - oldest <= window_ms), dtype=bool)
