"""Ingestion in a second process (CITYOPS_TELEMETRY_INGEST_PROCESS): stored, dead-lettered
and acknowledged after the child's commit; a child that dies is started again."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator

import orjson
import pytest
from sqlalchemy import func, select

from cityops.adapters.db.alarm_models import AlarmRow, RuleStateRow
from cityops.adapters.db.lifeline_models import (
    DeadLetterRow,
    LatestRow,
    LifelineDeviceRow,
    LifelineSeriesRow,
    ReadingRow,
)
from cityops.bootstrap import App, bootstrap
from cityops.service.telemetry import RawMessage, telemetry
from cityops.service.telemetry.decode import SENML

GAS = "SJ-GPT-0001"  # gas pipe pressure, MPa, every 60 s


@pytest.fixture
def two_process_app(sqlite_app: App) -> Iterator[App]:
    """The same database; real time (the child has its own clock); ingestion in a child."""
    settings = sqlite_app.settings.model_copy(update={"telemetry_ingest_process": True})
    app = bootstrap(settings)
    yield app
    telemetry(app).close()
    app.dispose()


def _pack(t0: float, *values: float) -> bytes:
    records = [{"n": "pressure", "t": 60 * i, "v": v} for i, v in enumerate(values)]
    records[0].update(bn=f"{GAS}:", bt=t0, u="MPa")
    return orjson.dumps(records)


def test_the_child_stores_and_the_parent_acks_after_its_commit(two_process_app: App) -> None:
    app, now = two_process_app, time.time()
    tel = telemetry(app)
    pipeline = tel.pipeline()  # starts the child and waits until it is ready
    assert tel.ingest_pid is not None and tel.ingest_pid != os.getpid()
    acks: list[tuple[int, int]] = []

    def ack(i: int) -> None:
        with app.reads() as s:  # what the child committed is visible when the ack runs
            acks.append((i, s.scalar(select(func.count()).select_from(ReadingRow)) or 0))

    good = RawMessage("test", _pack(now - 600, 0.31, 0.32), now, SENML)
    bad = RawMessage("test", b'[{"n": "pressure", "v": ', now, SENML)
    for i, message in enumerate((good, bad, good)):  # the third is a QoS 1 redelivery
        assert pipeline.submit(message, lambda i=i: ack(i))
    assert pipeline.drain(60)
    assert sorted(i for i, _ in acks) == [0, 1, 2] and all(n == 2 for _, n in acks)
    st = pipeline.stats
    assert (st.accepted, st.duplicates) == (2, 2)
    with app.reads() as s:
        (dead,) = s.scalars(select(DeadLetterRow)).all()
    assert dead.reason == "malformed_json" and dead.raw == bad.payload

    os.kill(tel.ingest_pid, signal.SIGKILL)  # the child dies: the next batch starts another
    later = RawMessage("test", _pack(now - 300, 0.33), now, SENML)
    assert pipeline.submit(later, lambda: ack(3))
    assert pipeline.drain(120)
    assert acks[-1] == (3, 3) and tel.ingest_pid is not None


def test_the_ingest_child_ticks_and_its_parent_does_not(sqlite_app: App) -> None:
    """The child's engine is the one that sees the readings, so the alarm tick runs there."""
    settings = sqlite_app.settings.model_copy(update={
        "telemetry_ingest_process": True, "lifeline_tick_s": 0.1})  # fmt: skip
    app = bootstrap(settings)
    tel = telemetry(app)
    with app.sessions.begin() as s:  # the pipe's pressure was last stored an hour ago
        series = s.scalars(select(LifelineSeriesRow.id).join(LifelineDeviceRow)
                           .where(LifelineDeviceRow.code == GAS)).one()  # fmt: skip
        s.add(LatestRow(series_id=series, ts=int((time.time() - 3600) * 1000), value=0.3))
    try:
        tel.pipeline()
        assert tel.alarms is not None and tel.alarms._ticker is None
        # No reading is sent: the pipe's offline alarm can only come from the child's tick.
        deadline = time.monotonic() + 60
        while not _offline(app) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert _offline(app), "the ingest child never ticked"
    finally:
        tel.close()
        app.dispose()


def test_the_ingest_child_of_a_mqtt_worker_snapshots_as_that_worker(
    two_process_app: App,
) -> None:
    """The child ingests for `cityops mqtt`: its rule state is the worker's (restored by the
    next worker, never mistaken for an API's); the parent saw nothing and writes none."""
    app, now = two_process_app, time.time()
    tel = telemetry(app)
    tel.as_mqtt_worker()
    pipeline = tel.pipeline()
    assert pipeline.submit(RawMessage("test", _pack(now - 120, 0.31, 0.32), now, SENML))
    assert pipeline.drain(60)
    tel.close()  # the child snapshots on its way out
    with app.reads() as s:
        owners = s.scalars(select(RuleStateRow.taken_by)).all()
    assert owners == [f"mqtt:{app.settings.mqtt_client_id}"]


def _offline(app: App) -> int:
    with app.reads() as s:
        return s.scalar(select(func.count()).select_from(AlarmRow)
                        .where(AlarmRow.subject == f"device:{GAS}")) or 0  # fmt: skip
