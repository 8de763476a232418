"""Properties of the anomaly detectors (异常检测): the joint subspace model sees a broken relation
between series that each stay in range, and both detectors restart from their state exactly."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from cityops.domain.lifeline.anomaly import SeasonalBaseline, hour_of_day
from cityops.domain.lifeline.kernels import Sorted
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
