"""The consumer's connection against private brokers: TLS with the city's own CA, refused
credentials, a broker that restarts, keep-alive pings, and a broker that goes silent.

Each test starts its own Mosquitto (the Debian package's binary) on a free loopback port, or a
tiny fake broker where a real one cannot misbehave on purpose.
"""

from __future__ import annotations

import getpass
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from cityops.adapters import mqtt_wire as wire
from cityops.adapters.mqtt import MqttConfig, Publisher
from cityops.adapters.mqtt_consumer import MqttConsumer
from cityops.service.telemetry import RawMessage
from tests.conftest import _service_or_skip
from tests.helpers import free_port, wait_until

PREFIX = "cityops/v1/telemetry"



class Broker:
    """A private Mosquitto; ``restart()`` keeps the port."""

    def __init__(self, tmp: Path, extra: str = "", tls: bool = False) -> None:
        if shutil.which("mosquitto") is None:
            _service_or_skip("the mosquitto binary", FileNotFoundError("mosquitto"))
        self.port = free_port()
        self.conf = tmp / "mosquitto.conf"
        # as root, Mosquitto drops to its own user, which cannot read pytest's private tmp dirs
        self.conf.write_text(f"listener {self.port} 127.0.0.1\n{extra}\npersistence false\n"
                             f"log_dest none\nuser {getpass.getuser()}\n")  # fmt: skip
        self.proc: subprocess.Popen[bytes] | None = None
        self.start()

    def start(self) -> None:
        self.proc = subprocess.Popen(["mosquitto", "-c", str(self.conf)])
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("mosquitto did not start")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(10)
            self.proc = None


@pytest.fixture
def tmp_broker(tmp_path: Path) -> Iterator[Callable[..., Broker]]:
    started: list[Broker] = []

    def make(extra: str = "") -> Broker:
        broker = Broker(tmp_path, extra)
        started.append(broker)
        return broker

    yield make
    for broker in started:
        broker.stop()


class Taken:
    """A pipeline stand-in: takes every message and acknowledges it at once."""

    def __init__(self) -> None:
        self.messages: list[RawMessage] = []

    def submit(self, message: RawMessage, ack: Any, **_: Any) -> bool:
        self.messages.append(message)
        if ack is not None:
            ack()
        return True


def _cfg(port: int, **kw: Any) -> MqttConfig:
    return MqttConfig("127.0.0.1", port, client_id=f"test-{port}", topic_prefix=PREFIX,
                      topic_filter=f"{PREFIX}/#", session_expiry_s=60, **kw)  # fmt: skip


def _openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True)


def test_tls_with_the_citys_own_ca(tmp_path: Path, tmp_broker: Callable[..., Broker]) -> None:
    if shutil.which("openssl") is None:
        _service_or_skip("the openssl binary", FileNotFoundError("openssl"))
    ca_key, ca, key, csr, cert = (tmp_path / n for n in
                                  ("ca.key", "ca.pem", "b.key", "b.csr", "b.pem"))  # fmt: skip
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj",
             "/CN=City CA", "-keyout", str(ca_key), "-out", str(ca))  # fmt: skip
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost", "-keyout",
             str(key), "-out", str(csr))  # fmt: skip
    ext = tmp_path / "san.cnf"
    ext.write_text("subjectAltName=IP:127.0.0.1\n")
    _openssl("x509", "-req", "-in", str(csr), "-CA", str(ca), "-CAkey", str(ca_key),
             "-CAcreateserial", "-days", "2", "-extfile", str(ext), "-out", str(cert))  # fmt: skip
    broker = tmp_broker(f"certfile {cert}\nkeyfile {key}\nallow_anonymous true\n")
    taken = Taken()
    consumer = MqttConsumer(_cfg(broker.port, tls=True, ca_file=str(ca)), taken.submit)
    consumer.start()
    try:
        assert consumer.subscribed.wait(10), consumer.stats.errors
        with Publisher(_cfg(broker.port, tls=True, ca_file=str(ca)), "tls-pub") as pub:
            pub.publish(f"{PREFIX}/gw/D1", b'[{"n":"p","v":1}]')
        wait_until(lambda: consumer.stats.acked == 1, 15)
    finally:
        consumer.stop()
    assert taken.messages[0].payload == b'[{"n":"p","v":1}]'

    untrusting = MqttConsumer(_cfg(broker.port, tls=True), Taken().submit)  # the system CAs
    untrusting.start()
    try:
        wait_until(lambda: bool(untrusting.stats.errors), 15)
        assert not untrusting.connected.is_set()
        assert "CERTIFICATE_VERIFY_FAILED" in untrusting.stats.errors[0]
    finally:
        untrusting.stop()


