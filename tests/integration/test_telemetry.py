"""Telemetry ingestion and storage on SQLite and PostgreSQL: idempotency, late readings,
dead letters, roll-ups against a plain computation, latest values, retention."""

from __future__ import annotations

import random
from collections import defaultdict
from typing import Any

import orjson
import pytest
from sqlalchemy import func, select

from cityops.adapters.db.lifeline_models import DeadLetterRow, ReadingRow
from cityops.bootstrap import App
from cityops.service.principal import SYSTEM
from cityops.service.telemetry import RawMessage, ReadingBatch, telemetry
from cityops.service.telemetry.queries import SeriesQuery, latest, series
from cityops.service.telemetry.retention import sweep_retention
from tests.conftest import Clock

GAS = "SJ-GPT-0001"  # gas pipe pressure, MPa, 0–0.8, every 60 s
WELL = "SJ-CH4-0001"  # methane in a well beside it, %{LEL}


def _msg(app: App, pack: Any, ctype: str = "application/senml+json") -> RawMessage:
    return RawMessage("test", orjson.dumps(pack), app.clock().timestamp(), ctype)


def _readings(app: App) -> int:
    with app.reads() as s:
        return s.scalar(select(func.count()).select_from(ReadingRow)) or 0


def test_ingest_is_idempotent_and_keeps_what_it_cannot_use(app: App) -> None:
    now = app.clock().timestamp()
    pack = [{"bn": f"{GAS}:", "bt": now - 300, "n": "pressure", "u": "MPa", "v": 0.31},
            {"n": "pressure", "t": 60, "v": 0.32}, {"n": "pressure", "t": 60, "v": 0.5},
            {"n": "pressure", "t": 120, "u": "kPa", "v": 330},
            {"bn": f"{WELL}:", "n": "ch4", "t": 0, "u": "%LEL", "v": 2.5},
            {"bn": "", "n": "SJ-NOPE-1:ch4", "v": 1}, {"n": f"{WELL}:ch4", "u": "ppm", "v": 40},
            {"n": f"{GAS}:pressure", "v": 5.0}]  # fmt: skip
    seen: list[ReadingBatch] = []
    telemetry(app).listeners.append(type("L", (), {"on_batch": lambda _, b: seen.append(b)})())
    r = telemetry(app).ingest([_msg(app, pack)])
    (m,) = r.messages
    # 0.31, 0.32 (its repeat in the same message is a duplicate), 0.33 from kPa, ch4
    assert (m.accepted, m.duplicates, m.rejected) == (4, 1, 3)
    assert sorted(m.problems)[0].startswith("record 5: unknown device SJ-NOPE-1")
    assert any("bad_unit" not in p and "ppm" in p for p in m.problems)
    assert any("outside the sensor's range" in p for p in m.problems)
    assert r.reasons == {"unknown_device": 1, "bad_unit": 1, "out_of_range": 1}
    assert len(seen) == 1
    assert sorted(seen[0].value.tolist()) == pytest.approx([0.31, 0.32, 0.33, 2.5])
    with app.reads() as s:
        dl = s.get(DeadLetterRow, m.dead_letter_id)
        assert dl is not None and dl.raw == orjson.dumps(pack) and dl.points_accepted == 4

    again = telemetry(app).ingest([_msg(app, pack)])  # a QoS 1 redelivery
    assert (again.accepted, again.duplicates) == (0, 5)
    assert _readings(app) == 4

    late = telemetry(app).ingest([_msg(app, [{"n": f"{GAS}:pressure", "t": now - 270,
                                              "v": 0.30}])])  # fmt: skip
    assert late.accepted == 1
    q = SeriesQuery(GAS, "pressure", app.clock() - _minutes(10), app.clock(), "1m", "count")
    counts = [p["value"] for p in series(app, SYSTEM, q)["points"]]
    assert counts == [2, 1, 1]  # the late reading joined its minute
    (gas,) = latest(app, SYSTEM, device=GAS)
    assert gas["metrics"]["pressure"]["value"] == pytest.approx(0.33)  # the newest, not the last
    assert gas["online"] is True


def _minutes(n: float) -> Any:
    from datetime import timedelta

    return timedelta(minutes=n)


