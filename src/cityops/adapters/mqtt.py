"""MQTT for telemetry (issue 5 §2): the topic layout, the broker's configuration, a publisher.

Topic layout (docs/lifeline.md "MQTT"), under the prefix ``cityops/v1/telemetry``:

- ``{prefix}/{gateway}`` — the payload names its devices (SenML ``bn``, JSON ``device``);
- ``{prefix}/{gateway}/{device}`` — the device is the topic's level, records may carry bare
  metric names;
- ``{prefix}/{gateway}/{device}/senml`` or ``…/json`` — the same with the format named (for
  MQTT 3.1.1 publishers, which have no content-type property).

The content type comes from the MQTT v5 ``Content Type`` property, else the topic suffix,
else the payload's shape decides. The dead-letter source is ``mqtt:{topic}``.

The consumer is adapters/mqtt_consumer.py (its own lean MQTT v5 reader, adapters/
mqtt_wire.py); the publisher here (the simulator's ``--mqtt`` mode, the benchmark's pre-load,
the API's HTTP forwarding) and the benchmark's bare peer use paho.
"""

from __future__ import annotations

import ssl
import threading
import time
from dataclasses import dataclass
from typing import Any, NamedTuple
from urllib.parse import unquote, urlsplit

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from cityops.config import Settings
from cityops.service.telemetry.decode import JSON, SENML

TOPIC_PREFIX = "cityops/v1/telemetry"
FORMATS = {"senml": SENML, "json": JSON}


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
    ca_file: str | None = None  # TLS: the CA of the broker's certificate (else the system's)
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


def tls_context(cfg: MqttConfig) -> ssl.SSLContext:
    """Verifies the broker's certificate and host name, against ``ca_file`` when given."""
    return ssl.create_default_context(cafile=cfg.ca_file)


def new_client(cfg: MqttConfig, client_id: str, *, manual_ack: bool) -> mqtt.Client:
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2, client_id=client_id, protocol=MQTTProtocolVersion.MQTTv5,
        manual_ack=manual_ack,
    )  # fmt: skip
    if cfg.username is not None:
        client.username_pw_set(cfg.username, cfg.password)
    if cfg.tls:
        client.tls_set_context(tls_context(cfg))
    client.reconnect_delay_set(min_delay=1, max_delay=60)  # backoff, doubling
    return client


def _properties(packet_type: int) -> Properties:
    return Properties(packet_type)  # type: ignore[no-untyped-call]


def connect_properties(cfg: MqttConfig) -> Properties:
    props = _properties(PacketTypes.CONNECT)
    props.SessionExpiryInterval = cfg.session_expiry_s
    props.ReceiveMaximum = cfg.receive_maximum
    return props


class BrokerUnavailable(ConnectionError):
    """The broker is not connected, or did not acknowledge (PUBACK) in time or at all."""


