"""The bounded queue and worker between transports (MQTT consumer, simulator) and ingest.

``submit()`` admits a message while the queued bytes stay under the limit; when full it
blocks (default) or, with ``block=False`` / a timeout, refuses — backpressure the transport
turns into "do not ack" (MQTT QoS 1: the broker keeps and redelivers) or HTTP 503. A
message's ``ack`` runs only after the batch holding it has committed (its points stored or
dead-lettered), so nothing acknowledged is ever lost. Memory: at most ``max_bytes`` queued
plus the batch being written.

A failing batch is retried with back-off; after three failures its messages are tried one
by one, and a message that still fails goes to ``on_poison`` (by default: dead-lettered with
reason ``internal_error``), so one bad message cannot stall the stream. When even that fails
(the database is away) the stream holds and tries again with back-off: nothing is skipped.
Acknowledgements keep the order of the messages, failures included (MQTT-4.6.0-2).
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
MAX_INFLIGHT = 2  # batches at the ingest process: the one it writes and the next
ANSWER_POLL_S = 0.002  # how often a full batch is looked for while an answer is awaited


@runtime_checkable
class Overlapped(Protocol):
    """An ingest that takes the next batch before it answers the last (a second process):
    ``send`` queues a batch, ``receive`` answers the oldest one sent, in order."""

    def send(self, messages: Sequence[RawMessage]) -> None: ...

    def poll(self, timeout: float) -> bool: ...

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
        """Keep the ingest process busy: while it writes one batch, the next full one is
        already queued at it (at most ``MAX_INFLIGHT``), and a batch that fills while an
        answer is awaited is sent at once — waiting only on the answer would leave the
        process idle between batches. Answers come in order; a failure is answered like in
        ``_write`` once nothing else is in flight."""
        inflight: deque[Batch] = deque()
        while True:
            if len(inflight) < MAX_INFLIGHT:
                batch = self._take(full_only=bool(inflight))
                if batch is None and not inflight:
                    return
                if batch:
                    try:
                        ingest.send([m for m, _ in batch])
                        inflight.append(batch)
                    except Exception:  # the process is away: answer what is in flight, retry
                        log.exception("telemetry batch could not be handed to the ingest process")
                        self._settle(ingest, [*self._answers(ingest, inflight), (batch, None)])
                    continue
            # in flight: the most allowed, or no full batch yet (stopping included)
            if len(inflight) >= MAX_INFLIGHT or ingest.poll(ANSWER_POLL_S):
                oldest = inflight.popleft()
                try:
                    result = ingest.receive()
                except Exception:
                    self.stats.failures += 1
                    log.exception("telemetry batch of %d failed", len(oldest))
                    self._settle(ingest, [(oldest, None), *self._answers(ingest, inflight)])
                    continue
                self._done(result, oldest)
                self._release(oldest, busy=bool(inflight))

    def _answers(self, ingest: Overlapped,
                 inflight: deque[Batch]) -> list[tuple[Batch, IngestResult | None]]:  # fmt: skip
        """Take the answer of every batch in flight (None: it failed)."""
        out: list[tuple[Batch, IngestResult | None]] = []
        while inflight:
            batch = inflight.popleft()
            try:
                out.append((batch, ingest.receive()))
            except Exception:
                self.stats.failures += 1
                out.append((batch, None))
        return out

    def _settle(self, ingest: Overlapped,
                answered: list[tuple[Batch, IngestResult | None]]) -> None:  # fmt: skip
        """After a failure, with nothing in flight any more (a retry needs an idle ingest: a
        new process must not answer for the old one's batches): retry the failed batches and
        acknowledge the others, in the order they were received — MQTT wants PUBACKs in the
        order of the PUBLISHes (MQTT-4.6.0-2)."""
        for batch, result in answered:
            if result is None:
                self._retry(batch)
            else:
                self._done(result, batch)
            self._release(batch, busy=True)
        self._release([], busy=False)

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
            self._isolate(item)

    def _isolate(self, item: tuple[RawMessage, Ack | None]) -> None:
        """Store one message, else dead-letter it (``on_poison``) and acknowledge. When it can
        be neither — the database is away — hold the stream and try again with back-off:
        acknowledging would lose it, and leaving it unacknowledged would keep a slot of the
        broker's window until the next session (enough of them and the stream stops). When
        the pipeline stops meanwhile it stays unacknowledged: the next session gets it."""
        delay = self._retry_s
        while True:
            try:
                self._done(self._ingest([item[0]]), [item])
                return
            except Exception as exc:
                self.stats.failures += 1
                if self._on_poison is None:
                    return  # no dead letters here (tests): unacknowledged
                try:
                    self._on_poison(item[0], exc)
                except Exception:
                    log.exception("a failing telemetry message could not be dead-lettered "
                                  "either; holding the stream, next try in %.1f s", delay)
                else:
                    if item[1] is not None:
                        item[1]()
                    return
            with self._cond:
                if self._stopping:
                    return
            time.sleep(delay)
            delay = min(delay * 2, 30.0)

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