@pytest.mark.parametrize("ctype", ["", "application/json"])
def test_whole_message_rejections_and_plain_json(app: App, ctype: str) -> None:
    now = app.clock().timestamp()
    good = {"device": GAS, "ts": now - 10, "values": {"pressure": 0.3}}
    bad = [b"{nope", b'[{"n": "x:y", "v": NaN}]', b'[{"n": "a:b", "v": 1, "bver": 99}]',
           orjson.dumps({"device": GAS, "values": {"pressure": "high"}})]  # fmt: skip
    msgs = [_msg(app, good, ctype)] + [RawMessage("test", b, now, ctype) for b in bad]
    r = telemetry(app).ingest(msgs)
    assert r.accepted == 1
    reasons = [m.reason for m in r.messages]
    assert reasons == [None, "malformed_json", "not_finite", "unsupported_version",
                       "malformed_payload"]  # fmt: skip
    with app.reads() as s:
        kept = s.scalars(select(DeadLetterRow.raw).order_by(DeadLetterRow.id)).all()
    assert kept == bad  # byte for byte


def test_series_aggregation_matches_a_plain_computation(app: App) -> None:
    rng = random.Random(5)
    end = app.clock().timestamp()
    start = end - 3 * 3600
    points = {round(start + rng.uniform(0, 3 * 3600), 3): round(rng.uniform(0.1, 0.7), 4)
              for _ in range(400)}  # fmt: skip
    records = [{"n": f"{GAS}:pressure", "t": t, "v": v} for t, v in points.items()]
    rng.shuffle(records)  # out of order
    records += records[:50]  # and repeated
    batches = [records[i : i + 37] for i in range(0, len(records), 37)]
    for i in range(0, len(batches), 4):
        telemetry(app).ingest([_msg(app, b) for b in batches[i : i + 4]])
    assert _readings(app) == len(points)
    ms = sorted((round(t * 1000), v) for t, v in points.items())
    for step, width in (("1m", 60_000), ("1h", 3_600_000)):
        buckets: dict[int, list[tuple[int, float]]] = defaultdict(list)
        for t, v in ms:
            buckets[t - t % width].append((t, v))
        for agg, fn in (("avg", lambda xs: sum(v for _, v in xs) / len(xs)),
                        ("min", lambda xs: min(v for _, v in xs)),
                        ("max", lambda xs: max(v for _, v in xs)),
                        ("last", lambda xs: xs[-1][1]), ("count", len)):  # fmt: skip
            q = SeriesQuery(GAS, "pressure", app.clock() - _minutes(200), app.clock(), step, agg)
            got = {p["ts"]: p["value"] for p in series(app, SYSTEM, q)["points"]}
            expected = {_iso(b): fn(xs) for b, xs in sorted(buckets.items())}
            assert got.keys() == expected.keys()
            for key, value in expected.items():
                assert got[key] == pytest.approx(value), (step, agg, key)
    raw = series(app, SYSTEM, SeriesQuery(GAS, "pressure", app.clock() - _minutes(200),
                                          app.clock()))  # fmt: skip
    assert [(p["ts"], p["value"]) for p in raw["points"]] == [(_iso(t), v) for t, v in ms]


def _iso(ms: int) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(ms / 1000, UTC).isoformat().replace("+00:00", "Z")


def test_times_outside_the_window_and_retention(app: App, clock: Clock) -> None:
    now = app.clock().timestamp()
    r = telemetry(app).ingest([_msg(app, [
        {"n": f"{GAS}:pressure", "t": now - 86400, "v": 0.3},
        {"n": f"{GAS}:pressure", "t": now - 40 * 86400, "v": 0.3},
        {"n": f"{GAS}:pressure", "t": now + 3600, "v": 0.3},
    ])])  # fmt: skip
    assert r.accepted == 1 and r.reasons == {"too_old": 1, "future_timestamp": 1}
    clock.advance(days=10)
    swept = sweep_retention(app)
    assert swept.raw == 0 and _readings(app) == 1
    clock.advance(days=22)
    swept = sweep_retention(app)
    assert swept.raw == 1 and _readings(app) == 0  # a row (SQLite) or its day (PostgreSQL)
    hourly = series(app, SYSTEM, SeriesQuery(GAS, "pressure", app.clock() - _minutes(34 * 1440),
                                             app.clock(), "1h", "count"))  # fmt: skip
    assert [p["value"] for p in hourly["points"]] == [1]  # roll-ups outlive raw readings
    (gas,) = latest(app, SYSTEM, device=GAS)
    assert gas["online"] is False


def test_the_pipeline_queues_batches_and_acknowledges_after_commit(app: App) -> None:
    now = app.clock().timestamp()
    acks: list[int] = []
    pipeline = telemetry(app).pipeline()
    try:
        for i in range(30):
            msg = _msg(app, [{"n": f"{GAS}:pressure", "t": now - 1000 + i, "v": 0.3}])
            assert pipeline.submit(msg, lambda i=i: acks.append(i))
        assert pipeline.drain(30)
    finally:
        telemetry(app).close()
    assert sorted(acks) == list(range(30)) and _readings(app) == 30
