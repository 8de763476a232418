"""Retention: raw readings after ``telemetry_raw_retention_days``, 1-minute and 1-hour
roll-ups after their own periods (Settings). Safe to run any number of times.

SQLite deletes per series along the clustered key; PostgreSQL drops whole day partitions
(so raw retention is to the day there) and deletes roll-ups per series.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from cityops.adapters.db.lifeline_models import LifelineSeriesRow
from cityops.bootstrap import App
from cityops.service.telemetry import telemetry

DAY_MS = 86_400_000


@dataclass(frozen=True, slots=True)
class RetentionResult:
    raw: int  # rows deleted (SQLite) or day partitions dropped (PostgreSQL)
    rollup_1m: int
    rollup_1h: int
    raw_unit: str  # "rows" or "partitions"


def sweep_retention(app: App) -> RetentionResult:
    s, now_ms = app.settings, int(app.clock().timestamp() * 1000)
    store = telemetry(app).store
    with app.sessions.begin() as session:
        ids = list(session.scalars(select(LifelineSeriesRow.id).order_by(LifelineSeriesRow.id)))
        conn = session.connection()
        raw = store.delete_raw_before(conn, ids, now_ms - s.telemetry_raw_retention_days * DAY_MS)
        m1 = store.delete_rollups_before(conn, "1m", ids,
                                         now_ms - s.telemetry_rollup_1m_days * DAY_MS)  # fmt: skip
        h1 = store.delete_rollups_before(conn, "1h", ids,
                                         now_ms - s.telemetry_rollup_1h_days * DAY_MS)  # fmt: skip
    unit = "partitions" if app.engine.dialect.name == "postgresql" else "rows"
    return RetentionResult(raw, m1, h1, unit)
