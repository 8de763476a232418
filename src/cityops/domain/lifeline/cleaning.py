"""Spike cleaning before the rules: a rolling median + MAD (Hampel) filter per series.

A point is an outlier when it is more than ``z`` robust standard deviations (1.4826 × MAD) and
more than the metric's ``min_dev`` away from the median of the series' previous ``window`` raw
points. Only a *lone* outlier is a spike and is kept from the rules: the second outlier in a
row is taken as a real change (a leak that starts at once must not wait for the median to
move), so cleaning delays a genuine step by at most one sampling interval. The window holds raw
values, so a level shift becomes the new normal after window/2 points. While a series' window
fills, points are judged on what it holds once that is ``MIN_JUDGED`` values; a point not judged
is no "normal" predecessor (else the first judged point of a step that began during warm-up
would pass for a lone spike: found by the property tests).
"""

from __future__ import annotations

import numpy as np

from cityops.domain.lifeline.kernels import F64, B, Sorted

MAD_TO_SIGMA = 1.4826
MIN_JUDGED = 3


def spikes(p: Sorted, ring: F64, last_outlier: B, z: float, min_dev: F64) -> B:
    """The spikes among ``p``; ``ring`` (nk, W, NaN = empty, oldest first) and
    ``last_outlier`` (nk) are updated in place."""
    n, width = len(p.k), ring.shape[1]
    if not n:
        return np.zeros(0, dtype=bool)
    series = p.k[p.first]
    counts = np.diff(np.append(np.flatnonzero(p.first), n))
    block = width + counts
    offsets = np.concatenate([[0], np.cumsum(block)[:-1]])
    combined = np.empty(int(block.sum()), dtype=np.float64)
    combined[offsets[:, None] + np.arange(width)] = ring[series]
    local = np.arange(n) - np.repeat(np.flatnonzero(p.first), counts)
    pos = np.repeat(offsets, counts) + width + local
    combined[pos] = p.value
    windows = combined[pos[:, None] - width + np.arange(width)]
    held = (~np.isnan(windows)).sum(axis=1)
    full = held == width
    outlier = np.zeros(n, dtype=bool)
    for rows, median in ((full, np.median), (~full & (held >= MIN_JUDGED), np.nanmedian)):
        if rows.any():
            w = windows[rows]
            med = median(w, axis=1)
            mad = median(np.abs(w - med[:, None]), axis=1)
            dev = np.abs(p.value[rows] - med)
            outlier[rows] = (dev > z * MAD_TO_SIGMA * mad) & (dev > min_dev[p.k[rows]])
    unusual = outlier | (held < min(MIN_JUDGED, width))
    prev = np.empty(n, dtype=bool)
    prev[1:] = unusual[:-1]
    prev[p.first] = last_outlier[series]
    ring[series] = combined[(offsets + counts)[:, None] + np.arange(width)]
    last_outlier[p.k[p.last]] = unusual[p.last]
    return outlier & ~prev
