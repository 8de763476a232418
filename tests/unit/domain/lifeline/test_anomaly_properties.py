"""Properties of the anomaly detectors (异常检测): the joint subspace model sees a broken relation
between series that each stay in range, both detectors restart from their state exactly, and a
movement of the whole network (rain on every gauge) flags only the series that depart from it."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from cityops.domain.lifeline.anomaly import (
    SeasonalBaseline,
    group_medians,
    hour_of_day,
    like_series,
)
from cityops.domain.lifeline.coupled import Adjacency
from cityops.domain.lifeline.evaluate import ANOMALY, Evaluator, SeriesInfo
from cityops.domain.lifeline.kernels import Sorted
from cityops.domain.lifeline.observations import Observations
from cityops.domain.lifeline.ruleset import parse_ruleset
from cityops.domain.lifeline.state import StateArrays
from cityops.domain.lifeline.subspace import JointBaselines, JointConfig, groups_by_asset

HOUR = 3_600_000
IDS = np.array([11, 12, 13, 14], dtype=np.int64)
ASSETS = np.array([0, 0, 0, 1], dtype=np.int64)  # a station with three series, a lone gauge


def station(state: StateArrays, cfg: JointConfig | None = None) -> JointBaselines:
    cfg = cfg or JointConfig()
    groups = groups_by_asset(ASSETS, np.ones(4, dtype=bool), cfg.min_series)
    return JointBaselines(groups, ASSETS, IDS, 2, state, cfg)


def vector(ts: int, values: np.ndarray) -> Sorted:
    return Sorted.of(np.arange(4, dtype=np.int64), np.full(4, ts, dtype=np.int64), values)


def normal(rng: np.random.Generator) -> np.ndarray:
    """Flow drives pressure drop; the tank level and the lone gauge wander on their own."""
    flow = rng.uniform(20, 80)
    return np.array([flow, 0.05 * flow + rng.normal(0, 0.01), rng.uniform(2, 5),
                     rng.uniform(0, 1)])  # fmt: skip


def test_groups_are_assets_with_enough_watched_series() -> None:
    assert [g.tolist() for g in groups_by_asset(ASSETS, np.ones(4, dtype=bool), 3)] == [[0, 1, 2]]
    assert groups_by_asset(ASSETS, np.array([True, True, False, True]), 3) == []
    assert groups_by_asset(ASSETS, np.ones(4, dtype=bool), 0) == []


@given(st.integers(0, 2**32 - 1), st.floats(25, 40))
def test_a_broken_relation_is_anomalous_though_each_series_is_in_range(
    seed: int, flow: float
) -> None:
    rng = np.random.default_rng(seed)
    joint = station(StateArrays(4))
    for t in range(300):
        joint.process(vector(t * HOUR, normal(rng)))
    usual = joint.process(vector(300 * HOUR, np.array([flow, 0.05 * flow, 3.0, 0.5])))
    # The flow with the pressure drop of a flow 40 m³/h higher: both values seen before.
    broken = joint.process(vector(301 * HOUR, np.array([flow, 0.05 * (flow + 40), 3.0, 0.5])))
    assert usual.asset.tolist() == broken.asset.tolist() == [0]
    assert not usual.anomalous[0]
    assert broken.anomalous[0] and broken.z[0] > usual.z[0]


def test_nothing_is_scored_until_every_member_has_reported() -> None:
    joint = station(StateArrays(4))
    partial = Sorted.of(np.array([0, 1]), np.array([0, 0]), np.array([1.0, 2.0]))
    scored = joint.process(partial)
    assert scored.asset.tolist() == [0] and np.isnan(scored.z).all()


vectors = st.lists(st.lists(st.floats(-50, 50), min_size=4, max_size=4), min_size=2,
                   max_size=120)  # fmt: skip


@given(vectors, st.data())
def test_the_joint_model_restarts_from_its_state_exactly(
    rows: list[list[float]], data: st.DataObject
) -> None:
    cfg = JointConfig(refit=5)
    stop = data.draw(st.integers(1, len(rows) - 1))
    running_state = StateArrays(4)
    running = station(running_state, cfg)
    for t, row in enumerate(rows[:stop]):
        running.process(vector(t * HOUR, np.array(row)))
    restarted_state = StateArrays(4)
    restarted = station(restarted_state, cfg)
    restarted_state.restore(running_state.export(IDS, ["PS1", "G1"]), IDS, ["PS1", "G1"])
    for t, row in enumerate(rows[stop:], stop):
        a = running.process(vector(t * HOUR, np.array(row)))
        b = restarted.process(vector(t * HOUR, np.array(row)))
        np.testing.assert_array_equal(a.z, b.z)


def test_a_group_whose_members_changed_starts_afresh() -> None:
    rng = np.random.default_rng(5)
    old_state = StateArrays(4)
    old = station(old_state)
    for t in range(100):
        old.process(vector(t * HOUR, normal(rng)))
    renumbered = np.array([11, 12, 99, 14], dtype=np.int64)  # a sensor replaced
    new_state = StateArrays(4)
    groups = groups_by_asset(ASSETS, np.ones(4, dtype=bool), 3)
    new = JointBaselines(groups, ASSETS, renumbered, 2, new_state, JointConfig())
    new_state.restore(old_state.export(IDS, ["PS1", "G1"]), renumbered, ["PS1", "G1"])
    assert new_state.asset("joint.seen")[0] == 100  # restored as stored …
    new.process(vector(100 * HOUR, normal(rng)))
    assert new_state.asset("joint.seen")[0] == 1  # … but not trusted: learning starts over


@given(st.lists(st.tuples(st.integers(0, 2), st.integers(0, 72), st.floats(-10, 10)),
                min_size=2, max_size=80), st.data())  # fmt: skip
def test_the_seasonal_baseline_restarts_from_its_state_exactly(
    points: list[tuple[int, int, float]], data: st.DataObject
) -> None:
    points = sorted(points, key=lambda p: p[1])
    stop = data.draw(st.integers(1, len(points) - 1))

    def feed(b: SeasonalBaseline, part: list[tuple[int, int, float]]) -> list[float]:
        out = []
        for k, hour, v in part:
            z, _ = b.detect(np.array([k]), hour_of_day(np.array([hour * HOUR]), 0), np.array([v]))
            out.append(float(z[0]))
        return out

    running = SeasonalBaseline(3, warmup=2)
    feed(running, points[:stop])
    restarted = SeasonalBaseline(3, warmup=2)
    for name in ("mean", "dev", "seen"):
        getattr(restarted, name)[:] = getattr(running, name)
    np.testing.assert_array_equal(feed(running, points[stop:]), feed(restarted, points[stop:]))


# -- common mode: the network's own movement is not N device anomalies ---------------------------

MINUTE = 60_000


def gauges(n: int) -> SeriesInfo:
    """``n`` water-level gauges, one per drainage node, reporting every minute."""
    return SeriesInfo(
        series_id=np.arange(n, dtype=np.int64), metric=["level"] * n,
        device=[f"WLV{i}" for i in range(n)], asset_index=np.arange(n, dtype=np.int64),
        interval_s=np.full(n, 60.0), asset_codes=[f"DN{i}" for i in range(n)],
        asset_kinds=["drainage_node"] * n, asset_attributes=[{}] * n,
        adjacency=Adjacency.of(n, []),
    )  # fmt: skip


def flagged_gauges(ev: Evaluator, obs: Observations) -> set[str]:
    keys = [ev.keys[k] for k in obs.key[obs.peak > 0].tolist()]
    return {subject for subject, alarm_type in keys if alarm_type == ANOMALY}


def storm(n: int, seed: int, rise: float, common_min_series: int, flooded: int) -> set[str]:
    """Half an hour of quiet, then every gauge rises by ``rise`` m and gauge ``flooded`` by
    five times that and half a metre more; the gauges flagged during the storm."""
    rng = np.random.default_rng(seed)
    noise = rng.uniform(0.005, 0.02, n)  # gauges differ in how quiet they are
    base = rng.uniform(0.05, 0.15, n)
    rules = {"rules": [], "anomaly": {"metrics": ["level"], "warmup": 12, "joint_min_series": 0,
                                      "common_min_series": common_min_series}}  # fmt: skip
    ev = Evaluator(parse_ruleset(rules), gauges(n), utc_offset_s=0)
    k = np.arange(n, dtype=np.int64)
    flagged: set[str] = set()
    for minute in range(45):
        level = base + rng.normal(0, noise)
        if minute >= 30:
            level += rise
            level[flooded] += 4 * rise + 0.5
        obs, _ = ev.process(k, minute * MINUTE + rng.integers(0, 50_000, n), level)
        if minute >= 30:
            flagged |= flagged_gauges(ev, obs)
    return flagged


@given(st.integers(6, 16), st.integers(0, 2**32 - 1), st.floats(0.3, 1.0), st.data())
def test_a_rise_across_the_network_flags_only_the_gauge_that_departs_from_it(
    n: int, seed: int, rise: float, data: st.DataObject
) -> None:
    flooded = data.draw(st.integers(0, n - 1))
    assert storm(n, seed, rise, 5, flooded) == {f"device:WLV{flooded}"}
    # Judged alone, every gauge is an anomaly: the storm is far outside each one's spread.
    assert storm(n, seed, rise, 0, flooded) == {f"device:WLV{i}" for i in range(n)}


def test_too_few_like_series_are_judged_alone() -> None:
    assert storm(4, 7, 0.5, 5, 0) == {f"device:WLV{i}" for i in range(4)}


@given(st.lists(st.tuples(st.integers(0, 4), st.floats(-1e6, 1e6)), min_size=1, max_size=60))
def test_group_medians_are_the_medians_of_each_group(items: list[tuple[int, float]]) -> None:
    group = np.array([g for g, _ in items], dtype=np.int64)
    values = np.array([v for _, v in items])
    median, count = group_medians(group, values, 6)
    for g in range(6):
        mine = values[group == g]
        assert count[g] == len(mine)
        if len(mine):
            assert median[g] == np.median(mine)
        else:
            assert np.isnan(median[g])


def test_like_series_are_one_metric_on_one_kind_of_asset() -> None:
    kinds = ["drainage_node"] * 3 + ["water_main"] * 3
    metrics = ["level", "level", "level", "pressure", "pressure", "level"]
    watched = np.array([True, True, True, True, True, False])
    assert like_series(kinds, metrics, watched, 2).tolist() == [0, 0, 0, 1, 1, -1]
    assert like_series(kinds, metrics, watched, 3).tolist() == [0, 0, 0, -1, -1, -1]
    assert like_series(kinds, metrics, watched, 0).tolist() == [-1] * 6
