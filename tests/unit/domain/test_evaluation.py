from __future__ import annotations

import csv
import io
from datetime import datetime
from typing import Any

import pytest

from cityops.domain.errors import ValidationFailed
from cityops.domain.evaluation import (
    FORMULAS,
    METRIC_KEYS,
    CaseDims,
    CaseFacts,
    Dimension,
    EvaluationRow,
    ScoreWeights,
    evaluate,
    facts_from_log,
    rows_to_csv,
)
from cityops.domain.evaluation_formulas import composite_score
from cityops.domain.events import LoggedEvent
from cityops.domain.model import Channel

S1, S2 = "319901001", "319901002"
G1A, G1B, G2A, G2B = S1 + "00101", S1 + "00201", S2 + "00101", S2 + "00201"
D1, D2 = 1, 2
MAY, JUNE = datetime(2024, 5, 1), datetime(2024, 6, 1)

# (action, "MM-DD HH:MM", department after the event, data)
Step = tuple[str, str, int | None, dict[str, Any]]


def t(stamp: str) -> datetime:
    return datetime.strptime(f"2024-{stamp}", "%Y-%m-%d %H:%M")


def case(case_id: int, street: str, grid: str, inspector: int | None,
         steps: list[Step]) -> CaseFacts:
    dims = CaseDims(case_id, t(steps[0][1]), street, grid, inspector,
                    Channel.INSPECTOR if inspector else Channel.HOTLINE)
    events = [
        LoggedEvent(case_id, seq, action, None, "x", t(at), department_id=dept, data=data)
        for seq, (action, at, dept, data) in enumerate(steps, start=1)
    ]
    return facts_from_log(dims, list(reversed(events)))  # order comes from seq, not the list


OK: dict[str, Any] = {"overdue": False}
LATE: dict[str, Any] = {"overdue": True}

CASES = [
    # 1: on time everywhere, rated 4.
    case(1, S1, G1A, 7, [
        ("submit", "05-01 09:00", None, {}), ("accept", "05-01 09:10", None, OK),
        ("verify", "05-01 09:30", None, OK), ("open", "05-01 09:40", None, {}),
        ("dispatch", "05-01 10:00", D1, OK), ("start", "05-01 10:30", D1, {}),
        ("complete", "05-01 14:00", D1, OK), ("check_pass", "05-01 15:00", D1, OK),
        ("close", "05-01 16:00", D1, OK), ("rate", "05-02 09:00", D1, {"rating": 4}),
    ]),
    # 2: handled late (sweeper overdue, late complete, late close), rated 2.
    case(2, S1, G1A, 7, [
        ("submit", "05-02 09:00", None, {}), ("open", "05-02 10:00", None, {}),
        ("dispatch", "05-02 11:00", D1, OK), ("start", "05-02 12:00", D1, {}),
        ("overdue", "05-03 11:00", D1, {"stage": "handle"}),
        ("complete", "05-04 11:00", D1, LATE), ("check_pass", "05-04 12:00", D1, OK),
        ("close", "05-04 15:00", D1, LATE), ("rate", "05-05 09:00", D1, {"rating": 2}),
    ]),
    # 3: urgent, D1 returns it, dispatched again to D2.
    case(3, S2, G2A, 8, [
        ("submit", "05-03 09:00", None, {}), ("fast_track", "05-03 09:05", None, {}),
        ("dispatch", "05-03 09:30", D1, OK), ("return", "05-03 10:30", None, {}),
        ("dispatch", "05-03 11:00", D2, OK), ("start", "05-03 11:30", D2, {}),
        ("complete", "05-03 17:00", D2, OK), ("check_pass", "05-03 17:30", D2, OK),
        ("close", "05-03 18:00", D2, OK),
    ]),
    # 4: hotline case (no inspector), reworked once.
    case(4, S2, G2A, None, [
        ("submit", "05-05 09:00", None, {}), ("open", "05-05 09:30", None, {}),
        ("dispatch", "05-05 10:00", D2, OK), ("start", "05-05 10:10", D2, {}),
        ("complete", "05-05 12:00", D2, OK), ("check_fail", "05-05 13:00", D2, OK),
        ("complete", "05-05 16:00", D2, OK), ("check_pass", "05-05 16:30", D2, OK),
        ("close", "05-05 17:00", D2, OK),
    ]),
    # 5: invalidated at acceptance.
    case(5, S1, G1B, 8, [
        ("submit", "05-06 09:00", None, {}), ("invalidate", "05-06 09:20", None, {}),
    ]),
    # 6: reported in April, redispatched D1 → D2 in May, extended, closed in June.
    case(6, S2, G2B, 7, [
        ("submit", "04-28 09:00", None, {}), ("open", "04-28 10:00", None, {}),
        ("dispatch", "04-28 11:00", D1, OK), ("redispatch", "05-02 09:00", D2, {}),
        ("start", "05-02 10:00", D2, {}), ("request_extension", "05-03 09:00", D2, {}),
        ("approve_extension", "05-03 12:00", D2, {}),
        ("complete", "05-10 10:00", D2, OK), ("check_pass", "05-10 11:00", D2, OK),
        ("close", "06-02 10:00", D2, OK),
    ]),
]


