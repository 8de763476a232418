"""MQTT 5.0 on the wire: the packets a QoS 1 subscriber writes and reads (OASIS MQTT 5.0).

Only what the telemetry consumer needs: CONNECT, SUBSCRIBE, PUBACK, PINGREQ and DISCONNECT
out; CONNACK, SUBACK, PUBLISH, PINGRESP and DISCONNECT in. Pure functions over bytes, no I/O
(adapters/mqtt_consumer.py owns the socket), so the codec is tested on its own — including
by hypothesis against arbitrary chunking of the stream.

Why not paho here: paho spends ~55–75 µs of Python per received message on this machine
(packet objects, property objects, callbacks, its own queues); a subscriber that splits a
whole ``recv`` of packets in one loop and acknowledges a committed batch with one ``send``
spends a few µs, which leaves the CPU to ingestion (bench/telemetry.py). The publisher side
and the benchmark's bare peer stay on paho.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

# Control packet types (§2.1.2)
CONNECT, CONNACK, PUBLISH, PUBACK = 1, 2, 3, 4
SUBSCRIBE, SUBACK, PINGREQ, PINGRESP, DISCONNECT, AUTH = 8, 9, 12, 13, 14, 15

PINGREQ_PACKET = b"\xc0\x00"
DISCONNECT_PACKET = b"\xe0\x00"  # normal disconnection, the session is kept (its expiry)
MAX_REMAINING = 268_435_455  # the largest remaining length a 4-byte varint holds

# Property identifiers (§2.2.2.2) and how their values are encoded.
CONTENT_TYPE = 0x03
SESSION_EXPIRY = 0x11
SERVER_KEEP_ALIVE = 0x13
RECEIVE_MAXIMUM = 0x21
REASON_STRING = 0x1F
_BYTE, _U16, _U32, _VARINT, _STR, _BIN, _PAIR = range(7)
_PROPERTY_TYPES = {
    0x01: _BYTE, 0x02: _U32, 0x03: _STR, 0x08: _STR, 0x09: _BIN, 0x0B: _VARINT, 0x11: _U32,
    0x12: _STR, 0x13: _U16, 0x15: _STR, 0x16: _BIN, 0x17: _BYTE, 0x18: _U32, 0x19: _BYTE,
    0x1A: _STR, 0x1C: _STR, 0x1F: _STR, 0x21: _U16, 0x22: _U16, 0x23: _U16, 0x24: _BYTE,
    0x25: _BYTE, 0x26: _PAIR, 0x27: _U32, 0x28: _BYTE, 0x29: _BYTE, 0x2A: _BYTE,
}  # fmt: skip

# Reason codes a CONNACK, SUBACK or DISCONNECT may carry (§2.4), for log lines and errors.
REASONS = {
    0x00: "success", 0x01: "granted QoS 1", 0x02: "granted QoS 2", 0x04: "disconnect with will",
    0x80: "unspecified error", 0x81: "malformed packet", 0x82: "protocol error",
    0x83: "implementation specific error", 0x84: "unsupported protocol version",
    0x85: "client identifier not valid", 0x86: "bad user name or password",
    0x87: "not authorized", 0x88: "server unavailable", 0x89: "server busy", 0x8A: "banned",
    0x8B: "server shutting down", 0x8C: "bad authentication method",
    0x8D: "keep alive timeout", 0x8E: "session taken over", 0x8F: "topic filter invalid",
    0x90: "topic name invalid", 0x93: "receive maximum exceeded", 0x94: "topic alias invalid",
    0x95: "packet too large", 0x97: "quota exceeded", 0x98: "administrative action",
    0x99: "payload format invalid", 0x9A: "retain not supported", 0x9B: "QoS not supported",
    0x9C: "use another server", 0x9D: "server moved", 0x9E: "shared subscriptions not supported",
    0x9F: "connection rate exceeded", 0xA1: "subscription identifiers not supported",
    0xA2: "wildcard subscriptions not supported",
}  # fmt: skip

_PUBACK = struct.Struct(">BBH")
_U16S = struct.Struct(">H")
_U32S = struct.Struct(">I")


class ProtocolError(Exception):
    """The peer sent something MQTT 5.0 does not allow: the connection must be dropped."""


def reason_text(code: int) -> str:
    return f"0x{code:02X} {REASONS.get(code, 'unknown reason')}"


# ---------------------------------------------------------------------- writing


def varint(n: int) -> bytes:
    """A Variable Byte Integer (§1.5.5)."""
    if not 0 <= n <= MAX_REMAINING:
        raise ValueError(f"{n} does not fit a variable byte integer")
    out = bytearray()
    while True:
        n, digit = divmod(n, 128)
        out.append(digit | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _utf8(text: str) -> bytes:
    raw = text.encode()
    if len(raw) > 0xFFFF:
        raise ValueError("an MQTT string holds at most 65,535 bytes")
    return _U16S.pack(len(raw)) + raw


def _packet(first: int, body: bytes) -> bytes:
    return bytes([first]) + varint(len(body)) + body


def connect_packet(
    client_id: str, *, keepalive_s: int, clean_start: bool, session_expiry_s: int,
    receive_maximum: int, username: str | None = None, password: str | None = None,
) -> bytes:  # fmt: skip
    """CONNECT (§3.1) with a session expiry and our receive maximum (the window)."""
    if not 1 <= receive_maximum <= 0xFFFF:
        raise ValueError("receive maximum is 1…65535")
    props = (bytes([SESSION_EXPIRY]) + _U32S.pack(session_expiry_s)
             + bytes([RECEIVE_MAXIMUM]) + _U16S.pack(receive_maximum))  # fmt: skip
    flags = (0x02 if clean_start else 0) | (0x80 if username is not None else 0) | (
        0x40 if password is not None else 0)  # fmt: skip
    body = (_utf8("MQTT") + bytes([5, flags]) + _U16S.pack(keepalive_s)
            + varint(len(props)) + props + _utf8(client_id))  # fmt: skip
    if username is not None:
        body += _utf8(username)
    if password is not None:
        body += _utf8(password)  # binary data: the same length-prefixed layout
    return _packet(CONNECT << 4, body)


def subscribe_packet(packet_id: int, topic_filter: str, qos: int = 1,
                     retain_handling: int = 1) -> bytes:  # fmt: skip
    """SUBSCRIBE (§3.8) to one filter; retain handling 1: retained messages only on a new
    subscription (a resumed session does not get them again)."""
    options = qos | retain_handling << 4
    return _packet(SUBSCRIBE << 4 | 0x02, _U16S.pack(packet_id) + b"\x00"
                   + _utf8(topic_filter) + bytes([options]))  # fmt: skip


def puback_packets(packet_ids: Iterable[int]) -> bytes:
    """PUBACKs (§3.4, success, no properties: the short form), concatenated for one send."""
    pack = _PUBACK.pack
    return b"".join([pack(0x40, 2, pid) for pid in packet_ids])


# ---------------------------------------------------------------------- reading


def read_varint(buf: bytes, pos: int) -> tuple[int, int] | None:
    """(value, position after it), or None when ``buf`` ends inside it."""
    value = shift = 0
    for i in range(pos, min(pos + 4, len(buf))):
        byte = buf[i]
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, i + 1
        shift += 7
    if len(buf) >= pos + 4:
        raise ProtocolError("a variable byte integer longer than 4 bytes")
    return None


def packet_end(buf: bytes) -> int | None:
    """Where the packet at the start of ``buf`` ends, once its length is readable."""
    found = read_varint(buf, 1) if len(buf) >= 2 else None
    return None if found is None else found[1] + found[0]


def read_properties(buf: bytes, pos: int, end: int) -> tuple[dict[int, Any], int]:
    """The properties at ``pos`` (length first) → ({identifier: value}, position after).
    User properties (0x26) are a list of (name, value) pairs; strings are decoded."""
    found = read_varint(buf, pos)
    if found is None:
        raise ProtocolError("truncated property length")
    length, pos = found
    stop = pos + length
    if stop > end:
        raise ProtocolError("properties run past the packet")
    props: dict[int, Any] = {}
    while pos < stop:
        ident = buf[pos]
        kind = _PROPERTY_TYPES.get(ident)
        if kind is None:
            raise ProtocolError(f"unknown property 0x{ident:02X}")
        pos += 1
        value: Any
        if kind == _BYTE:
            value, pos = buf[pos], pos + 1
        elif kind == _U16:
            value, pos = _U16S.unpack_from(buf, pos)[0], pos + 2
        elif kind == _U32:
            value, pos = _U32S.unpack_from(buf, pos)[0], pos + 4
        elif kind == _VARINT:
            got = read_varint(buf, pos)
            if got is None:
                raise ProtocolError("truncated property")
            value, pos = got
        elif kind == _PAIR:
            name, pos = _read_str(buf, pos, stop)
            text, pos = _read_str(buf, pos, stop)
            props.setdefault(ident, []).append((name, text))
            continue
        else:
            n = _U16S.unpack_from(buf, pos)[0]
            raw, pos = bytes(buf[pos + 2 : pos + 2 + n]), pos + 2 + n
            value = raw.decode("utf-8", "replace") if kind == _STR else raw
        if pos > stop:
            raise ProtocolError("a property runs past the properties")
        props[ident] = value
    return props, stop


def _read_str(buf: bytes, pos: int, end: int) -> tuple[str, int]:
    if pos + 2 > end:
        raise ProtocolError("truncated string")
    n = buf[pos] << 8 | buf[pos + 1]
    if pos + 2 + n > end:
        raise ProtocolError("a string runs past the packet")
    return bytes(buf[pos + 2 : pos + 2 + n]).decode("utf-8", "replace"), pos + 2 + n


@dataclass(frozen=True, slots=True)
class Packet:
    """A control packet other than PUBLISH: its type, flags and what its body says."""

    kind: int
    flags: int
    reason: int = 0  # CONNACK, DISCONNECT
    session_present: bool = False  # CONNACK
    packet_id: int = 0  # SUBACK
    reasons: bytes = b""  # SUBACK: one per topic filter
    properties: dict[int, Any] = field(default_factory=dict)


def read_packet(kind: int, flags: int, body: bytes) -> Packet:
    """Decode a non-PUBLISH packet's body (the fixed header already split off)."""
    end = len(body)
    if kind == CONNACK:
        if end < 2:
            raise ProtocolError("CONNACK too short")
        props = read_properties(body, 2, end)[0] if end > 2 else {}
        return Packet(kind, flags, reason=body[1], session_present=bool(body[0] & 1),
                      properties=props)  # fmt: skip
    if kind == SUBACK:
        if end < 3:
            raise ProtocolError("SUBACK too short")
        props, pos = read_properties(body, 2, end)
        return Packet(kind, flags, packet_id=_U16S.unpack_from(body, 0)[0],
                      reasons=bytes(body[pos:]), properties=props)  # fmt: skip
    if kind == DISCONNECT:
        reason = body[0] if end else 0
        props = read_properties(body, 1, end)[0] if end > 1 else {}
        return Packet(kind, flags, reason=reason, properties=props)
    if kind in (PINGRESP, PUBACK, AUTH):
        return Packet(kind, flags)
    raise ProtocolError(f"a client does not receive packet type {kind}")


