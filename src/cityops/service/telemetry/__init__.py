"""City lifeline telemetry (城市生命线监测): registry, ingestion, storage, queries.

The seams (docs/lifeline.md):

- transports (HTTP here; the MQTT consumer and the simulator later) build
  :class:`RawMessage` and either call ``telemetry(app).ingest([...])`` (synchronous, answers
  per message) or ``telemetry(app).pipeline().submit(message, ack)`` (queued, batched,
  backpressure, ``ack`` after commit);
- downstream stages (rules, anomaly, alarms) register a :class:`BatchListener` with
  ``telemetry(app).listeners.append(...)`` and get each batch's new readings as arrays;
- imports call ``telemetry(app).invalidate()`` so the next batch sees the new devices.
"""

from __future__ import annotations

import threading
import weakref
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from cityops.adapters.db.lifeline_models import DeadLetterRow
from cityops.adapters.db.telemetry_store import ReadingStore, store_for
from cityops.bootstrap import App
from cityops.service.telemetry.decode import RawMessage
from cityops.service.telemetry.ingest import (
    BatchListener,
    Ingestor,
    IngestResult,
    MessageResult,
    ReadingBatch,
)
from cityops.service.telemetry.pipeline import TelemetryPipeline
from cityops.service.telemetry.registry import DeviceRegistry, RegistrySnapshot

if TYPE_CHECKING:
    from cityops.service.lifeline.engine import AlarmEngine
    from cityops.service.telemetry.remote import IngestProcess

__all__ = [
    "BatchListener",
    "IngestResult",
    "MessageResult",
    "RawMessage",
    "ReadingBatch",
    "RegistrySnapshot",
    "Telemetry",
    "TelemetryPipeline",
    "telemetry",
]


class Telemetry:
    """Everything telemetry keeps in memory for one App (one per process in practice)."""

    def __init__(self, app: App) -> None:
        self.app = app
        self.registry = DeviceRegistry(app.reads)
        self.store: ReadingStore = store_for(app.engine)
        self.ingestor = Ingestor(app, self.registry, self.store)
        self._pipeline: TelemetryPipeline | None = None
        self._remote: IngestProcess | None = None
        self._lock = threading.Lock()
        self.alarms: AlarmEngine | None = None
        if app.settings.lifeline_alarms:  # the downstream stages (§4–5): rules, anomaly, alarms
            from cityops.service.lifeline.engine import AlarmEngine

            self.alarms = AlarmEngine(app)
            self.ingestor.listeners.append(self.alarms)

    @property
    def listeners(self) -> list[BatchListener]:
        return self.ingestor.listeners

    def ingest(self, messages: list[RawMessage]) -> IngestResult:
        return self.ingestor.ingest(messages)

    @property
    def ingest_pid(self) -> int | None:
        """The ingest process's id when ingestion runs in one (service/telemetry/remote.py)."""
        return None if self._remote is None else self._remote.pid

    def invalidate(self) -> None:
        self.registry.invalidate()

    def pipeline(self) -> TelemetryPipeline:
        """The process's queued path, started on first use."""
        with self._lock:
            if self._pipeline is None:
                s = self.app.settings
                ingest = self.ingestor.ingest
                if s.telemetry_ingest_process:  # a second core for decode, store and rules
                    from cityops.service.telemetry.remote import IngestProcess

                    self._remote = IngestProcess(s)
                    self._remote.start()
                    ingest = self._remote
                self._pipeline = TelemetryPipeline(
                    ingest, max_bytes=s.telemetry_queue_bytes,
                    batch_messages=s.telemetry_batch_messages,
                    batch_wait_s=s.telemetry_batch_wait_s, on_poison=self._poison,
                )  # fmt: skip
                self._pipeline.start()
                if self.alarms is not None and self._remote is None:  # cases beside the stream
                    self.alarms.start_follow_up()
            return self._pipeline

    def close(self) -> None:
        with self._lock:
            if self._pipeline is not None:
                self._pipeline.stop()
                self._pipeline = None
            if self._remote is not None:
                self._remote.close()
                self._remote = None
        if self.alarms is not None:
            self.alarms.close()  # stops its tick and snapshots the rule state

    def _poison(self, message: RawMessage, exc: Exception) -> None:
        with self.app.sessions.begin() as s:
            s.add(DeadLetterRow(
                received_at=datetime.fromtimestamp(message.received_at, UTC),
                source=message.source[:200], content_type=message.content_type[:64] or "-",
                reason="internal_error", message=f"{type(exc).__name__}: {exc}"[:2000],
                raw=message.payload, points_rejected=0, points_accepted=0, resolved=False,
            ))  # fmt: skip


_instances: dict[int, Telemetry] = {}
_instances_lock = threading.Lock()


def telemetry(app: App) -> Telemetry:
    """The App's telemetry (built on first use; forgotten when the App is collected)."""
    with _instances_lock:
        found = _instances.get(id(app))
        if found is None or found.app is not app:
            found = _instances[id(app)] = Telemetry(app)
            weakref.finalize(app, _instances.pop, id(app), None)
        return found
