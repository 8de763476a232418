"""Bulk writes of telemetry: one statement (or COPY) per table per batch, per engine.

SQLite: ``executemany`` in the caller's transaction (WAL, BEGIN IMMEDIATE). PostgreSQL:
binary COPY of the readings (built with numpy, no Python object per row) and ``unnest`` of
arrays for the upserts. Everything runs in the caller's transaction, on its connection.

Readings are written with "insert unless the key exists": the fast path inserts the batch
and checks the row count; if another writer got there first (the count is short), it rolls
back to a savepoint and inserts exactly the missing keys, so roll-ups never count a reading
twice.

1-minute roll-ups are not written per batch: while the readings are kept they are grouped
from them when asked (:meth:`ReadingStore.minute_partials`), and raw retention moves a
minute into ``telemetry_rollup_1m`` in the transaction that deletes its readings
(:meth:`ReadingStore.delete_raw_before`). Each reading is thus counted exactly once, in its
raw row or in its minute's stored row; a query merges the two.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import Connection, Engine, text

from cityops.adapters.db.lifeline_models import PARTITION_SCHEMA
from cityops.domain.lifeline.rollup import Partials

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]
DAY_MS = 86_400_000
MINUTE_MS = 60_000
ROLLUP_TABLES = {"1m": "telemetry_rollup_1m", "1h": "telemetry_rollup_1h"}
_CHUNK = 5000  # key pairs per existence query (SQLite allows 32766 variables)


def grouped_minutes(readings: str, where: str) -> str:
    """SELECT of 1-minute partials (series, bucket, count, sum, min, max, last_ts,
    last_value) of the readings in ``readings`` matching ``where``; portable SQL (the last
    value is looked up by its key: SQLite's bare column is not defined beside several
    aggregates)."""
    bucket = f"ts / {MINUTE_MS} * {MINUTE_MS}"  # integer division; no '%' for psycopg's sake
    return (
        "SELECT g.s, g.b, g.n, g.total, g.lo, g.hi, g.last_ts, x.value FROM (SELECT "
        f"series_id AS s, {bucket} AS b, count(*) AS n, sum(value) AS total, "
        "min(value) AS lo, max(value) AS hi, max(ts) AS last_ts "
        f"FROM {readings} WHERE {where} GROUP BY series_id, {bucket}) g "
        f"JOIN {readings} x ON x.series_id = g.s AND x.ts = g.last_ts"
    )


def _cursor(conn: Connection) -> Any:
    return conn.connection.driver_connection.cursor()  # type: ignore[union-attr]


class ReadingStore:
    """The SQLite flavour; :class:`PostgresStore` overrides what differs."""

    ph = "?"
    rollup_set = (
        "count = r.count + excluded.count, sum = r.sum + excluded.sum, "
        "min = min(r.min, excluded.min), max = max(r.max, excluded.max), "
        "last_value = CASE WHEN excluded.last_ts >= r.last_ts "
        "THEN excluded.last_value ELSE r.last_value END, "
        "last_ts = max(r.last_ts, excluded.last_ts)"
    )

    def ensure_partitions(self, engine: Engine, ts: I64) -> None:
        """PostgreSQL makes the day partitions the batch needs; nothing to do on SQLite."""

    def existing(self, conn: Connection, series: I64, ts: I64) -> set[tuple[int, int]]:
        """The (series_id, ts) keys among these that are already stored."""
        found: set[tuple[int, int]] = set()
        cur = _cursor(conn)
        pairs = list(zip(series.tolist(), ts.tolist(), strict=True))
        for i in range(0, len(pairs), _CHUNK):
            chunk = pairs[i : i + _CHUNK]
            values = ",".join(["(?,?)"] * len(chunk))
            cur.execute(
                "SELECT series_id, ts FROM telemetry_readings WHERE (series_id, ts) IN "
                f"(VALUES {values})",
                [x for pair in chunk for x in pair],
            )
            found.update((int(s), int(t)) for s, t in cur.fetchall())
        return found

    def insert_readings(self, conn: Connection, series: I64, ts: I64, values: F64) -> int:
        """Insert; returns how many rows were new (the rest already existed)."""
        cur = _cursor(conn)
        cur.executemany(
            "INSERT INTO telemetry_readings (series_id, ts, value) VALUES (?,?,?) "
            "ON CONFLICT DO NOTHING",
            zip(series.tolist(), ts.tolist(), values.tolist(), strict=True),
        )
        return int(cur.rowcount)

    def insert_new_readings(
        self, conn: Connection, series: I64, ts: I64, values: F64
    ) -> npt.NDArray[np.bool_]:
        """Insert the batch's new keys; returns which rows were inserted (exact, race-free).

        The fast path assumes the caller already removed the keys it knows to be stored.
        """
        cur = _cursor(conn)
        cur.execute("SAVEPOINT telemetry_batch")
        try:
            inserted = self._fast_insert(conn, series, ts, values)
        except Exception:
            self._rollback_to(cur)
            raise
        if inserted == len(series):
            cur.execute("RELEASE SAVEPOINT telemetry_batch")
            return np.ones(len(series), dtype=bool)
        self._rollback_to(cur)  # a concurrent writer stored some of these keys
        return self._slow_insert(conn, series, ts, values)

    def _rollback_to(self, cur: Any) -> None:
        cur.execute("ROLLBACK TO SAVEPOINT telemetry_batch")
        cur.execute("RELEASE SAVEPOINT telemetry_batch")

    def _fast_insert(self, conn: Connection, series: I64, ts: I64, values: F64) -> int:
        return self.insert_readings(conn, series, ts, values)

    def _slow_insert(
        self, conn: Connection, series: I64, ts: I64, values: F64
    ) -> npt.NDArray[np.bool_]:
        # SQLite holds the write lock (BEGIN IMMEDIATE): what is absent now stays absent.
        stored = self.existing(conn, series, ts)
        new = np.fromiter(
            ((s, t) not in stored for s, t in zip(series.tolist(), ts.tolist(), strict=True)),
            dtype=bool, count=len(series),
        )  # fmt: skip
        self.insert_readings(conn, series[new], ts[new], values[new])
        return new

    def merge_rollups(self, conn: Connection, resolution: str, p: Partials) -> None:
        if not len(p):
            return
        _cursor(conn).executemany(
            f"INSERT INTO {ROLLUP_TABLES[resolution]} AS r (series_id, bucket, count, sum, "
            "min, max, last_ts, last_value) VALUES (?,?,?,?,?,?,?,?) "
            f"ON CONFLICT (series_id, bucket) DO UPDATE SET {self.rollup_set}",
            p.rows(),
        )

    def upsert_latest(self, conn: Connection, series: I64, ts: I64, values: F64) -> None:
        if not len(series):
            return
        _cursor(conn).executemany(
            "INSERT INTO telemetry_latest AS l (series_id, ts, value) VALUES (?,?,?) "
            "ON CONFLICT (series_id) DO UPDATE SET ts = excluded.ts, value = excluded.value "
            "WHERE excluded.ts > l.ts",
            zip(series.tolist(), ts.tolist(), values.tolist(), strict=True),
        )

    def minute_partials(
        self, conn: Connection, series_id: int, start_ms: int, stop_ms: int
    ) -> list[tuple[int, int, float, float, float, int, float]]:
        """1-minute partials (bucket, count, sum, min, max, last_ts, last_value) of the kept
        readings of one series with ``start_ms <= ts < stop_ms`` (bucket-aligned bounds)."""
        ph = self.ph
        cur = _cursor(conn)
        cur.execute(
            grouped_minutes("telemetry_readings", f"series_id = {ph} AND ts >= {ph} "
                            f"AND ts < {ph}") + " ORDER BY g.b",
            (series_id, start_ms, stop_ms),
        )  # fmt: skip
        return [tuple(row[1:]) for row in cur.fetchall()]

    def _roll_up_minutes(
        self, cur: Any, readings: str, where: str, per_series: list[tuple[int, int]] | None
    ) -> None:
        """Merge the minutes of these readings into ``telemetry_rollup_1m`` (before the
        readings are deleted); ``where`` once per parameter pair, or once without any."""
        sql = (
            "INSERT INTO telemetry_rollup_1m AS r (series_id, bucket, count, sum, min, max, "
            f"last_ts, last_value) {grouped_minutes(readings, where)} WHERE true "
            f"ON CONFLICT (series_id, bucket) DO UPDATE SET {self.rollup_set}"
        )
        if per_series is None:
            cur.execute(sql)
        else:
            cur.executemany(sql, per_series)

    def delete_raw_before(self, conn: Connection, series_ids: list[int], cutoff_ms: int) -> int:
        """Retention: per series, the minutes wholly before the cutoff are rolled up, then
        their readings deleted — range statements on the clustered key (no scan)."""
        cutoff = cutoff_ms - cutoff_ms % MINUTE_MS  # whole minutes only: a bucket never splits
        per_series = [(s, cutoff) for s in series_ids]
        if per_series:
            self._roll_up_minutes(_cursor(conn), "telemetry_readings",
                                  "series_id = ? AND ts < ?", per_series)  # fmt: skip
        return self._delete_per_series(conn, "telemetry_readings", "ts", series_ids, cutoff)

    def delete_rollups_before(
        self, conn: Connection, resolution: str, series_ids: list[int], cutoff_ms: int
    ) -> int:
        table = ROLLUP_TABLES[resolution]
        return self._delete_per_series(conn, table, "bucket", series_ids, cutoff_ms)

    def _delete_per_series(
        self, conn: Connection, table: str, column: str, series_ids: list[int], cutoff: int
    ) -> int:
        if not series_ids:
            return 0
        cur = _cursor(conn)
        ph = self.ph
        cur.executemany(
            f"DELETE FROM {table} WHERE series_id = {ph} AND {column} < {ph}",
            [(s, cutoff) for s in series_ids],
        )
        return max(int(cur.rowcount), 0)


_COPY_DTYPE = np.dtype([("n", ">i2"), ("l1", ">i4"), ("s", ">i4"), ("l2", ">i4"), ("t", ">i8"),
                        ("l3", ">i4"), ("v", ">f8")])  # fmt: skip
_COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + bytes(8)  # signature, flags, no header extension


def copy_binary(series: I64, ts: I64, values: F64) -> bytes:
    """The rows in PostgreSQL's binary COPY format, built column-wise."""
    rows = np.empty(len(series), dtype=_COPY_DTYPE)
    rows["n"], rows["l1"], rows["l2"], rows["l3"] = 3, 4, 8, 8
    rows["s"], rows["t"], rows["v"] = series, ts, values
    return _COPY_HEADER + rows.tobytes() + b"\xff\xff"


