"""Roll-up maths on columnar readings: per (series, bucket) partial aggregates and latest
values, computed per batch with numpy and merged into stored roll-ups.

A partial is (count, sum, min, max, last_ts, last_value). Partials of any split of the same
readings merge into the partial of the whole (:func:`merge`), which is why a late or
out-of-order reading only has to be merged into its bucket: nothing is recomputed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

MINUTE_MS = 60_000
HOUR_MS = 3_600_000
I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class Partials:
    """Columns of partial aggregates, one row per (series, bucket), sorted by both."""

    series: I64
    bucket: I64  # bucket start, epoch ms
    count: I64
    sum: F64
    min: F64
    max: F64
    last_ts: I64
    last_value: F64

    def __len__(self) -> int:
        return len(self.series)

    def rows(self) -> list[tuple[Any, ...]]:
        """As plain tuples for a driver's executemany."""
        return list(zip(self.series.tolist(), self.bucket.tolist(), self.count.tolist(),
                        self.sum.tolist(), self.min.tolist(), self.max.tolist(),
                        self.last_ts.tolist(), self.last_value.tolist(), strict=True))  # fmt: skip


def _starts(*keys: npt.NDArray[Any]) -> npt.NDArray[np.intp]:
    """Indices where a run of equal keys starts (the arrays are sorted by the keys)."""
    change = np.zeros(len(keys[0]), dtype=bool)
    change[0] = True
    for k in keys:
        change[1:] |= k[1:] != k[:-1]
    return np.flatnonzero(change)


def partials(series: I64, ts: I64, values: F64, bucket_ms: int) -> Partials:
    """Aggregate readings into buckets of ``bucket_ms`` (aligned to the epoch, so UTC)."""
    if len(series) == 0:
        empty_i, empty_f = np.empty(0, np.int64), np.empty(0, np.float64)
        return Partials(empty_i, empty_i, empty_i, empty_f, empty_f, empty_f, empty_i, empty_f)
    bucket = ts - ts % bucket_ms
    order = np.lexsort((ts, bucket, series))
    s, b, t, v = series[order], bucket[order], ts[order], values[order]
    starts = _starts(s, b)
    ends = np.append(starts[1:], len(s)) - 1
    return Partials(
        series=s[starts],
        bucket=b[starts],
        count=np.diff(np.append(starts, len(s))).astype(np.int64),
        sum=np.add.reduceat(v, starts),
        min=np.minimum.reduceat(v, starts),
        max=np.maximum.reduceat(v, starts),
        last_ts=t[ends],
        last_value=v[ends],
    )


def latest(series: I64, ts: I64, values: F64) -> tuple[I64, I64, F64]:
    """Per series, the reading with the greatest timestamp: (series, ts, value)."""
    if len(series) == 0:
        return series, ts, values
    order = np.lexsort((ts, series))
    s, t, v = series[order], ts[order], values[order]
    ends = np.append(_starts(s)[1:], len(s)) - 1
    return s[ends], t[ends], v[ends]


Row = tuple[int, float, float, float, int, float]  # count, sum, min, max, last_ts, last_value


def merge(a: Row, b: Row) -> Row:
    """Two partials of one bucket → one (what the storage upsert does in SQL)."""
    last = (a[4], a[5]) if a[4] > b[4] else (b[4], b[5])
    return (a[0] + b[0], a[1] + b[1], min(a[2], b[2]), max(a[3], b[3]), last[0], last[1])


def dedupe_keys(series: I64, ts: I64) -> npt.NDArray[np.intp]:
    """Indices of the first occurrence of each (series, ts), in input order."""
    order = np.lexsort((ts, series))
    first = order[_starts(series[order], ts[order])] if len(order) else order
    return np.sort(first, kind="stable")