def rows_by_key(dimension: Dimension, start: datetime = MAY,
                end: datetime = JUNE) -> dict[str, EvaluationRow]:
    return {row.key: row for row in evaluate(CASES, dimension, start, end)}


def assert_metrics(row: EvaluationRow, expected: dict[str, float | int | None]) -> None:
    assert set(row.metrics) == set(METRIC_KEYS)
    for key, value in expected.items():
        assert row.metrics[key] == (value if value is None else pytest.approx(value)), key


def test_by_department() -> None:
    rows = evaluate(CASES, Dimension.DEPARTMENT, MAY, JUNE)
    assert [r.key for r in rows] == ["2", "1"]  # sorted by score
    d2, d1 = rows
    assert_metrics(d1, {
        "reported": 0, "opened": 0, "invalid": 0, "dispatched": 3, "handled": 2,
        "returned": 1, "reworked": 0, "closed": 2, "close_rate": 2 / 3,
        "on_time_close_rate": 0.5, "on_time_handle_rate": 0.5, "rework_rate": 0.0,
        "return_rate": 1 / 3, "overdue": 1, "extended": 0,
        "mean_handle_hours": 26.0, "median_handle_hours": 26.0, "satisfaction": 0.5,
    })
    # A department's close_rate is closed ÷ dispatched (立案 precedes dispatch).
    assert d1.score == pytest.approx(100 * (0.35 * 0.5 + 0.25 * (2 / 3) + 0.15 * 1
                                            + 0.10 * (2 / 3) + 0.15 * 0.5))
    assert_metrics(d2, {
        "reported": 0, "opened": 0, "dispatched": 3, "handled": 4, "returned": 0,
        "reworked": 1, "closed": 2, "close_rate": 2 / 3, "on_time_close_rate": 1.0,
        "on_time_handle_rate": 1.0, "rework_rate": 0.25, "return_rate": 0.0, "overdue": 0,
        "extended": 1, "mean_handle_hours": (6 + 2 + 6 + 193) / 4,
        "median_handle_hours": 6.0, "satisfaction": None,
    })
    assert d2.score == pytest.approx(100 * (0.35 * 1 + 0.25 * (2 / 3) + 0.15 * 0.75 + 0.10 * 1
                                            + 0.15 * 1))


def test_by_street() -> None:
    rows = evaluate(CASES, Dimension.STREET, MAY, JUNE)
    assert [r.key for r in rows] == [S2, S1]
    s2, s1 = rows
    assert_metrics(s1, {
        "reported": 3, "opened": 2, "invalid": 1, "dispatched": 2, "handled": 2,
        "returned": 0, "reworked": 0, "closed": 2, "close_rate": 1.0,
        "on_time_close_rate": 0.5, "on_time_handle_rate": 0.5, "rework_rate": 0.0,
        "return_rate": 0.0, "overdue": 1, "extended": 0, "mean_handle_hours": 26.0,
        "median_handle_hours": 26.0, "satisfaction": 0.5,
    })
    assert s1.score == pytest.approx(75.0)
    assert_metrics(s2, {
        "reported": 2, "opened": 2, "invalid": 0, "dispatched": 4, "handled": 4,
        "returned": 1, "reworked": 1, "closed": 2, "close_rate": 1.0,
        "on_time_close_rate": 1.0, "on_time_handle_rate": 1.0, "rework_rate": 0.25,
        "return_rate": 0.25, "overdue": 0, "extended": 1,
        "mean_handle_hours": 51.75, "median_handle_hours": 6.0, "satisfaction": None,
    })
    assert s2.score == pytest.approx(93.75)


def test_by_grid_and_inspector() -> None:
    grids = rows_by_key(Dimension.GRID)
    assert set(grids) == {G1A, G1B, G2A, G2B}
    assert grids[G1B].metrics["invalid"] == 1 and grids[G1B].score is None
    assert grids[G2A].metrics["reported"] == 2 and grids[G2A].metrics["reworked"] == 1
    inspectors = rows_by_key(Dimension.INSPECTOR)
    assert set(inspectors) == {"7", "8"}  # case 4 came from the hotline
    assert_metrics(inspectors["7"], {
        "reported": 2, "opened": 2, "dispatched": 3, "closed": 2, "overdue": 1,
        "extended": 1, "satisfaction": 0.5,
    })
    assert_metrics(inspectors["8"], {
        "reported": 2, "opened": 1, "invalid": 1, "dispatched": 2, "returned": 1,
        "return_rate": 0.5, "closed": 1, "close_rate": 1.0,
    })