def test_refused_credentials_are_reported_and_retried(
    tmp_path: Path, tmp_broker: Callable[..., Broker]
) -> None:
    passwords = tmp_path / "passwd"
    subprocess.run(["mosquitto_passwd", "-b", "-c", str(passwords), "ingest", "right"],
                   check=True, capture_output=True)  # fmt: skip
    broker = tmp_broker(f"allow_anonymous false\npassword_file {passwords}\n")
    wrong = MqttConsumer(_cfg(broker.port, username="ingest", password="wrong"),
                         Taken().submit)  # fmt: skip
    wrong.start()
    try:
        wait_until(lambda: len(wrong.stats.errors) >= 2, 10)  # refused, then tried again
        assert "0x86 bad user name or password" in wrong.stats.errors[0] or \
            "0x87 not authorized" in wrong.stats.errors[0]  # fmt: skip
        assert wrong.stats.connects == 0
    finally:
        wrong.stop()
    right = MqttConsumer(_cfg(broker.port, username="ingest", password="right"),
                         Taken().submit)  # fmt: skip
    right.start()
    try:
        assert right.subscribed.wait(10), right.stats.errors
    finally:
        right.stop()


def test_a_restarted_broker_is_found_again(tmp_broker: Callable[..., Broker]) -> None:
    broker = tmp_broker("allow_anonymous true\n")
    taken = Taken()
    consumer = MqttConsumer(_cfg(broker.port), taken.submit)
    consumer.start()
    try:
        assert consumer.subscribed.wait(10)
        broker.stop()
        wait_until(lambda: not consumer.connected.is_set(), 15)
        broker.start()  # no persistence: the session is new, the consumer subscribes again
        wait_until(lambda: consumer.subscribed.is_set(), 20)
        assert consumer.stats.connects == 2 and not consumer.stats.session_present
        with Publisher(_cfg(broker.port), "restart-pub") as pub:
            pub.publish(f"{PREFIX}/gw/D1", b"[]")
        wait_until(lambda: consumer.stats.acked == 1, 15)
    finally:
        consumer.stop()


def test_an_idle_consumer_keeps_its_connection_with_pings(
    tmp_broker: Callable[..., Broker]
) -> None:
    broker = tmp_broker("allow_anonymous true\n")
    consumer = MqttConsumer(_cfg(broker.port, keepalive_s=1), Taken().submit)
    consumer.start()
    try:
        assert consumer.subscribed.wait(10)
        time.sleep(3.5)  # the broker drops a client silent for 1.5 keep-alives
        assert consumer.connected.is_set() and consumer.stats.connects == 1
        assert consumer.stats.disconnects == 0
    finally:
        consumer.stop()


class FakeBroker:
    """Answers CONNECT with ``connack`` and SUBSCRIBE with a granted SUBACK, then only listens:
    a broker that cannot misbehave on purpose otherwise. ``heard``: what came after SUBSCRIBE."""

    def __init__(self, connack: bytes = b"\x20\x03\x00\x00\x00") -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.connack = connack
        self.accepted: list[socket.socket] = []
        self.heard: list[bytes] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            self.accepted.append(conn)
            conn.recv(4096)  # CONNECT
            conn.sendall(self.connack)
            conn.recv(4096)  # SUBSCRIBE
            conn.sendall(b"\x90\x04\x00\x01\x00\x01")  # SUBACK: QoS 1 granted
            conn.settimeout(5)
            try:
                self.heard.append(conn.recv(4096))
            except OSError:
                self.heard.append(b"")

    def close(self) -> None:
        self.server.close()
        for conn in self.accepted:
            conn.close()


def test_a_broker_that_goes_silent_is_left_and_reconnected() -> None:
    """A half-open connection: CONNACK and SUBACK, then nothing, not even PINGRESP."""
    broker = FakeBroker()
    consumer = MqttConsumer(_cfg(broker.port, keepalive_s=1), Taken().submit)
    consumer.start()
    try:
        wait_until(lambda: consumer.stats.connects >= 2, 10)
        assert consumer.stats.disconnects >= 1
    finally:
        consumer.stop()
        broker.close()
    assert broker.heard[0] == wire.PINGREQ_PACKET  # it pinged, then gave up on the silence


def test_a_broker_that_turns_keep_alive_off_is_not_pinged() -> None:
    """CONNACK's Server Keep Alive 0 overrides the client's 1 s: no pings, no give-up."""
    broker = FakeBroker(b"\x20\x06\x00\x00\x03\x13\x00\x00")
    consumer = MqttConsumer(_cfg(broker.port, keepalive_s=1), Taken().submit)
    consumer.start()
    try:
        assert consumer.subscribed.wait(10)
        time.sleep(2.5)
        assert consumer.connected.is_set() and consumer.stats.connects == 1
    finally:
        consumer.stop()
        # The fake broker's own thread records what it heard; let it, before it is closed.
        wait_until(lambda: bool(broker.heard), 5)
        broker.close()
    assert broker.heard == [wire.DISCONNECT_PACKET]  # nothing but the goodbye


