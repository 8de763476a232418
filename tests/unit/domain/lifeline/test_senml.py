"""SenML (RFC 8428) resolution: base fields, relative times, validation naming the record."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cityops.domain.lifeline.senml import RELATIVE_LIMIT, SenMLError, senml_points, split_name
from tests.unit.domain.lifeline.senml_oracle import (
    ResolvedRecord,
    parse_pack,
    points_from_senml,
    resolve,
)

NOW = 1_795_000_000.0
names = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9:./_-]{0,20}", fullmatch=True)
finite = st.floats(allow_nan=False, allow_infinity=False, min_value=-1e12, max_value=1e12)
abs_times = st.floats(min_value=RELATIVE_LIMIT, max_value=4e9, allow_nan=False)
units = st.none() | st.sampled_from(["Cel", "MPa", "%RH", "m3/h"])
values = finite | st.booleans() | st.text(max_size=5)
records = st.builds(
    ResolvedRecord, names, abs_times, units, values | st.none(), st.none() | finite
).filter(lambda r: r.value is not None or r.sum is not None)


def test_rfc_example_with_base_fields() -> None:
    pack = [{"bn": "urn:dev:ow:10e2073a01080063:", "bt": 1.320067464e9, "bu": "%RH", "v": 20},
            {"u": "lon", "v": 24.30621}, {"n": "temp", "u": "Cel", "t": 60, "v": 23.1}]  # fmt: skip
    out = resolve(pack, NOW)
    assert [r.name for r in out] == ["urn:dev:ow:10e2073a01080063:"] * 2 + [
        "urn:dev:ow:10e2073a01080063:temp"
    ]
    assert [r.time for r in out] == [1.320067464e9, 1.320067464e9, 1.320067524e9]
    assert [r.unit for r in out] == ["%RH", "lon", "Cel"]
    assert out[2].value == 23.1


@given(st.lists(records, min_size=1, max_size=10))
def test_resolved_records_round_trip(recs: list[ResolvedRecord]) -> None:
    assert resolve([r.as_senml() for r in recs], NOW) == recs


@given(st.lists(records, min_size=1, max_size=10), st.sampled_from(["", "dev1:", "a/b/"]),
       st.floats(min_value=RELATIVE_LIMIT, max_value=3e9))  # fmt: skip
def test_base_fields_compress_losslessly(
    recs: list[ResolvedRecord], prefix: str, bt: float
) -> None:
    """Writing records with bn/bt (and numbers relative to them) resolves to the same."""
    pack: list[dict[str, Any]] = []
    for r in recs:
        rec = r.as_senml()
        rec["n"] = r.name
        rec["t"] = r.time - bt
        pack.append(rec)
    pack[0] = {"bn": prefix, "bt": bt, **pack[0]}
    expected = [ResolvedRecord(prefix + r.name, bt + (r.time - bt), r.unit, r.value, r.sum)
                for r in recs]  # fmt: skip
    assert resolve(pack, NOW) == expected


@given(st.floats(min_value=-RELATIVE_LIMIT + 1, max_value=RELATIVE_LIMIT - 1))
def test_small_times_are_relative_to_now(t: float) -> None:
    (r,) = resolve([{"n": "x", "t": t, "v": 1}], NOW)
    assert r.time == pytest.approx(NOW + t)


def test_absent_time_means_now_and_base_value_adds() -> None:
    out = resolve([{"bn": "d:", "bv": 10, "bs": 100, "n": "a", "v": 1.5},
                   {"n": "b", "s": 2}], NOW)  # fmt: skip
    assert out[0].time == NOW and out[0].value == 11.5
    assert out[1].value is None and out[1].sum == 102


@pytest.mark.parametrize(
    ("pack", "record", "fragment"),
    [
        ({"n": "x", "v": 1}, None, "JSON array"),
        ([{"n": "x", "v": 1}, {"n": "y"}], 1, "neither a value nor a sum"),
        ([{"n": "x", "v": float("nan")}], 0, "finite"),
        ([{"n": "x", "v": float("inf")}], 0, "finite"),
        ([{"n": "x", "v": "1"}], 0, "v must be a number"),
        ([{"n": "x", "v": True}], 0, "v must be a number"),
        ([{"n": "x", "v": 1, "vs": "a"}], 0, "more than one value"),
        ([{"n": "x", "vb": 1}], 0, "vb must be true or false"),
        ([{"n": "x", "vs": None}], 0, "vs must be a string"),
        ([{"n": "x", "vd": 5}], 0, "vd must be a string"),
        ([{"n": "-x", "v": 1}], 0, "invalid or missing name"),
        ([{"v": 1}], 0, "invalid or missing name"),
        ([{"n": "x", "v": 1, "foo_": 2}], 0, "must-understand"),
        ([{"bver": 11, "n": "x", "v": 1}], 0, "newer"),
        ([{"n": "x", "v": 1}, 5], 1, "JSON object"),
        ([{"n": "x", "t": "now", "v": 1}], 0, "t must be a number"),
    ],
)
@pytest.mark.parametrize("decoder", [senml_points, parse_pack], ids=["product", "oracle"])
def test_malformed_packs_name_the_record(
    pack: Any, record: int | None, fragment: str, decoder: Any
) -> None:
    with pytest.raises(SenMLError) as info:
        decoder(pack, NOW)
    assert info.value.record == record
    assert fragment in str(info.value)


def test_nan_is_its_own_reason_and_unknown_fields_without_underscore_are_ignored() -> None:
    with pytest.raises(SenMLError) as info:
        senml_points([{"n": "x", "v": math.nan}], NOW, "SJ-1")
    assert info.value.code == "not_finite"
    assert senml_points([{"n": "x", "v": 1, "foo": 2}], NOW, "SJ-1").values == [1.0]


def test_names_split_into_device_and_metric() -> None:
    assert split_name("SJ-GP-0001:pressure", None) == ("SJ-GP-0001", "pressure")
    assert split_name("gw/SJ-GP-0001/pressure", None) == ("gw/SJ-GP-0001", "pressure")
    assert split_name("urn:dev:cityops:SJ-1:ch4", None) == ("SJ-1", "ch4")
    assert split_name("ch4", "SJ-1") == ("SJ-1", "ch4")
    assert split_name("ch4", None) == (None, "ch4")


def test_points_take_numbers_booleans_and_sums_and_reject_strings() -> None:
    pack = [{"bn": "D1:", "n": "a", "v": 2}, {"n": "open", "vb": True},
            {"n": "total", "s": 7.5}, {"n": "msg", "vs": "hi"}, {"n": "b", "v": 3}]  # fmt: skip
    pts = senml_points(pack, NOW)
    assert pts.devices == ["D1"] * 4
    assert pts.metrics == ["a", "open", "total", "b"]
    assert pts.values == [2.0, 1.0, 7.5, 3.0]
    assert pts.origin == [0, 1, 2, 4]
    assert [p[:2] for p in pts.problems] == [(3, "non_numeric")]


# Records as devices send them, valid or not: base fields, bare or full names, any value kind.
raw_records = st.dictionaries(
    st.sampled_from(["bn", "bt", "bu", "bv", "bs", "bver", "n", "t", "u", "v", "vb", "vs",
                     "s", "x_", "foo"]),
    st.none() | st.booleans() | st.integers(-5, 5) | finite | st.just(math.nan)
    | st.sampled_from(["D1:", "gw/D2/", "ch4", "pressure", "", "bad name", "MPa", 1e9]),
    max_size=5,
)  # fmt: skip
raw_packs = st.lists(raw_records | st.just(5), max_size=6) | st.just({"n": "x"})


def _outcome(run: Any) -> Any:
    try:
        pts = run()
    except SenMLError as exc:
        return (exc.code, exc.record, str(exc))
    return (pts.devices, pts.metrics, pts.times, pts.values, pts.units, pts.origin, pts.problems)


@given(raw_packs, st.none() | st.just("SJ-1"))
def test_the_one_pass_decoder_agrees_with_resolving_then_splitting(
    pack: Any, device: str | None
) -> None:
    """The ingest path's one-pass decoder gives exactly the points and errors of RFC 8428
    resolution (parse_pack) followed by the name split (points_from_senml)."""
    expected = _outcome(lambda: points_from_senml(parse_pack(pack, NOW), device))
    assert _outcome(lambda: senml_points(pack, NOW, device)) == expected
