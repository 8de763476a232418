"""Telemetry points/s through ingest (decode SenML → resolve → clean → store history,
roll-ups, latest) in process, no broker, against a raw ``executemany`` of the same rows.

The peer writes exactly the (series_id, ts, value) rows the pipeline stored, into the same
readings table (same key), in transactions of the same size, with no Python work between:
the ratio is what decoding, idempotency, roll-ups and latest values cost over the bare
history insert. Messages are SenML packs of ``--records`` records (one device, its metrics
over several seconds), ingested ``--batch`` messages per call as the pipeline does.

``--network demo``: instead, the demo city's lifeline network and the very packs
``bench/telemetry.py`` publishes (8 points, each device at its sampling interval — at 60 s
every point is its own minute), with the alarm engine running: the ingest half of the MQTT
benchmark without the broker.

Prints one JSON object per line: name, value, unit, peer, peer_value, ratio.
Usage: python bench/telemetry_ingest.py [--devices 10000] [--points 300000] [--no-postgres]
       python bench/telemetry_ingest.py --network demo [--points 320000] [--batch 500]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from datetime import UTC, datetime

import orjson
from benchdb import emit, postgres_urls, sqlite_urls
from sqlalchemy import select, text

from cityops.adapters.db.lifeline_models import ReadingRow
from cityops.adapters.db.models import DepartmentRow
from cityops.bootstrap import App, bootstrap
from cityops.config import Settings
from cityops.domain.lifeline.assets import AssetKind, AssetSpec, DeviceSpec, MetricSpec
from cityops.service.telemetry import RawMessage, telemetry
from cityops.service.telemetry.assets import import_assets, import_devices

METRICS = (("pressure", "MPa"), ("flow", "m3/h"), ("temp", "Cel"))
NOW = datetime(2026, 11, 18, 2, 0, tzinfo=UTC)


def _setup(url: str, devices: int) -> App:
    app = bootstrap(Settings(database_url=url, model_dir=None), clock=lambda: NOW)
    with app.sessions.begin() as s:
        s.add(DepartmentRow(code="gas", name="燃气集团", level="city", region_code=None,
                            kinds=["gas"]))  # fmt: skip
    app.reference.invalidate()
    assets = [AssetSpec(f"A{i:06d}", AssetKind.GAS_PIPE, f"管段{i}", "gas",
                        {"type": "LineString", "coordinates": [[121.4, 31.1], [121.5, 31.2]]})
              for i in range(devices // 10 + 1)]  # fmt: skip
    import_assets(app, assets, [], "bench")
    specs = [DeviceSpec(f"D{i:06d}", f"A{i // 10:06d}", f"设备{i}",
                        tuple(MetricSpec(m, u, 1.0) for m, u in METRICS))
             for i in range(devices)]  # fmt: skip
    import_devices(app, specs, [], "bench")
    return app


def _messages(devices: int, points: int, records: int) -> list[RawMessage]:
    """SenML packs: base name and time, then (metric, relative t) records."""
    steps = max(1, records // len(METRICS))
    t0 = NOW.timestamp() - 3600
    out = []
    n_messages = points // (steps * len(METRICS))
    for j in range(n_messages):
        device, round_ = j % devices, j // devices
        base = t0 + round_ * steps
        pack: list[dict[str, object]] = [{"bn": f"D{device:06d}:", "bt": base}]
        for step in range(steps):
            for m, (metric, _) in enumerate(METRICS):
                rec = {"n": metric, "t": step, "v": round(0.3 + 0.001 * ((j + step + m) % 97), 4)}
                if len(pack) == 1 and not pack[0].get("n"):
                    pack[0].update(rec)
                else:
                    pack.append(rec)
        out.append(RawMessage("bench", orjson.dumps(pack), NOW.timestamp(),
                              "application/senml+json"))  # fmt: skip
    return out


def _demo(url: str, points: int, records: int) -> tuple[App, list[RawMessage]]:
    """The demo city, and the MQTT benchmark's packs as its consumer would hand them on."""
    from cityops.adapters.mqtt import device_topic
    from cityops.demo.lifeline_sim import LifelineSim
    from cityops.demo.load import load_demo

    app = bootstrap(Settings(database_url=url, model_dir=None, argon2_time_cost=1,
                             argon2_memory_kib=1024))  # fmt: skip
    load_demo(app)
    now = time.time()
    out = []
    for m in LifelineSim.demo().bench_messages(points // records, records, now - 600):
        topic = device_topic(m.gateway, m.device, "cityops/v1/telemetry")
        out.append(RawMessage(f"mqtt:{topic}", m.payload, now, "application/senml+json",
                              m.device))  # fmt: skip
    return app, out


def _pipeline(app: App, messages: list[RawMessage], batch: int) -> tuple[float, int]:
    tel = telemetry(app)
    tel.warm()  # as a running server is
    start = time.perf_counter()
    accepted = 0
    for i in range(0, len(messages), batch):
        accepted += tel.ingest(messages[i : i + batch]).accepted
    return accepted / (time.perf_counter() - start), accepted


def _raw(url: str, app_rows: list[tuple[int, int, float]], batch_points: int) -> float:
    app = bootstrap(Settings(database_url=url, model_dir=None))
    raw = app.engine.raw_connection()
    try:
        cur = raw.cursor()
        sqlite = app.engine.dialect.name == "sqlite"
        mark = "?" if sqlite else "%s"
        sql = f"INSERT INTO telemetry_readings (series_id, ts, value) VALUES ({mark},{mark},{mark})"
        if not sqlite:  # the peer needs the day partitions too (made before the clock starts)
            telemetry(app).store.ensure_partitions(
                app.engine, __import__("numpy").array([r[1] for r in app_rows])
            )
        start = time.perf_counter()
        for i in range(0, len(app_rows), batch_points):
            if sqlite:
                cur.execute("BEGIN IMMEDIATE")
            cur.executemany(sql, app_rows[i : i + batch_points])
            raw.commit()
        rate = len(app_rows) / (time.perf_counter() - start)
    finally:
        raw.close()
        app.dispose()
    return rate


def _run(engine: str, fresh_url: Callable[[], str], args: argparse.Namespace) -> None:
    url = fresh_url()
    if args.network == "demo":
        app, messages = _demo(url, args.points, args.records)
        engine = f"{engine}_demo"
    else:
        messages = _messages(args.devices, args.points, args.records)
        app = _setup(url, args.devices)
    rate, accepted = _pipeline(app, messages, args.batch)
    with app.engine.connect() as conn:
        rows = [tuple(r) for r in conn.execute(select(ReadingRow.series_id, ReadingRow.ts,
                                                      ReadingRow.value))]  # fmt: skip
        conn.execute(text("SELECT 1"))
    app.dispose()
    per_batch = accepted // max(1, len(messages) // args.batch)
    peer = _raw(fresh_url(), rows, per_batch)  # type: ignore[arg-type]
    emit(f"telemetry_ingest_{engine}", rate, "points/s", f"raw_executemany_{engine}", peer)
    emit(f"telemetry_ingest_{engine}_vs_goal", rate, "points/s", "goal", 60_000)
    if engine.startswith("sqlite"):  # the same run with SQLite checkpointing at commit time
        url = fresh_url()
        app, messages = (_demo(url, args.points, args.records) if args.network == "demo"
                         else (_setup(url, args.devices), messages))  # fmt: skip
        _checkpoint_at_commit(app)
        old, _ = _pipeline(app, messages, args.batch)
        app.dispose()
        emit(f"telemetry_ingest_{engine}_wal", rate, "points/s",
             "checkpoints_on_the_committing_thread", old,
             note="adapters/db/checkpoint.py: checkpoints in a thread of their own")


def _checkpoint_at_commit(app: App) -> None:
    """SQLite's default: a commit that finds the WAL past 1,000 pages checkpoints it."""
    from sqlalchemy import event

    from cityops.adapters.db import checkpoint

    checkpointer = checkpoint.of(app.engine)
    assert checkpointer is not None
    checkpointer.nudge = lambda: None  # type: ignore[method-assign]
    app.engine.dispose()
    event.listen(app.engine, "connect",
                 lambda conn, _r: conn.execute("PRAGMA wal_autocheckpoint=1000"))  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--devices", type=int, default=10_000)
    parser.add_argument("--points", type=int, default=300_000)
    parser.add_argument("--records", type=int, help="SenML records per message (30; demo: 8)")
    parser.add_argument("--batch", type=int, default=500, help="messages per ingest call")
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument(
        "--network",
        choices=("synthetic", "demo"),
        default="synthetic",
        help="demo: the demo city and the MQTT benchmark's packs (--records 8)",
    )
    args = parser.parse_args()
    args.records = args.records or (8 if args.network == "demo" else 30)
    with sqlite_urls() as fresh:
        _run("sqlite", fresh, args)
    if not args.no_postgres:
        with postgres_urls() as fresh:
            _run("postgres", fresh, args)


if __name__ == "__main__":
    main()
