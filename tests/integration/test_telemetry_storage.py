"""Telemetry storage on SQLite and PostgreSQL: roll-ups stay exact through random batches
(late, duplicate, out-of-order) and retention sweeps, and migration 0008 keeps the answers."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import orjson
import pytest
from alembic import command
from alembic.config import Config
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from cityops.adapters.db.engine import MIGRATIONS
from cityops.adapters.db.lifeline_models import ReadingRow, Rollup1mRow
from cityops.bootstrap import App
from cityops.service.principal import SYSTEM
from cityops.service.telemetry import RawMessage, telemetry
from cityops.service.telemetry.queries import SeriesQuery, latest, series
from cityops.service.telemetry.retention import sweep_retention
from tests.conftest import Clock

DAY_MS = 86_400_000
WINDOW = timedelta(days=10)  # under the 20,000 one-minute buckets a query may return
AGGS = ("avg", "min", "max", "last", "count")

# One batch: readings as (ms before now, value index), then how far the clock moves (minutes)
# and whether retention is swept. Few distinct times make duplicates and same-minute points.
_before = st.one_of(
    st.integers(0, 40).map(lambda i: i * 37_000 + i % 3), st.just(30 * DAY_MS + 60_000)
)  # the last: older than the raw retention
_reading = st.tuples(_before, st.integers(0, 9))
_batch = st.tuples(st.lists(_reading, min_size=1, max_size=25),
                   st.sampled_from([0, 1, 7, 90, 1440, 31 * 1440]), st.booleans())  # fmt: skip


def _plain_series(app: App) -> Iterator[tuple[str, str, float, float]]:
    """Series stored as sent (no calibration) with a finite range: (device, metric, lo, hi)."""
    snap = telemetry(app).registry.get()
    for k in range(len(snap)):
        lo, hi = float(snap.range_min[k]), float(snap.range_max[k])
        if snap.scale[k] == 1.0 and snap.offset[k] == 0.0 and lo > -1e300 and hi < 1e300:
            yield snap.device_of[k].code, snap.metric[k], lo, hi


def _now_ms(app: App) -> int:
    return int(app.clock().timestamp() * 1000)


def _answers(
    app: App, device: str, metric: str, lo: int, hi: int, step: str
) -> dict[str, dict[str, float]]:
    """agg → {bucket: value}, queried window by window over [lo, hi)."""
    out: dict[str, dict[str, float]] = {agg: {} for agg in AGGS}
    start = datetime.fromtimestamp(lo / 1000, UTC)
    stop = datetime.fromtimestamp(hi / 1000, UTC)
    while start < stop:
        end = min(start + WINDOW, stop)
        for agg in AGGS:
            got = series(app, SYSTEM, SeriesQuery(device, metric, start, end, step, agg))
            out[agg].update((p["ts"], p["value"]) for p in got["points"])
        start = end
    return out


def _expected(history: dict[int, float], width: int, kept_from: int) -> dict[str, dict[str, float]]:
    buckets: dict[int, list[tuple[int, float]]] = defaultdict(list)
    for t, v in sorted(history.items()):
        if t - t % width >= kept_from:
            buckets[t - t % width].append((t, v))
    out: dict[str, dict[str, float]] = {agg: {} for agg in AGGS}
    for b, xs in buckets.items():
        key = datetime.fromtimestamp(b / 1000, UTC).isoformat().replace("+00:00", "Z")
        values = [v for _, v in xs]
        for agg, value in zip(AGGS, (sum(values) / len(values), min(values), max(values),
                                     xs[-1][1], len(values)), strict=True):  # fmt: skip
            out[agg][key] = value
    return out


def _check(app: App, device: str, metric: str, history: dict[int, float],
           minutes_from: int = 0) -> None:  # fmt: skip
    """Both steps, every aggregate, against the history; minutes before ``minutes_from``
    were taken by the 1-minute retention."""
    lo, hi = min(history) - min(history) % 3_600_000, max(history) + 3_600_000
    for step, width in (("1m", 60_000), ("1h", 3_600_000)):
        got = _answers(app, device, metric, lo, hi, step)
        expected = _expected(history, width, minutes_from if step == "1m" else 0)
        for agg in AGGS:
            assert got[agg].keys() == expected[agg].keys(), (step, agg)
            for key, value in expected[agg].items():
                assert got[agg][key] == pytest.approx(value, rel=1e-12), (step, agg, key)
    (dev,) = latest(app, SYSTEM, device=device)
    assert dev["metrics"][metric]["value"] == history[max(history)]  # newest ts, not arrival


@pytest.fixture
def quiet(app: App) -> App:
    """Storage only: the rules and alarms are not what these tests are about."""
    telemetry(app).listeners.clear()
    return app


def test_rollups_equal_a_grouping_of_every_accepted_reading(quiet: App, clock: Clock) -> None:
    app = quiet
    fresh = iter(_plain_series(app))  # a series of its own per example

    @settings(max_examples=20, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(st.lists(_batch, min_size=1, max_size=5))
    def run(batches: list[tuple[list[tuple[int, int]], int, bool]]) -> None:
        device, metric, lo, hi = next(fresh)
        history: dict[int, float] = {}  # what was accepted, first arrival of a key wins
        minutes_from = 0  # the 1-minute retention's cutoff at the last sweep
        for readings, minutes, sweep in batches:
            now = _now_ms(app)
            records = []
            for before, value in readings:
                t, v = now - before, lo + (hi - lo) * value / 10
                records.append({"n": f"{device}:{metric}", "t": t / 1000, "v": v})
                if t >= now - 30 * DAY_MS:  # younger than the raw retention
                    history.setdefault(t, v)
            pack = orjson.dumps(records)
            telemetry(app).ingest([RawMessage("test", pack, now / 1000, "application/senml+json")])
            clock.advance(minutes=minutes)
            if sweep:
                sweep_retention(app)
                minutes_from = _now_ms(app) - 90 * DAY_MS
        if history:
            _check(app, device, metric, history, minutes_from)
        else:  # every reading was too old
            assert series(app, SYSTEM, SeriesQuery(device, metric, app.clock() - timedelta(
                days=400), app.clock()))["points"] == []  # fmt: skip

    run()


def _migrate(app: App, revision: str, up: bool) -> None:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with app.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        (command.upgrade if up else command.downgrade)(cfg, revision)


def test_migration_0008_keeps_the_answers_and_counts_each_reading_once(
    quiet: App, clock: Clock
) -> None:
    app = quiet
    device, metric, lo, hi = next(_plain_series(app))
    history: dict[int, float] = {}
    for day in range(40):  # a reading every 10 minutes, swept daily: some minutes stored
        now = _now_ms(app)
        records = [{"n": f"{device}:{metric}", "t": (now - i * 600_000) / 1000,
                    "v": lo + (hi - lo) * ((day + i) % 7) / 7} for i in range(144)]  # fmt: skip
        for r in records:
            history.setdefault(round(float(r["t"]) * 1000), float(r["v"]))  # type: ignore[arg-type]
        telemetry(app).ingest([RawMessage("test", orjson.dumps(records), now / 1000,
                                          "application/senml+json")])  # fmt: skip
        clock.advance(days=1)
        sweep_retention(app)
    # readings older than the raw retention left with their minutes; the rest are kept
    history = {t: v for t, v in history.items() if t >= _now_ms(app) - 90 * DAY_MS}
    with app.reads() as s:
        raw = s.scalar(select(func.count()).select_from(ReadingRow))
        stored_minutes = s.scalar(select(func.count()).select_from(Rollup1mRow))
    assert raw and stored_minutes and raw + stored_minutes == len(history)
    before = _answers(app, device, metric, min(history), max(history) + 60_000, "1m")

    _migrate(app, "0007", up=False)  # as before 0008: every minute stored
    with app.reads() as s:
        assert s.scalar(select(func.count()).select_from(Rollup1mRow)) == len(history)
    _migrate(app, "head", up=True)
    with app.reads() as s:
        assert s.scalar(select(func.count()).select_from(Rollup1mRow)) == stored_minutes
    assert _answers(app, device, metric, min(history), max(history) + 60_000, "1m") == before
    _check(app, device, metric, history)
