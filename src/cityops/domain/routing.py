"""The responsibility list (事项责任清单): which department handles a category where, and when.

Rules match by specificity, not by their order in the file, so an admin can add a narrow
exception (one grid, a night shift) without re-sorting the list. Specificity is area depth
first (grid > community > street > district > city), then category (subclass > major > "*"),
then a rule with a time window beats an all-day rule.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, time
from functools import cached_property

from cityops.domain.errors import ImportProblem, ImportRejected, NotFound, ValidationFailed
from cityops.domain.model import REGION_DEPTH, RegionLevel

ANY_CATEGORY = "*"

# [0-9], not \d: \d also matches full-width and other Unicode digits.
_SUBCLASS = re.compile(r"[A-Z][0-9]{4}")
_MAJOR = re.compile(r"[A-Z][0-9]{2}")
_AREA = re.compile(r"[0-9]{6}|[0-9]{9}|[0-9]{12}|[0-9]{14}")
_LEVEL_BY_LENGTH = {9: RegionLevel.STREET, 12: RegionLevel.COMMUNITY, 14: RegionLevel.GRID}

_LEVEL_ZH = {
    RegionLevel.CITY: "市级",
    RegionLevel.DISTRICT: "区级",
    RegionLevel.STREET: "街道级",
    RegionLevel.COMMUNITY: "社区级",
    RegionLevel.GRID: "网格级",
}
_RANK_ZH = {2: "小类", 1: "大类", 0: "任意事项"}
_RANK_EN = {2: "subclass", 1: "major class", 0: "any category"}


def area_level(code: str) -> RegionLevel:
    """The level of a region code; a 6-digit code ending in "00" is a city, else a district."""
    if not _AREA.fullmatch(code):
        raise ValidationFailed(
            f"区域编码格式错误 / bad region code {code!r}: expected 6, 9, 12 or 14 digits",
            value=code,
        )
    if len(code) == 6:
        return RegionLevel.CITY if code.endswith("00") else RegionLevel.DISTRICT
    return _LEVEL_BY_LENGTH[len(code)]


def ancestors_or_self(code: str) -> list[str]:
    """The code and every region containing it, most specific first, ending with the city.

    Codes nest by prefix, except the city "XXXX00", whose districts share only 4 digits.
    """
    area_level(code)  # validates
    chain = [code[:n] for n in (14, 12, 9, 6) if n <= len(code)]
    city = code[:4] + "00"
    if chain[-1] != city:  # a street directly under the city already ends with it
        chain.append(city)
    return chain


def category_rank(category: str) -> int | None:
    """2 for a subclass key, 1 for a major key, 0 for "*", None when malformed."""
    if category == ANY_CATEGORY:
        return 0
    if _SUBCLASS.fullmatch(category):
        return 2
    if _MAJOR.fullmatch(category):
        return 1
    return None


def category_chain(category_key: str) -> list[str]:
    """The keys a rule may name to cover ``category_key``, most specific first."""
    rank = category_rank(category_key)
    if rank is None:
        raise ValidationFailed(
            f"事项编码格式错误 / bad category key {category_key!r}", value=category_key
        )
    if rank == 2:
        return [category_key, category_key[:3], ANY_CATEGORY]
    return [category_key, ANY_CATEGORY] if rank == 1 else [ANY_CATEGORY]


def _micros(t: time) -> int:
    # Local wall-clock time; any tzinfo is ignored on purpose (the list is in city time).
    return ((t.hour * 60 + t.minute) * 60 + t.second) * 1_000_000 + t.microsecond


_DAY = 24 * 3600 * 1_000_000


@dataclass(frozen=True, slots=True)
class TimeWindow:
    """[start, end) in the city's local time; start > end wraps midnight (22:00–06:00)."""

    start: time
    end: time

    @property
    def wraps(self) -> bool:
        return _micros(self.start) > _micros(self.end)

    def contains(self, t: time) -> bool:
        s, e, x = _micros(self.start), _micros(self.end), _micros(t)
        return (x >= s or x < e) if s > e else s <= x < e

    def spans(self) -> tuple[tuple[int, int], ...]:
        """Non-wrapping half-open microsecond spans of the day (empty when start == end)."""
        s, e = _micros(self.start), _micros(self.end)
        if s > e:
            return ((s, _DAY), (0, e))
        return ((s, e),) if s < e else ()

    def overlaps(self, other: TimeWindow) -> bool:
        return any(a < d and c < b for a, b in self.spans() for c, d in other.spans())

    def __str__(self) -> str:
        return f"{self.start.strftime('%H:%M')}–{self.end.strftime('%H:%M')}"


