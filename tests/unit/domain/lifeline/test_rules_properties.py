"""Properties of the rule kernels (告警规则): each vectorised kernel, fed a random stream cut into
random batches, agrees with a naive point-by-point loop written here; spike cleaning never
removes a sustained step; coupled rules need every leg; no-data fires after the silence; and an
evaluator restored from its exported state decides exactly as one that never stopped."""

from __future__ import annotations

import itertools
import math

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from cityops.domain.lifeline import kernels as K
from cityops.domain.lifeline.cleaning import spikes
from cityops.domain.lifeline.coupled import Adjacency, coupled_levels
from cityops.domain.lifeline.evaluate import Evaluator, Observations, SeriesInfo
from cityops.domain.lifeline.ruleset import parse_ruleset

MINUTE = 60_000

# A stream: per point (series, gap since the series' previous point in ms, value), cut into
# batches at random places. Times rise strictly per series, as the pipeline guarantees.
point = st.tuples(st.integers(0, 2), st.integers(1, 5 * MINUTE), st.integers(0, 12))
stream = st.tuples(st.lists(point, min_size=1, max_size=60), st.lists(st.integers(1, 20)))


Rows = list[tuple[int, int, float]]
Stream = tuple[list[tuple[int, int, int]], list[int]]


def unroll(points: list[tuple[int, int, int]], cuts: list[int]) -> tuple[Rows, list[list[int]]]:
    """(k, ts, value) per point in arrival order, and the batches as lists of point indexes."""
    clock = {0: 0, 1: 0, 2: 0}
    rows = []
    for k, gap, v in points:
        clock[k] += gap
        rows.append((k, clock[k], float(v)))
    batches, i = [], 0
    for size in [*cuts, len(rows)]:
        if i >= len(rows):
            break
        batches.append(list(range(i, min(i + size, len(rows)))))
        i += size
    return rows, batches


def batched(rows: Rows, idx: list[int]) -> tuple[K.Sorted, np.ndarray]:
    """A batch as the kernels see it, and each sorted point's index in ``rows``."""
    k = np.array([rows[i][0] for i in idx], dtype=np.int64)
    ts = np.array([rows[i][1] for i in idx], dtype=np.int64)
    v = np.array([rows[i][2] for i in idx])
    order = np.lexsort((ts, k))
    return K.Sorted.of(k, ts, v), np.array(idx)[order]


limits_st = st.lists(st.one_of(st.none(), st.integers(0, 12)), min_size=4, max_size=4)


@given(st.lists(st.integers(-2, 14), min_size=1, max_size=30), limits_st, st.booleans())
def test_grade_picks_the_highest_level_reached(values: list[int], raw: list[int | None],
                                               above: bool) -> None:  # fmt: skip
    limits = np.array([[math.nan if x is None else float(x) for x in raw]] * len(values))
    got = K.grade(np.array(values, dtype=float), limits, above)
    for v, level in zip(values, got.tolist(), strict=True):
        reached = [lv for lv, lim in enumerate(raw, 1)
                   if lim is not None and (v >= lim if above else v <= lim)]  # fmt: skip
        assert level == max(reached, default=0)


@given(stream, st.integers(0, 12), st.sampled_from([0, 1, 3, 7]))
def test_a_duration_counts_only_after_the_condition_held(
    data: Stream, limit: int, minutes: int
) -> None:
    rows, batches = unroll(*data)
    for_ms = minutes * MINUTE
    limits = np.array([[float(limit), limit + 2.0, limit + 4.0, math.nan]])
    since = np.full((3, 4), K.NONE, dtype=np.int64)
    got: dict[int, int] = {}
    for idx in batches:
        p, where = batched(rows, idx)
        raw = K.grade(p.value, np.repeat(limits, len(p.k), axis=0), True)
        for i, lv in zip(where.tolist(), K.hold(p, raw, since, for_ms).tolist(), strict=True):
            got[i] = lv
    start: dict[tuple[int, int], int | None] = {}
    for i, (k, ts, v) in enumerate(rows):  # the naive loop
        expected = 0
        for level in (1, 2, 3):
            if v >= limits[0, level - 1]:
                began = start.get((k, level)) or ts
                start[(k, level)] = began
                if ts - began >= for_ms:
                    expected = level
            else:
                start[(k, level)] = None
        assert got[i] == expected, (i, rows[: i + 1])


@given(stream, st.booleans(), st.sampled_from([2, 3, 10]))
def test_rate_is_the_change_per_minute_since_the_previous_point(
    data: Stream, relative: bool, max_gap_min: int
) -> None:
    rows, batches = unroll(*data)
    last_ts = np.full(3, K.NONE, dtype=np.int64)
    last_v = np.zeros(3)
    gap = np.full(3, float(max_gap_min * MINUTE))
    got: dict[int, float] = {}
    for idx in batches:
        p, where = batched(rows, idx)
        rates = K.rates(p, last_ts, last_v, relative, gap)
        got.update(zip(where.tolist(), rates.tolist(), strict=True))
    prev: dict[int, tuple[int, float]] = {}
    for i, (k, ts, v) in enumerate(rows):
        expected = math.nan
        if k in prev and ts - prev[k][0] <= max_gap_min * MINUTE:
            pt, pv = prev[k]
            change = v - pv if not relative else (100 * (v - pv) / abs(pv) if pv else math.nan)
            expected = change / ((ts - pt) / MINUTE)
        prev[k] = (ts, v)
        assert (math.isnan(got[i]) and math.isnan(expected)) or \
            math.isclose(got[i], expected, rel_tol=1e-9, abs_tol=1e-9)  # fmt: skip