class PostgresStore(ReadingStore):
    ph = "%s"
    rollup_set = (
        "count = r.count + excluded.count, sum = r.sum + excluded.sum, "
        "min = LEAST(r.min, excluded.min), max = GREATEST(r.max, excluded.max), "
        "last_value = CASE WHEN excluded.last_ts >= r.last_ts "
        "THEN excluded.last_value ELSE r.last_value END, "
        "last_ts = GREATEST(r.last_ts, excluded.last_ts)"
    )

    def __init__(self) -> None:
        self._days: set[int] | None = None  # day numbers (epoch days) with a partition

    def ensure_partitions(self, engine: Engine, ts: I64) -> None:
        days = {int(d) for d in np.unique(ts // DAY_MS)}
        if self._days is None:
            self._days = self._known(engine)
        missing = days - self._days
        if not missing:
            return
        # Own short transactions: DDL on the parent must not wait inside a batch's.
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            for day in sorted(missing):
                conn.execute(text(
                    f"CREATE TABLE IF NOT EXISTS {PARTITION_SCHEMA}.{partition_name(day)} "
                    f"PARTITION OF telemetry_readings FOR VALUES FROM ({day * DAY_MS}) "
                    f"TO ({(day + 1) * DAY_MS})"
                ))  # fmt: skip
        self._days |= missing

    @staticmethod
    def _known(engine: Engine) -> set[int]:
        with engine.connect() as conn:
            names = conn.scalars(text(
                "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                "JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = 'telemetry_readings'"
            ))  # fmt: skip
            return {int(n.rsplit("_d", 1)[1]) for n in names if "_d" in n}

    def forget_partitions(self) -> None:
        self._days = None

    def existing(self, conn: Connection, series: I64, ts: I64) -> set[tuple[int, int]]:
        cur = _cursor(conn)
        cur.execute(
            "SELECT r.series_id, r.ts FROM telemetry_readings r JOIN "
            "unnest(%s::int[], %s::bigint[]) AS k(s, t) ON r.series_id = k.s AND r.ts = k.t",
            (series.tolist(), ts.tolist()),
        )
        return {(int(s), int(t)) for s, t in cur.fetchall()}

    def _fast_insert(self, conn: Connection, series: I64, ts: I64, values: F64) -> int:
        import psycopg

        cur = _cursor(conn)
        try:
            with cur.copy(
                "COPY telemetry_readings (series_id, ts, value) FROM STDIN (FORMAT BINARY)"
            ) as copy:
                copy.write(copy_binary(series, ts, values))
        except psycopg.errors.UniqueViolation:
            return -1  # the caller rolls back to the savepoint and takes the slow path
        return len(series)

    def insert_readings(self, conn: Connection, series: I64, ts: I64, values: F64) -> int:
        cur = _cursor(conn)
        cur.execute(
            "INSERT INTO telemetry_readings (series_id, ts, value) SELECT * FROM "
            "unnest(%s::int[], %s::bigint[], %s::float8[]) ON CONFLICT DO NOTHING",
            (series.tolist(), ts.tolist(), values.tolist()),
        )
        return int(cur.rowcount)

    def _slow_insert(
        self, conn: Connection, series: I64, ts: I64, values: F64
    ) -> npt.NDArray[np.bool_]:
        # RETURNING names exactly the rows this statement inserted, whatever others commit.
        cur = _cursor(conn)
        cur.execute(
            "INSERT INTO telemetry_readings (series_id, ts, value) SELECT * FROM "
            "unnest(%s::int[], %s::bigint[], %s::float8[]) ON CONFLICT DO NOTHING "
            "RETURNING series_id, ts",
            (series.tolist(), ts.tolist(), values.tolist()),
        )
        inserted = {(int(s), int(t)) for s, t in cur.fetchall()}
        return np.fromiter(
            ((s, t) in inserted for s, t in zip(series.tolist(), ts.tolist(), strict=True)),
            dtype=bool, count=len(series),
        )  # fmt: skip

    def merge_rollups(self, conn: Connection, resolution: str, p: Partials) -> None:
        if not len(p):
            return
        _cursor(conn).execute(
            f"INSERT INTO {ROLLUP_TABLES[resolution]} AS r (series_id, bucket, count, sum, "
            "min, max, last_ts, last_value) SELECT * FROM unnest(%s::int[], %s::bigint[], "
            "%s::int[], %s::float8[], %s::float8[], %s::float8[], %s::bigint[], %s::float8[]) "
            f"ON CONFLICT (series_id, bucket) DO UPDATE SET {self.rollup_set}",
            (p.series.tolist(), p.bucket.tolist(), p.count.tolist(), p.sum.tolist(),
             p.min.tolist(), p.max.tolist(), p.last_ts.tolist(), p.last_value.tolist()),
        )  # fmt: skip

    def upsert_latest(self, conn: Connection, series: I64, ts: I64, values: F64) -> None:
        if not len(series):
            return
        _cursor(conn).execute(
            "INSERT INTO telemetry_latest AS l (series_id, ts, value) SELECT * FROM "
            "unnest(%s::int[], %s::bigint[], %s::float8[]) ON CONFLICT (series_id) DO UPDATE "
            "SET ts = excluded.ts, value = excluded.value WHERE excluded.ts > l.ts",
            (series.tolist(), ts.tolist(), values.tolist()),
        )

    def delete_raw_before(self, conn: Connection, series_ids: list[int], cutoff_ms: int) -> int:
        """Retention: drop every day partition wholly before the cutoff (no row deletes)."""
        cur = _cursor(conn)
        cutoff_day = cutoff_ms // DAY_MS
        cur.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = 'telemetry_readings'"
        )
        dropped = 0
        for (name,) in cur.fetchall():
            if "_d" in name and int(name.rsplit("_d", 1)[1]) < cutoff_day:
                # a day is whole minutes: roll them up, then the day goes
                partition = f"{PARTITION_SCHEMA}.{name}"
                self._roll_up_minutes(cur, partition, "true", None)
                cur.execute(f"DROP TABLE {partition}")
                dropped += 1
        self._days = None
        return dropped


def partition_name(day: int) -> str:
    """``readings_d20410`` for epoch day 20410 (sortable; the day's UTC start is day×86400 s)."""
    return f"readings_d{day}"


def store_for(engine: Engine) -> ReadingStore:
    return PostgresStore() if engine.dialect.name == "postgresql" else ReadingStore()