@dataclass(frozen=True, slots=True)
class ResponsibilityRule:
    category: str  # subclass "E0105", major "E01" or "*"
    area: str  # region code of any level
    department: str
    window: TimeWindow | None = None
    id: int | None = None

    def specificity(self) -> tuple[int, int, int]:
        """Sort key: higher is more specific (area depth, category rank, has window)."""
        return (
            REGION_DEPTH[area_level(self.area)],
            category_rank(self.category) or 0,
            int(self.window is not None),
        )

    def label(self, position: int) -> str:
        """How problems and explanations name the rule: by id, else by 1-based position."""
        window = f" {self.window}" if self.window else ""
        ref = self.id if self.id is not None else position
        return f"rule {ref} ({self.category} @ {self.area}{window} → {self.department})"


@dataclass(frozen=True)
class RuleSet:
    """One published version of the list; ``index`` is built once per version and cached."""

    version: str
    effective_from: datetime
    rules: tuple[ResponsibilityRule, ...]

    @cached_property
    def index(self) -> RuleIndex:
        return RuleIndex(self.rules)

    def resolve(self, category_key: str, region_code: str, local_time: time) -> Routing | None:
        return self.index.resolve(category_key, region_code, local_time)


@dataclass(frozen=True, slots=True)
class Routing:
    rule: ResponsibilityRule
    department: str
    explanation: str
    candidates_considered: int  # rules whose area and category apply, before the window test


def _conflicts(a: ResponsibilityRule, b: ResponsibilityRule) -> bool:
    # Callers only compare rules of the same area and category.
    if a.window is None or b.window is None:
        return a.window is None and b.window is None  # a windowed rule is more specific
    return a.window.overlaps(b.window)


def check_rules(rules: Iterable[ResponsibilityRule]) -> None:
    """Reject the whole list if any rule is malformed or two rules claim the same case."""
    problems: list[ImportProblem] = []
    groups: dict[tuple[str, str], list[tuple[int, ResponsibilityRule]]] = defaultdict(list)
    seen_ids: dict[int, str] = {}
    for pos, rule in enumerate(rules, start=1):
        name = rule.label(pos)
        if category_rank(rule.category) is None:
            problems.append(ImportProblem(name, (
                f"事项编码格式错误 {rule.category!r}（应为小类如 E0105、大类如 E01 或 *）"
                " / malformed category key: expected a subclass (E0105), a major (E01) or *"
            )))
        if not _AREA.fullmatch(rule.area):
            problems.append(ImportProblem(name, (
                f"区域编码格式错误 {rule.area!r}（应为 6/9/12/14 位数字）"
                " / malformed area code: expected 6, 9, 12 or 14 digits"
            )))
        if not rule.department.strip():
            problems.append(ImportProblem(name, "缺少处置部门 / department is missing"))
        if rule.window is not None and not rule.window.spans():
            problems.append(ImportProblem(
                name, "时段起止相同，时段为空 / empty time window: start equals end"
            ))
        if rule.id is not None:
            if rule.id in seen_ids:
                problems.append(ImportProblem(
                    name, f"规则编号与 {seen_ids[rule.id]} 重复 / duplicate rule id"
                ))
            seen_ids.setdefault(rule.id, name)
        groups[(rule.area, rule.category)].append((pos, rule))
    for members in groups.values():
        for i, (pos_a, a) in enumerate(members):
            for pos_b, b in members[i + 1 :]:
                if _conflicts(a, b):
                    problems.append(ImportProblem(a.label(pos_a), (
                        f"与 {b.label(pos_b)} 冲突：同一区域、同一事项且时段重叠"
                        f" / conflicts with {b.label(pos_b)}:"
                        " same area, same category and overlapping time windows"
                    )))
    if problems:
        raise ImportRejected(
            f"责任清单有 {len(problems)} 个问题，未导入 / the responsibility list has "
            f"{len(problems)} problem(s); nothing was imported",
            problems,
        )


_Entry = tuple[int, ResponsibilityRule]  # (1-based position in the list, rule)