@given(stream, st.integers(0, 12), st.integers(2, 4), st.sampled_from([1, 5, 20]))
def test_repeat_fires_at_the_nth_separate_exceedance_within_the_window(
    data: Stream, limit: int, count: int, minutes: int
) -> None:
    rows, batches = unroll(*data)
    window = minutes * MINUTE
    history = np.full((3, count), K.NONE, dtype=np.int64)
    last_cond = np.zeros(3, dtype=bool)
    got: dict[int, bool] = {}
    for idx in batches:
        p, where = batched(rows, idx)
        hits = K.repeats(p, p.value >= limit, last_cond, history, window)
        got.update(zip(where.tolist(), hits.tolist(), strict=True))
    edges: dict[int, list[int]] = {0: [], 1: [], 2: []}
    above: dict[int, bool] = {}
    for i, (k, ts, v) in enumerate(rows):
        cond = v >= limit
        edge = cond and not above.get(k, False)
        above[k] = cond
        if edge:
            edges[k].append(ts)
        recent = [t for t in edges[k] if ts - t <= window]
        assert got[i] == (edge and len(recent) >= count)


@given(st.lists(st.floats(-0.01, 0.01), max_size=15), st.floats(1, 100), st.booleans(),
       st.integers(2, 12), st.integers(3, 9), st.lists(st.integers(1, 8)))  # fmt: skip
def test_cleaning_never_removes_a_sustained_step(noise: list[float], height: float, up: bool,
                                                  held: int, window: int,
                                                  cuts: list[int]) -> None:  # fmt: skip
    base = [5.0 + e for e in noise]
    step = [5.0 + (height if up else -height)] * held
    values = base + step
    rows = [(0, (i + 1) * MINUTE, v) for i, v in enumerate(values)]
    removed = cleaned(rows, cuts, window) & set(range(len(base), len(values)))
    # Only the step's first point may be held back (as a possible spike); from the second on,
    # every point passes: the step is delayed by one sampling interval at most, never removed.
    assert removed <= {len(base)}


@given(stream, st.integers(3, 9), st.lists(st.integers(1, 8)))
def test_cleaning_removes_only_lone_outliers(data: Stream,
                                             window: int, cuts: list[int]) -> None:  # fmt: skip
    rows, _ = unroll(*data)
    removed = cleaned(rows, cuts, window)
    for k in range(3):
        mine = [i for i, r in enumerate(rows) if r[0] == k]
        for a, b in itertools.pairwise(mine):
            assert not (a in removed and b in removed), "two spikes in a row are a real change"


def cleaned(rows: Rows, cuts: list[int], window: int) -> set[int]:
    ring = np.full((3, window), np.nan)
    last = np.zeros(3, dtype=bool)
    out: set[int] = set()
    i = 0
    for size in [*cuts, len(rows)]:
        idx = list(range(i, min(i + size, len(rows))))
        if not idx:
            break
        p, where = batched(rows, idx)
        out |= set(where[spikes(p, ring, last, 6.0, np.zeros(3))].tolist())
        i += size
    return out


@given(st.lists(st.one_of(st.none(), st.integers(0, 30)), min_size=2, max_size=2),
       st.integers(0, 40), st.integers(1, 20))  # fmt: skip
def test_a_coupled_rule_needs_every_leg(legs: list[int | None], now_min: int,
                                        within_min: int) -> None:  # fmt: skip
    ruleset = parse_ruleset({"rules": [
        {"id": "gas", "kind": "threshold", "type": "gas", "metric": "ch4",
         "asset_kinds": ["sewer_well"], "levels": {"蓝": 1}},
        {"id": "drop", "kind": "rate", "type": "drop", "metric": "pressure",
         "asset_kinds": ["gas_pipe"], "direction": "below", "levels": {"黄": -0.01}},
        {"id": "both", "kind": "coupled", "type": "risk", "asset_kinds": ["gas_pipe"],
         "level": "红", "within_s": within_min * 60,
         "when": [{"rule": "gas", "at": "adjacent", "kinds": ["sewer_well"]},
                  {"rule": "drop", "level": "黄"}]},
    ]})  # fmt: skip
    rule = ruleset.by_id("both")
    gas_at, drop_at = legs
    held = {
        "gas": np.full((2, 4), K.NONE, dtype=np.int64),
        "drop": np.full((2, 4), K.NONE, dtype=np.int64),
    }
    if gas_at is not None:
        held["gas"][1, 0] = gas_at * MINUTE  # the well (asset 1) beside the pipe (asset 0)
    if drop_at is not None:
        held["drop"][0, :2] = drop_at * MINUTE
    level = coupled_levels(rule, np.array([0]), held, Adjacency.of(2, [(0, 1)]),
                           ["gas_pipe", "sewer_well"], now_min * MINUTE)  # fmt: skip
    fresh = [t is not None and now_min - t <= within_min for t in legs]
    assert int(level[0]) == (4 if all(fresh) else 0)


