"""SQLite WAL checkpoints run beside the writers (adapters/db/checkpoint.py), not in them."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from sqlalchemy import text

from cityops.adapters.db import checkpoint
from cityops.adapters.db.checkpoint import Checkpointer
from cityops.adapters.db.engine import make_engine
from tests.helpers import wait_until


def _fill(engine: object, rows: int, start: int = 0) -> None:
    with engine.begin() as conn:  # type: ignore[attr-defined]
        conn.execute(text("INSERT INTO t (k, v) VALUES (:k, :v)"),
                     [{"k": start + i, "v": "x" * 200} for i in range(rows)])  # fmt: skip


def test_commits_do_not_checkpoint_themselves_the_thread_does(tmp_path: Path) -> None:
    db = tmp_path / "c.db"
    engine = make_engine(f"sqlite:///{db}")
    try:
        with engine.begin() as conn:
            conn.execute(text("CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT)"))
            assert conn.execute(text("PRAGMA wal_autocheckpoint")).scalar() == 0
        _fill(engine, 30_000)  # ~1,700 pages: past SQLite's 1,000-page auto-checkpoint
        checkpointer = checkpoint.of(engine)
        assert checkpointer is not None
        wait_until(lambda: checkpointer.checkpoints >= 1, 10)  # it put the log into the file

        def copied() -> bool:
            with sqlite3.connect(db) as raw:  # a checkpoint that finds nothing left to copy
                busy, log, done = raw.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            return bool(busy == 0 and log == done)

        wait_until(copied, 10)
    finally:
        engine.dispose()


def test_a_log_that_grew_between_checkpoints_is_restarted(tmp_path: Path) -> None:
    """A checkpoint that finds the log past ``restart_frames`` restarts it (RESTART), so the
    next writer writes from its start: the log does not keep every page the stream wrote."""
    db = tmp_path / "s.db"
    engine = make_engine(f"sqlite:///{db}")
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT)"))
    engine.dispose()
    checkpointer = Checkpointer(str(db), interval_s=1.0, restart_frames=500, idle_s=5)
    raw = sqlite3.connect(db, isolation_level=None)
    raw.execute("PRAGMA wal_autocheckpoint=0")
    try:
        for batch in range(80):  # ~60 pages each, faster than a checkpoint a second
            raw.execute("BEGIN IMMEDIATE")
            raw.executemany("INSERT INTO t (k, v) VALUES (?, ?)",
                            [(batch * 1000 + i, "y" * 200) for i in range(1000)])  # fmt: skip
            raw.execute("COMMIT")
            checkpointer.nudge()
        wait_until(lambda: checkpointer.restarts > 0, 30)
        raw.execute("INSERT INTO t (k, v) VALUES (-1, 'after')")  # writes from the log's start
        log, done = raw.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()[0][1:]
        assert log < 100 and log == done
    finally:
        raw.close()
        checkpointer.close()


def test_an_idle_checkpointer_ends_its_thread_and_a_commit_starts_it_again(
    tmp_path: Path,
) -> None:
    db = tmp_path / "i.db"
    with sqlite3.connect(db) as raw:
        raw.execute("PRAGMA journal_mode=WAL")
        raw.execute("CREATE TABLE t (k INTEGER PRIMARY KEY)")
    checkpointer = Checkpointer(str(db), interval_s=0.01, idle_s=0.1)
    checkpointer.nudge()
    wait_until(lambda: checkpointer.checkpoints >= 1 and checkpointer._thread is None, 10)
    before = checkpointer.checkpoints
    checkpointer.nudge()
    wait_until(lambda: checkpointer.checkpoints > before, 10)
    checkpointer.close()
    assert checkpointer._thread is None
