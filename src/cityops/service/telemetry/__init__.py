"""City lifeline telemetry (城市生命线监测): registry, ingestion, storage, queries.

The seams (docs/lifeline.md):

- transports (HTTP here; the MQTT consumer and the simulator later) build
  :class:`RawMessage` and either call ``telemetry(app).ingest([...])`` (synchronous, answers
  per message) or ``telemetry(app).pipeline().submit(message, ack)`` (queued, batched,
  backpressure, ``ack`` after commit);
- downstream stages (rules, anomaly, alarms) register a :class:`BatchListener` with
  ``telemetry(app).listeners.append(...)`` and get each batch's new readings as arrays;
- imports call ``telemetry(app).invalidate()`` so the next batch sees the new devices.

The alarm engine's tick runs where the readings arrive (docs/lifeline.md "Where the tick
runs"): with this process's pipeline when it ingests in process; in the ingest child when
there is one (not in its parent); in an API process without either, from the first reading
posted to it over HTTP — an API that takes no readings (beside a ``cityops mqtt`` worker)
never ticks. ``CITYOPS_LIFELINE_TICK`` overrides: true ticks an API from its start, false
never ticks here. An API with ``CITYOPS_TELEMETRY_HTTP_FORWARD`` ingests nothing and never
ticks: it hands what is posted to it to the worker (``forward_http``).
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
    from cityops.service.telemetry.forward import Forwarded, HttpForwarder
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
        self._http = False  # the API in this process takes readings (between its lifespan's ends)
        self._child = False  # an ingest child sees this process's stream, and ticks
        self._mqtt_worker = False  # a `cityops mqtt` worker (as_mqtt_worker)
        self._forwarder: HttpForwarder | None = None  # CITYOPS_TELEMETRY_HTTP_FORWARD
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

    def ingest_http(self, messages: list[RawMessage]) -> IngestResult:
        """Readings posted to the API (POST /telemetry/readings): this process's engine sees
        them, so while the API serves, the first one starts the tick here. A replayed dead
        letter (``ingest``) does not: it is no stream."""
        result = self.ingestor.ingest(messages)
        if self._http:
            self.start_tick()
        return result

    def forward_http(self, messages: list[RawMessage]) -> Forwarded:
        """Readings posted to an API whose ``cityops mqtt`` worker ingests (forward mode):
        checked here as ingest would, the good points published to the worker's broker, the
        bad parts dead-lettered after the broker took them (service/telemetry/forward.py).
        This process's engine sees none of it and never ticks. Blocking."""
        from cityops.service.telemetry.forward import HttpForwarder

        with self._lock:  # one connection per process, made on first use
            if self._forwarder is None:
                self._forwarder = HttpForwarder(self.app.settings)
            forwarder = self._forwarder
        return forwarder.forward(self.ingestor, messages)

    def close_forwarder(self) -> None:
        """Disconnect the forwarding connection, if one was made (the API's lifespan end)."""
        with self._lock:
            forwarder, self._forwarder = self._forwarder, None
        if forwarder is not None:
            forwarder.close()

    def as_mqtt_worker(self) -> None:
        """This process is a ``cityops mqtt`` worker (call it before the first reading): its
        engine, and its ingest child's, snapshot and restore rule state as the worker's own
        (``engine.rule_state_owner``), never the API's."""
        self._mqtt_worker = True
        if self.alarms is not None:
            from cityops.service.lifeline.engine import rule_state_owner

            self.alarms.state_owner = rule_state_owner(self.app.settings, mqtt_worker=True)

    def start_tick(self) -> None:
        """Run the alarm engine's tick in this process, unless an ingest child sees its
        stream or ``CITYOPS_LIFELINE_TICK=false``."""
        if self.alarms is not None and not self._child and \
                self.app.settings.lifeline_tick is not False:  # fmt: skip
            self.alarms.start_ticker()

    def open_http(self) -> None:
        """The API starts serving here (its lifespan): readings posted from now on are a
        stream of this process (``ingest_http``); with ``CITYOPS_LIFELINE_TICK=true`` the
        tick starts at once, for deployments whose every reading comes over HTTP (no-data
        alarms even when all senders fall silent after a restart)."""
        self._http = True
        if self.app.settings.lifeline_tick:
            self.start_tick()

    def close_http(self) -> None:
        """The API has stopped taking readings (its lifespan's end). Without a pipeline here
        they were this process's whole stream, so it has ended: stop the tick and snapshot the
        rule state. With a pipeline, its owner stops taking messages, drains and calls
        :meth:`close`, which snapshots once, after the last batch."""
        self._http = False
        with self._lock:
            own_stream = self._pipeline is not None
        if not own_stream and self.alarms is not None:
            self.alarms.close()

    @property
    def ingest_pid(self) -> int | None:
        """The ingest process's id when ingestion runs in one (service/telemetry/remote.py)."""
        return None if self._remote is None else self._remote.pid

    def invalidate(self) -> None:
        self.registry.invalidate()

    def warm(self, *, alarms: bool = True) -> None:
        """Load the device registry and, with ``alarms``, build the alarm engine's evaluator
        (rules, assets, restored state) now, so the first batch does not pay for them. A
        process whose stream an ingest child sees leaves ``alarms`` off: the child warms its
        own engine."""
        snapshot = self.registry.get()
        if alarms and self.alarms is not None:
            self.alarms.warm(snapshot)

    def pipeline(self) -> TelemetryPipeline:
        """The process's queued path, started on first use."""
        with self._lock:
            if self._pipeline is None:
                s = self.app.settings
                ingest = self.ingestor.ingest
                if s.telemetry_ingest_process:  # a second core for decode, store and rules
                    from cityops.service.telemetry.remote import IngestProcess

                    self._child = True  # its engine sees the stream and ticks; this one not
                    if self.alarms is not None:
                        self.alarms.stop_ticker()
                    self._remote = IngestProcess(s, mqtt_worker=self._mqtt_worker)
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
                    self.start_tick()
            return self._pipeline

    def close(self) -> None:
        """End this process's stream: the pipeline writes what it holds (call it after the
        transport stopped taking messages), the ingest child snapshots its engine, then this
        engine stops its tick and snapshots — once, after the last batch."""
        with self._lock:
            if self._pipeline is not None:
                self._pipeline.stop()
                self._pipeline = None
            if self._remote is not None:
                self._remote.close()
                self._remote = None
            self._child = False
        if self.alarms is not None:
            self.alarms.close()

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
