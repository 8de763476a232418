"""Properties of the rule kernels (告警规则): each vectorised kernel, fed a random stream cut into
random batches, agrees with a naive point-by-point loop written here; spike cleaning never
removes a sustained step; coupled rules need every leg; no-data fires after the silence; and an
evaluator restored from its exported state decides exactly as one that never stopped."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from cityops.domain.errors import ImportRejected
from cityops.domain.lifeline import kernels as K
from cityops.domain.lifeline.cleaning import spikes
from cityops.domain.lifeline.coupled import Adjacency, coupled_levels
from cityops.domain.lifeline.evaluate import Evaluator, SeriesInfo
from cityops.domain.lifeline.observations import Observations
from cityops.domain.lifeline.ruleset import parse_ruleset
from cityops.domain.lifeline.state import StateArrays

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


def span_oracle(rows: Rows, over_ms: int, width: int, max_gap_ms: float,
                relative: bool) -> list[float]:  # fmt: skip
    """The span rate point by point: each series keeps the readings at least over/(width/2)
    after the last one it kept; the reference is among its last ``width`` kept, in reach."""
    ring: dict[int, list[tuple[int, float]]] = {}
    step = 2 * over_ms / width
    out = []
    for k, ts, v in rows:
        mine = ring.setdefault(k, [])
        reach = over_ms + max_gap_ms
        kept = [pt for pt in mine[-width:] if ts - pt[0] <= reach]  # the ring, in reach
        back = [pt for pt in kept if pt[0] <= ts - over_ms]
        half = [pt for pt in kept[:1] if ts - pt[0] >= over_ms / 2]  # history too short
        ref = back[-1] if back else (half[0] if half else None)
        expected = math.nan
        if ref is not None:
            pt, pv = ref
            change = v - pv if not relative else (100 * (v - pv) / abs(pv) if pv else math.nan)
            expected = change / ((ts - pt) / MINUTE)
        if not mine or ts - mine[-1][0] >= step:
            mine.append((ts, v))
        out.append(expected)
    return out


def span_kernel(rows: Rows, batches: list[list[int]], n_series: int, over_ms: int, width: int,
                max_gap_ms: float, relative: bool) -> dict[int, float]:  # fmt: skip
    ring_ts = np.full((n_series, width), K.NONE, dtype=np.int64)
    ring_v = np.zeros((n_series, width))
    gap = np.full(n_series, float(max_gap_ms))
    got: dict[int, float] = {}
    for idx in batches:
        p, where = batched(rows, idx)
        rates = K.span_rates(p, ring_ts, ring_v, over_ms, relative, gap)
        got.update(zip(where.tolist(), rates.tolist(), strict=True))
    return got


def same_rate(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)


@given(stream, st.booleans(), st.sampled_from([30_000, 3 * MINUTE, 7 * MINUTE]),
       st.integers(1, 8), st.sampled_from([2, 10]))  # fmt: skip
def test_span_rate_is_the_change_per_minute_against_the_value_a_span_ago(
    data: Stream, relative: bool, over_ms: int, width: int, max_gap_min: int
) -> None:
    rows, batches = unroll(*data)
    got = span_kernel(rows, batches, 3, over_ms, width, max_gap_min * MINUTE, relative)
    expected = span_oracle(rows, over_ms, width, max_gap_min * MINUTE, relative)
    for i, want in enumerate(expected):
        assert same_rate(got[i], want), (i, rows[: i + 1])


# Devices that report faster than they declared (they speed up during incidents): per series
# a speed-up of 1×–10× over the declared interval, a jitter of ±20 % on each gap; the series'
# turns, jitters and values cycle through short drawn lists, so streams are long enough to
# hold several spans.
cycle = st.lists(st.tuples(st.integers(0, 1), st.integers(-20, 20), st.integers(0, 12)),
                 min_size=1, max_size=12)  # fmt: skip


@given(cycle, st.integers(1, 400), st.lists(st.integers(1, 60)), st.sampled_from([10, 30, 60]),
       st.integers(2, 8), st.tuples(st.integers(1, 10), st.integers(1, 10)),
       st.booleans())  # fmt: skip
def test_a_span_rate_holds_its_span_when_devices_report_faster_than_declared(
    pattern: list[tuple[int, int, int]], n: int, cuts: list[int], declared_s: int, spans: int,
    speed: tuple[int, int], relative: bool,
) -> None:
    """The ring is sized by the declared interval; a device sending up to ten times faster
    still finds a reading a span back, so once it has a span of unbroken history the rate is
    never NaN — and it is what the point-by-point oracle says."""
    over_ms = spans * declared_s * 1000
    width = K.ring_width(over_ms / 1000, declared_s, 256)
    gap_ms = 5.0 * declared_s * 1000  # the evaluator's: five declared intervals
    clock = {0: 0, 1: 0}
    rows: Rows = []
    for k, jitter, v in itertools.islice(itertools.cycle(pattern), n):
        clock[k] += round(declared_s * 1000 / speed[k] * (1 + jitter / 100))
        rows.append((k, clock[k], float(v + len(rows) % 7) + 1.0))
    _, batches = unroll([(k, 1, 0) for k, _, _ in rows], cuts)
    got = span_kernel(rows, batches, 2, over_ms, width, gap_ms, relative)
    expected = span_oracle(rows, over_ms, width, gap_ms, relative)
    first = {k: min(ts for kk, ts, _ in rows if kk == k) for k, _, _ in rows}
    for i, (k, ts, _) in enumerate(rows):
        assert same_rate(got[i], expected[i]), (i, rows[: i + 1])
        if ts - first[k] >= over_ms:
            assert not math.isnan(got[i]), (i, rows[: i + 1])


@given(st.lists(st.floats(-0.5, 0.5), min_size=30, max_size=30), st.integers(2, 8))
def test_a_span_rate_sees_through_ripple_that_consecutive_points_do_not(
    ripple: list[float], over_min: int
) -> None:
    """Points a minute apart on a level line plus ripple: the rate against the previous point
    swings with the ripple; over a span it is at most the ripple's range over the span (half
    the span at the start, before a whole span of history)."""
    p = K.Sorted.of(np.zeros(30, dtype=np.int64), np.arange(30, dtype=np.int64) * MINUTE,
                    100.0 + np.array(ripple))  # fmt: skip
    ring_ts = np.full((1, over_min + 2), K.NONE, dtype=np.int64)
    rates = K.span_rates(p, ring_ts, np.zeros((1, over_min + 2)), over_min * MINUTE, False,
                         np.full(1, 5.0 * MINUTE))  # fmt: skip
    for i, rate in enumerate(rates.tolist()):
        if i < over_min / 2:
            assert math.isnan(rate)
        else:
            assert abs(rate) <= 1.0 / min(i, over_min) + 1e-9


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


def network(interval_s: float = 60.0) -> SeriesInfo:
    """A gas pipe with pressure, flow and temperature (a joint model) and two wells with gas."""
    n = 5
    return SeriesInfo(
        series_id=np.arange(100, 100 + n, dtype=np.int64),
        metric=["pressure", "flow", "temp", "ch4", "ch4"],
        device=["PT1", "FT1", "TT1", "GW1", "GW2"], asset_index=np.array([0, 0, 0, 1, 2]),
        interval_s=np.full(n, interval_s), asset_codes=["GP1", "MH1", "MH2"],
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
        {"id": "slide", "kind": "rate", "type": "slide", "metric": "pressure",
         "asset_kinds": ["gas_pipe"], "direction": "below", "relative": True, "over_s": 300,
         "levels": {"黄": -1, "红": -5}},
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


@given(st.lists(st.floats(0.2, 0.4), min_size=5, max_size=40), st.sampled_from([10.0, 30.0]))
def test_a_span_ring_of_another_width_keeps_its_newest_readings_on_restore(
    pressures: list[float], new_interval_s: float
) -> None:
    """Declared intervals changed between a snapshot and the restart (the ring's width with
    them): the span history is kept, not dropped — a wider ring keeps all of it, a narrower
    one the newest readings — so a drop right after the restart is still seen."""
    ruleset = parse_ruleset(RULES)
    running = Evaluator(ruleset, network())
    for minute, v in enumerate(pressures):
        running.process(np.array([0]), np.array([minute * MINUTE]), np.array([v]))
    ids, codes = network().series_id, network().asset_codes
    data = running.state.export(ids, codes)
    old = running.state["slide.span_ts"].copy()
    for interval, wider in ((new_interval_s, True), (600.0, False)):
        restarted = Evaluator(ruleset, network(interval))
        assert restarted.state.restore(data, ids, codes) > 0
        assert restarted.state.dropped == []
        new = restarted.state["slide.span_ts"]
        assert (new.shape[1] > old.shape[1]) == wider
        shared = min(old.shape[1], new.shape[1])
        assert (new[:, -shared:] == old[:, -shared:]).all()
        assert (new[:, :-shared] == K.NONE).all()
        if wider:  # the pressure halves (two readings: one alone is a spike): 红 at once
            for ev in (restarted, running):
                ev.process(np.zeros(2, np.int64), len(pressures) * MINUTE + np.array([0, MINUTE]),
                           np.full(2, min(pressures) / 2))  # fmt: skip
            assert restarted.state["slide.cur"][0] == running.state["slide.cur"][0] == 4


def test_a_state_array_that_no_longer_fits_is_named() -> None:
    old, new = StateArrays(2), StateArrays(2)
    old.add("window", np.ones((2, 3)))
    old.add("ring", np.arange(6).reshape(2, 3), ring=-1)
    new.add("window", np.zeros((2, 4)))
    new.add("ring", np.full((2, 2), -1), ring=-1)
    ids = np.array([7, 8], dtype=np.int64)
    assert new.restore(old.export(ids, []), ids, []) == 1
    assert new.dropped == ["window"] and (new["window"] == 0).all()
    assert new["ring"].tolist() == [[1, 2], [4, 5]]


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


def _rate_rule(**extra: object) -> dict[str, object]:
    rule = {"id": "slide", "kind": "rate", "type": "slide", "metric": "pressure",
            "asset_kinds": ["gas_pipe"], "direction": "below", "levels": {"黄": -1}}  # fmt: skip
    return rule | extra


def test_over_s_is_a_span_of_at_least_a_second_on_rate_rules_only() -> None:
    assert parse_ruleset({"rules": [_rate_rule(over_s=300)]}).rules[0].over_s == 300
    assert parse_ruleset({"rules": [_rate_rule()]}).rules[0].over_s == 0  # previous point
    for bad, reason in ((_rate_rule(over_s=0), "over_s must be a number ≥ 1"),
                        (_rate_rule(over_s="5m"), "over_s must be a number ≥ 1"),
                        (_rate_rule(kind="threshold", over_s=60), "rate rules only")):  # fmt: skip
        with pytest.raises(ImportRejected) as info:
            parse_ruleset({"rules": [bad]})
        assert any(reason in p.reason for p in info.value.problems)


def test_a_batch_of_spikes_only_does_not_bring_an_ended_coupled_alarm_back() -> None:
    """Both legs of the coupled rule held once, a month ago; then the pipe reports steadily
    and one lone outlier (held back as a spike) makes a batch of its own."""
    ev = Evaluator(parse_ruleset(RULES), network(), 0)
    month = 30 * 24 * 60 * MINUTE
    ev.state.asset("gas.held")[1, 0] = MINUTE  # the well beside the pipe
    ev.state.asset("drop.held")[0, :2] = MINUTE
    coupled = set(ev.coupled_keys[0][ev.coupled_keys[0] >= 0].tolist())
    for minute in range(20):  # steady pressure on the pipe (series 0)
        obs, _ = ev.process(np.array([0]), np.array([month + minute * MINUTE]), np.array([3.0]))
        assert not coupled & set(obs.key[obs.peak > 0].tolist())
    obs, spiked = ev.process(np.array([0]), np.array([month + 20 * MINUTE]), np.array([30.0]))
    assert spiked == 1
    assert not coupled & set(obs.key[obs.peak > 0].tolist())


def test_a_coupled_rule_raises_an_alarm_type_of_its_own() -> None:
    """One alarm per (asset, type): a coupled alarm ends when its conditions run out, a
    threshold's when its readings say so — one alarm cannot follow both."""
    shared = {"rules": [dict(r, type="drop") if r["id"] == "risk" else r
                        for r in RULES["rules"]]}  # fmt: skip
    with pytest.raises(ImportRejected) as info:
        parse_ruleset(shared)
    assert [(p.item, p.reason) for p in info.value.problems] == [
        ("risk", "type drop is also rule drop's: a coupled rule raises an alarm type of its own")]
