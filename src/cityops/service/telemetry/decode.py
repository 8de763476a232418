"""Bytes → points: JSON with orjson, then SenML or the plain JSON format (docs/lifeline.md).

The transport says what it knows: a content type (HTTP header; MQTT v5 property or topic
suffix) and maybe the device (the MQTT topic's last level). Without a content type the shape
decides: an array of records with SenML fields is SenML, objects with ``values`` are plain.
"""

from __future__ import annotations

import json
from typing import NamedTuple

import orjson

from cityops.domain.lifeline.payload import points_from_json
from cityops.domain.lifeline.points import PayloadError, PointColumns
from cityops.domain.lifeline.senml import KNOWN_FIELDS, senml_points

SENML = "application/senml+json"
JSON = "application/json"


class RawMessage(NamedTuple):
    """One message as received, before anything is decoded."""

    source: str  # "http:{gateway}", "mqtt:{topic}", "sim" …
    payload: bytes
    received_at: float  # epoch seconds
    content_type: str = ""  # SENML, JSON or "" (sniff)
    device: str | None = None  # when the transport names the device


def _loads(payload: bytes) -> object:
    try:
        return orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        try:  # the standard library reads NaN and Infinity, which devices do send
            json.loads(payload)
        except (ValueError, UnicodeDecodeError):
            raise PayloadError(f"not valid JSON: {exc}", code="malformed_json") from None
        raise PayloadError("NaN or Infinity is not a number in JSON", code="not_finite") from None


def is_senml(data: object) -> bool:
    if not isinstance(data, list) or not data:
        return False
    first = data[0]
    return isinstance(first, dict) and "values" not in first and not KNOWN_FIELDS.isdisjoint(first)


def decode(message: RawMessage) -> PointColumns:
    """The message's points; raises :class:`PayloadError` when it cannot be read at all."""
    kind = message.content_type.split(";", 1)[0].strip().lower()
    if kind not in (SENML, JSON, "", "text/json"):
        raise PayloadError(f"unsupported content type {kind!r}", code="unsupported_type")
    data = _loads(message.payload)
    if kind == SENML or is_senml(data):
        return senml_points(data, message.received_at, message.device)
    return points_from_json(data, message.received_at, message.device)
