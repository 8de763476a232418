"""The bounded queue and worker between transports (MQTT consumer, simulator) and ingest.

``submit()`` admits a message while the queued bytes stay under the limit; when full it
blocks (default) or, with ``block=False`` / a timeout, refuses — backpressure the transport
turns into "do not ack" (MQTT QoS 1: the broker keeps and redelivers) or HTTP 503. A
message's ``ack`` runs only after the batch holding it has committed (its points stored or
dead-lettered), so nothing acknowledged is ever lost. Memory: at most ``max_bytes`` queued
plus the batch being written.

A failing batch is retried with back-off; after three failures its messages are tried one
by one, and a message that still fails goes to ``on_poison`` (by default: dead-lettered with
reason ``internal_error``), so one bad message cannot stall the stream.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from cityops.service.telemetry.decode import RawMessage
from cityops.service.telemetry.ingest import IngestResult

log = logging.getLogger(__name__)
Ack = Callable[[], None]
Batch = list[tuple[RawMessage, "Ack | None"]]


@runtime_checkable
class Overlapped(Protocol):
    """An ingest that takes the next batch before it answers the last (a second process):
    ``send`` queues a batch, ``receive`` answers the oldest one sent, in order."""

    def send(self, messages: Sequence[RawMessage]) -> None: ...

    def receive(self) -> IngestResult: ...

    def __call__(self, messages: Sequence[RawMessage]) -> IngestResult: ...


@dataclass(slots=True)
class PipelineStats:
    submitted: int = 0
    refused: int = 0  # submissions refused because the queue was full
    batches: int = 0
    accepted: int = 0  # points
    duplicates: int = 0
    rejected: int = 0
    failures: int = 0  # batch attempts that raised
    queued_bytes: int = 0
    peak_bytes: int = 0


class TelemetryPipeline:
    def __init__(
        self,
        ingest: Callable[[Sequence[RawMessage]], IngestResult],
        *,
        max_bytes: int,
        batch_messages: int,
        batch_wait_s: float,
        on_poison: Callable[[RawMessage, Exception], None] | None = None,
        on_result: Callable[[IngestResult], None] | None = None,
        retry_s: float = 0.5,
    ) -> None:
        self._ingest = ingest
        self._max_bytes = max_bytes
        self._batch = batch_messages
        self._wait = batch_wait_s
        self._on_poison = on_poison
        self._on_result = on_result
        self._retry_s = retry_s
        self._queue: deque[tuple[RawMessage, Ack | None]] = deque()
        self._cond = threading.Condition()
        self._busy = False
        self._stopping = False
        self._thread: threading.Thread | None = None
        self.stats = PipelineStats()

    def start(self) -> None:
        with self._cond:
            if self._thread is None:
                self._stopping = False
                self._thread = threading.Thread(target=self._run, name="telemetry", daemon=True)
                self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Write what is queued, then end the worker."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
            thread = self._thread
        if thread is not None:
            thread.join(timeout)
        self._thread = None

    def submit(
        self, message: RawMessage, ack: Ack | None = None, *, block: bool = True,
        timeout: float | None = None,
    ) -> bool:  # fmt: skip
        """Queue a message; False when the queue stayed full (nothing was taken)."""
        size = len(message.payload)
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            # An empty queue admits any one message, so an outsized one cannot wedge it.
            while self.stats.queued_bytes and self.stats.queued_bytes + size > self._max_bytes:
                remaining = None if deadline is None else deadline - time.monotonic()
                if not block or (remaining is not None and remaining <= 0) or self._stopping:
                    self.stats.refused += 1
                    return False
                self._cond.wait(remaining)
            self._queue.append((message, ack))
            self.stats.submitted += 1
            self.stats.queued_bytes += size
            self.stats.peak_bytes = max(self.stats.peak_bytes, self.stats.queued_bytes)
            if len(self._queue) in (1, self._batch):  # wake the worker only when it can act:
                self._cond.notify_all()  # per message it would fight the receiver for the GIL
        return True

    def drain(self, timeout: float = 30.0) -> bool:
        """Wait until everything submitted so far is written (tests, simulator, shutdown)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._queue or self._busy:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(remaining)
        return True

    def _take(self, full_only: bool = False) -> list[tuple[RawMessage, Ack | None]] | None:
        """The next batch (None when stopping and empty); with ``full_only`` a full batch
        now or nothing ([]), never waiting."""
        with self._cond:
            if full_only:
                if len(self._queue) < self._batch:
                    return []
                self._busy = True
                return [self._queue.popleft() for _ in range(self._batch)]
            while not self._queue and not self._stopping:
                self._cond.wait()
            if not self._queue:
                return None
            linger = time.monotonic() + self._wait
            while len(self._queue) < self._batch and not self._stopping:
                remaining = linger - time.monotonic()
                if remaining <= 0:
                    break
                self._cond.wait(remaining)
            n = min(self._batch, len(self._queue))
            self._busy = True
            return [self._queue.popleft() for _ in range(n)]

    def _run(self) -> None:
        if isinstance(self._ingest, Overlapped):
            self._run_overlapped(self._ingest)
            return
        while (batch := self._take()) is not None:
            try:
                self._write(batch)
            finally:
                self._release(batch, busy=False)

    def _release(self, batch: Batch, *, busy: bool) -> None:
        with self._cond:
            self.stats.queued_bytes -= sum(len(m.payload) for m, _ in batch)
            self._busy = busy
            self._cond.notify_all()

    def _run_overlapped(self, ingest: Overlapped) -> None:
        """Keep the next full batch queued at the ingest process while it writes the current
        one, so it never waits for this process to acknowledge and send. Answers come in
        order; a failure is answered like in ``_write`` once nothing else is in flight."""
        inflight: deque[Batch] = deque()
        while True:
            batch = self._take(full_only=len(inflight) > 0)
            if batch is None and not inflight:
                return
            if batch:
                try:
                    ingest.send([m for m, _ in batch])
                    inflight.append(batch)
                except Exception:  # the process is away: answer what is in flight, retry
                    log.exception("telemetry batch could not be handed to the ingest process")
                    self._settle(ingest, inflight)
                    self._retry(batch)
                    self._release(batch, busy=False)
                    continue
            if inflight and (len(inflight) > 1 or not batch):
                oldest = inflight.popleft()
                try:
                    self._done(ingest.receive(), oldest)
                except Exception:
                    self.stats.failures += 1
                    log.exception("telemetry batch of %d failed", len(oldest))
                    self._settle(ingest, inflight)
                    self._retry(oldest)
                self._release(oldest, busy=bool(inflight))

    def _settle(self, ingest: Overlapped, inflight: deque[Batch]) -> None:
        """Take the answers of every batch in flight, then retry the failed ones: a retry
        needs an idle ingest (a new process must not answer for the old one's batches)."""
        failed: list[Batch] = []
        while inflight:
            batch = inflight.popleft()
            try:
                self._done(ingest.receive(), batch)
                self._release(batch, busy=True)
            except Exception:
                self.stats.failures += 1
                failed.append(batch)
        for batch in failed:
            self._retry(batch)
            self._release(batch, busy=True)

    def _retry(self, batch: Batch) -> None:
        time.sleep(self._retry_s)
        self._write(batch)

    def _write(self, batch: list[tuple[RawMessage, Ack | None]]) -> None:
        messages = [m for m, _ in batch]
        for attempt in range(3):
            try:
                self._done(self._ingest(messages), batch)
                return
            except Exception:
                self.stats.failures += 1
                log.exception("telemetry batch of %d failed (attempt %d)", len(batch), attempt + 1)
                time.sleep(self._retry_s * 2**attempt)
        for item in batch:  # isolate the message that keeps failing
            try:
                self._done(self._ingest([item[0]]), [item])
            except Exception as exc:
                self.stats.failures += 1
                if self._on_poison is not None:
                    self._on_poison(item[0], exc)
                    if item[1] is not None:
                        item[1]()
                # without a poison handler the message stays unacknowledged (redelivered)

    def _done(self, result: IngestResult, batch: list[tuple[RawMessage, Ack | None]]) -> None:
        s = self.stats
        s.batches += 1
        s.accepted += result.accepted
        s.duplicates += result.duplicates
        s.rejected += result.rejected
        for _, ack in batch:
            if ack is not None:
                ack()
        if self._on_result is not None:
            self._on_result(result)