class Publisher:
    """A QoS 1 publisher (the simulator's ``--mqtt`` mode, the benchmark's pre-load), and
    with :meth:`start` / :meth:`publish_confirmed` the long-lived, thread-safe one of an API
    process that forwards HTTP readings (paho's client is safe to publish from any thread)."""

    def __init__(self, cfg: MqttConfig, client_id: str, max_inflight: int = 1000) -> None:
        self.cfg = cfg
        self.client = new_client(cfg, client_id, manual_ack=False)
        self.client.max_inflight_messages_set(max_inflight)
        self.client.max_queued_messages_set(max_inflight * 4)  # publish() blocks beyond it
        self._props = _properties(PacketTypes.PUBLISH)
        self._props.ContentType = SENML
        self._last: mqtt.MQTTMessageInfo | None = None
        # The connection as the loop thread last saw it (start / publish_confirmed): _settled
        # once the first attempt ended either way, _up while connected; refused PUBACKs by mid.
        self._settled = threading.Event()
        self._up = False
        self._refused: dict[int, str] = {}
        self._refused_lock = threading.Lock()

    def start(self) -> None:
        """Connect in paho's loop thread, which reconnects (with backoff) whenever the
        connection drops or the broker is down; publish_confirmed fails fast meanwhile."""
        c = self.client
        c.on_connect, c.on_connect_fail = self._connected, self._connect_failed
        c.on_disconnect, c.on_publish = self._disconnected, self._published
        c.reconnect_delay_set(min_delay=1, max_delay=10)  # requests wait on it: stay close
        c.connect_async(self.cfg.host, self.cfg.port, keepalive=self.cfg.keepalive_s)
        c.loop_start()

    def stop(self) -> None:
        """Disconnect and end the loop thread (what is unacknowledged is given up)."""
        self.client.disconnect()
        self.client.loop_stop()

    def publish_confirmed(
        self, topic: str, payloads: list[bytes], timeout: float, connect_wait: float = 2.0
    ) -> None:  # fmt: skip
        """Publish each payload with QoS 1 and wait until the broker acknowledged all of them;
        raises :class:`BrokerUnavailable` when not connected (after up to ``connect_wait`` for
        the first connection), when a PUBACK does not come within ``timeout`` or refuses the
        message (a reason code of 0x80 or more, or 0x10: no subscriber, nobody would get it).
        Only with a long-lived connection (:meth:`start`)."""
        if not self._settled.wait(connect_wait) or not self._up:
            raise BrokerUnavailable(f"not connected to the MQTT broker {self.cfg.host}:"
                                    f"{self.cfg.port}")  # fmt: skip
        deadline = time.monotonic() + timeout
        sent: list[mqtt.MQTTMessageInfo] = []
        for payload in payloads:
            info = self.client.publish(topic, payload, qos=1, properties=self._props)
            if info.rc != mqtt.MQTT_ERR_SUCCESS:
                raise BrokerUnavailable(f"MQTT publish failed: {mqtt.error_string(info.rc)}")
            sent.append(info)
        try:
            for info in sent:
                try:
                    info.wait_for_publish(max(0.0, deadline - time.monotonic()))
                except (RuntimeError, ValueError) as exc:  # the connection went meanwhile
                    raise BrokerUnavailable(f"MQTT publish failed: {exc}") from None
                with self._refused_lock:
                    refused = self._refused.get(info.mid)
                if refused is not None:
                    raise BrokerUnavailable(f"the MQTT broker refused the message: {refused}")
                if not info.is_published():
                    raise BrokerUnavailable(f"no PUBACK from the MQTT broker within "
                                            f"{timeout:g} s")  # fmt: skip
        finally:  # a packet id is reused later: forget the refusals of this call's messages
            with self._refused_lock:
                for info in sent:
                    if info.is_published():
                        self._refused.pop(info.mid, None)

    def _connected(self, _c: Any, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        self._up = not reason.is_failure
        self._settled.set()

    def _connect_failed(self, _c: Any, _u: Any) -> None:
        self._up = False
        self._settled.set()

    def _disconnected(self, _c: Any, _u: Any, _f: Any, _r: Any, _p: Any) -> None:
        self._up = False

    def _published(self, _c: Any, _u: Any, mid: int, reason: Any, _p: Any) -> None:
        # 0x10 "no matching subscribers": no consumer's session holds it, so it is lost.
        # Each entry is the latest PUBACK of its packet id: ids are reused, and a refusal
        # that came after its request gave up must not stand for the id's next message.
        with self._refused_lock:
            if reason.is_failure or reason.value == 0x10:
                self._refused[mid] = f"{reason} (0x{reason.value:02X})"
            else:
                self._refused.pop(mid, None)

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


def mqtt_config(settings: Settings, url: str | None = None) -> MqttConfig:
    """The broker, prefix and session as the settings name them (``url`` overrides the
    broker) — the one reading for the consumer, the simulator and the API's forwarder."""
    url = url or settings.mqtt_url
    if not url:
        raise ValueError("no MQTT broker: set CITYOPS_MQTT_URL (e.g. mqtt://127.0.0.1:1883)")
    prefix = settings.mqtt_topic_prefix.rstrip("/")
    return MqttConfig.from_url(
        url, client_id=settings.mqtt_client_id, topic_prefix=prefix,
        topic_filter=settings.mqtt_topic_filter or f"{prefix}/#",
        receive_maximum=settings.mqtt_receive_maximum,
        session_expiry_s=settings.mqtt_session_expiry_s, keepalive_s=settings.mqtt_keepalive_s,
        ca_file=settings.mqtt_ca_file,
    )  # fmt: skip