OnPublish = Callable[[bytes, int, int, "str | None", bytes], None]
OnPacket = Callable[[Packet], None]


def split_stream(buf: bytes, on_publish: OnPublish, on_packet: OnPacket) -> int:
    """Hand every complete packet in ``buf`` on; returns where the first incomplete one starts.

    ``on_publish(topic, qos, packet_id, content_type, payload)`` gets each PUBLISH (topic as
    raw bytes: the caller caches per topic; packet id 0 at QoS 0); ``on_packet`` the others.
    The PUBLISH path is written out inline: it runs once per message.
    """
    try:
        return _split(buf, on_publish, on_packet)
    except (IndexError, struct.error) as exc:  # a length that points past what it holds
        raise ProtocolError(f"malformed packet: {exc}") from None


def _split(buf: bytes, on_publish: OnPublish, on_packet: OnPacket) -> int:
    pos, n = 0, len(buf)
    while pos + 2 <= n:
        first = buf[pos]
        b = buf[pos + 1]
        if b < 0x80:
            length, p = b, pos + 2
        else:
            found = read_varint(buf, pos + 1)
            if found is None:
                return pos
            length, p = found
        end = p + length
        if end > n:
            return pos
        if first >> 4 == PUBLISH:
            qos = (first >> 1) & 3
            if qos == 3:
                raise ProtocolError("PUBLISH with QoS 3")
            if p + 2 > end:
                raise ProtocolError("PUBLISH too short")
            t_end = p + 2 + (buf[p] << 8 | buf[p + 1])
            topic = buf[p + 2 : t_end]
            p = t_end + 2 if qos else t_end
            if p >= end or not topic:  # no topic: an alias, which we never allowed
                raise ProtocolError("malformed PUBLISH")
            packet_id = buf[t_end] << 8 | buf[t_end + 1] if qos else 0
            plen = buf[p]
            content_type: str | None = None
            if plen == 0:
                p += 1
            elif plen < 0x80 and p + 1 + plen <= end and buf[p + 1] == CONTENT_TYPE and \
                    plen == 3 + (buf[p + 2] << 8 | buf[p + 3]):  # fmt: skip
                content_type = buf[p + 4 : p + 1 + plen].decode("utf-8", "replace")
                p += 1 + plen
            else:
                props, p = read_properties(buf, p, end)
                content_type = props.get(CONTENT_TYPE)
            on_publish(topic, qos, packet_id, content_type, buf[p:end])
        else:
            on_packet(read_packet(first >> 4, first & 0x0F, buf[p:end]))
        pos = end
    return pos


class Stream:
    """The bytes read but not split yet. ``feed`` answers what to split now, or b"" while a
    packet larger than a read is still arriving: its pieces are kept in a list and joined once
    (appending each read to the rest would copy a large packet over and over)."""

    def __init__(self, rest: bytes = b"") -> None:
        self._rest = rest
        self._pieces: list[bytes] = []
        self._have = 0
        self._need = 0  # the length of the large packet being collected, 0 when none

    def feed(self, data: bytes) -> bytes:
        if self._need:
            self._pieces.append(data)
            self._have += len(data)
            if self._have < self._need:
                return b""
            data, self._pieces, self._need = b"".join(self._pieces), [], 0
            return data
        return self._rest + data if self._rest else data

    def keep(self, buf: bytes, split_at: int, read_size: int) -> None:
        """What follows ``split_at`` waits for more bytes; a packet longer than ``read_size``
        (its length known) is collected piece by piece."""
        rest = buf[split_at:]
        self._rest = rest
        end = packet_end(rest)
        if end is not None and end > read_size:
            self._pieces, self._have, self._need = [rest], len(rest), end
            self._rest = b""
