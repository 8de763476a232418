from __future__ import annotations

from datetime import datetime, time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cityops.domain.errors import ImportRejected, NotFound, ValidationFailed
from cityops.domain.routing import (
    ResponsibilityRule,
    RuleIndex,
    RuleSet,
    TimeWindow,
    ancestors_or_self,
    category_rank,
    check_rules,
    pick_version,
    resolve,
)

CITY = "319900"
DISTRICT = "319901"
STREET = "319901001"
COMMUNITY = "319901001002"
GRID = "31990100100203"
NIGHT = TimeWindow(time(22), time(6))
DAY = TimeWindow(time(8), time(18))
DAYTIME = TimeWindow(time(6), time(22))


def rule(category: str, area: str, dept: str, window: TimeWindow | None = None,
         id: int | None = None) -> ResponsibilityRule:
    return ResponsibilityRule(category, area, dept, window, id)


def test_ancestors_of_a_grid_end_at_the_city() -> None:
    assert ancestors_or_self(GRID) == [GRID, COMMUNITY, STREET, DISTRICT, CITY]
    assert ancestors_or_self(DISTRICT) == [DISTRICT, CITY]
    assert ancestors_or_self(CITY) == [CITY]
    # A street directly under the city must not list the city twice.
    assert ancestors_or_self("319900007") == ["319900007", CITY]


@pytest.mark.parametrize("code", ["31990", "3199010011", "31990a", "３１９９００"])
def test_ancestors_reject_malformed_codes(code: str) -> None:
    with pytest.raises(ValidationFailed):
        ancestors_or_self(code)


# Each rule is more specific than the next; the more specific must win when both match.
LADDER = [
    rule("E0105", GRID, "grid+sub+window", DAY),
    rule("E0105", GRID, "grid+sub"),
    rule("E01", GRID, "grid+major"),
    rule("*", GRID, "grid+any"),
    rule("*", COMMUNITY, "community"),
    rule("E0105", STREET, "street+sub"),
    rule("*", STREET, "street+any"),
    rule("E0105", DISTRICT, "district+sub"),
    rule("E0105", CITY, "city+sub+window", DAY),
    rule("E0105", CITY, "city+sub"),
]


@pytest.mark.parametrize("i", range(len(LADDER) - 1))
def test_each_level_beats_the_next(i: int) -> None:
    pair = [LADDER[i + 1], LADDER[i]]  # less specific first: order in the list must not matter
    check_rules(pair)
    routing = resolve(pair, "E0105", GRID, time(9))
    assert routing is not None
    assert routing.department == LADDER[i].department
    assert routing.candidates_considered == 2


def test_whole_ladder_picks_the_grid_window_rule_by_day_and_falls_back_by_night() -> None:
    index = RuleIndex(reversed(LADDER))
    day = index.resolve("E0105", GRID, time(9))
    night = index.resolve("E0105", GRID, time(23))
    assert day is not None and day.department == "grid+sub+window"
    assert night is not None and night.department == "grid+sub"
    other_grid = index.resolve("E0105", "31990100100299", time(9))
    assert other_grid is not None and other_grid.department == "community"


@pytest.mark.parametrize(
    ("t", "inside"),
    [(time(22), True), (time(23, 59, 59), True), (time(0), True), (time(5, 59), True),
     (time(6), False), (time(12), False), (time(21, 59), False)],
)
def test_window_wraps_midnight(t: time, inside: bool) -> None:
    assert NIGHT.wraps
    assert NIGHT.contains(t) is inside
    rules = [rule("E0105", STREET, "night", NIGHT), rule("E0105", STREET, "all-day")]
    routing = resolve(rules, "E0105", GRID, t)
    assert routing is not None
    assert routing.department == ("night" if inside else "all-day")


def test_conflict_names_both_rules() -> None:
    rules = [
        rule("E0105", STREET, "城管中队", id=3),
        rule("E0105", DISTRICT, "区城管局", id=4),
        rule("E0105", STREET, "街道办", id=7),
    ]
    with pytest.raises(ImportRejected) as caught:
        check_rules(rules)
    [problem] = caught.value.problems
    text = problem.item + problem.reason
    assert "rule 3 (E0105 @ 319901001 → 城管中队)" in text
    assert "rule 7 (E0105 @ 319901001 → 街道办)" in text


def test_overlapping_windows_conflict_and_positions_name_rules_without_id() -> None:
    rules = [
        rule("E01", STREET, "A", TimeWindow(time(20), time(2))),
        rule("E01", STREET, "B", TimeWindow(time(1), time(8))),
    ]
    with pytest.raises(ImportRejected) as caught:
        check_rules(rules)
    [problem] = caught.value.problems
    assert problem.item == "rule 1 (E01 @ 319901001 20:00–02:00 → A)"
    assert "rule 2 (E01 @ 319901001 01:00–08:00 → B)" in problem.reason


@pytest.mark.parametrize(
    "rules",
    [
        # Window-less + windowed: the windowed one is more specific.
        [rule("E0105", STREET, "A"), rule("E0105", STREET, "B", NIGHT)],
        # Touching windows ([22,6) and [6,22)) do not overlap.
        [rule("E0105", STREET, "A", NIGHT), rule("E0105", STREET, "B", DAYTIME)],
        # Same category, different area; same area, different category.
        [rule("E0105", STREET, "A"), rule("E0105", DISTRICT, "B")],
        [rule("E0105", STREET, "A"), rule("E01", STREET, "B"), rule("*", STREET, "C")],
    ],
)
def test_non_conflicts(rules: list[ResponsibilityRule]) -> None:
    check_rules(rules)


