"""An online anomaly detector for what fixed thresholds miss: a robust seasonal baseline.

Per series and hour of day (the city's daily rhythm: demand, traffic load, temperature), an
EWMA of the value and an EWMA of the absolute deviation. A point scores |value − mean| /
(1.25 × mean-abs-dev); once a bin has seen ``warmup`` points, a score above ``z`` is an
anomaly. Updates are *clipped* to ±``clip`` deviations, so an attack or a fault pulls the
baseline only slowly and cannot teach the detector that it is normal. Batches update each bin
once with the batch mean of its points (the closed form of n EWMA steps toward that mean).

A 25th bin learns every point of the series. An hour's scale is never below ``spread`` × the
series-wide scale: a pump that is always on at 3 a.m. has no spread at that hour, yet being off
once is not an anomaly when it is off at other hours (BATADAL: without this floor the pump
status and flow series raised 9 of 10 false alarms). Relations between series are left to the
joint model (``subspace.py``).

A series is judged against its network, not alone (``CommonMode``): rain lifts every drainage
gauge in the city at once, and one alarm per gauge for one explained event would bury the low
crossing that really floods. Per group of like series (one metric on one kind of asset), the
medians of their latest signed residuals (standardised, and in the metric's units) are the
network's own movement; a point scores by how far it departs from it, the smaller of the two
(the evaluator combines them).
"""

from __future__ import annotations

import numpy as np

from cityops.domain.lifeline.kernels import F64, I64, NONE, B, Sorted

HOURS = 24
ALL_HOURS = HOURS  # the index of the series-wide bin
MEAN_ABS_TO_SIGMA = 1.25  # E|x − μ| = σ·√(2/π) for a normal variable
SCALE_FLOOR = 1e-9
FRESH_INTERVALS = 1.5  # a residual older than this many sampling intervals is not "now"


class SeasonalBaseline:
    """State arrays (nk, 24): mean, mean absolute deviation, points seen."""

    def __init__(self, n: int, *, alpha: float = 0.05, z: float = 8.0, warmup: int = 12,
                 clip: float = 4.0, spread: float = 1.0,
                 floor: F64 | None = None) -> None:  # fmt: skip
        self.alpha, self.z, self.warmup, self.clip, self.spread = alpha, z, warmup, clip, spread
        self.mean = np.zeros((n, HOURS + 1))
        self.dev = np.zeros((n, HOURS + 1))
        self.seen = np.zeros((n, HOURS + 1), dtype=np.int64)
        self.floor = np.full(n, SCALE_FLOOR) if floor is None else floor

    def _scale(self, k: I64, hour: I64) -> F64:
        own = self.dev[k, hour] * MEAN_ABS_TO_SIGMA
        wide = self.spread * self.dev[k, ALL_HOURS] * MEAN_ABS_TO_SIGMA
        scale: F64 = np.maximum(np.maximum(own, wide), self.floor[k])
        return scale

    def deviations(self, k: I64, hour: I64, value: F64) -> tuple[F64, F64]:
        """Signed (value − mean) and its scale, against the state before this batch."""
        return value - self.mean[k, hour], self._scale(k, hour)

    def warm(self, k: I64, hour: I64) -> B:
        """Whether each point's bin has seen ``warmup`` points (and so may score)."""
        return np.asarray(self.seen[k, hour] >= self.warmup, dtype=bool)

    def scores(self, k: I64, hour: I64, value: F64) -> F64:
        """Robust z-scores against the state before this batch (NaN while warming up)."""
        dev, scale = self.deviations(k, hour, value)
        return np.where(self.warm(k, hour), np.abs(dev) / scale, np.nan)

    def update(self, k: I64, hour: I64, value: F64) -> None:
        if not len(k):
            return
        self._update(k, hour, value, self.alpha, clipped=True)
        # The series-wide bin sees 24 times the points: the same memory in days. It learns
        # unclipped: it measures how far the series roams, rare states included.
        self._update(k, np.full(len(k), ALL_HOURS, dtype=np.int64), value, self.alpha / HOURS,
                     clipped=False)  # fmt: skip

    def _update(self, k: I64, hour: I64, value: F64, alpha: float, *, clipped: bool) -> None:
        cell = k * (HOURS + 1) + hour
        cells, inverse, count = np.unique(cell, return_inverse=True, return_counts=True)
        ck, ch = cells // (HOURS + 1), cells % (HOURS + 1)
        mean, dev, seen = self.mean[ck, ch], self.dev[ck, ch], self.seen[ck, ch]
        fresh = seen == 0
        # While a bin warms up it learns freely; after that, updates are clipped.
        learning = (seen < self.warmup) | (not clipped)
        limit = np.where(learning, np.inf, self.clip * self._scale(ck, ch))
        clipped = mean[inverse] + np.clip(value - mean[inverse], -limit[inverse], limit[inverse])
        batch_mean = np.bincount(inverse, clipped) / count
        around_old = np.bincount(inverse, np.abs(clipped - mean[inverse])) / count
        around_own = np.bincount(inverse, np.abs(clipped - batch_mean[inverse])) / count
        weight = 1.0 - (1.0 - alpha) ** count
        self.mean[ck, ch] = np.where(fresh, batch_mean, mean + weight * (batch_mean - mean))
        self.dev[ck, ch] = np.where(fresh, around_own, dev + weight * (around_old - dev))
        self.seen[ck, ch] = seen + count

    def detect(self, k: I64, hour: I64, value: F64) -> tuple[F64, B]:
        """Score, then learn: (scores, anomalous) for the batch."""
        z = self.scores(k, hour, value)
        self.update(k, hour, value)
        with np.errstate(invalid="ignore"):
            return z, z > self.z


