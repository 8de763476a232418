"""The MQTT telemetry consumer (issue 5 §2): a QoS 1 subscriber feeding the telemetry pipeline.

Delivery (topic layout and formats: adapters/mqtt.py, docs/lifeline.md "MQTT"): MQTT v5, a
persistent session (clean start false, a session expiry, a fixed client id), QoS 1, and
acknowledgement AFTER COMMIT — a PUBACK is written only once the pipeline has committed the
batch holding the message, so a crash or a disconnect before that makes the broker redeliver
(storage is idempotent on (device, metric, ts), a redelivery is harmless) and nothing
acknowledged is ever lost. The receive maximum sent in CONNECT is the window: the broker sends
at most that many unacknowledged messages, which bounds memory however long its queue has
grown; when the pipeline's byte-bounded queue is full, ``submit`` holds this thread (TCP
backpressure) while acknowledgements and keep-alive pings still go out. Acks carry the
connection they belong to: after a reconnect a late ack for an old packet id is dropped (the
broker redelivers that message and it is acknowledged then), never sent for another message.

One thread owns the socket (reads, writes; TLS objects must not be shared between threads):
it reads whatever the socket holds, splits every complete packet (adapters/mqtt_wire.py) and
submits the messages; the pipeline's thread only appends packet ids to a list and, for the
first of a batch, wakes this thread through a socket pair, which then writes all the pending
PUBACKs in one ``send``. Reconnects back off from 1 s to 60 s, doubling.
"""

from __future__ import annotations

import contextlib
import logging
import select
import selectors
import socket
import ssl
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial

from cityops.adapters import mqtt_wire as wire
from cityops.adapters.mqtt import MqttConfig, Topic, parse_topic, tls_context
from cityops.service.telemetry.decode import RawMessage

log = logging.getLogger(__name__)

Submit = Callable[..., bool]  # TelemetryPipeline.submit(message, ack, *, timeout=…)
TOPIC_CACHE = 100_000  # parsed topics kept (one per device); cleared when full
READ_BYTES = 256 * 1024
CONNECT_TIMEOUT_S = 10.0
SUBSCRIBE_ID = 1
HEALTHY_S = 10.0  # a connection that lasted less does not reset the reconnect backoff


@dataclass(slots=True)
class ConsumerStats:
    received: int = 0
    submitted: int = 0
    acked: int = 0  # PUBACKs handed to the socket
    stale_acks: int = 0  # acks dropped because the connection they belonged to is gone
    beyond_window: int = 0  # QoS 1 messages the broker sent past our receive maximum
    connects: int = 0
    disconnects: int = 0
    session_present: bool = False
    errors: deque[str] = field(default_factory=lambda: deque(maxlen=100))  # the latest


class _Lost(Exception):
    """The connection is gone or unusable; reconnect."""


