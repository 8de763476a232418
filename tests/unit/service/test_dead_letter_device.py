"""Which device a dead letter came from: the MQTT topic, else what the payload names."""

from __future__ import annotations

import orjson
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from cityops.domain.lifeline.senml import senml_points
from cityops.service.telemetry.dead_letters import device_of

PREFIX = "cityops/v1/telemetry"


@pytest.mark.parametrize(
    ("source", "payload", "device"),
    [
        ("mqtt:cityops/v1/telemetry/gw-1/SJ-GPT-0001", b"not json", "SJ-GPT-0001"),
        ("mqtt:cityops/v1/telemetry/gw-1/SJ-GPT-0001/senml", b"[]", "SJ-GPT-0001"),
        ("mqtt:cityops/v1/telemetry/gw-1", [{"bn": "SJ-CH4-0002:", "n": "ch4", "v": 1}],
         "SJ-CH4-0002"),
        ("http:gw-1", [{"bn": "urn:dev:cityops:SJ-CH4-0003/", "n": "ch4", "v": 1}], "SJ-CH4-0003"),
        ("http:gw-1", [{"n": "SJ-WL-0009:level", "v": 1}], "SJ-WL-0009"),
        ("http:gw-1", {"device": "SJ-GPT-0004", "values": {"pressure": 0.3}}, "SJ-GPT-0004"),
        ("http:gw-1", [{"n": "pressure", "v": 0.3}], None),  # bare metric: nothing names it
        ("http:gw-1", [{"bn": "gw/", "n": "SJ-1:ch4", "v": 1}], "gw/SJ-1"),  # as decoded
        ("http:gw-1", [{"n": "ch4", "v": 1}, {"bn": "SJ-2:", "n": "ch4", "v": 1}], "SJ-2"),
        ("http:gw-1", [{"n": ":ch4", "v": 1}], None),
        ("http:gw-1", b"\xff\x00", None),
        ("sim:lifeline", [1, "x", None], None),
    ],
)  # fmt: skip
def test_the_device_is_read_from_the_topic_or_the_payload(
    source: str, payload: object, device: str | None
) -> None:
    raw = payload if isinstance(payload, bytes) else orjson.dumps(payload)
    assert device_of(source, raw, PREFIX) == device


def test_bare_metric_names_fall_back_to_the_device_the_problem_names() -> None:
    raw = orjson.dumps([{"n": "pressure", "v": 9.9}])
    text = "record 0: SJ-WP-0025:pressure outside the sensor's range (ts 1, value 9.9)"
    assert device_of("sim:lifeline", raw, PREFIX, text) == "SJ-WP-0025"
    assert device_of("sim:lifeline", b"\xff", PREFIX, text) == "SJ-WP-0025"
    assert device_of("http:gw", raw, PREFIX, "record 0: not a number: 'x'") is None


@given(st.from_regex(r"(urn:dev:cityops:)?[A-Za-z0-9][A-Za-z0-9:./_-]{0,20}", fullmatch=True))
def test_the_device_named_is_the_one_the_decoder_reads(name: str) -> None:
    """A dead letter names the device the SenML decoder would have read from the same name
    (a name ending in the separator is a base name: it names a device but no metric)."""
    assume(not name.endswith((":", "/")))
    raw = orjson.dumps([{"n": name, "v": 1}])
    points = senml_points([{"n": name, "v": 1}], 0.0)
    assert device_of("http:gw", raw, PREFIX) == (points.devices[0] if points.devices else None)
