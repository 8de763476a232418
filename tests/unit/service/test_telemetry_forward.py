"""What an API in forward mode publishes (service/telemetry/forward.py): the kept points as
SenML packs that the worker's decode reads back exactly, on a topic naming the gateway."""

from __future__ import annotations

import numpy as np
import orjson
from hypothesis import given
from hypothesis import strategies as st

from cityops.adapters.mqtt import parse_topic
from cityops.service.telemetry.decode import SENML, RawMessage, decode
from cityops.service.telemetry.forward import forward_topic, gateway_level, senml_packs
from cityops.service.telemetry.registry import DeviceInfo, RegistrySnapshot

# Registry codes as imports allow them (domain/lifeline/assets.py CODE and METRIC).
CODES = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._-]{0,20}", fullmatch=True)
METRICS = st.from_regex(r"[a-z][a-z0-9_]{0,10}", fullmatch=True)
UNITS = st.sampled_from(["MPa", "kPa", "%{LEL}", "Cel", "m3/h", "m"])
SERIES = st.lists(st.tuples(CODES, METRICS, UNITS), min_size=1, max_size=6,
                  unique_by=lambda s: (s[0], s[1]))  # fmt: skip
# Epoch milliseconds from 1978 (below 2**28 s SenML times are relative) to 2100.
TS_MS = st.integers(min_value=2**28 * 1000, max_value=4_102_444_800_000)
VALUES = st.floats(allow_nan=False, allow_infinity=False, width=64)


def _snapshot(series: list[tuple[str, str, str]]) -> RegistrySnapshot:
    n = len(series)
    devices = {code: DeviceInfo(i, code, code, 1, "A-1", "gas_pipe", 1, None, True)
               for i, code in enumerate(dict.fromkeys(s[0] for s in series))}  # fmt: skip
    ones = np.ones(n)
    return RegistrySnapshot(
        generation=1, devices=devices, index={(d, m): k for k, (d, m, _) in enumerate(series)},
        device_of=[devices[d] for d, _, _ in series], metric=[m for _, m, _ in series],
        unit=[u for _, _, u in series], series_id=np.arange(n, dtype=np.int64) + 1,
        interval_s=ones * 60, scale=ones, offset=ones * 0, range_min=ones * -np.inf,
        range_max=ones * np.inf, k_of_series={i + 1: i for i in range(n)},
    )  # fmt: skip


@given(series=SERIES, data=st.data(), max_points=st.integers(1, 7))
def test_the_packs_decode_to_the_same_points(
    series: list[tuple[str, str, str]], data: st.DataObject, max_points: int
) -> None:
    snap = _snapshot(series)
    points = data.draw(st.lists(st.tuples(st.integers(0, len(series) - 1), TS_MS, VALUES),
                                max_size=30))  # fmt: skip
    k = np.array([p[0] for p in points], dtype=np.int64)
    ts = np.array([p[1] for p in points], dtype=np.int64)
    value = np.array([p[2] for p in points], dtype=np.float64)
    packs = senml_packs(snap, k, ts, value, max_points=max_points)
    assert len(packs) == -(-len(points) // max_points)
    got = []
    for pack in packs:  # as the worker gets it: a gateway topic, no device from the transport
        cols = decode(RawMessage("mqtt:t/gw", pack, received_at=1e9, content_type=SENML))
        assert cols.problems == []
        got += [(d, m, round(t * 1000), v, u) for d, m, t, v, u in
                zip(cols.devices, cols.metrics, cols.times, cols.values, cols.units,
                    strict=True)]  # fmt: skip
    sent = [(series[kk][0], series[kk][1], t, v, series[kk][2]) for kk, t, v in points]
    assert sorted(got, key=repr) == sorted(sent, key=repr)


def test_a_device_is_named_once_per_run_of_its_records() -> None:
    snap = _snapshot([("SJ-GPT-0001", "pressure", "MPa"), ("SJ-GPT-0001", "temp", "Cel"),
                      ("SJ-CH4-0001", "ch4", "%{LEL}")])  # fmt: skip
    (pack,) = senml_packs(snap, np.array([2, 0, 1]), np.array([1_795_485_600_000] * 3),
                          np.array([1.5, 0.31, 12.0]))  # fmt: skip
    assert orjson.loads(pack) == [
        {"bn": "SJ-GPT-0001:", "n": "pressure", "u": "MPa", "t": 1_795_485_600.0, "v": 0.31},
        {"n": "temp", "u": "Cel", "t": 1_795_485_600.0, "v": 12.0},
        {"bn": "SJ-CH4-0001:", "n": "ch4", "u": "%{LEL}", "t": 1_795_485_600.0, "v": 1.5},
    ]


@given(gateway=st.text(min_size=0, max_size=20))
def test_the_topic_names_the_gateway_at_one_level(gateway: str) -> None:
    topic = forward_topic("cityops/v1/telemetry/", f"http:{gateway}")
    named = parse_topic(topic, "cityops/v1/telemetry")
    assert named.device is None and named.gateway == gateway_level(f"http:{gateway}")
    assert not set("/+#\x00") & set(named.gateway or "/")


def test_an_admins_post_keeps_its_user_form() -> None:
    assert forward_topic("p", "http:user:admin") == "p/user:admin"
    assert forward_topic("p", "http:gw/a+b#") == "p/gw_a_b_"
