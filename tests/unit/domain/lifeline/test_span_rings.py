"""Span rings (rate rules with ``over_s``) only for the series a span rule covers: the others
carry none, and a rule set that starts covering a series starts its ring, so the rule fires
there as it would have from a fresh start; one that stops covering it leaves the ring behind."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from cityops.domain.lifeline import kernels as K
from cityops.domain.lifeline.coupled import Adjacency
from cityops.domain.lifeline.evaluate import Evaluator, SeriesInfo
from cityops.domain.lifeline.ruleset import parse_ruleset
from cityops.domain.lifeline.state import StateArrays

MINUTE = 60_000
KINDS = ["gas_pipe", "water_main", "sewer_well"]
METRICS = ["pressure", "flow", "ch4"]


def network(series: list[tuple[int, int]]) -> SeriesInfo:
    """One asset of each kind; ``series`` = (asset, metric index) per series."""
    n = len(series)
    return SeriesInfo(
        series_id=np.arange(500, 500 + n, dtype=np.int64),
        metric=[METRICS[m] for _, m in series], device=[f"D{k}" for k in range(n)],
        asset_index=np.array([a for a, _ in series], dtype=np.int64),
        interval_s=np.full(n, 60.0), asset_codes=["GP1", "WM1", "MH1"], asset_kinds=KINDS,
        asset_attributes=[{}] * 3, adjacency=Adjacency.of(3, [(0, 2)]),
    )  # fmt: skip


def rules(*kinds: str) -> dict[str, object]:
    return {"rules": [
        {"id": "drop", "kind": "rate", "type": "pressure_drop", "metric": "pressure",
         "asset_kinds": list(kinds), "direction": "below", "relative": True, "over_s": 300,
         "levels": {"黄": -1, "橙": -3, "红": -6}},
        {"id": "high", "kind": "threshold", "type": "high", "metric": "pressure",
         "asset_kinds": list(KINDS), "levels": {"黄": 5}},
    ], "anomaly": {"enabled": False}}  # fmt: skip


@given(st.lists(st.tuples(st.integers(0, 2), st.integers(0, 2)), min_size=1, max_size=12),
       st.sets(st.sampled_from(KINDS), min_size=1))  # fmt: skip
def test_only_the_series_a_span_rule_covers_have_a_ring(
    series: list[tuple[int, int]], kinds: set[str]
) -> None:
    info = network(series)
    ev = Evaluator(parse_ruleset(rules(*sorted(kinds))), info)
    covered = [k for k, (a, m) in enumerate(series) if KINDS[a] in kinds and METRICS[m] ==
               "pressure"]  # fmt: skip
    for name in ("drop.span_ts", "drop.span_value"):
        assert ev.state.rows[name].tolist() == covered
        assert len(ev.state[name]) == len(covered)
    assert "high.since" not in ev.state.rows  # other state stays one row per series


def feed(ev: Evaluator, minute: int, values: dict[int, float]) -> dict[int, int]:
    """One reading per series at ``minute``; the drop rule's level per series after it."""
    k = np.array(sorted(values), dtype=np.int64)
    ev.process(k, np.full(len(k), minute * MINUTE), np.array([values[x] for x in k.tolist()]))
    return {x: int(ev.state["drop.cur"][x]) for x in k.tolist()}


def rebuilt(old: Evaluator, ruleset: dict[str, object], info: SeriesInfo) -> Evaluator:
    """A new rule set in force: the service builds anew and carries the state over."""
    ev = Evaluator(parse_ruleset(ruleset), info)
    ev.state.restore(old.state.export(old.info.series_id, old.info.asset_codes),
                     info.series_id, info.asset_codes)  # fmt: skip
    return ev


@given(st.integers(0, 8), st.integers(7, 12), st.sampled_from([0.97, 0.95, 0.9]))
def test_a_rule_set_that_starts_covering_a_series_starts_its_ring(
    before: int, steady: int, fall: float
) -> None:
    """A gas pipe and a water main, both with pressure; at first the span rule covers the
    pipe only. After the switch the main's ring starts empty and fills; a fall over the span
    then raises exactly the level a rule set in force from the switch on would, and the pipe
    keeps deciding as if nothing had changed."""
    info = network([(0, 0), (1, 0), (2, 2)])  # pipe pressure, main pressure, well methane
    pipe, main = 0, 1
    old = Evaluator(parse_ruleset(rules("gas_pipe")), info)
    all_along = Evaluator(parse_ruleset(rules("gas_pipe", "water_main")), info)
    for minute in range(before):
        for ev in (old, all_along):
            feed(ev, minute, {pipe: 0.3, main: 0.4, 2: 1.0})
    assert old.state.rows["drop.span_ts"].tolist() == [pipe]
    switched = rebuilt(old, rules("gas_pipe", "water_main"), info)
    assert switched.state.rows["drop.span_ts"].tolist() == [pipe, main]
    assert (switched.state["drop.span_ts"][1] == K.NONE).all()  # the main's ring: new, empty
    fresh = Evaluator(parse_ruleset(rules("gas_pipe", "water_main")), info)
    readings = [{pipe: 0.3, main: 0.4, 2: 1.0}] * steady + \
        [{pipe: 0.3 * fall ** j, main: 0.4 * fall ** j, 2: 1.0} for j in range(1, 8)]  # fmt: skip
    for minute, values in enumerate(readings, before):
        got, want = feed(switched, minute, values), feed(fresh, minute, values)
        assert got[main] == want[main]
        assert got[pipe] == feed(all_along, minute, values)[pipe]
    # over the span (5 min) a fall of f a minute is 100·(f⁵ − 1)/5 %/min: −2.8, −4.5, −8.2
    assert got[main] == {0.97: 2, 0.95: 3, 0.9: 4}[fall]


def test_a_series_no_longer_covered_loses_its_ring() -> None:
    info = network([(0, 0), (1, 0)])
    both = Evaluator(parse_ruleset(rules("gas_pipe", "water_main")), info)
    for minute in range(8):
        feed(both, minute, {0: 0.3, 1: 0.4})
    pipe_only = rebuilt(both, rules("gas_pipe"), info)
    assert pipe_only.state.rows["drop.span_ts"].tolist() == [0]
    assert (pipe_only.state["drop.span_ts"] == both.state["drop.span_ts"][:1]).all()
    back = rebuilt(pipe_only, rules("gas_pipe", "water_main"), info)
    assert (back.state["drop.span_ts"][1] == K.NONE).all()  # started afresh, not stale


def test_a_snapshot_with_a_row_per_series_restores_into_rows_for_some() -> None:
    """Snapshots taken before rings had rows of their own (one per series) still restore."""
    ids = np.array([7, 8, 9], dtype=np.int64)
    old, new = StateArrays(3), StateArrays(3)
    old.add("ring", np.arange(6).reshape(3, 2), ring=-1)
    new.add("ring", np.full((2, 2), -1), ring=-1, rows=np.array([0, 2]))
    assert new.restore(old.export(ids, []), ids, []) == 1
    assert new["ring"].tolist() == [[0, 1], [4, 5]]
    again = StateArrays(3)
    again.add("ring", np.full((3, 3), -1), ring=-1)  # … and back to one per series, wider
    assert again.restore(new.export(ids, []), ids, []) == 1
    assert again["ring"].tolist() == [[-1, 0, 1], [-1, -1, -1], [-1, 4, 5]]