class MqttConsumer:
    """Subscribes with QoS 1 and hands every message to ``submit`` (the telemetry pipeline)."""

    def __init__(self, cfg: MqttConfig, submit: Submit, clock: Callable[[], float] = time.time):
        self.cfg = cfg
        self._submit = submit
        self._clock = clock
        self.stats = ConsumerStats()
        self.connected = threading.Event()
        self.subscribed = threading.Event()  # the subscription of this connection is granted
        self._closing = threading.Event()  # take no more messages
        self._leave = threading.Event()  # write the last acks, DISCONNECT, end the thread
        self._lock = threading.Lock()  # guards the three below
        self._generation = 0  # the connection acks belong to
        self._pending: list[int] = []  # packet ids committed, not written yet
        self._woken = False  # a wake-up byte is on its way
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._topics: dict[bytes, tuple[str, Topic]] = {}  # topic → (dead-letter source, parsed)
        self._thread: threading.Thread | None = None
        # the connection, touched by this consumer's thread only
        self._sock: socket.socket | None = None
        self._rest = b""  # what followed CONNACK in its read
        self._out = bytearray()  # to write
        self._mask = 0  # the events the selector waits for on the socket
        self._keepalive = float(cfg.keepalive_s)
        self._last_sent = 0.0
        self._ping_at: float | None = None
        self._unacked = 0  # QoS 1 messages taken on this connection, not acknowledged yet

    # ------------------------------------------------------------------ life cycle

    def start(self) -> None:
        """Connect in the background (retrying with backoff) and consume until :meth:`stop`."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="mqtt-consumer", daemon=True)
            self._thread.start()

    def stop(self, drain: Callable[[], object] | None = None, timeout_s: float = 10.0) -> None:
        """Stop taking messages; let ``drain`` (the pipeline's) write and ack what was taken;
        write those acks, disconnect. What was not acked is redelivered to the next session."""
        self._closing.set()
        if drain is not None:
            drain()
        self._leave.set()
        self._wake()
        thread = self._thread
        if thread is not None:
            thread.join(timeout_s)
            if thread.is_alive():  # still connecting: it leaves on its own; keep its pipe
                log.warning("MQTT consumer thread did not end within %.0f s", timeout_s)
                return
            self._thread = None
        self._wake_r.close()
        self._wake_w.close()

    def _run(self) -> None:
        """Connect, serve, and after any failure connect again with backoff: this thread
        never ends but by :meth:`stop`. The backoff restarts only after a connection that
        lasted, so a broker that drops us at once (a second consumer with the same client id
        takes the session over) is not hammered."""
        delay = 1.0
        while not self._leave.is_set():
            try:
                sock = self._connect()
            except Exception as exc:  # refused, unreachable, TLS, a malformed CONNACK …
                self.stats.errors.append(f"connect: {exc}")
                log.warning("MQTT broker %s:%s: %s; retrying in %.0f s", self.cfg.host,
                            self.cfg.port, exc, delay)  # fmt: skip
                if self._leave.wait(delay):
                    return
                delay = min(delay * 2, 60.0)
                continue
            began = time.monotonic()
            try:
                self._serve(sock)
            except Exception as exc:
                if not self._leave.is_set():
                    self.stats.errors.append(f"connection lost: {exc}")
                    if isinstance(exc, (OSError, _Lost, wire.ProtocolError)):
                        log.warning("MQTT connection lost (%s); reconnecting", exc)
                    else:
                        log.exception("MQTT consumer failed; reconnecting")
            finally:
                self._disconnected(sock)
            if time.monotonic() - began >= HEALTHY_S:
                delay = 1.0
            elif self._leave.wait(delay):
                return
            else:
                delay = min(delay * 2, 60.0)

    # ------------------------------------------------------------------ connection

    def _connect(self) -> socket.socket:
        cfg = self.cfg
        sock = socket.create_connection((cfg.host, cfg.port), timeout=CONNECT_TIMEOUT_S)
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if cfg.tls:
                sock = tls_context(cfg).wrap_socket(sock, server_hostname=cfg.host)
            sock.sendall(wire.connect_packet(
                cfg.client_id, keepalive_s=cfg.keepalive_s, clean_start=False,
                session_expiry_s=cfg.session_expiry_s, receive_maximum=cfg.receive_maximum,
                username=cfg.username, password=cfg.password,
            ))  # fmt: skip
            connack, rest = self._first_packet(sock)
            if connack.kind != wire.CONNACK:
                raise wire.ProtocolError(f"expected CONNACK, got packet type {connack.kind}")
            if connack.reason >= 0x80:
                reason = wire.reason_text(connack.reason)
                detail = connack.properties.get(wire.REASON_STRING)
                raise _Lost(f"the broker refused the connection: {reason}"
                            + (f" ({detail})" if detail else ""))  # fmt: skip
            self._keepalive = float(connack.properties.get(wire.SERVER_KEEP_ALIVE,
                                                           cfg.keepalive_s))  # fmt: skip
            sock.sendall(wire.subscribe_packet(SUBSCRIBE_ID, cfg.topic_filter, qos=1))
        except BaseException:
            sock.close()
            raise
        with self._lock:
            self._generation += 1
            self._pending.clear()
        self._sock, self._rest, self._unacked = sock, rest, 0
        self.stats.connects += 1
        self.stats.session_present = connack.session_present
        log.info("MQTT connected to %s:%s as %s (session present: %s), subscribing to %s",
                 cfg.host, cfg.port, cfg.client_id, connack.session_present,
                 cfg.topic_filter)  # fmt: skip
        self.connected.set()
        return sock

    @staticmethod
    def _first_packet(sock: socket.socket) -> tuple[wire.Packet, bytes]:
        """Read until the first packet (CONNACK) is whole; returns it and what followed."""
        buf = b""
        got: list[wire.Packet] = []

        def publish_first(*_: object) -> None:
            raise wire.ProtocolError("PUBLISH before CONNACK")

        while True:
            chunk = sock.recv(4096)
            if not chunk:
                raise _Lost("the broker closed the connection before CONNACK")
            buf += chunk
            # split one packet at most: what follows CONNACK is read by the main loop
            end = wire.packet_end(buf)
            if end is not None and end <= len(buf):
                wire.split_stream(buf[:end], publish_first, got.append)
                return got[0], buf[end:]

    def _disconnected(self, sock: socket.socket) -> None:
        with self._lock:
            self._generation += 1  # acks still to come belong to the old connection
            self._pending.clear()
        self._sock = None
        self.connected.clear()
        self.subscribed.clear()
        self.stats.disconnects += 1
        with contextlib.suppress(OSError):
            sock.close()

    # ------------------------------------------------------------------ the loop

    def _serve(self, sock: socket.socket) -> None:
        sock.setblocking(False)
        sel = selectors.DefaultSelector()
        sel.register(sock, selectors.EVENT_READ)
        sel.register(self._wake_r, selectors.EVENT_READ)
        self._out = bytearray()
        self._mask = selectors.EVENT_READ
        self._last_sent = time.monotonic()
        self._ping_at = None
        stream = wire.Stream()
        self._consume(stream, self._rest)
        try:
            while True:
                if self._leave.is_set():
                    self._goodbye(sock)
                    return
                self._write(sock)
                mask = selectors.EVENT_READ | (selectors.EVENT_WRITE if self._out else 0)
                if mask != self._mask:
                    sel.modify(sock, mask)
                    self._mask = mask
                for key, _mask in sel.select(self._until_ping()):
                    if key.fileobj is self._wake_r:
                        self._drain_wake()
                        continue
                    self._consume(stream, self._read(sock))
                self._keep_alive()
        finally:
            sel.close()

    def _consume(self, stream: wire.Stream, data: bytes) -> None:
        """Hand on every packet ``data`` completes; keep the rest for the next read."""
        buf = stream.feed(data) if data else b""
        if buf:
            done = wire.split_stream(buf, self._on_publish, self._on_packet)
            stream.keep(buf, done, READ_BYTES)

    def _read(self, sock: socket.socket) -> bytes:
        try:
            data = sock.recv(READ_BYTES)
        except (BlockingIOError, ssl.SSLWantReadError, ssl.SSLWantWriteError):
            return b""
        if not data:
            raise _Lost("the broker closed the connection")
        if isinstance(sock, ssl.SSLSocket):  # TLS may hold decrypted bytes the selector
            while sock.pending():  # will not report
                data += sock.recv(READ_BYTES)
        self._ping_at = None  # the broker is there
        return data

    def _write(self, sock: socket.socket) -> None:
        """Queue the acks committed so far and write what the socket takes now."""
        with self._lock:
            ids, self._pending, self._woken = self._pending, [], False
        if ids:
            self._out += wire.puback_packets(ids)
            self.stats.acked += len(ids)
            self._unacked -= len(ids)
        if not self._out:
            return
        try:
            sent = sock.send(self._out)
        except (BlockingIOError, ssl.SSLWantReadError, ssl.SSLWantWriteError):
            return
        del self._out[:sent]
        self._last_sent = time.monotonic()

    def _until_ping(self) -> float | None:
        """Seconds until the keep-alive needs this thread (None: only I/O does)."""
        if not self._keepalive:  # the broker turned keep-alive off
            return None
        ka = self._keepalive
        # a ping is queued only when nothing waits to be written (EVENT_WRITE wakes us then);
        # then the deadlines of _keep_alive: the ping's answer, the broker reading at all
        dues = [self._last_sent + ka * 2] if self._out else [self._last_sent + ka * 0.75]
        if self._ping_at is not None:
            dues.append(self._ping_at + ka)
        return max(0.0, min(dues) - time.monotonic())

    def _keep_alive(self, sock: socket.socket | None = None) -> None:
        """Ping before the broker's keep-alive runs out; a broker silent for a keep-alive
        after a ping, or not reading what we write for as long, is gone (a half-open
        connection would otherwise wait forever). ``sock``: the stream is held (the
        pipeline is full) and nothing is read — a readable socket then proves the broker
        answered."""
        if not self._keepalive:
            return
        now = time.monotonic()
        if self._ping_at is not None and sock is not None and _readable(sock):
            self._ping_at = None
        if self._ping_at is not None and now - self._ping_at >= self._keepalive:
            raise _Lost(f"no answer to a ping for {self._keepalive:.0f} s")
        if self._out and now - self._last_sent >= self._keepalive * 2:
            raise _Lost(f"the broker has read nothing for {self._keepalive * 2:.0f} s")
        if now - self._last_sent >= self._keepalive * 0.75 and not self._out:
            self._out += wire.PINGREQ_PACKET
            if self._ping_at is None:
                self._ping_at = now

    def _goodbye(self, sock: socket.socket) -> None:
        """Write the last acks and a normal DISCONNECT (the session stays for its expiry)."""
        self._write(sock)
        self._out += wire.DISCONNECT_PACKET
        sock.setblocking(True)
        sock.settimeout(5.0)
        try:
            sock.sendall(self._out)
        except OSError:
            log.warning("MQTT: the last acknowledgements could not be written; the broker "
                        "redelivers those messages")  # fmt: skip

    def _wake(self) -> None:
        with contextlib.suppress(OSError):  # stopped already
            self._wake_w.send(b"\0")

    def _drain_wake(self) -> None:
        """Empty the wake-up pipe. ``_woken`` is reset where the acks are taken (``_write``,
        under the lock): resetting it here could lose the byte of an ack made meanwhile."""
        with contextlib.suppress(OSError):  # BlockingIOError: all read
            while self._wake_r.recv(4096):
                pass

    # ------------------------------------------------------------------ packets

    def _on_packet(self, packet: wire.Packet) -> None:
        if packet.kind == wire.SUBACK:
            if any(code >= 0x80 for code in packet.reasons):
                text = ", ".join(wire.reason_text(c) for c in packet.reasons)
                self.stats.errors.append(f"subscription refused: {text}")
                log.error("MQTT subscription to %s refused: %s", self.cfg.topic_filter, text)
                return
            if any(code == 0 for code in packet.reasons):  # at most once: losses unseen
                self.stats.errors.append("subscription granted QoS 0 only")
                log.error("MQTT broker granted %s QoS 0 only: messages may be lost unseen "
                          "(check its max_qos / ACL)", self.cfg.topic_filter)  # fmt: skip
            self.subscribed.set()
        elif packet.kind == wire.DISCONNECT:
            if packet.reason == 0x8E:
                log.error("MQTT broker: another consumer took session %r over — give each "
                          "consumer process its own CITYOPS_MQTT_CLIENT_ID", self.cfg.client_id)
            raise _Lost(f"the broker disconnected: {wire.reason_text(packet.reason)}")
        # PINGRESP: hearing anything already counts (``_read``)

    def _on_publish(self, topic: bytes, qos: int, packet_id: int, content_type: str | None,
                    payload: bytes) -> None:  # fmt: skip
        """Wrap the bytes and queue them: decoding, storing and acking happen in the pipeline."""
        self.stats.received += 1
        if self._closing.is_set():
            return  # not acked: the broker keeps it for the next session
        where = self._topics.get(topic)
        if where is None:
            if len(self._topics) >= TOPIC_CACHE:
                self._topics.clear()
            name = topic.decode("utf-8", "replace")
            where = self._topics[topic] = (f"mqtt:{name}",
                                           parse_topic(name, self.cfg.topic_prefix))  # fmt: skip
        raw = RawMessage(where[0], payload, self._clock(), content_type or where[1].content_type,
                         where[1].device)  # fmt: skip
        ack = None
        if qos:
            ack = partial(self._ack, packet_id, self._generation)
            self._unacked += 1
            if self._unacked > self.cfg.receive_maximum:
                self._beyond_window()
        while not self._submit(raw, ack, timeout=0.5):  # full: hold the stream, keep talking
            if self._closing.is_set() or self._leave.is_set():
                return
            sock = self._sock
            if sock is not None:
                self._write(sock)
                self._keep_alive(sock)
        self.stats.submitted += 1

    def _beyond_window(self) -> None:
        """The broker sent past the receive maximum (Mosquitto 2.0.11 does, once PUBACKs
        flow: docs/lifeline.md "MQTT"). Taken anyway — refusing would stall the stream —
        and memory is then held by the pipeline's byte bound and TCP backpressure."""
        if not self.stats.beyond_window:
            log.warning("MQTT broker %s:%s sends more than the receive maximum (%d) of "
                        "unacknowledged messages; the pipeline's queue bound holds memory "
                        "instead", self.cfg.host, self.cfg.port,
                        self.cfg.receive_maximum)  # fmt: skip
        self.stats.beyond_window += 1

    def _ack(self, packet_id: int, generation: int) -> None:
        """Called by the pipeline once the message's batch committed (any thread)."""
        with self._lock:
            if generation != self._generation:
                self.stats.stale_acks += 1
                return
            self._pending.append(packet_id)
            if self._woken:
                return
            self._woken = True
        self._wake()


def _readable(sock: socket.socket) -> bool:
    """Whether the broker has sent something not read yet (without reading it). poll, not
    select: select fails on descriptors past 1,024, which a busy API process may have."""
    poller = select.poll()
    poller.register(sock, select.POLLIN)
    try:
        return bool(poller.poll(0))
    except OSError:
        return False
