"""The MQTT consumer against the real Mosquitto at 127.0.0.1:1883 (QoS 1, persistent session,
acknowledged after commit): formats and topics, dead letters, redelivery, backpressure.

Each test uses its own topic prefix and client ids; sessions expire a minute after the test.
"""

from __future__ import annotations

import socket
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import orjson
import pytest
from sqlalchemy import func, select

from cityops.adapters.db.lifeline_models import DeadLetterRow, ReadingRow
from cityops.adapters.mqtt import MqttConfig, Publisher
from cityops.adapters.mqtt_consumer import MqttConsumer
from cityops.bootstrap import App
from cityops.service.telemetry import RawMessage, telemetry
from cityops.service.telemetry.pipeline import TelemetryPipeline
from tests.conftest import require_mosquitto
from tests.helpers import wait_until

HOST, PORT = "127.0.0.1", 1883
GAS, WATER = "SJ-GPT-0001", "SJ-WP-0001"  # pressure in MPa every 60 s


@pytest.fixture
def broker() -> Iterator[MqttConfig]:
    require_mosquitto()
    tag = uuid.uuid4().hex[:10]
    prefix = f"cityops-test/{tag}/telemetry"
    yield MqttConfig(HOST, PORT, client_id=f"cityops-test-{tag}", topic_prefix=prefix,
                     topic_filter=f"{prefix}/#", receive_maximum=50,
                     session_expiry_s=60)  # fmt: skip


def _readings(app: App) -> int:
    with app.reads() as s:
        return s.scalar(select(func.count()).select_from(ReadingRow)) or 0



def _consumer(app: App, cfg: MqttConfig, submit: Callable[..., bool] | None = None
              ) -> MqttConsumer:  # fmt: skip
    c = MqttConsumer(cfg, submit or telemetry(app).pipeline().submit,
                     clock=lambda: app.clock().timestamp())  # fmt: skip
    c.start()
    assert c.subscribed.wait(10), c.stats.errors
    return c


def _pressure(app: App, n: int, start: int = 0) -> list[bytes]:
    t0 = app.clock().timestamp() - 3600
    return [orjson.dumps([{"n": "pressure", "t": t0 + 10 * (start + i), "v": 0.3}])
            for i in range(n)]  # fmt: skip


def test_senml_and_json_by_topic_and_a_dead_letter_named_by_its_topic(
    app: App, broker: MqttConfig
) -> None:
    consumer = _consumer(app, broker)
    p = broker.topic_prefix
    t = app.clock().timestamp() - 600
    try:
        with Publisher(broker, f"{broker.client_id}-pub") as pub:
            # SenML, device from the topic, content type from the v5 property
            pub.publish(f"{p}/gw-gas/{GAS}", orjson.dumps([
                {"bt": t, "bu": "kPa", "n": "pressure", "v": 310}, {"n": "pressure", "t": 60,
                                                                   "v": 320}]))  # fmt: skip
            # plain JSON named by the topic suffix (an MQTT 3.1.1 device has no property)
            pub.publish(f"{p}/gw-water/{WATER}/json",
                        orjson.dumps({"ts": t, "values": {"pressure": 0.35}}), content_type="")
            # a gateway-level SenML pack naming its devices, sniffed
            pub.publish(f"{p}/gw-gas", orjson.dumps([{"bn": f"{GAS}:", "bt": t + 120,
                                                      "n": "pressure", "v": 0.29}]), "")
            pub.publish(f"{p}/gw-gas/{GAS}", b"{not json")
        wait_until(lambda: _readings(app) == 4 and telemetry(app).pipeline().stats.batches > 0
              and consumer.stats.acked == 4)  # fmt: skip
    finally:
        consumer.stop(drain=telemetry(app).pipeline().drain)
        telemetry(app).close()
    with app.reads() as s:
        (dl,) = s.scalars(select(DeadLetterRow)).all()
        values = sorted(s.scalars(select(ReadingRow.value)).all())
    assert dl.source == f"mqtt:{p}/gw-gas/{GAS}" and dl.reason == "malformed_json"
    assert dl.raw == b"{not json"
    assert values == pytest.approx([0.29, 0.31, 0.32, 0.35], abs=0.005)  # water: zero offset
    assert consumer.stats.stale_acks == 0


def _kill(consumer: MqttConsumer) -> None:
    """Drop the connection as a crash would: no DISCONNECT, no more acks."""
    consumer._closing.set()
    sock = consumer._sock
    assert isinstance(sock, socket.socket)
    sock.shutdown(socket.SHUT_RDWR)  # the broker sees the connection end, not a DISCONNECT
    consumer.stop()


def test_a_consumer_killed_before_acknowledging_gets_everything_again_stored_once(
    sqlite_app: App, broker: MqttConfig
) -> None:
    app = sqlite_app
    pipeline = telemetry(app).pipeline()
    taken: list[RawMessage] = []

    def crashy(message: RawMessage, ack: Any, **_: Any) -> bool:
        """Commits the first 10 messages but never acknowledges; the rest are lost in RAM."""
        taken.append(message)
        if len(taken) <= 10:
            pipeline.submit(message, None)
        return True

    first = _consumer(app, broker, crashy)
    topic = f"{broker.topic_prefix}/gw-gas/{GAS}"
    with Publisher(broker, f"{broker.client_id}-pub") as pub:
        for payload in _pressure(app, 30):
            pub.publish(topic, payload)
    wait_until(lambda: len(taken) >= 30 and pipeline.drain(5))
    assert _readings(app) == 10
    _kill(first)

    second = _consumer(app, broker)  # the same client id: the session is resumed
    try:
        assert second.stats.session_present
        wait_until(lambda: _readings(app) == 30 and second.stats.acked == 30)
    finally:
        stats = telemetry(app).pipeline().stats
        second.stop(drain=pipeline.drain)
        telemetry(app).close()
    assert (stats.accepted, stats.duplicates) == (30, 10)  # redelivered, stored exactly once
    assert _readings(app) == 30

    third = _consumer(app, broker)  # everything was acknowledged: nothing comes back
    time.sleep(1.0)
    third.stop()
    assert third.stats.received == 0


def test_a_tiny_pipeline_queue_holds_the_broker_back_and_loses_nothing(
    sqlite_app: App, broker: MqttConfig
) -> None:
    app = sqlite_app
    ingestor = telemetry(app).ingestor

    def slow_ingest(messages: Any) -> Any:
        time.sleep(0.01)
        return ingestor.ingest(messages)

    # one message queued at most (an empty queue admits any one), one per batch
    pipeline = TelemetryPipeline(slow_ingest, max_bytes=1, batch_messages=1,
                                 batch_wait_s=0.001)  # fmt: skip
    pipeline.start()
    consumer = _consumer(app, broker, pipeline.submit)
    try:
        with Publisher(broker, f"{broker.client_id}-pub") as pub:
            for payload in _pressure(app, 150):
                pub.publish(f"{broker.topic_prefix}/gw-gas/{GAS}", payload)
        wait_until(lambda: _readings(app) == 150 and consumer.stats.acked == 150, 60)
    finally:
        consumer.stop(drain=pipeline.drain)
        pipeline.stop()
    assert pipeline.stats.peak_bytes <= max(len(p) for p in _pressure(app, 150))
    assert pipeline.stats.accepted == 150 and _readings(app) == 150