def test_malformed_rules_are_reported() -> None:
    rules = [
        rule("e0105", STREET, "A"),
        rule("E0105", "31990100", "B"),
        rule("E0105", STREET, " "),
        rule("E0105", GRID, "C", TimeWindow(time(8), time(8))),
    ]
    with pytest.raises(ImportRejected) as caught:
        check_rules(rules)
    reasons = [(p.item.split(" (")[0], p.reason) for p in caught.value.problems]
    assert [item for item, _ in reasons] == ["rule 1", "rule 2", "rule 3", "rule 4"]
    assert "category" in reasons[0][1] and "area" in reasons[1][1]
    assert "department" in reasons[2][1] and "window" in reasons[3][1]


def test_no_match_is_none() -> None:
    rules = [rule("E0105", STREET, "A"), rule("C01", CITY, "B")]
    assert resolve(rules, "E0201", GRID, time(9)) is None
    assert resolve(rules, "E0105", "319902001", time(9)) is None
    assert resolve([rule("E0105", STREET, "A", DAY)], "E0105", STREET, time(20)) is None


def test_explanation_names_rule_department_and_the_beaten_rule() -> None:
    rules = [rule("E0105", DISTRICT, "D-QU-01", id=5), rule("E0105", STREET, "D-CG-01", id=12)]
    routing = resolve(rules, "E0105", "319901001002", time(9))
    assert routing is not None
    assert routing.rule.id == 12
    assert "规则 #12" in routing.explanation and "rule #12" in routing.explanation
    assert "D-CG-01" in routing.explanation
    assert "街道级" in routing.explanation and "区级规则 #5" in routing.explanation
    assert "rule #5" in routing.explanation


def test_explanation_for_a_lone_major_rule() -> None:
    routing = resolve([rule("E01", STREET, "D1")], "E0105", STREET, time(9))
    assert routing is not None
    assert "大类 E01" in routing.explanation and "only matching rule" in routing.explanation


def test_pick_version() -> None:
    v1 = RuleSet("v1", datetime(2024, 1, 1), ())
    v2 = RuleSet("v2", datetime(2024, 6, 1), (rule("E0105", STREET, "A"),))
    v3 = RuleSet("v3", datetime(2025, 1, 1), ())
    sets = [v3, v1, v2]
    assert pick_version(sets, datetime(2024, 6, 1)) is v2
    assert pick_version(sets, datetime(2024, 5, 31, 23, 59)) is v1
    assert pick_version(sets, datetime(2030, 1, 1)) is v3
    with pytest.raises(NotFound):
        pick_version(sets, datetime(2023, 12, 31))
    routing = v2.resolve("E0105", GRID, time(9))
    assert routing is not None and routing.department == "A"


# --- property: the resolved rule matches, and no matching rule is strictly more specific ---

AREAS = [CITY, DISTRICT, "319902", STREET, "319901002", "319902001", COMMUNITY,
         "319901001001", GRID, "31990100100201", "31990100100101"]
CATEGORIES = ["*", "E01", "E02", "C01", "E0105", "E0106", "E0201", "C0101"]
WINDOWS = st.one_of(
    st.none(),
    st.tuples(st.integers(0, 23), st.integers(0, 23))
    .filter(lambda se: se[0] != se[1])
    .map(lambda se: TimeWindow(time(se[0]), time(se[1]))),
)
RULES = st.lists(
    st.builds(ResponsibilityRule, st.sampled_from(CATEGORIES), st.sampled_from(AREAS),
              st.sampled_from(["D1", "D2", "D3"]), WINDOWS),
    max_size=40,
)


def _hours(w: TimeWindow) -> set[int]:
    # An independent oracle: whole-hour windows as sets of hours.
    s, e = w.start.hour, w.end.hour
    return set(range(s, e)) if s < e else set(range(s, 24)) | set(range(e))


def _oracle_conflict(a: ResponsibilityRule, b: ResponsibilityRule) -> bool:
    if (a.area, a.category) != (b.area, b.category):
        return False
    if a.window is None or b.window is None:
        return a.window is None and b.window is None
    return bool(_hours(a.window) & _hours(b.window))


def _matches(r: ResponsibilityRule, category: str, region: str, t: time) -> bool:
    region_ok = r.area == region or region.startswith(r.area) or (
        r.area.endswith("00") and len(r.area) == 6 and region.startswith(r.area[:4])
    )
    cat_ok = r.category in ("*", category, category[:3])
    return region_ok and cat_ok and (r.window is None or t.hour in _hours(r.window))


@settings(max_examples=300, deadline=None)
@given(
    RULES,
    st.sampled_from(CATEGORIES[4:]),
    st.sampled_from(AREAS),
    st.integers(0, 23).map(lambda h: time(h, 30)),
)
def test_resolve_returns_a_most_specific_match(
    candidates: list[ResponsibilityRule], category: str, region: str, t: time
) -> None:
    kept: list[ResponsibilityRule] = []
    for r in candidates:
        if not any(_oracle_conflict(r, k) for k in kept):
            kept.append(r)
    check_rules(kept)
    routing = resolve(kept, category, region, t)
    matching = [r for r in kept if _matches(r, category, region, t)]
    if not matching:
        assert routing is None
        return
    assert routing is not None
    assert _matches(routing.rule, category, region, t)
    assert routing.rule.area in ancestors_or_self(region)
    best = routing.rule.specificity()
    assert not any(r.specificity() > best for r in matching)
    assert category_rank(routing.rule.category) is not None
