"""The packaged gas-pressure-drop rule over simulated hours of the demo's gas pipes: every gas
leak raises it, the transmitters' ripple never does (the simulator's occasional double glitch,
which spike cleaning keeps as a real change, is not in this window) — also when the
transmitters report several times faster than they declared, as devices do in an incident."""

from __future__ import annotations

import math

import numpy as np
import pytest

from cityops.demo.lifeline_sim import LifelineSim
from cityops.domain.lifeline.coupled import Adjacency
from cityops.domain.lifeline.evaluate import Evaluator, SeriesInfo
from cityops.domain.lifeline.ruleset import parse_ruleset
from cityops.service.lifeline.rulesets import default_content

T0 = 1_795_449_600.0  # 2026-11-22 00:00 Asia/Shanghai
HOURS = 8
YELLOW = 2


Levels = tuple[LifelineSim, dict[str, list[tuple[float, int]]]]


@pytest.fixture(scope="module", params=[1, 6], ids=["as-declared", "6x-faster"])
def levels(request: pytest.FixtureRequest) -> Levels:
    """The rule's level per gas pipe after each simulated minute (half an hour of warm-up),
    the transmitters sampling ``param`` times per declared interval."""
    speed: int = request.param
    sim = LifelineSim.demo()
    series = [s for s in sim.series if s.asset_kind == "gas_pipe" and s.metric == "pressure"]
    pipes = sorted({s.asset for s in series})
    n = len(series)
    info = SeriesInfo(
        series_id=np.arange(n, dtype=np.int64), metric=["pressure"] * n,
        device=[s.device for s in series],
        asset_index=np.array([pipes.index(s.asset) for s in series], dtype=np.int64),
        interval_s=np.array([s.interval_s for s in series]), asset_codes=pipes,
        asset_kinds=["gas_pipe"] * len(pipes), asset_attributes=[{}] * len(pipes),
        adjacency=Adjacency.of(len(pipes), []),
    )  # fmt: skip
    ev = Evaluator(parse_ruleset(default_content()), info)
    out: dict[str, list[tuple[float, int]]] = {p: [] for p in pipes}
    for minute in range(-30, HOURS * 60):
        t = T0 + minute * 60
        k, ts, v = [], [], []
        for i, s in enumerate(series):
            every = s.interval_s / speed  # the series stays declared at s.interval_s
            at = s.phase + math.ceil((t - s.phase) / every) * every
            for when in np.arange(at, t + 60, every).tolist():
                value = sim.value(s, when)
                if value is not None:
                    k.append(i)
                    ts.append(round(when * 1000))
                    v.append(value)
        ev.process(np.array(k, dtype=np.int64), np.array(ts, dtype=np.int64), np.array(v))
        if minute >= 0:
            for i, s in enumerate(series):
                out[s.asset].append((t, int(ev.state["gas-pressure-drop.cur"][i])))
    return sim, out


def test_every_gas_leak_raises_the_drop_and_ripple_never_does(levels: Levels) -> None:
    sim, by_pipe = levels
    leaks = [i for i in sim.incidents(T0, T0 + HOURS * 3600) if i.kind == "gas_leak"]
    assert len(leaks) >= HOURS
    for leak in leaks:
        during = [lv for t, lv in by_pipe[leak.assets[0]] if leak.start <= t <= leak.end]
        assert max(during) >= YELLOW, leak
    false = [(pipe, t) for pipe, seq in by_pipe.items() for t, lv in seq if lv >= YELLOW
             and not any(i.assets[0] == pipe and i.start <= t <= i.end + 60 for i in leaks)]
    assert false == []
