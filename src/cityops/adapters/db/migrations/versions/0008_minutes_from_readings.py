"""telemetry: 1-minute roll-ups grouped from the readings while they are kept

From here on ``telemetry_rollup_1m`` holds only the minutes whose readings raw retention has
deleted; younger minutes are grouped from ``telemetry_readings`` when asked, and a query
merges both (docs/lifeline.md, Storage). Each reading must therefore be counted exactly once,
in its raw row or in its minute's stored row. Before, every minute was stored as well: drop
the stored minutes whose readings are all still kept, and for the one minute per series that
a retention sweep may have cut in two, drop its remaining readings (its stored row already
counts them). Downgrade stores every kept minute again, merged into what is there. No schema
change.

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

from alembic import op

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None

MINUTE = "60000"


def upgrade() -> None:
    op.execute(
        "DELETE FROM telemetry_rollup_1m WHERE bucket >= (SELECT min(r.ts) FROM "
        "telemetry_readings r WHERE r.series_id = telemetry_rollup_1m.series_id)"
    )
    op.execute(
        "DELETE FROM telemetry_readings WHERE (series_id, ts) IN (SELECT r.series_id, r.ts "
        "FROM telemetry_rollup_1m m JOIN telemetry_readings r ON r.series_id = m.series_id "
        f"AND r.ts >= m.bucket AND r.ts < m.bucket + {MINUTE})"
    )


def downgrade() -> None:
    least, greatest = ("LEAST", "GREATEST") if op.get_bind().dialect.name == "postgresql" \
        else ("min", "max")  # fmt: skip
    bucket = f"ts / {MINUTE} * {MINUTE}"
    op.execute(
        "INSERT INTO telemetry_rollup_1m AS r (series_id, bucket, count, sum, min, max, "
        "last_ts, last_value) SELECT g.s, g.b, g.n, g.total, g.lo, g.hi, g.last_ts, x.value "
        f"FROM (SELECT series_id AS s, {bucket} AS b, count(*) AS n, sum(value) AS total, "
        "min(value) AS lo, max(value) AS hi, max(ts) AS last_ts FROM telemetry_readings "
        f"GROUP BY series_id, {bucket}) g JOIN telemetry_readings x "
        "ON x.series_id = g.s AND x.ts = g.last_ts WHERE true "
        "ON CONFLICT (series_id, bucket) DO UPDATE SET count = r.count + excluded.count, "
        f"sum = r.sum + excluded.sum, min = {least}(r.min, excluded.min), "
        f"max = {greatest}(r.max, excluded.max), last_value = CASE WHEN excluded.last_ts >= "
        "r.last_ts THEN excluded.last_value ELSE r.last_value END, "
        f"last_ts = {greatest}(r.last_ts, excluded.last_ts)"
    )
