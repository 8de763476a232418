"""The lifeline simulator: deterministic, realistic enough, and its incidents have their shapes."""

from __future__ import annotations

import orjson
import pytest

from cityops.demo.lifeline_sim import INCIDENTS, LifelineSim, SimSeries

T = 1_795_485_600.0  # 2026-11-22 10:00 Asia/Shanghai


@pytest.fixture(scope="module")
def sim() -> LifelineSim:
    return LifelineSim.demo(incident_every_s=600)


def _series(sim: LifelineSim, asset: str, metric: str) -> SimSeries:
    return next(s for s in sim.series if s.asset == asset and s.metric == metric)


def test_the_same_instant_gives_the_same_traffic(sim: LifelineSim) -> None:
    again = LifelineSim.demo(incident_every_s=600)
    a, b = sim.messages(T, T + 300), again.messages(T, T + 300)
    assert [m.payload for m in a] == [m.payload for m in b]
    assert len(a) > 500 and sum(m.points for m in a) > 2000  # the whole network speaks
    pack = orjson.loads(a[0].payload)
    assert "bt" in pack[0] and "u" in pack[0] and all("n" in r for r in pack)


def test_incidents_cycle_through_the_four_kinds(sim: LifelineSim) -> None:
    n0 = int(T // 600)
    kinds = [sim.incident(n).kind for n in range(n0, n0 + 4)]
    assert sorted(kinds) == sorted(INCIDENTS)
    assert sim.incidents(T, T + 2400) and all(i.assets for i in sim.incidents(T, T + 2400))


def _first(sim: LifelineSim, kind: str) -> object:
    n = int(T // 600)
    while sim.incident(n).kind != kind:
        n += 1
    return sim.incident(n)


def test_a_gas_leak_raises_methane_in_the_wells_and_drops_the_pipe_pressure(
    sim: LifelineSim,
) -> None:
    inc = _first(sim, "gas_leak")
    pipe, *wells = inc.assets  # type: ignore[attr-defined]
    before, peak = inc.start - 30, inc.end - 30  # type: ignore[attr-defined]
    p = _series(sim, pipe, "pressure")
    assert sim.value(p, peak) < 0.8 * sim.value(p, before)  # type: ignore[operator]
    for well in wells:
        ch4 = _series(sim, well, "ch4")
        assert sim.value(ch4, before) < 3 < 25 < sim.value(ch4, peak)  # type: ignore[operator]
    # the detectors report every minute while it lasts (their normal interval is 5 min)
    times = [ts for s, ts, _ in sim.samples(inc.start, inc.end) if s.asset == wells[0]  # type: ignore[attr-defined]
             and s.metric == "ch4"]  # fmt: skip
    assert len(times) >= 5


def test_a_water_main_burst_collapses_pressure_and_surges_flow(sim: LifelineSim) -> None:
    inc = _first(sim, "water_burst")
    (main,) = inc.assets  # type: ignore[attr-defined]
    p, f = _series(sim, main, "pressure"), _series(sim, main, "flow")
    before, after = inc.start - 30, inc.start + 180  # type: ignore[attr-defined]
    assert sim.value(p, after) < 0.5 * sim.value(p, before)  # type: ignore[operator]
    assert sim.value(f, after) > 2 * sim.value(f, before)  # type: ignore[operator]


def test_a_storm_rains_everywhere_and_one_crossing_floods(sim: LifelineSim) -> None:
    inc = _first(sim, "drainage_overflow")
    (node,) = inc.assets  # type: ignore[attr-defined]
    late = inc.end - 30  # type: ignore[attr-defined]
    # it overflows (2 m: the drainage-level rule's default height): 红, a case, not just 黄
    assert sim.value(_series(sim, node, "level"), late) > 2.0  # type: ignore[operator]
    rains = [sim.value(s, late) for s in sim.series if s.metric == "rain"]
    assert len(rains) > 3 and all(r is not None and r > 2 for r in rains)
    assert sim.value(_series(sim, node, "level"), inc.start - 30) < 0.3  # type: ignore[attr-defined,operator]


def test_a_bridge_overload_strains_the_span(sim: LifelineSim) -> None:
    inc = _first(sim, "bridge_overload")
    (span,) = inc.assets  # type: ignore[attr-defined]
    s, d = _series(sim, span, "strain"), _series(sim, span, "deflection")
    late, before = inc.end - 30, inc.start - 30  # type: ignore[attr-defined]
    assert sim.value(s, late) > sim.value(s, before) + 1500  # type: ignore[operator]
    assert sim.value(d, late) > sim.value(d, before) + 40  # type: ignore[operator]


def test_normal_days_have_shape_noise_spikes_and_outages(sim: LifelineSim) -> None:
    quiet = [s for s in sim.series if s.asset_kind == "water_main" and s.metric == "pressure"]
    # demand peaks in the evening: water pressure is lower at 20:00 than at 03:00 (local)
    night, evening = T - 7 * 3600, T + 10 * 3600  # 03:00 and 20:00 Shanghai
    lower = sum(1 for s in quiet if (sim.value(s, evening, []) or 9) < (sim.value(s, night, [])
                                                                        or 0))  # fmt: skip
    assert lower > 0.8 * len(quiet)
    day = [sim.value(s, T + i * 60, []) for s in sim.series[:200] for i in range(0, 1440, 7)]
    offline = sum(v is None for v in day) / len(day)
    assert 0.001 < offline < 0.05  # devices go offline now and then, not often
    values = [v for v in day if v is not None]
    assert all(s.lo <= v <= s.hi for s in sim.series[:1] for v in values[:10])


def test_bench_packs_are_distinct_points_of_known_devices(sim: LifelineSim) -> None:
    msgs = list(sim.bench_messages(3000, 8, T))
    seen = set()
    for m in msgs:
        pack = orjson.loads(m.payload)
        assert len(pack) == m.points == 8
        bt = pack[0]["bt"]
        for r in pack:
            seen.add((m.device, r["n"], bt + r.get("t", 0)))
    assert len(seen) == 3000 * 8 and {m.device for m in msgs} <= set(sim.by_device)


def test_incidents_too_close_together_to_raise_anything_are_refused() -> None:
    """An incident lasts 0.6 of the spacing: under 300 s a busy sensor sends too few readings
    for a cleaned, held alarm, so the setting is refused with its name."""
    from pydantic import ValidationError

    from cityops.config import Settings

    with pytest.raises(ValidationError, match="simulate_incident_every_s"):
        Settings(simulate_incident_every_s=120)
    assert Settings(simulate_incident_every_s=300).simulate_incident_every_s == 300
