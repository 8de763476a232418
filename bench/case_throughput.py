"""Reports/s through intake → locate → route → persist, against a raw batched INSERT.

Prints one JSON object per line: name, value, unit, peer, peer_value, ratio.
Usage: python bench/case_throughput.py [--n 2000] [--no-postgres]
"""

from __future__ import annotations

import argparse
import json
import random
import sqlite3
import tempfile
import time
import uuid
from pathlib import Path

from cityops.bootstrap import bootstrap
from cityops.config import Settings
from cityops.demo.city import generate_demo_city
from cityops.demo.load import load_demo
from cityops.domain.model import Channel
from cityops.service.intake import ReportInput, submit, submit_batch
from cityops.service.principal import SYSTEM

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"


def _reports(n: int) -> list[ReportInput]:
    city, rng = generate_demo_city(), random.Random(1)
    grids = [g.code for g in city.grids]
    out = []
    for i in range(n):
        grid = rng.choice(grids)
        lon, lat = city.sample_point(grid, rng)
        text = f"道路不洁，第{i}号巡查发现"
        out.append(ReportInput(
            channel=Channel.HOTLINE, source_id=f"bench-{i}", raw=json.dumps({"i": i, "t": text}),
            description=text, category=rng.choice(["E0102", "E0104", "E0107", "C0110"]),
            lon=lon, lat=lat, reporter_name="王先生", reporter_phone="13800000000",
        ))  # fmt: skip
    return out


def _intake_rate(url: str, reports: list[ReportInput], batch: int) -> float:
    """One transaction per report (batch=1, as the single endpoints) or per ``batch`` reports."""
    app = bootstrap(Settings(database_url=url))
    load_demo(app)
    app.reference.get()  # warm the caches as a running server has them
    start = time.perf_counter()
    if batch == 1:
        for report in reports:
            submit(app, report, SYSTEM)
    else:
        for i in range(0, len(reports), batch):
            submit_batch(app, reports[i : i + batch], SYSTEM)
    elapsed = time.perf_counter() - start
    app.dispose()
    return len(reports) / elapsed


ROW = "(channel, source_id, received_at, raw, reporter_name, reporter_phone)"
COLUMNS = ROW[1:-1].split(", ")


def _ddl(id_column: str) -> str:
    return f"CREATE TABLE r ({id_column}, " + ", ".join(f"{c} TEXT" for c in COLUMNS) + ")"


def _raw_sqlite(path: Path, reports: list[ReportInput]) -> float:
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute(
        f"CREATE TABLE r (id INTEGER PRIMARY KEY, {ROW[1:-1].replace(',', ' TEXT,')} TEXT)"
    )
    rows = [(r.channel.value, r.source_id, "2026-11-21T00:00:00", r.raw, r.reporter_name,
             r.reporter_phone) for r in reports]  # fmt: skip
    start = time.perf_counter()
    with conn:
        conn.executemany(f"INSERT INTO r {ROW} VALUES (?,?,?,?,?,?)", rows)
    elapsed = time.perf_counter() - start
    conn.close()
    return len(rows) / elapsed


def _raw_postgres(dsn: str, reports: list[ReportInput]) -> float:
    import psycopg

    with psycopg.connect(dsn) as conn:
        conn.execute(
            f"CREATE TABLE r (id serial PRIMARY KEY, {ROW[1:-1].replace(',', ' text,')} text)"
        )
        conn.commit()
        rows = [(r.channel.value, r.source_id, "2026-11-21T00:00:00", r.raw, r.reporter_name,
                 r.reporter_phone) for r in reports]  # fmt: skip
        start = time.perf_counter()
        with conn.cursor() as cur:
            cur.executemany(f"INSERT INTO r {ROW} VALUES (%s,%s,%s,%s,%s,%s)", rows)
        conn.commit()
        return len(rows) / (time.perf_counter() - start)


def _emit(name: str, value: float, peer: str, peer_value: float) -> None:
    print(
        json.dumps(
            {
                "name": name,
                "value": round(value, 1),
                "unit": "reports/s",
                "peer": peer,
                "peer_value": round(peer_value, 1),
                "ratio": round(value / peer_value, 4),
            }
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args()
    reports = _reports(args.n)
    with tempfile.TemporaryDirectory() as tmp:
        single = _intake_rate(f"sqlite:///{tmp}/single.db", reports, 1)
        batched = _intake_rate(f"sqlite:///{tmp}/batch.db", reports, 200)
        raw = _raw_sqlite(Path(tmp) / "raw.db", reports)
    _emit("case_intake_sqlite_single", single, "raw_batched_insert_sqlite", raw)
    _emit("case_intake_sqlite_batch200", batched, "raw_batched_insert_sqlite", raw)
    _emit("case_intake_sqlite_single_vs_goal", single, "goal", 1000)
    _emit("case_intake_sqlite_batch200_vs_goal", batched, "goal", 1000)
    if args.no_postgres:
        return
    import psycopg

    raw_pg: float | None = None
    for batch in (1, 200):
        name = f"cityops_bench_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{name}"')
        try:
            dsn = PG_ADMIN.rsplit("/", 1)[0] + f"/{name}"
            rate = _intake_rate(dsn.replace("postgresql://", "postgresql+psycopg://"), reports,
                                batch)  # fmt: skip
            raw_pg = raw_pg or _raw_postgres(dsn, reports)
            label = "single" if batch == 1 else f"batch{batch}"
            _emit(f"case_intake_postgres_{label}", rate, "raw_batched_insert_postgres", raw_pg)
        finally:
            with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    main()