class RuleIndex:
    """Rules bucketed by (area, category): a lookup touches at most 5 areas × 3 categories."""

    __slots__ = ("_buckets",)

    def __init__(self, rules: Iterable[ResponsibilityRule]) -> None:
        buckets: dict[tuple[str, str], list[_Entry]] = defaultdict(list)
        for pos, rule in enumerate(rules, start=1):
            buckets[(rule.area, rule.category)].append((pos, rule))
        # Windowed rules first: within a bucket they are the more specific ones.
        self._buckets = {
            key: tuple(sorted(entries, key=lambda e: e[1].window is None))
            for key, entries in buckets.items()
        }

    def resolve(self, category_key: str, region_code: str, local_time: time) -> Routing | None:
        areas = ancestors_or_self(region_code)
        categories = category_chain(category_key)
        considered = 0
        matches: list[_Entry] = []
        # Loop order is the specificity order, so the first match is the most specific.
        for area in areas:
            for category in categories:
                for entry in self._buckets.get((area, category), ()):
                    considered += 1
                    window = entry[1].window
                    if window is None or window.contains(local_time):
                        matches.append(entry)
        if not matches:
            return None
        best = matches[0]
        runner_up = matches[1] if len(matches) > 1 else None
        return Routing(
            rule=best[1],
            department=best[1].department,
            explanation=_explain(best, runner_up, category_key, region_code),
            candidates_considered=considered,
        )


def resolve(
    rules: Iterable[ResponsibilityRule], category_key: str, region_code: str, local_time: time
) -> Routing | None:
    """One-off lookup; build a ``RuleIndex`` (or use ``RuleSet.index``) for repeated calls."""
    return RuleIndex(rules).resolve(category_key, region_code, local_time)


def _ref(entry: _Entry) -> str:
    return f"#{entry[1].id if entry[1].id is not None else entry[0]}"


def _explain(best: _Entry, runner_up: _Entry | None, category_key: str, region: str) -> str:
    rule = best[1]
    level = area_level(rule.area)
    rank = category_rank(rule.category) or 0
    cat_zh = f"事项 {category_key}" + (
        "" if rank == 2 else f"（按{_RANK_ZH[rank]} {rule.category}）"
    )
    cat_en = f"category {category_key}" + (
        "" if rank == 2 else f" (via {_RANK_EN[rank]} {rule.category})"
    )
    where_zh = f"在 {region}" + ("" if region == rule.area else f" 所属的 {rule.area}")
    where_en = f"in {region}" + ("" if region == rule.area else f" within {rule.area}")
    win_zh = f"，时段 {rule.window}" if rule.window else ""
    win_en = f", window {rule.window}" if rule.window else ""
    if runner_up is None:
        why_zh, why_en = "唯一匹配的规则", "the only matching rule"
    else:
        other = runner_up[1]
        other_level = area_level(other.area)
        if other_level != level:
            why_zh = f"比{_LEVEL_ZH[other_level]}规则 {_ref(runner_up)} 更具体（区域更细）"
            why_en = f"more specific than {other_level} rule {_ref(runner_up)} (narrower area)"
        elif other.category != rule.category:
            other_rank = category_rank(other.category) or 0
            why_zh = f"比同区域的{_RANK_ZH[other_rank]}规则 {_ref(runner_up)} 更具体（事项更细）"
            why_en = (
                f"more specific than the {_RANK_EN[other_rank]} rule {_ref(runner_up)} "
                "of the same area (narrower category)"
            )
        else:
            why_zh = f"时段规则优先于同区域同事项的全天规则 {_ref(runner_up)}"
            why_en = f"a time-window rule beats the all-day rule {_ref(runner_up)}"
    return (
        f"按责任清单规则 {_ref(best)}：{cat_zh} {where_zh}（{_LEVEL_ZH[level]}）{win_zh}"
        f" → 部门 {rule.department}；{why_zh} / rule {_ref(best)}: {cat_en} {where_en}"
        f" ({level} level){win_en} → department {rule.department}; {why_en}"
    )


def pick_version(rulesets: Iterable[RuleSet], at: datetime) -> RuleSet:
    """The version in force at ``at``: latest effective_from ≤ at; on a tie the later one given."""
    best: RuleSet | None = None
    for ruleset in rulesets:
        if ruleset.effective_from <= at and (
            best is None or ruleset.effective_from >= best.effective_from
        ):
            best = ruleset
    if best is None:
        raise NotFound(
            f"没有在 {at.isoformat()} 生效的责任清单版本 / no responsibility list version "
            f"effective at {at.isoformat()}",
            at=at.isoformat(),
        )
    return best
