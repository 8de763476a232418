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
"""

from __future__ import annotations

import numpy as np

from cityops.domain.lifeline.kernels import F64, I64, B

HOURS = 24
ALL_HOURS = HOURS  # the index of the series-wide bin
MEAN_ABS_TO_SIGMA = 1.25  # E|x − μ| = σ·√(2/π) for a normal variable
SCALE_FLOOR = 1e-9


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

    def scores(self, k: I64, hour: I64, value: F64) -> F64:
        """Robust z-scores against the state before this batch (NaN while warming up)."""
        z = np.abs(value - self.mean[k, hour]) / self._scale(k, hour)
        return np.where(self.seen[k, hour] >= self.warmup, z, np.nan)

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
