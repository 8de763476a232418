"""Ingestion in a second process: the receiving process keeps only the transport.

On two cores the MQTT client (paho's network thread: reading packets, acknowledging) and
ingestion (decode → clean → store → rules → alarms) each want a whole core, and in one
process they share one interpreter lock. With ``CITYOPS_TELEMETRY_INGEST_PROCESS=true`` the
pipeline's worker hands each batch to a child process that runs ``telemetry(app).ingest``
on its own App (same settings, same database) and answers with the IngestResult; the
pipeline acknowledges after that answer, i.e. after the child committed. The pipeline sends
the next full batch before the answer (at most two in flight, ``Overlapped``), so the child
never waits for acks and sends; the batches in flight are still counted in the pipeline's
byte bound, so memory stays that bound plus what the child holds (two batches).

A child that fails a batch answers with the error (the pipeline retries, then isolates the
message); a child that died is started again for the next attempt. The child registers the
App's own listeners (the alarm engine) — a listener appended in the parent does not run
there, which is why this is for the ingest worker (``cityops mqtt``), not for ``serve``.
The child's engine is the one that sees the readings, so the alarm tick runs in the child
and not in the parent (docs/lifeline.md "Where the tick runs").
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing as mp
import signal
from collections.abc import Sequence
from multiprocessing.connection import Connection
from typing import Any

from cityops.config import Settings
from cityops.service.telemetry.decode import RawMessage
from cityops.service.telemetry.ingest import IngestResult

log = logging.getLogger(__name__)
READY = "ready"


class IngestProcess:
    """A callable like ``Ingestor.ingest`` that runs in a child process; also ``send`` and
    ``receive`` separately (pipeline.Overlapped). Used by one thread, the pipeline's."""

    def __init__(self, settings: Settings, start_timeout_s: float = 120.0, *,
                 mqtt_worker: bool = False) -> None:  # fmt: skip
        self._settings = settings
        self._mqtt_worker = mqtt_worker  # the child's rule state is its worker's (as_mqtt_worker)
        self._timeout = start_timeout_s
        self._conn: Connection | None = None
        self._proc: Any = None  # a SpawnProcess
        self._outstanding = 0  # batches sent, not answered yet

    def start(self) -> None:
        """Start the child and wait until it has loaded the registry and the rules."""
        ctx = mp.get_context("spawn")  # never fork: the parent runs threads (paho, the API)
        parent, child = ctx.Pipe()
        proc = ctx.Process(target=_serve, args=(child, self._settings, self._mqtt_worker),
                           daemon=True, name="telemetry-ingest")  # fmt: skip
        proc.start()
        child.close()
        if not parent.poll(self._timeout):
            proc.kill()
            raise RuntimeError("the telemetry ingest process did not start")
        kind, detail = parent.recv()
        if kind != READY:
            proc.join(5)
            raise RuntimeError(f"the telemetry ingest process failed to start: {detail}")
        self._conn, self._proc = parent, proc

    def __call__(self, messages: Sequence[RawMessage]) -> IngestResult:
        self.send(messages)
        return self.receive()

    def send(self, messages: Sequence[RawMessage]) -> None:
        """Queue a batch at the child (the pipe holds it while the child writes the last)."""
        if self._conn is None or not self._proc.is_alive():
            if self._outstanding:  # their answers died with the child: take those first
                self._conn = None
                raise RuntimeError("the telemetry ingest process went away")
            self._restart()
        assert self._conn is not None
        try:
            self._conn.send(list(messages))
        except OSError as exc:
            self._conn = None
            raise RuntimeError("the telemetry ingest process went away") from exc
        self._outstanding += 1

    def poll(self, timeout: float) -> bool:
        """Whether the answer for the oldest batch sent has come (or the child is gone,
        which ``receive`` then reports); waits up to ``timeout``."""
        if self._conn is None:
            return True
        try:
            return bool(self._conn.poll(timeout))
        except (EOFError, OSError):
            return True

    def receive(self) -> IngestResult:
        """The answer for the oldest batch sent and not answered yet."""
        if not self._outstanding:
            raise RuntimeError("no batch is waiting for an answer")
        self._outstanding -= 1
        if self._conn is None:
            raise RuntimeError("the telemetry ingest process went away")
        try:
            kind, answer = self._conn.recv()
        except (EOFError, OSError) as exc:  # the child died: the next send starts it again
            self._conn = None
            raise RuntimeError("the telemetry ingest process went away") from exc
        if kind == "error":
            raise RuntimeError(f"ingest failed in the ingest process: {answer}")
        result: IngestResult = answer
        return result

    def _restart(self) -> None:
        log.warning("starting the telemetry ingest process again")
        self.close()
        self.start()

    def close(self, timeout: float = 30.0) -> None:
        """Let the child finish (it snapshots the rule state) and end it."""
        conn, proc, self._conn, self._proc = self._conn, self._proc, None, None
        self._outstanding = 0
        if conn is not None:
            with contextlib.suppress(OSError):  # already gone
                conn.send(None)
            conn.close()
        if proc is not None:
            proc.join(timeout)
            if proc.is_alive():
                proc.kill()

    @property
    def pid(self) -> int | None:
        return None if self._proc is None else int(self._proc.pid)


def _serve(conn: Connection, settings: Settings, mqtt_worker: bool = False) -> None:
    """The child: ingest each batch received, answer with its result, until told to stop."""
    from cityops.bootstrap import bootstrap
    from cityops.service.telemetry import telemetry

    # Ctrl-C or SIGTERM reach the whole process group: the parent stops taking messages,
    # lets this process write and answer what it has, then sends None.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    try:
        app = bootstrap(settings)
        tel = telemetry(app)
        if mqtt_worker:
            tel.as_mqtt_worker()
        tel.warm()
        if tel.alarms is not None:
            tel.alarms.start_follow_up()  # cases open beside ingestion, as in one process
            tel.start_tick()  # here, where the readings are seen
    except Exception as exc:
        conn.send(("failed", f"{type(exc).__name__}: {exc}"))
        raise
    conn.send((READY, None))
    try:
        while (messages := conn.recv()) is not None:
            try:
                conn.send(("ok", tel.ingest(messages)))
            except Exception as exc:  # the parent retries, then isolates the message
                log.exception("telemetry batch failed in the ingest process")
                conn.send(("error", f"{type(exc).__name__}: {exc}"))
    except EOFError:  # the parent went away
        pass
    finally:
        tel.close()
        app.dispose()