def test_a_broker_sending_past_the_window_is_counted_and_still_consumed(
    tmp_broker: Callable[..., Broker],
) -> None:
    """The window holds until the first PUBACKs; Mosquitto 2.0.11 then sends everything it
    queued. The consumer takes it (refusing would stall the stream) and counts the overrun."""
    broker = tmp_broker("allow_anonymous true\n")
    held: list[Any] = []
    consumer = MqttConsumer(_cfg(broker.port, receive_maximum=20),
                            lambda m, ack, **_: held.append(ack) or True)  # fmt: skip
    consumer.start()
    try:
        assert consumer.subscribed.wait(10)
        with Publisher(_cfg(broker.port), "window-pub") as pub:
            for _ in range(200):
                pub.publish(f"{PREFIX}/gw/D1", b"[]")
        wait_until(lambda: consumer.stats.received == 20, 15)
        time.sleep(0.3)
        assert consumer.stats.received == 20  # the window holds while nothing is acked
        for ack in held[:5]:
            ack()
        wait_until(lambda: consumer.stats.acked == 5, 15)
        # a compliant broker sends 5 more; this one may send the rest: wait until it is done
        last = [consumer.stats.received]

        def quiet() -> bool:
            time.sleep(0.3)
            now = consumer.stats.received
            done = now == last[0] >= 25 and consumer.stats.submitted == now
            last[0] = now
            return done

        wait_until(quiet, 15)
        st = consumer.stats
        assert st.received >= 25
        # Each message is judged on arrival: past the window when more than 20 were unacked
        # then. The five acks may go out in several writes, and this broker does not wait for
        # the last one, so up to four arrivals fall inside the window they were acked into.
        assert st.received - st.acked - 20 <= st.beyond_window <= st.received - 21
        done = 5

        def ack_what_came() -> bool:
            nonlocal done
            for ack in held[done:]:
                ack()
                done += 1
            return consumer.stats.acked == 200

        wait_until(ack_what_came, 15)
    finally:
        consumer.stop()


def test_a_held_stream_still_hears_the_brokers_pings(tmp_broker: Callable[..., Broker]) -> None:
    """The pipeline is full (submit refuses) for longer than the keep-alive: the consumer
    pings, reads nothing, yet must not take the unread PINGRESP for a dead broker."""
    broker = tmp_broker("allow_anonymous true\n")
    consumer = MqttConsumer(_cfg(broker.port, keepalive_s=1), lambda *_a, **_k: False)
    consumer.start()
    try:
        assert consumer.subscribed.wait(10)
        with Publisher(_cfg(broker.port), "held-pub") as pub:
            pub.publish(f"{PREFIX}/gw/D1", b"[]")
        wait_until(lambda: consumer.stats.received == 1, 15)
        time.sleep(3.5)
        assert consumer.stats.connects == 1 and consumer.stats.disconnects == 0
    finally:
        consumer._leave.set()  # the held message is never taken: leave without a drain
        consumer.stop()


def test_a_broker_that_drops_us_at_once_is_not_hammered() -> None:
    """Another consumer with the same client id takes the session over (DISCONNECT 0x8E)
    right after each CONNACK: reconnects back off instead of looping."""
    broker = FakeBroker(b"\x20\x03\x00\x00\x00" + b"\xe0\x02\x8e\x00")
    consumer = MqttConsumer(_cfg(broker.port), Taken().submit)
    consumer.start()
    try:
        time.sleep(3.5)  # backoff 1 s, then 2 s: three connections at most
        assert 1 <= len(broker.accepted) <= 3
        assert any("0x8E session taken over" in e for e in consumer.stats.errors)
    finally:
        consumer.stop()
        broker.close()


def test_a_message_larger_than_a_read_arrives_whole(tmp_broker: Callable[..., Broker]) -> None:
    broker = tmp_broker("allow_anonymous true\n")
    taken = Taken()
    consumer = MqttConsumer(_cfg(broker.port), taken.submit)
    consumer.start()
    big = bytes(range(256)) * 12_000  # 3 MB: a dozen reads
    try:
        assert consumer.subscribed.wait(10)
        with Publisher(_cfg(broker.port), "big-pub") as pub:
            pub.publish(f"{PREFIX}/gw/D1", big)
            pub.publish(f"{PREFIX}/gw/D2", b"[]")
        wait_until(lambda: consumer.stats.acked == 2, 15)
    finally:
        consumer.stop()
    assert [m.payload for m in taken.messages] == [big, b"[]"]