def network() -> SeriesInfo:
    """A gas pipe with pressure, flow and temperature (a joint model) and two wells with gas."""
    n = 5
    return SeriesInfo(
        series_id=np.arange(100, 100 + n, dtype=np.int64),
        metric=["pressure", "flow", "temp", "ch4", "ch4"],
        device=["PT1", "FT1", "TT1", "GW1", "GW2"], asset_index=np.array([0, 0, 0, 1, 2]),
        interval_s=np.full(n, 60.0), asset_codes=["GP1", "MH1", "MH2"],
        asset_kinds=["gas_pipe", "sewer_well", "sewer_well"], asset_attributes=[{}] * 3,
        adjacency=Adjacency.of(3, [(0, 1), (0, 2)]),
    )  # fmt: skip


RULES = {
    "rules": [
        {"id": "gas", "kind": "threshold", "type": "gas", "metric": "ch4",
         "asset_kinds": ["sewer_well"], "levels": {"蓝": 1, "黄": 5, "橙": 10, "红": 20}},
        {"id": "gas_held", "kind": "threshold", "type": "gas_held", "metric": "ch4",
         "asset_kinds": ["sewer_well"], "levels": {"黄": 5}, "for_s": 180},
        {"id": "drop", "kind": "rate", "type": "drop", "metric": "pressure",
         "asset_kinds": ["gas_pipe"], "direction": "below", "levels": {"黄": -0.05}},
        {"id": "bursts", "kind": "repeat", "type": "bursts", "metric": "ch4",
         "asset_kinds": ["sewer_well"], "threshold": 8, "count": 2, "window_s": 900,
         "level": "橙"},
        {"id": "offline", "kind": "no_data", "type": "offline", "intervals": 3, "level": "蓝"},
        {"id": "risk", "kind": "coupled", "type": "risk", "asset_kinds": ["gas_pipe"],
         "level": "红", "when": [{"rule": "gas", "at": "adjacent"},
                                 {"rule": "drop", "level": "黄"}]},
    ],
    "anomaly": {"warmup": 3, "z": 4, "joint_min_series": 3, "common_min_series": 2},
}  # fmt: skip

readings = st.lists(st.tuples(st.integers(0, 4), st.floats(0, 30, allow_nan=False)),
                    min_size=1, max_size=8)  # fmt: skip


def feed(ev: Evaluator, batch: list[tuple[int, float]], minute: int) -> tuple[Observations, ...]:
    k = np.array([b[0] for b in batch], dtype=np.int64)
    ts = minute * MINUTE + np.arange(len(batch), dtype=np.int64) * 1000
    obs, _ = ev.process(k, ts, np.array([b[1] for b in batch]))
    return obs, ev.tick(minute * MINUTE + 59_000)


def as_rows(obs: Observations) -> list[tuple[int, ...]]:
    return sorted(zip(*(getattr(obs, f).tolist() for f in ("key", "peak", "peak_ts", "current",
                                                            "last_ts")), strict=True))  # fmt: skip


@given(st.lists(readings, min_size=2, max_size=40), st.data())
def test_a_restored_evaluator_decides_like_one_that_never_stopped(
    batches: list[list[tuple[int, float]]], data: st.DataObject
) -> None:
    stop = data.draw(st.integers(1, len(batches) - 1))
    info, ruleset = network(), parse_ruleset(RULES)
    running = Evaluator(ruleset, info)
    for minute, batch in enumerate(batches[:stop]):
        feed(running, batch, minute)
    restarted = Evaluator(ruleset, network())
    restarted.state.restore(running.state.export(info.series_id, info.asset_codes),
                            info.series_id, info.asset_codes)  # fmt: skip
    assert restarted.keys == running.keys
    for minute, batch in enumerate(batches[stop:], stop):
        a, b = feed(running, batch, minute), feed(restarted, batch, minute)
        assert as_rows(a[0]) == as_rows(b[0]) and as_rows(a[1]) == as_rows(b[1])


@given(st.integers(1, 10), st.integers(0, 40))
def test_no_data_fires_once_the_device_has_been_silent_long_enough(
    intervals: int, silent_min: int
) -> None:
    rules = {"rules": [{"id": "offline", "kind": "no_data", "type": "offline",
                        "intervals": intervals, "level": "黄"}]}  # fmt: skip
    ev = Evaluator(parse_ruleset(rules), network())
    ev.process(np.array([3]), np.array([0]), np.array([0.5]))
    obs = ev.tick(silent_min * MINUTE)
    gw1 = ev.keys.index(("device:GW1", "offline"))
    level = dict(zip(obs.key.tolist(), obs.current.tolist(), strict=True))
    assert level[gw1] == (2 if silent_min * MINUTE > intervals * 60_000 else 0)
    assert ("device:GW2", "offline") not in [ev.keys[k] for k in obs.key.tolist()]  # never seen
