"""Unit conversions, roll-up maths and the plain JSON payload."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from cityops.domain.lifeline.payload import points_from_json
from cityops.domain.lifeline.points import PayloadError
from cityops.domain.lifeline.rollup import MINUTE_MS, Row, dedupe_keys, latest, merge, partials
from cityops.domain.lifeline.units import UnitMismatch, canonical, conversion


def test_conversions_into_the_declared_unit() -> None:
    assert conversion("MPa", "MPa") == (1.0, 0.0)
    scale, shift = conversion("kPa", "MPa")
    assert 350 * scale + shift == pytest.approx(0.35)
    scale, shift = conversion("K", "Cel")
    assert 300.15 * scale + shift == pytest.approx(27.0)
    assert conversion("%LEL", "%{LEL}") == (1.0, 0.0)  # an alias
    assert canonical("℃") == "Cel"


@pytest.mark.parametrize(("source", "target"), [("ppm", "%{LEL}"), ("%", "%RH"), ("m", "MPa"),
                                                ("furlong", "m")])  # fmt: skip
def test_no_guessing_between_dimensions(source: str, target: str) -> None:
    with pytest.raises(UnitMismatch):
        conversion(source, target)


readings = st.lists(
    st.tuples(st.integers(0, 3), st.integers(0, 10 * MINUTE_MS),
              st.floats(-1e6, 1e6, allow_nan=False)),
    min_size=1, max_size=60, unique_by=lambda r: (r[0], r[1]),
)  # fmt: skip


def _cols(rows: list[tuple[int, int, float]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return (np.array([r[0] for r in rows], np.int64), np.array([r[1] for r in rows], np.int64),
            np.array([r[2] for r in rows], np.float64))  # fmt: skip


def _as_dict(rows: list[tuple[int, int, float]]) -> dict[tuple[int, int], Row]:
    p = partials(*_cols(rows), MINUTE_MS)
    return {(s, b): (c, t, lo, hi, lt, lv) for s, b, c, t, lo, hi, lt, lv in p.rows()}


@given(readings, st.integers(0, 60))
def test_partials_of_any_split_merge_into_the_whole(rows: list[tuple[int, int, float]],
                                                    cut: int) -> None:  # fmt: skip
    whole = _as_dict(rows)
    merged = _as_dict(rows[:cut]) if rows[:cut] else {}
    for key, part in (_as_dict(rows[cut:]) if rows[cut:] else {}).items():
        merged[key] = merge(merged[key], part) if key in merged else part
    assert merged.keys() == whole.keys()
    for key, (c, total, lo, hi, lt, lv) in whole.items():
        mc, mt, mlo, mhi, mlt, mlv = merged[key]
        assert (mc, mlo, mhi, mlt, mlv) == (c, lo, hi, lt, lv)
        assert mt == pytest.approx(total, rel=1e-9, abs=1e-6)


@given(readings)
def test_partials_match_a_plain_computation(rows: list[tuple[int, int, float]]) -> None:
    got = _as_dict(rows)
    for (series, bucket), (count, total, lo, hi, last_ts, last_value) in got.items():
        mine = sorted((t, v) for s, t, v in rows if s == series and t // MINUTE_MS * MINUTE_MS
                      == bucket)  # fmt: skip
        assert count == len(mine)
        assert total == pytest.approx(sum(v for _, v in mine), rel=1e-9, abs=1e-6)
        assert (lo, hi) == (min(v for _, v in mine), max(v for _, v in mine))
        assert (last_ts, last_value) == mine[-1]


def test_latest_and_dedupe() -> None:
    s, t, v = _cols([(1, 5, 1.0), (1, 9, 2.0), (2, 3, 3.0), (1, 7, 4.0)])
    ls, lt, lv = latest(s, t, v)
    assert ls.tolist() == [1, 2] and lt.tolist() == [9, 3] and lv.tolist() == [2.0, 3.0]
    s, t, _ = _cols([(1, 5, 1.0), (2, 5, 1.0), (1, 5, 9.0), (1, 6, 1.0)])
    assert dedupe_keys(s, t).tolist() == [0, 1, 3]  # the first of a repeated key wins


def test_plain_json_payload() -> None:
    item = {"device": "D1", "ts": "2026-11-18T10:00:00+08:00", "values": {"a": 1, "b": 2.5},
            "units": {"a": "kPa"}}  # fmt: skip
    pts = points_from_json([item], 0.0)
    assert pts.devices == ["D1", "D1"] and pts.metrics == ["a", "b"]
    assert pts.times == [datetime(2026, 11, 18, 2, tzinfo=UTC).timestamp()] * 2
    assert pts.units == ["kPa", None]
    assert points_from_json({"values": {"a": 1}}, 5.0, "D2").times == [5.0]
    for bad, fragment in [({"values": {"a": 1}}, "device is required"),
                          ({"device": "D", "values": {"a": "1"}}, "must be a number"),
                          ({"device": "D", "ts": "2026-11-18 10:00", "values": {"a": 1}}, "offset"),
                          ({"device": "D", "values": {}}, "values must be")]:  # fmt: skip
        with pytest.raises(PayloadError, match=fragment):
            points_from_json(bad, 0.0)
