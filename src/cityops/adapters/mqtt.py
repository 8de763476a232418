"""MQTT ingestion (issue 5 §2): a QoS 1 consumer of a real broker feeding the telemetry pipeline.

Topic layout (docs/lifeline.md "MQTT"), under the prefix ``cityops/v1/telemetry``:

- ``{prefix}/{gateway}`` — the payload names its devices (SenML ``bn``, JSON ``device``);
- ``{prefix}/{gateway}/{device}`` — the device is the topic's level, records may carry bare
  metric names;
- ``{prefix}/{gateway}/{device}/senml`` or ``…/json`` — the same with the format named (for
  MQTT 3.1.1 publishers, which have no content-type property).

The content type comes from the MQTT v5 ``Content Type`` property, else the topic suffix,
else the payload's shape decides. The dead-letter source is ``mqtt:{topic}``.

Delivery: MQTT v5, a persistent session (clean start false, a session expiry, a fixed client
id), QoS 1, and MANUAL acknowledgement — a PUBACK is sent only after the pipeline committed
the batch holding the message, so a crash or a disconnect before that makes the broker
redeliver (storage is idempotent on (device, metric, ts), so a redelivery is harmless) and
nothing acknowledged is ever lost. The client's *receive maximum* is the window: the broker
sends at most that many unacknowledged messages, which bounds memory however far the broker's
queue has grown; when the pipeline's own byte-bounded queue is full, ``submit`` blocks the
network thread (TCP backpressure) until a batch commits. Acks are tagged with the connection
they belong to: after a reconnect a late ack for an old packet id is dropped (the broker
redelivers that message and it is acknowledged then), never sent for a different message.
"""

from __future__ import annotations

import logging
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any, NamedTuple, cast
from urllib.parse import unquote, urlsplit

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.subscribeoptions import SubscribeOptions

from cityops.service.telemetry.decode import JSON, SENML, RawMessage

log = logging.getLogger(__name__)

TOPIC_PREFIX = "cityops/v1/telemetry"
FORMATS = {"senml": SENML, "json": JSON}
Ack = Callable[[], None]
Submit = Callable[..., bool]  # TelemetryPipeline.submit(message, ack, *, timeout=…)
TOPIC_CACHE = 100_000  # parsed topics kept (one per device); cleared when full


class Topic(NamedTuple):
    gateway: str | None
    device: str | None
    content_type: str  # from the suffix, "" when none


def parse_topic(topic: str, prefix: str = TOPIC_PREFIX) -> Topic:
    """What a telemetry topic says; a topic outside the layout names nothing."""
    head = prefix.rstrip("/") + "/"
    if not topic.startswith(head):
        return Topic(None, None, "")
    levels = topic[len(head) :].split("/")
    if not levels[0] or len(levels) > 3 or any(not level for level in levels):
        return Topic(None, None, "")
    if len(levels) == 3:
        fmt = FORMATS.get(levels[2].lower())
        if fmt is None:
            return Topic(None, None, "")
        return Topic(levels[0], levels[1], fmt)
    return Topic(levels[0], levels[1] if len(levels) == 2 else None, "")


def device_topic(gateway: str, device: str, prefix: str = TOPIC_PREFIX) -> str:
    return f"{prefix.rstrip('/')}/{gateway}/{device}"


@dataclass(frozen=True, slots=True)
class MqttConfig:
    host: str
    port: int = 1883
    tls: bool = False
    username: str | None = None
    password: str | None = None
    client_id: str = "cityops-ingest"
    topic_prefix: str = TOPIC_PREFIX
    topic_filter: str = f"{TOPIC_PREFIX}/#"
    receive_maximum: int = 1000
    session_expiry_s: int = 7 * 86_400
    keepalive_s: int = 30

    @classmethod
    def from_url(cls, url: str, **kw: Any) -> MqttConfig:
        """``mqtt://[user[:password]@]host[:port]`` or ``mqtts://…`` (TLS, port 8883)."""
        parts = urlsplit(url)
        if parts.scheme not in ("mqtt", "mqtts", "tcp", "ssl") or not parts.hostname:
            raise ValueError(f"not an MQTT URL: {url!r} (mqtt://host:port)")
        tls = parts.scheme in ("mqtts", "ssl")
        return cls(
            host=parts.hostname, port=parts.port or (8883 if tls else 1883), tls=tls,
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None, **kw,
        )  # fmt: skip


