"""The MQTT 5.0 codec of the consumer: packets as the standard lays them out, a stream split at
any byte boundary, malformed input refused (never a crash or a wrong message)."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cityops.adapters import mqtt_wire as wire


def _str(text: str | bytes) -> bytes:
    raw = text.encode() if isinstance(text, str) else text
    return struct.pack(">H", len(raw)) + raw


def publish(topic: bytes, payload: bytes, qos: int = 1, packet_id: int = 7,
            props: bytes = b"") -> bytes:  # fmt: skip
    """A PUBLISH as a broker writes it (§3.3), built independently of the codec."""
    body = _str(topic) + (struct.pack(">H", packet_id) if qos else b"")
    body += wire.varint(len(props)) + props + payload
    return bytes([0x30 | qos << 1]) + wire.varint(len(body)) + body


def content_type(text: str) -> bytes:
    return b"\x03" + _str(text)


class Collector:
    def __init__(self) -> None:
        self.messages: list[tuple[bytes, int, int, str | None, bytes]] = []
        self.packets: list[wire.Packet] = []

    def feed(self, stream: bytes) -> int:
        return wire.split_stream(stream, self.on_publish, self.packets.append)

    def on_publish(self, topic: bytes, qos: int, pid: int, ctype: str | None,
                   payload: bytes) -> None:  # fmt: skip
        self.messages.append((topic, qos, pid, ctype, payload))


@pytest.mark.parametrize(("n", "encoded"), [
    (0, b"\x00"), (127, b"\x7f"), (128, b"\x80\x01"), (16_383, b"\xff\x7f"),
    (16_384, b"\x80\x80\x01"), (2_097_151, b"\xff\xff\x7f"), (2_097_152, b"\x80\x80\x80\x01"),
    (268_435_455, b"\xff\xff\xff\x7f"),
])  # fmt: skip
def test_variable_byte_integers_are_the_standards_examples(n: int, encoded: bytes) -> None:
    assert wire.varint(n) == encoded  # the table in §1.5.5
    assert wire.read_varint(b"x" + encoded, 1) == (n, 1 + len(encoded))


def test_a_variable_byte_integer_is_at_most_four_bytes() -> None:
    with pytest.raises(ValueError):
        wire.varint(268_435_456)
    with pytest.raises(wire.ProtocolError):
        wire.read_varint(b"\xff\xff\xff\xff\x01", 0)
    assert wire.read_varint(b"\xff\xff", 0) is None  # incomplete: wait for more bytes


def test_connect_carries_the_session_the_window_and_the_credentials() -> None:
    packet = wire.connect_packet("ingest-1", keepalive_s=30, clean_start=False,
                                 session_expiry_s=604_800, receive_maximum=1000,
                                 username="city", password="s3cret")  # fmt: skip
    assert packet[0] == 0x10
    length, pos = wire.read_varint(packet, 1) or (0, 0)
    assert len(packet) == pos + length
    body = packet[pos:]
    assert body[:7] == b"\x00\x04MQTT\x05"
    assert body[7] == 0x80 | 0x40  # user name, password, no clean start
    assert body[8:10] == b"\x00\x1e"  # keep alive 30 s
    props, after = wire.read_properties(body, 10, len(body))
    assert props == {wire.SESSION_EXPIRY: 604_800, wire.RECEIVE_MAXIMUM: 1000}
    assert body[after:] == _str("ingest-1") + _str("city") + _str("s3cret")
    anonymous = wire.connect_packet("x", keepalive_s=5, clean_start=True, session_expiry_s=0,
                                    receive_maximum=1)  # fmt: skip
    assert anonymous[pos + 7] == 0x02


def test_subscribe_and_pubacks() -> None:
    sub = wire.subscribe_packet(1, "cityops/v1/telemetry/#")
    assert sub[0] == 0x82  # SUBSCRIBE has the reserved flags 0010
    assert sub.endswith(_str("cityops/v1/telemetry/#") + bytes([0x01 | 1 << 4]))
    assert wire.puback_packets([1, 258, 65535]) == (b"\x40\x02\x00\x01" b"\x40\x02\x01\x02"
                                                     b"\x40\x02\xff\xff")  # fmt: skip
    assert wire.puback_packets([]) == b""


def test_publish_with_and_without_a_content_type() -> None:
    c = Collector()
    stream = (publish(b"a/b", b"[1]", props=content_type("application/senml+json"))
              + publish(b"a/c", b"{}", qos=0)
              + publish(b"a/d", b"x", packet_id=65535,
                        props=b"\x01\x01" + content_type("text/json") + b"\x23\x00\x05"))
    assert c.feed(stream) == len(stream)
    assert c.messages == [
        (b"a/b", 1, 7, "application/senml+json", b"[1]"),
        (b"a/c", 0, 0, None, b"{}"),
        (b"a/d", 1, 65535, "text/json", b"x"),  # other properties skipped, not misread
    ]


def test_user_properties_and_other_packets() -> None:
    c = Collector()
    user = b"\x26" + _str("k") + _str("v") + b"\x26" + _str("k") + _str("w")
    connack = b"\x20" + wire.varint(2 + 1 + 3) + b"\x01\x00" + b"\x03" + b"\x13\x00\x3c"
    suback = b"\x90\x04\x00\x01\x00\x01"
    disconnect = b"\xe0\x02\x8e\x00"  # session taken over, no properties
    stream = connack + suback + publish(b"t", b"p", props=user) + b"\xd0\x00" + disconnect
    assert c.feed(stream) == len(stream)
    assert c.messages == [(b"t", 1, 7, None, b"p")]
    ack, sub, pong, bye = c.packets
    assert (ack.kind, ack.session_present, ack.reason) == (wire.CONNACK, True, 0)
    assert ack.properties == {wire.SERVER_KEEP_ALIVE: 60}
    assert (sub.kind, sub.packet_id, sub.reasons) == (wire.SUBACK, 1, b"\x01")
    assert pong.kind == wire.PINGRESP
    assert (bye.kind, bye.reason) == (wire.DISCONNECT, 0x8E)
    assert wire.reason_text(0x8E) == "0x8E session taken over"
    props, _ = wire.read_properties(b"\x00" + wire.varint(len(user)) + user, 1, 1 + 1 + len(user))
    assert props == {0x26: [("k", "v"), ("k", "w")]}


@pytest.mark.parametrize("stream", [
    b"\x36\x05\x00\x01tx\x00",  # QoS 3
    b"\x32\x03\x00\x05a",  # the topic runs past the packet
    b"\x32\x05\x00\x00\x00\x01\x00",  # an empty topic (an alias we never allowed)
    b"\x32\x07\x00\x01t\x00\x01\x09\x63",  # the properties run past the packet
    b"\x32\x08\x00\x01t\x00\x01\x01\x7f\x00",  # an unknown property
    b"\x50\x02\x00\x01",  # PUBREC: we never publish
    b"\x90\x01\x00",  # SUBACK too short
])  # fmt: skip
def test_malformed_packets_are_protocol_errors(stream: bytes) -> None:
    with pytest.raises(wire.ProtocolError):
        Collector().feed(stream)


messages = st.lists(st.tuples(
    st.binary(min_size=1, max_size=40),
    st.integers(0, 1),
    st.integers(1, 65535),
    st.one_of(st.none(), st.text(max_size=30)),
    st.binary(max_size=300),
), max_size=20)  # fmt: skip


@given(messages, st.lists(st.integers(1, 64), max_size=40))
def test_a_stream_cut_anywhere_gives_the_same_messages_in_order(
    sent: list[tuple[bytes, int, int, str | None, bytes]], cuts: list[int]
) -> None:
    """However TCP cuts the stream, each message comes out once, whole, in order."""
    stream = b"".join(publish(t, p, q, pid, b"" if ct is None else content_type(ct))
                      for t, q, pid, ct, p in sent)  # fmt: skip
    c = Collector()
    buf, pos, i = b"", 0, 0
    while pos < len(stream):
        step = cuts[i % len(cuts)] if cuts else len(stream)
        i += 1
        buf += stream[pos : pos + step]
        pos += step
        buf = buf[c.feed(buf) :]
    assert buf == b""
    assert c.messages == [(t, q, pid if q else 0, ct, p) for t, q, pid, ct, p in sent]


@given(st.binary(max_size=200))
def test_garbage_is_refused_or_waited_for_never_a_crash(garbage: bytes) -> None:
    c = Collector()
    try:
        consumed = c.feed(garbage)
    except wire.ProtocolError:
        return
    assert 0 <= consumed <= len(garbage)


@given(st.lists(st.integers(0, 3000), min_size=1, max_size=12), st.integers(1, 700),
       st.randoms(use_true_random=False))  # fmt: skip
def test_the_stream_gives_every_packet_whole_however_large_and_however_read(
    sizes: list[int], read_size: int, rnd: object
) -> None:
    """Packets larger than a read are collected piece by piece and joined once."""
    import random

    assert isinstance(rnd, random.Random)
    sent = [(b"t/%d" % i, 1, i + 1, None, bytes([i % 256]) * n) for i, n in enumerate(sizes)]
    data = b"".join(publish(t, p, q, pid) for t, q, pid, _, p in sent)
    c = Collector()
    stream = wire.Stream()
    pos = 0
    while pos < len(data):
        step = rnd.randint(1, read_size)
        buf = stream.feed(data[pos : pos + step])
        pos += step
        if buf:
            stream.keep(buf, c.feed(buf), read_size)
    assert c.messages == sent
