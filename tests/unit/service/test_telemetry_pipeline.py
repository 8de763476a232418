"""The telemetry pipeline: bounded memory (backpressure), batching, ack after commit."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Sequence

from cityops.service.telemetry.decode import RawMessage
from cityops.service.telemetry.ingest import IngestResult, MessageResult
from cityops.service.telemetry.pipeline import TelemetryPipeline


def _msg(i: int, size: int = 100) -> RawMessage:
    return RawMessage("test", b"x" * size, float(i))


class _Store:
    def __init__(self) -> None:
        self.batches: list[int] = []
        self.gate = threading.Event()
        self.gate.set()
        self.fail = 0

    def __call__(self, messages: Sequence[RawMessage]) -> IngestResult:
        self.gate.wait(10)
        if self.fail:
            self.fail -= 1
            raise RuntimeError("database away")
        self.batches.append(len(messages))
        return IngestResult([MessageResult(accepted=1) for _ in messages], accepted=len(messages))


def test_a_full_queue_refuses_or_blocks_and_memory_stays_bounded() -> None:
    store = _Store()
    store.gate.clear()  # the writer is stuck: nothing drains
    p = TelemetryPipeline(store, max_bytes=1000, batch_messages=5, batch_wait_s=0.01)
    p.start()
    try:
        accepted = sum(p.submit(_msg(i), block=False) for i in range(50))
        assert accepted <= 15  # 10 queued + at most one batch taken by the stuck writer
        assert p.stats.refused == 50 - accepted
        assert p.submit(_msg(99), timeout=0.05) is False
        assert p.stats.peak_bytes <= 1000
        store.gate.set()
        assert p.drain(10)
        assert p.submit(_msg(100), block=False)
        assert p.drain(10)
    finally:
        p.stop()
    assert sum(store.batches) == accepted + 1 and max(store.batches) <= 5


def test_acks_come_after_commit_and_failures_are_retried() -> None:
    store = _Store()
    store.fail = 2
    acks: list[int] = []
    p = TelemetryPipeline(store, max_bytes=10_000, batch_messages=50, batch_wait_s=0.01,
                          retry_s=0.01)  # fmt: skip
    p.start()
    try:
        for i in range(20):
            p.submit(_msg(i), lambda i=i: acks.append(i))
        assert p.drain(10)
    finally:
        p.stop()
    assert sorted(acks) == list(range(20))
    assert p.stats.failures == 2 and p.stats.accepted == 20


def test_a_message_that_always_fails_goes_to_the_poison_handler() -> None:
    poisoned: list[float] = []

    def ingest(messages: Sequence[RawMessage]) -> IngestResult:
        if any(m.received_at == 3.0 for m in messages):
            raise ValueError("bug")
        return IngestResult([MessageResult() for _ in messages])

    acks: list[int] = []
    p = TelemetryPipeline(ingest, max_bytes=10_000, batch_messages=10, batch_wait_s=0.05,
                          retry_s=0.001,
                          on_poison=lambda m, _: poisoned.append(m.received_at))
    p.start()
    try:
        for i in range(6):
            p.submit(_msg(i), lambda i=i: acks.append(i))
        assert p.drain(10)
    finally:
        p.stop()
    assert poisoned == [3.0] and sorted(acks) == list(range(6))


class _SecondProcess:
    """Like IngestProcess: batches are sent ahead and answered in order."""

    def __init__(self) -> None:
        self.sent: deque[list[RawMessage]] = deque()
        self.most_in_flight = 0
        self.committed: set[float] = set()
        self.fail = 0

    def send(self, messages: Sequence[RawMessage]) -> None:
        self.sent.append(list(messages))
        self.most_in_flight = max(self.most_in_flight, len(self.sent))

    def poll(self, timeout: float) -> bool:
        return bool(self.sent)  # answers are ready at once

    def receive(self) -> IngestResult:
        batch = self.sent.popleft()
        if self.fail:
            self.fail -= 1
            raise RuntimeError("ingest process away")
        self.committed.update(m.received_at for m in batch)
        return IngestResult([MessageResult(accepted=1) for _ in batch], accepted=len(batch))

    def __call__(self, messages: Sequence[RawMessage]) -> IngestResult:
        assert not self.sent, "a retry before every batch in flight was answered"
        self.send(messages)
        return self.receive()


def test_a_second_process_gets_the_next_batch_early_and_acks_still_follow_its_commit() -> None:
    ingest = _SecondProcess()
    ingest.fail = 2  # both batches in flight fail (the process died): answered, then retried
    acks: list[int] = []
    early: list[int] = []

    def ack(i: int) -> None:
        acks.append(i)
        if float(i) not in ingest.committed:
            early.append(i)

    p = TelemetryPipeline(ingest, max_bytes=100_000, batch_messages=5, batch_wait_s=0.01,
                          retry_s=0.001)  # fmt: skip
    for i in range(40):  # queued before the worker starts: full batches are waiting
        p.submit(_msg(i), lambda i=i: ack(i))
    p.start()
    try:
        assert p.drain(10)
    finally:
        p.stop()
    assert ingest.most_in_flight == 2
    assert acks == list(range(40)) and early == []  # in order: MQTT wants PUBACKs in order
    assert p.stats.failures == 2 and p.stats.accepted == 40 and p.stats.queued_bytes == 0


class _BusyProcess(_SecondProcess):
    """A second process still writing its batch until ``answer`` is set."""

    def __init__(self) -> None:
        super().__init__()
        self.answer = threading.Event()

    def poll(self, timeout: float) -> bool:
        return self.answer.wait(timeout)

    def receive(self) -> IngestResult:
        self.answer.wait()
        return super().receive()


def test_a_batch_that_fills_while_the_process_writes_is_sent_at_once() -> None:
    """Waiting only for the answer would leave the process idle between batches."""
    ingest = _BusyProcess()
    acks: list[int] = []
    p = TelemetryPipeline(ingest, max_bytes=100_000, batch_messages=5, batch_wait_s=0.01)
    p.start()
    try:
        for i in range(5):
            p.submit(_msg(i), lambda i=i: acks.append(i))
        deadline = time.monotonic() + 10
        while not ingest.sent and time.monotonic() < deadline:
            time.sleep(0.005)
        for i in range(5, 10):  # the next batch fills while the first is being written
            p.submit(_msg(i), lambda i=i: acks.append(i))
        while ingest.most_in_flight < 2 and time.monotonic() < deadline:
            time.sleep(0.005)
        assert ingest.most_in_flight == 2 and acks == []  # sent ahead, nothing acked yet
        ingest.answer.set()
        assert p.drain(10)
    finally:
        p.stop()
    assert sorted(acks) == list(range(10)) and p.stats.accepted == 10


def test_while_a_message_can_be_neither_stored_nor_dead_lettered_the_stream_waits() -> None:
    """The database is away: message 1 fails and so does its dead letter, twice. The pipeline
    holds (no ack, no skipping ahead), then dead-letters it once the database is back."""
    def ingest(messages: Sequence[RawMessage]) -> IngestResult:
        if any(m.received_at == 1.0 for m in messages):
            raise RuntimeError("database away")
        return IngestResult([MessageResult(accepted=1) for _ in messages], accepted=len(messages))

    tries: list[float] = []

    def poison(m: RawMessage, _exc: Exception) -> None:
        tries.append(m.received_at)
        if len(tries) <= 2:
            raise RuntimeError("database away")

    acks: list[int] = []
    p = TelemetryPipeline(ingest, max_bytes=10_000, batch_messages=10, batch_wait_s=0.01,
                          retry_s=0.001, on_poison=poison)  # fmt: skip
    p.start()
    try:
        for i in range(3):
            p.submit(_msg(i), lambda i=i: acks.append(i))
        assert p.drain(10)
        p.submit(_msg(5), lambda: acks.append(5))  # the worker still takes messages
        assert p.drain(10)
    finally:
        p.stop()
    assert tries == [1.0, 1.0, 1.0] and acks == [0, 1, 2, 5]
def test_after_a_failed_batch_the_next_ones_answer_is_acknowledged_after_its_retry() -> None:
    """The oldest batch in flight fails, the next succeeds: the retry of the first comes
    before the second's acks, so acknowledgements keep the order of the messages."""
    ingest = _SecondProcess()
    ingest.fail = 1
    acks: list[int] = []
    p = TelemetryPipeline(ingest, max_bytes=100_000, batch_messages=5, batch_wait_s=0.01,
                          retry_s=0.001)  # fmt: skip
    for i in range(20):
        p.submit(_msg(i), lambda i=i: acks.append(i))
    p.start()
    try:
        assert p.drain(10)
    finally:
        p.stop()
    assert acks == list(range(20)) and p.stats.failures == 1 and p.stats.accepted == 20
