"""Lifeline workers wired to the App's telemetry pipeline: the MQTT consumer (adapters/mqtt.py)
and the in-process lifeline simulator (demo/lifeline_sim.py).

``cityops serve`` runs the consumer when ``CITYOPS_MQTT_URL`` is set and, with ``--simulate``,
the simulator (no broker needed); ``cityops mqtt`` runs the consumer alone. With
``CITYOPS_TELEMETRY_HTTP_FORWARD`` a ``cityops mqtt`` worker ingests everything: ``serve``
starts no consumer and its simulator publishes to the broker instead.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta

from cityops.adapters.mqtt import MqttConfig, Publisher, device_topic, mqtt_config
from cityops.adapters.mqtt_consumer import MqttConsumer
from cityops.bootstrap import App
from cityops.demo.lifeline_sim import LifelineSim, SimMessage
from cityops.service.telemetry import RawMessage, telemetry
from cityops.service.telemetry.decode import SENML

log = logging.getLogger(__name__)
SIM_SOURCE = "sim:lifeline"


def start_consumer(app: App, cfg: MqttConfig | None = None) -> MqttConsumer:
    """Consume the broker into ``telemetry(app).pipeline()``; messages are stamped with the
    App's clock (relative SenML times are relative to it)."""
    pipeline = telemetry(app).pipeline()
    consumer = MqttConsumer(cfg or mqtt_config(app.settings), pipeline.submit,
                            clock=lambda: app.clock().timestamp())  # fmt: skip
    consumer.start()
    return consumer


def stop_consumer(app: App, consumer: MqttConsumer, timeout: float = 30.0) -> None:
    """Take no more messages, write and acknowledge what was taken, disconnect."""
    consumer.stop(drain=lambda: telemetry(app).pipeline().drain(timeout))


def sim_message(message: SimMessage, now: float) -> RawMessage:
    """A simulated pack as the pipeline gets it (the device named by the transport)."""
    return RawMessage(SIM_SOURCE, message.payload, now, SENML, message.device)


def sim_publisher(pub: Publisher) -> Callable[[SimMessage, float], None]:
    """Publish a simulated pack as its device would, on ``{prefix}/{gateway}/{device}``."""
    prefix = pub.cfg.topic_prefix
    return lambda m, _: pub.publish(device_topic(m.gateway, m.device, prefix), m.payload)


def start_simulator(app: App, stop: threading.Event, tick_s: float = 5.0) -> threading.Thread:
    """Feed the demo network's live traffic into ``telemetry(app).pipeline()``."""

    def run() -> None:
        sim = LifelineSim.demo(incident_every_s=app.settings.simulate_incident_every_s)
        clock = lambda: app.clock().timestamp()  # noqa: E731
        if app.settings.telemetry_http_forward:  # the worker ingests: publish as devices do
            cfg = mqtt_config(app.settings)
            while not stop.is_set():  # a broker down at start (or lost) is waited for
                try:
                    with Publisher(cfg, f"{cfg.client_id}-sim") as pub:
                        sim.run_live(stop, sim_publisher(pub), clock, tick_s)
                except (OSError, RuntimeError, ValueError) as exc:  # paho's "not connected"
                    log.warning("lifeline simulator: MQTT broker %s:%s: %s; again in 10 s",
                                cfg.host, cfg.port, exc)  # fmt: skip
                    stop.wait(10)
            return
        pipeline = telemetry(app).pipeline()
        sim.run_live(stop, lambda m, now: pipeline.submit(sim_message(m, now), timeout=10),
                     clock, tick_s)  # fmt: skip

    thread = threading.Thread(target=run, daemon=True, name="lifeline-simulator")
    thread.start()
    return thread


def backfill(app: App, sim: LifelineSim, start: datetime, end: datetime,
             window: timedelta = timedelta(minutes=5)) -> int:  # fmt: skip
    """Ingest the simulated readings of [start, end) synchronously; returns points accepted."""
    tel, accepted = telemetry(app), 0
    t, stop = start.timestamp(), end.timestamp()
    while t < stop:
        t1 = min(stop, t + window.total_seconds())
        batch = [sim_message(m, t1) for m in sim.messages(t, t1)]
        for i in range(0, len(batch), 500):
            accepted += tel.ingest(batch[i : i + 500]).accepted
        t = t1
    return accepted


def demo_backfill(app: App, span: timedelta) -> int:
    """Recent sensor history for a freshly loaded demo city (``cityops demo``), and the rule
    state it leaves snapshotted: the server started next restores it, so its spike cleaning
    already knows each series (started cold, a glitch among the first readings — the
    simulator sends some — would raise a false alarm)."""
    sim = LifelineSim.demo(incident_every_s=app.settings.simulate_incident_every_s)
    end = app.clock()
    points = backfill(app, sim, end - span, end)
    telemetry(app).close()
    return points


@contextmanager
def lifeline_services(app: App, simulate: bool) -> Iterator[None]:
    """What ``cityops serve`` runs beside the API; everything is stopped and drained after."""
    stop = threading.Event()
    own_consumer = app.settings.mqtt_url and not app.settings.telemetry_http_forward
    consumer = start_consumer(app) if own_consumer else None
    if simulate:
        start_simulator(app, stop)
    try:
        yield
    finally:
        stop.set()
        if consumer is not None:
            stop_consumer(app, consumer)
        telemetry(app).close()