def new_client(cfg: MqttConfig, client_id: str, *, manual_ack: bool) -> mqtt.Client:
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2, client_id=client_id, protocol=MQTTProtocolVersion.MQTTv5,
        manual_ack=manual_ack,
    )  # fmt: skip
    if cfg.username is not None:
        client.username_pw_set(cfg.username, cfg.password)
    if cfg.tls:
        client.tls_set_context(ssl.create_default_context())
    client.reconnect_delay_set(min_delay=1, max_delay=60)  # backoff, doubling
    return client


def _properties(packet_type: int) -> Properties:
    return Properties(packet_type)  # type: ignore[no-untyped-call]


def connect_properties(cfg: MqttConfig) -> Properties:
    props = _properties(PacketTypes.CONNECT)
    props.SessionExpiryInterval = cfg.session_expiry_s
    props.ReceiveMaximum = cfg.receive_maximum
    return props


@dataclass(slots=True)
class ConsumerStats:
    received: int = 0
    submitted: int = 0
    acked: int = 0
    stale_acks: int = 0  # acks dropped because the connection they belonged to is gone
    connects: int = 0
    disconnects: int = 0
    session_present: bool = False
    errors: list[str] = field(default_factory=list)


class MqttConsumer:
    """Subscribes with QoS 1 and hands every message to ``submit`` (the telemetry pipeline)."""

    def __init__(self, cfg: MqttConfig, submit: Submit, clock: Callable[[], float] = time.time):
        self.cfg = cfg
        self._submit = submit
        self._clock = clock
        self._generation = 0
        self._closing = threading.Event()
        self.connected = threading.Event()
        self.subscribed = threading.Event()  # the subscription of this connection is granted
        self.stats = ConsumerStats()
        self._topics: dict[str, tuple[str, Topic]] = {}  # topic → (dead-letter source, parsed)
        self.client = new_client(cfg, cfg.client_id, manual_ack=True)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message
        self.client.on_subscribe = self._on_subscribe

    def start(self) -> None:
        """Connect in the background (retrying with backoff) and start paho's network thread.

        Acks must come from other threads (the pipeline's), which paho only allows safely
        with its own loop thread (``loop_start``): they are queued and written by it.
        """
        self.client.connect_async(
            self.cfg.host, self.cfg.port, keepalive=self.cfg.keepalive_s, clean_start=False,
            properties=connect_properties(self.cfg),
        )  # fmt: skip
        self.client.loop_start()

    def stop(self, drain: Callable[[], object] | None = None, linger_s: float = 0.5) -> None:
        """Stop taking messages; let ``drain`` (the pipeline's) write and ack what was taken;
        then disconnect. What was not acked is redelivered to the next session."""
        self._closing.set()
        if drain is not None:
            drain()
            time.sleep(linger_s)  # the loop thread writes the last PUBACKs
        self.client.disconnect()
        self.client.loop_stop()

    # ------------------------------------------------------------------ callbacks

    def _on_connect(self, client: mqtt.Client, _u: Any, flags: Any, reason: Any,
                    _p: Any) -> None:  # fmt: skip
        if reason.is_failure:
            self.stats.errors.append(f"connect refused: {reason}")
            log.error("MQTT broker %s:%s refused the connection: %s", self.cfg.host,
                      self.cfg.port, reason)  # fmt: skip
            return
        self._generation += 1
        self.stats.connects += 1
        self.stats.session_present = bool(flags.session_present)
        options = SubscribeOptions(qos=1, retainHandling=SubscribeOptions.RETAIN_SEND_IF_NEW_SUB)
        client.subscribe(self.cfg.topic_filter, options=options)
        log.info("MQTT connected to %s:%s as %s (session present: %s), subscribed to %s",
                 self.cfg.host, self.cfg.port, self.cfg.client_id, flags.session_present,
                 self.cfg.topic_filter)  # fmt: skip
        self.connected.set()

    def _on_subscribe(self, _c: mqtt.Client, _u: Any, _m: int, reasons: list[Any],
                      _p: Any) -> None:  # fmt: skip
        if any(r.is_failure for r in reasons):
            self.stats.errors.append(f"subscription refused: {reasons}")
            log.error("MQTT subscription to %s refused: %s", self.cfg.topic_filter, reasons)
            return
        self.subscribed.set()

    def _on_disconnect(self, _c: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        self._generation += 1  # acks still to come belong to the old connection
        self.stats.disconnects += 1
        self.connected.clear()
        self.subscribed.clear()
        if not self._closing.is_set():
            log.warning("MQTT disconnected (%s); reconnecting with backoff", reason)

    def _on_message(self, client: mqtt.Client, _u: Any, message: mqtt.MQTTMessage) -> None:
        """Only wrap the bytes and queue them: this runs in paho's network thread, which
        must keep reading (decoding, storing and acking happen in the pipeline)."""
        self.stats.received += 1
        if self._closing.is_set():
            return  # not acked: the broker keeps it for the next session
        topic = message.topic
        where = self._topics.get(topic)
        if where is None:
            if len(self._topics) >= TOPIC_CACHE:
                self._topics.clear()
            where = self._topics[topic] = (f"mqtt:{topic}",
                                           parse_topic(topic, self.cfg.topic_prefix))  # fmt: skip
        props = message.properties
        ctype = getattr(props, "ContentType", None) if props is not None else None
        payload = cast(bytes, message.payload)  # paho hands bytes
        raw = RawMessage(where[0], payload, self._clock(), ctype or where[1].content_type,
                         where[1].device)  # fmt: skip
        ack: Ack | None = None
        if message.qos:
            ack = partial(self._ack, message.mid, message.qos, self._generation)
        while not self._submit(raw, ack, timeout=1.0):  # full: hold the network thread
            if self._closing.is_set():
                return
        self.stats.submitted += 1

    def _ack(self, mid: int, qos: int, generation: int) -> None:
        if generation != self._generation:
            self.stats.stale_acks += 1
            return
        self.client.ack(mid, qos)
        self.stats.acked += 1


class Publisher:
    """A QoS 1 publisher (the simulator's ``--mqtt`` mode, the benchmark's pre-load)."""

    def __init__(self, cfg: MqttConfig, client_id: str, max_inflight: int = 1000) -> None:
        self.cfg = cfg
        self.client = new_client(cfg, client_id, manual_ack=False)
        self.client.max_inflight_messages_set(max_inflight)
        self.client.max_queued_messages_set(max_inflight * 4)  # publish() blocks beyond it
        self._props = _properties(PacketTypes.PUBLISH)
        self._props.ContentType = SENML
        self._last: mqtt.MQTTMessageInfo | None = None

    def __enter__(self) -> Publisher:
        self.client.connect(self.cfg.host, self.cfg.port, keepalive=self.cfg.keepalive_s)
        self.client.loop_start()
        return self

    def __exit__(self, *_: object) -> None:
        self.flush()
        self.client.disconnect()
        self.client.loop_stop()

    def publish(self, topic: str, payload: bytes, content_type: str = SENML) -> None:
        props = self._props
        if content_type != SENML:
            props = _properties(PacketTypes.PUBLISH)
            props.ContentType = content_type
        while True:
            info = self.client.publish(topic, payload, qos=1, properties=props)
            if info.rc != mqtt.MQTT_ERR_QUEUE_SIZE:
                break
            time.sleep(0.001)  # paho's queue is full: wait for PUBACKs
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            raise ConnectionError(f"MQTT publish failed: {mqtt.error_string(info.rc)}")
        self._last = info

    def flush(self, timeout: float = 60.0) -> None:
        """Wait until every message published so far is acknowledged by the broker."""
        if self._last is not None:  # the broker acknowledges QoS 1 in order
            self._last.wait_for_publish(timeout)