def test_events_count_by_their_own_time() -> None:
    june = rows_by_key(Dimension.STREET, JUNE, datetime(2024, 7, 1))
    assert set(june) == {S2}
    # Case 6 closes in June: a close without an opening in the period → close_rate None.
    assert_metrics(june[S2], {
        "reported": 0, "opened": 0, "closed": 1, "close_rate": None,
        "on_time_close_rate": 1.0, "on_time_handle_rate": None, "return_rate": None,
        "mean_handle_hours": None, "satisfaction": None,
    })
    assert june[S2].score == pytest.approx(100.0)  # only on_time_close_rate remains
    first_days = rows_by_key(Dimension.DEPARTMENT, MAY, datetime(2024, 5, 3))
    assert first_days["1"].metrics["dispatched"] == 2  # case 3's dispatch is on 05-03
    assert first_days["2"].metrics["dispatched"] == 1  # case 6's redispatch on 05-02
    assert rows_by_key(Dimension.STREET, datetime(2023, 1, 1), datetime(2023, 2, 1)) == {}


def test_zero_denominators_are_none_and_all_none_score_is_none() -> None:
    metrics: dict[str, float | int | None] = dict.fromkeys(METRIC_KEYS, None)
    assert composite_score(metrics) is None
    row = rows_by_key(Dimension.GRID)[G1B]
    for key in ("close_rate", "on_time_close_rate", "on_time_handle_rate", "rework_rate",
                "return_rate", "mean_handle_hours", "median_handle_hours", "satisfaction"):
        assert row.metrics[key] is None, key


def test_weights_renormalise_and_validate() -> None:
    only_two = ScoreWeights(on_time_handle_rate=3, close_rate=0, rework_rate=0, return_rate=0,
                            on_time_close_rate=0, satisfaction=1)
    d1 = {r.key: r for r in evaluate(CASES, Dimension.DEPARTMENT, MAY, JUNE, only_two)}["1"]
    assert d1.score == pytest.approx(100 * (3 * 0.5 + 1 * 0.5) / 4)
    d2 = {r.key: r for r in evaluate(CASES, Dimension.DEPARTMENT, MAY, JUNE, only_two)}["2"]
    assert d2.score == pytest.approx(100.0)  # satisfaction None: on-time handling alone
    assert composite_score({"rework_rate": 0.25, "return_rate": 1.0}) == pytest.approx(
        100 * 0.15 * 0.75 / 0.25)
    with pytest.raises(ValidationFailed):
        ScoreWeights(on_time_handle_rate=-1)
    with pytest.raises(ValidationFailed):
        ScoreWeights(0, 0, 0, 0, 0, 0)
    with pytest.raises(ValidationFailed):
        evaluate(CASES, Dimension.STREET, JUNE, MAY)


def test_csv_header_and_row() -> None:
    rows = evaluate(CASES, Dimension.STREET, MAY, JUNE)
    parsed = list(csv.reader(io.StringIO(rows_to_csv(rows, Dimension.STREET))))
    header = parsed[0]
    assert header[0] == "街道 (street)"
    assert header[1:4] == ["上报数 (reported)", "立案数 (opened)", "作废数 (invalid)"]
    assert "结案率 (close_rate)" in header and header[-1] == "综合评分 (score)"
    assert len(parsed) == 3
    s1 = dict(zip(header, parsed[2], strict=True))
    assert s1["街道 (street)"] == S1
    assert s1["上报数 (reported)"] == "3"
    assert s1["按期处置率 (on_time_handle_rate)"] == "0.5000"
    assert s1["满意率 (satisfaction)"] == "0.5000"
    assert s1["综合评分 (score)"] == "75.00"
    s2 = dict(zip(header, parsed[1], strict=True))
    assert s2["满意率 (satisfaction)"] == ""  # None → empty cell


def test_formulas_describe_every_metric() -> None:
    assert set(METRIC_KEYS) | {"score"} == set(FORMULAS)
    assert all(f.label_zh and f.label_en and f.formula_text for f in FORMULAS.values())


def test_log_of_another_case_is_rejected() -> None:
    dims = CaseDims(1, MAY, S1, None, None, Channel.HOTLINE)
    with pytest.raises(ValidationFailed):
        facts_from_log(dims, [LoggedEvent(2, 1, "submit", None, "reported", MAY)])


def test_a_merged_case_withdraws_its_own_opening() -> None:
    merged = case(9, S1, G1A, 7, [
        ("submit", "05-07 09:00", None, {}), ("open", "05-07 09:30", None, {}),
        ("merge", "05-07 10:00", None, {"into": "x"}),
    ])  # fmt: skip
    kept = case(10, S1, G1A, None, [
        ("submit", "05-07 09:00", None, {}), ("open", "05-07 09:30", None, {}),
    ])  # fmt: skip
    [row] = evaluate([merged, kept], Dimension.STREET, MAY, JUNE)
    assert row.metrics["reported"] == 2 and row.metrics["opened"] == 1
