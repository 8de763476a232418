"""SQLite WAL checkpoints off the writers' threads.

In WAL mode a commit that finds the log past 1,000 pages checkpoints it on the spot: it copies
the pages into the database file and fsyncs, tens of milliseconds of I/O on the committing
thread. The telemetry writer touches a page per series and table, so nearly every batch paid
that (bench/telemetry_ingest.py --network demo compares both: its ``_wal`` line). SQLite's
documentation suggests running checkpoints from a separate thread instead
(https://www.sqlite.org/wal.html#application_initiated_checkpoints), so every connection of a
file database has auto-checkpoint off and this thread checkpoints after commits: PASSIVE (it
never blocks readers or writers) at most every ``interval_s``, which also copies a page
rewritten by many commits once. Writers keep appending while a passive checkpoint runs, so the
log may not get back to its start by itself; past ``restart_frames`` a RESTART checkpoint
makes the next writer start it over (it waits for the writer of the moment, once in a while
instead of on every commit). Durability is unchanged: ``synchronous=NORMAL`` either way.

One thread per engine, started by the first commit and ended after ``idle_s`` without one
(after a last checkpoint), so short-lived engines (the CLI, tests) leave nothing running.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
import weakref

from sqlalchemy import Engine, event

log = logging.getLogger(__name__)
RESTART_WAIT_S = 0.25
_BY_ENGINE: weakref.WeakKeyDictionary[Engine, Checkpointer] = weakref.WeakKeyDictionary()


def attach(engine: Engine, path: str) -> Checkpointer:
    """Checkpoint this engine's database after its commits, until the engine is disposed.
    Its connections must have ``PRAGMA wal_autocheckpoint=0`` (adapters/db/engine.py)."""
    checkpointer = Checkpointer(path)
    _BY_ENGINE[engine] = checkpointer
    event.listen(engine, "commit", lambda _conn: checkpointer.nudge())
    event.listen(engine, "engine_disposed", lambda _engine: checkpointer.close())
    return checkpointer


def of(engine: Engine) -> Checkpointer | None:
    return _BY_ENGINE.get(engine)


class Checkpointer:
    def __init__(self, path: str, *, interval_s: float = 1.0, restart_frames: int = 20_000,
                 idle_s: float = 10.0) -> None:  # fmt: skip
        self._path = path
        self._interval = interval_s
        self._restart_frames = restart_frames
        self._idle = idle_s
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self.checkpoints = 0
        self.restarts = 0
        self._restart_after = 0.0  # monotonic time before which no RESTART is tried
        self._restart_backoff = interval_s

    def nudge(self) -> None:
        """A commit happened: checkpoint soon (called on every commit)."""
        self._wake.set()
        with self._lock:  # against the thread's idle exit: a nudge then starts a new one
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, daemon=True,
                                                name="sqlite-checkpoint")  # fmt: skip
                self._thread.start()

    def close(self) -> None:
        """Checkpoint what is left and end the thread (the engine's pool is being disposed;
        an engine used again afterwards starts a new one with its next commit)."""
        self._stop.set()
        self._wake.set()
        with self._lock:
            thread = self._thread
        if thread is not None:
            thread.join(30)
        self._stop.clear()

    def _run(self) -> None:
        conn: sqlite3.Connection | None = None
        try:
            # a short busy timeout: RESTART waits for the writer and readers of the moment
            # and must not hold the writers back long (PASSIVE never waits)
            conn = sqlite3.connect(self._path, timeout=RESTART_WAIT_S, isolation_level=None,
                                   check_same_thread=False)  # fmt: skip
            while True:
                if not self._wake.wait(self._idle):
                    self._checkpoint(conn)  # idle: a last checkpoint (outside the lock:
                    with self._lock:  # commits nudge under it), then leave unless nudged
                        if not self._wake.is_set():
                            self._thread = None
                            return
                self._wake.clear()
                self._checkpoint(conn)
                if self._stop.wait(self._interval):
                    self._checkpoint(conn)
                    return
        except Exception:  # never leave _thread set by a dead thread: the log would grow
            log.exception("SQLite checkpoint failed; the next commit starts another")
        finally:
            with self._lock:
                if self._thread is threading.current_thread():
                    self._thread = None
            if conn is not None:
                conn.close()

    def _checkpoint(self, conn: sqlite3.Connection) -> None:
        # fetchall, not fetchone: an unfinished statement keeps a read transaction open on
        # this connection, and RESTART then waits for itself
        busy, frames, _done = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()[0]
        self.checkpoints += 1
        if frames >= self._restart_frames and time.monotonic() >= self._restart_after:
            # RESTART holds new writers back while it waits (up to RESTART_WAIT_S): after a
            # busy one, wait longer before the next (readers keep the log busy), up to a minute
            busy = conn.execute("PRAGMA wal_checkpoint(RESTART)").fetchall()[0][0]
            if busy:
                self._restart_backoff = min(self._restart_backoff * 2, 60.0)
                self._restart_after = time.monotonic() + self._restart_backoff
            else:
                self.restarts += 1
                self._restart_backoff = self._interval
        if busy:
            log.debug("SQLite checkpoint busy (a reader or another checkpoint); next round")
