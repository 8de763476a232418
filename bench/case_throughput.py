"""Reports/s through intake → locate → route → persist, against a raw batched INSERT.

The peer ("the limit") writes exactly the rows the pipeline wrote — the cases, reports and
first case events, into the same schema with the same indexes — with one batched INSERT per
table in one transaction and no Python work in between. The ratio says what the pipeline
(validation, locating, routing, deadlines, idempotency, one transaction per report or batch)
costs over the bare writes.

Prints one JSON object per line: name, value, unit, peer, peer_value, ratio.
Usage: python bench/case_throughput.py [--n 2000] [--no-postgres]
"""

from __future__ import annotations

import argparse
import json
import random
import time
from collections.abc import Callable

from benchdb import emit, postgres_urls, sqlite_urls
from sqlalchemy import Engine, Table, select

from cityops.adapters.db.models import CaseEventRow, CaseRow, ReportRow
from cityops.bootstrap import App, bootstrap
from cityops.config import Settings
from cityops.demo.city import generate_demo_city
from cityops.demo.load import load_demo
from cityops.domain.model import Channel
from cityops.service.intake import ReportInput, submit, submit_batch
from cityops.service.principal import SYSTEM

TABLES: list[Table] = [CaseRow.__table__, ReportRow.__table__, CaseEventRow.__table__]  # type: ignore[list-item]


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


def _pipeline(url: str, reports: list[ReportInput], batch: int) -> tuple[float, dict[str, list]]:
    """Reports/s, one transaction per report (batch=1, as the single endpoints) or per batch;
    also returns the rows it wrote, for the peer to write again."""
    app = bootstrap(Settings(database_url=url))
    load_demo(app)
    app.reference.get()  # warm the caches as a running server has them
    rate = len(reports) / feed(app, reports, batch)
    rows = written_rows(app)
    app.dispose()
    return rate, rows


def feed(app: App, reports: list[ReportInput], batch: int) -> float:
    """Seconds to submit the reports one per transaction (batch=1) or ``batch`` at a time."""
    start = time.perf_counter()
    if batch == 1:
        for report in reports:
            submit(app, report, SYSTEM)
    else:
        for i in range(0, len(reports), batch):
            submit_batch(app, reports[i : i + batch], SYSTEM)
    return time.perf_counter() - start


def written_rows(app: App) -> dict[str, list]:
    """The cases, reports and first events the pipeline wrote, for the raw peer to write again."""
    with app.engine.connect() as conn:
        return {t.name: [dict(r._mapping) for r in conn.execute(select(t))] for t in TABLES}


def _raw_insert(url: str, rows: dict[str, list], n: int) -> float:
    """Reports/s when the same rows go in through the driver's own batched INSERT.

    Values are converted to what the driver takes (JSON text, naive UTC times) before the
    clock starts; then one ``cursor.executemany`` per table, in one transaction.
    """
    app = bootstrap(Settings(database_url=url))  # the same schema and reference data
    load_demo(app)
    engine: Engine = app.engine
    dialect = engine.dialect
    batches = []
    for table in TABLES:
        columns = list(table.columns)
        processors = [c.type.dialect_impl(dialect).bind_processor(dialect) for c in columns]
        marks = ", ".join("?" if dialect.paramstyle == "qmark" else "%s" for _ in columns)
        sql = f"INSERT INTO {table.name} ({', '.join(c.name for c in columns)}) VALUES ({marks})"
        values = [
            tuple(
                p(row[c.key]) if p else row[c.key] for c, p in zip(columns, processors, strict=True)
            )
            for row in rows[table.name]
        ]
        batches.append((sql, values))
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        start = time.perf_counter()
        if dialect.name == "sqlite":
            cursor.execute("BEGIN IMMEDIATE")
        for sql, values in batches:
            cursor.executemany(sql, values)
        raw.commit()
        rate = n / (time.perf_counter() - start)
    finally:
        raw.close()
    app.dispose()
    return rate


def _run(engine_name: str, fresh_url: Callable[[], str], reports: list[ReportInput]) -> None:
    for batch in (1, 200):
        rate, rows = _pipeline(fresh_url(), reports, batch)
        raw = _raw_insert(fresh_url(), rows, len(reports))
        label = "single" if batch == 1 else f"batch{batch}"
        emit(f"case_intake_{engine_name}_{label}", rate, "reports/s",
             f"raw_batched_insert_{engine_name}", raw)  # fmt: skip
        if engine_name == "sqlite":
            emit(f"case_intake_{engine_name}_{label}_vs_goal", rate, "reports/s", "goal", 1000)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args()
    reports = _reports(args.n)
    with sqlite_urls() as fresh:
        _run("sqlite", fresh, reports)
    if not args.no_postgres:
        with postgres_urls() as fresh:
            _run("postgres", fresh, reports)


if __name__ == "__main__":
    main()
