"""The rules stage alone (clean → rules → anomaly → coupled), in process, no database.

The demo's rule set over a synthetic network shaped like the demo city's lifelines (gas pipes
with pressure, two wells each with methane, water mains): batches of 60,000 points of normal
readings. Prints JSON lines: points/s of Evaluator.process beside the goal of the whole path
(issue 5 §8: ≥ 60,000 points/s on 2 cores; this one stage must be well above it), and the
span-rate rings' memory beside one ring per series.
"""

from __future__ import annotations

import time

import numpy as np
from benchdb import emit

from cityops.domain.lifeline.coupled import Adjacency
from cityops.domain.lifeline.evaluate import Evaluator, SeriesInfo
from cityops.domain.lifeline.ruleset import parse_ruleset
from cityops.service.lifeline.rulesets import default_content

PIPES, BATCH, BATCHES = 2000, 60_000, 30


def main() -> None:
    n_assets = 3 * PIPES  # a pipe and two wells each
    kinds = ["gas_pipe"] * PIPES + ["sewer_well"] * (2 * PIPES)
    pairs = [(p, PIPES + 2 * p + j) for p in range(PIPES) for j in (0, 1)]
    n = n_assets  # one series per asset: pipe pressure, well methane
    info = SeriesInfo(
        series_id=np.arange(n), metric=["pressure"] * PIPES + ["ch4"] * (2 * PIPES),
        device=[f"D{i}" for i in range(n)], asset_index=np.arange(n),
        interval_s=np.full(n, 1.0), asset_codes=[f"A{i}" for i in range(n)], asset_kinds=kinds,
        asset_attributes=[{}] * n, adjacency=Adjacency.of(n_assets, pairs),
    )  # fmt: skip
    ev = Evaluator(parse_ruleset(default_content()), info)
    rng = np.random.default_rng(7)
    t0, elapsed, points = 1_790_000_000_000, 0.0, 0
    per_series = BATCH // n
    for b in range(BATCHES):
        k = np.repeat(np.arange(n), per_series)
        ts = t0 + (b * per_series + np.tile(np.arange(per_series), n)) * 1000
        v = np.where(k < PIPES, 0.3 + rng.normal(0, 0.002, len(k)),
                     np.abs(rng.normal(1.0, 0.3, len(k))))  # fmt: skip
        start = time.perf_counter()
        ev.process(k, ts, v)
        if b >= 3:  # after warm-up (cleaning windows, baselines)
            elapsed += time.perf_counter() - start
            points += len(k)
    emit("rules_stage", points / elapsed, "points/s", "goal_whole_path", 60_000, points=points,
         series=n, rules=len(ev.rules) + len(ev.coupled))  # fmt: skip
    # Rate-over-a-span rings exist only for the series a span rule covers (the pipes' pressure,
    # not the wells' methane): their memory beside a ring for every series.
    rings = [a for name, a in ev.state.series.items() if ".span_" in name]
    covered = len(rings[0]) if rings else 0
    ring_bytes = sum(a.nbytes for a in rings)
    per_series = ring_bytes / covered if covered else 0.0
    emit("span_ring_memory", ring_bytes, "bytes", "a_ring_per_series", per_series * n,
         covered_series=covered, series=n)  # fmt: skip


if __name__ == "__main__":
    main()