def hour_of_day(ts_ms: I64, utc_offset_s: int) -> I64:
    return np.asarray(((ts_ms // 1000 + utc_offset_s) // 3600) % HOURS, dtype=np.int64)


class CommonMode:
    """The network's own movement per group of like series: the medians of the group's latest
    residuals, signed, both standardised and in the metric's own units (``resid``, ``dev``,
    ``at``: per series, updated in place: rule state).

    ``group[k]`` is the series' group (-1: judged alone). A group counts only when at least
    ``min_series`` of its residuals are fresh (within ``FRESH_INTERVALS`` sampling intervals of
    the group's latest point); a median moves only when most of the group moves the same way,
    so one series departing from the rest keeps its full score.
    """

    def __init__(self, group: I64, interval_s: F64, min_series: int, resid: F64, dev: F64,
                 at: I64) -> None:  # fmt: skip
        self.group, self.min_series = group, min_series
        self.resid, self.dev, self.at = resid, dev, at
        self.n_groups = int(group.max(initial=-1)) + 1
        self.fresh_ms = interval_s * FRESH_INTERVALS * 1000.0

    def hold(self, p: Sorted, resid: F64, dev: F64) -> None:
        """Keep each series' latest residuals (every point, spikes too: the network's movement
        is judged on what it sent, and a lone spike cannot move a median)."""
        ends = p.last & (self.group[p.k] >= 0)
        k = p.k[ends]
        self.resid[k], self.dev[k], self.at[k] = resid[ends], dev[ends], p.ts[ends]

    def shift(self, p: Sorted) -> tuple[F64, F64]:
        """For each point of ``p``: its group's median residual, standardised and in units
        (0 where the series is alone or its group has too few fresh residuals)."""
        out_r, out_d = np.zeros(len(p.k)), np.zeros(len(p.k))
        g = self.group[p.k]
        inside = g >= 0
        if not inside.any():
            return out_r, out_d
        latest = np.full(self.n_groups, NONE, dtype=np.int64)
        np.maximum.at(latest, g[inside], p.ts[inside])
        members = np.flatnonzero(self.group >= 0)
        mg = self.group[members]
        ok = (latest[mg] != NONE) & ~np.isnan(self.resid[members]) & \
            (self.at[members] >= latest[mg] - self.fresh_ms[members])  # fmt: skip
        for src, out in ((self.resid, out_r), (self.dev, out_d)):
            median, count = group_medians(mg[ok], src[members[ok]], self.n_groups)
            common = np.where(count >= self.min_series, median, 0.0)
            out[inside] = common[g[inside]]
        return out_r, out_d


def group_medians(group: I64, values: F64, n_groups: int) -> tuple[F64, I64]:
    """Per group: the median of its values (NaN for none) and how many there are."""
    order = np.lexsort((values, group))
    v = values[order]
    count = np.bincount(group, minlength=n_groups).astype(np.int64)
    start = np.cumsum(count) - count
    median = np.full(n_groups, np.nan)
    has = count > 0
    lo, hi = start + (count - 1) // 2, start + count // 2
    median[has] = (v[lo[has]] + v[hi[has]]) / 2.0
    return median, count


def like_series(kinds: list[str], metrics: list[str], watched: B, min_series: int) -> I64:
    """Each watched series' group (one metric on one kind of asset), -1 for series in groups
    smaller than ``min_series`` (0: no groups at all) and for unwatched ones."""
    out = np.full(len(metrics), -1, dtype=np.int64)
    if min_series <= 0:
        return out
    ks = np.flatnonzero(watched)
    names = [f"{kinds[k]}\x00{metrics[k]}" for k in ks.tolist()]
    _, inverse, count = np.unique(np.array(names, dtype=str), return_inverse=True,
                                  return_counts=True)  # fmt: skip
    big = count >= min_series
    renumber = np.cumsum(big) - 1
    out[ks] = np.where(big[inverse], renumber[inverse], -1)
    return out
