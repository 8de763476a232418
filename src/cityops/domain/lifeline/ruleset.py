"""Alarm rules as data (告警规则): graded thresholds, duration, rate of change, repeats, no-data
and coupled rules across adjacent assets; parsed from YAML/JSON with every problem named.

Levels are 1..4 = 蓝/黄/橙/红 (四级/三级/二级/一级, GB/T 29639 style: 一级 is the most
severe). A rule applies to the series of one ``metric`` on assets of ``asset_kinds`` (or the
listed ``assets``); a rule naming assets overrides kind-wide rules of the same type and metric
for those assets. Thresholds may be fractions of an asset attribute (``of_attribute``:
water level against the node's overflow height).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum
from itertools import pairwise
from typing import Any

from cityops.domain.errors import ImportProblem, ImportRejected
from cityops.domain.lifeline.assets import CODE, METRIC, AssetKind

LEVELS: dict[int, tuple[str, str, str]] = {
    1: ("蓝", "四级", "blue"), 2: ("黄", "三级", "yellow"),
    3: ("橙", "二级", "orange"), 4: ("红", "一级", "red"),
}  # fmt: skip
_LEVEL_NAMES = {name: n for n, names in LEVELS.items() for name in names} | {
    f"{names[0]}色": n for n, names in LEVELS.items()
}
MAX_LEVEL = 4
_CATEGORY = re.compile(r"[CE][0-9]{4}")


class RuleKind(StrEnum):
    THRESHOLD = "threshold"  # graded limits, optionally held for for_s
    RATE = "rate"  # change per minute since the previous point, or over over_s (absolute or %)
    REPEAT = "repeat"  # N separate exceedances within window_s
    NO_DATA = "no_data"  # silent for `intervals` sampling intervals (offline)
    COUPLED = "coupled"  # conditions of other rules on the asset and its neighbours


@dataclass(frozen=True, slots=True)
class Term:
    """One condition of a coupled rule: any of ``rules`` at ≥ level, on the asset itself or on
    an adjacent asset (optionally of ``kinds``)."""

    rules: tuple[str, ...]
    level: int
    at: str  # "self" | "adjacent"
    kinds: tuple[AssetKind, ...] = ()


@dataclass(frozen=True, slots=True)
class Rule:
    id: str
    name: str
    kind: RuleKind
    type: str  # the alarm type; one open alarm per (subject, type)
    metric: str | None = None
    asset_kinds: tuple[AssetKind, ...] = ()
    assets: tuple[str, ...] = ()
    scope: str = "asset"  # alarm subject: the asset, or the device
    direction: str = "above"  # above | below
    levels: dict[int, float] = field(default_factory=dict)  # level → limit
    of_attribute: str | None = None  # limits are fractions of this asset attribute
    attribute_default: float | None = None  # when an asset lacks the attribute
    for_s: float = 0.0  # THRESHOLD: held this long before it counts
    relative: bool = False  # RATE: % of the previous value per minute
    over_s: float = 0.0  # RATE: against the value this long ago (0: the previous point)
    count: int = 0  # REPEAT
    window_s: float = 0.0  # REPEAT
    intervals: float = 3.0  # NO_DATA
    level: int = 0  # REPEAT / NO_DATA / COUPLED: the one level they raise
    terms: tuple[Term, ...] = ()  # COUPLED
    within_s: float = 600.0  # COUPLED


@dataclass(frozen=True, slots=True)
class Cleaning:
    window: int = 7  # points of history per series (rolling median + MAD)
    z: float = 6.0  # robust z-score beyond which a lone point is a spike
    min_dev: dict[str, float] = field(default_factory=dict)  # per metric: ignore smaller jumps


@dataclass(frozen=True, slots=True)
class AnomalyConfig:
    enabled: bool = True
    metrics: tuple[str, ...] = ()  # empty: every metric
    z: float = 8.0
    level: int = 1
    alpha: float = 0.05  # EWMA weight per hour-of-day bin
    warmup: int = 12  # points per bin before it scores
    joint_min_series: int = 3  # assets with this many watched series get a joint model (0: off)
    joint_z: float = 3.0  # robust z of the joint model's SPE^(1/3) (subspace.py)
    common_min_series: int = 5  # like series judged against their median movement (0: off)


@dataclass(frozen=True, slots=True)
class CasePolicy:
    """Alarm → case: from ``min_level`` a case in the type's category; from ``plan_level`` the
    emergency plan is attached. Types without a category never open cases."""

    min_level: int = 3
    plan_level: int = 4
    categories: dict[str, str] = field(default_factory=dict)  # alarm type → category key


@dataclass(frozen=True, slots=True)
class RuleSet:
    rules: tuple[Rule, ...]
    cleaning: Cleaning = Cleaning()
    anomaly: AnomalyConfig = AnomalyConfig()
    policy: CasePolicy = CasePolicy()

    def by_id(self, rule_id: str) -> Rule:
        return next(r for r in self.rules if r.id == rule_id)


def level_of(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int) and 1 <= value <= MAX_LEVEL:
        return value
    if isinstance(value, str):
        return _LEVEL_NAMES.get(value.strip().lower()) or (
            int(value) if value.isdigit() and 1 <= int(value) <= MAX_LEVEL else None
        )
    return None


class _Reader:
    """Reads one mapping, collecting problems instead of stopping at the first."""

    def __init__(self, where: str, raw: Any, problems: list[ImportProblem]) -> None:
        self.where, self.problems = where, problems
        self.raw: dict[str, Any] = raw if isinstance(raw, dict) else {}
        if not isinstance(raw, dict):
            self.bad("must be a mapping")

    def bad(self, reason: str) -> None:
        self.problems.append(ImportProblem(self.where, reason))

    def num(self, key: str, default: float, *, minimum: float = 0.0) -> float:
        value = self.raw.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int | float) or value < minimum:
            self.bad(f"{key} must be a number ≥ {minimum:g}")
            return default
        return float(value)

    def text(self, key: str, default: str | None = None) -> str | None:
        value = self.raw.get(key, default)
        if value is not None and (not isinstance(value, str) or not value.strip()):
            self.bad(f"{key} must be a non-empty string")
            return default
        return value

    def names(self, key: str) -> tuple[str, ...]:
        value = self.raw.get(key, [])
        value = [value] if isinstance(value, str) else value
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            self.bad(f"{key} must be a list of strings")
            return ()
        return tuple(value)

    def kinds(self, key: str) -> tuple[AssetKind, ...]:
        out = []
        for name in self.names(key):
            try:
                out.append(AssetKind(name))
            except ValueError:
                self.bad(f"{key}: unknown asset kind {name!r} (one of "
                         f"{', '.join(k.value for k in AssetKind)})")  # fmt: skip
        return tuple(out)

    def level(self, key: str) -> int:
        found = level_of(self.raw.get(key))
        if found is None:
            self.bad(f"{key} must be a level 1–4 or 蓝/黄/橙/红, got {self.raw.get(key)!r}")
            return 1
        return found


def _levels(r: _Reader, direction: str) -> dict[int, float]:
    raw = r.raw.get("levels")
    if not isinstance(raw, dict) or not raw:
        r.bad("levels must map levels (1–4 or 蓝/黄/橙/红) to limits")
        return {}
    out: dict[int, float] = {}
    for key, limit in raw.items():
        lvl = level_of(key)
        if lvl is None or isinstance(limit, bool) or not isinstance(limit, int | float):
            r.bad(f"levels: {key!r}: {limit!r} is not a level with a numeric limit")
        elif lvl in out:
            r.bad(f"levels: level {lvl} given twice")
        else:
            out[lvl] = float(limit)
    limits = [out[k] for k in sorted(out)]
    rising = all(a < b for a, b in pairwise(limits))
    falling = all(a > b for a, b in pairwise(limits))
    if (direction == "above" and not rising) or (direction == "below" and not falling):
        r.bad(f"levels must get stricter with the level ({direction}: limits must "
              f"{'rise' if direction == 'above' else 'fall'} from 蓝 to 红)")  # fmt: skip
    return out


def _terms(r: _Reader) -> tuple[Term, ...]:
    raw = r.raw.get("when")
    if not isinstance(raw, list) or len(raw) < 2:
        r.bad("when must list at least two conditions")
        return ()
    terms = []
    for j, item in enumerate(raw):
        t = _Reader(f"{r.where}.when[{j}]", item, r.problems)
        at = t.text("at", "self")
        if at not in ("self", "adjacent"):
            t.bad("at must be self or adjacent")
        rules = t.names("rule")
        if not rules:
            t.bad("rule must name one rule id or a list of them")
        terms.append(Term(rules, t.level("level") if "level" in t.raw else 1, at or "self",
                          t.kinds("kinds")))  # fmt: skip
    return tuple(terms)


def _rule(i: int, raw: Any, problems: list[ImportProblem]) -> Rule | None:
    r = _Reader(f"rules[{i}]", raw, problems)
    before = len(problems)
    rid = r.text("id") or ""
    r.where = f"rules[{i}] {rid}".strip()
    if not CODE.fullmatch(rid):
        r.bad("id must be 1–64 of A–Z a–z 0–9 . _ -")
    try:
        kind = RuleKind(str(r.raw.get("kind")))
    except ValueError:
        r.bad(f"kind must be one of {', '.join(k.value for k in RuleKind)}")
        return None
    alarm_type = r.text("type") or ""
    if not METRIC.fullmatch(alarm_type):
        r.bad("type (the alarm type) must be [a-z][a-z0-9_]*")
    metric = r.text("metric")
    needs_metric = kind not in (RuleKind.NO_DATA, RuleKind.COUPLED)
    if needs_metric and not (metric and METRIC.fullmatch(metric)):
        r.bad("metric is required ([a-z][a-z0-9_]*)")
    direction = r.text("direction", "above") or "above"
    if direction not in ("above", "below"):
        r.bad("direction must be above or below")
    scope = r.text("scope", "device" if kind is RuleKind.NO_DATA else "asset") or "asset"
    if scope not in ("asset", "device"):
        r.bad("scope must be asset or device")
    kw: dict[str, Any] = {}
    if kind in (RuleKind.THRESHOLD, RuleKind.RATE):
        kw["levels"] = _levels(r, direction)
        kw["for_s"] = r.num("for_s", 0.0)
        kw["relative"] = bool(r.raw.get("relative", False))
    if kind is RuleKind.RATE and "over_s" in r.raw:
        kw["over_s"] = r.num("over_s", 0.0, minimum=1.0)
    elif "over_s" in r.raw:
        r.bad("over_s is for rate rules only")
    if kind is RuleKind.THRESHOLD and "of_attribute" in r.raw:
        kw["of_attribute"] = r.text("of_attribute")
        if "attribute_default" in r.raw:
            kw["attribute_default"] = r.num("attribute_default", 0.0)
    if kind is RuleKind.REPEAT:
        kw["levels"] = {1: r.num("threshold", 0.0, minimum=-1e300)}
        kw["count"] = int(r.num("count", 3, minimum=2))
        kw["window_s"] = r.num("window_s", 600, minimum=1)
    if kind is RuleKind.NO_DATA:
        kw["intervals"] = r.num("intervals", 3.0, minimum=1.0)
    if kind is RuleKind.COUPLED:
        kw["terms"] = _terms(r)
        kw["within_s"] = r.num("within_s", 600, minimum=1)
    if kind in (RuleKind.REPEAT, RuleKind.NO_DATA, RuleKind.COUPLED):
        kw["level"] = r.level("level")
    asset_kinds = r.kinds("asset_kinds")
    assets = r.names("assets")
    for code in assets:
        if not CODE.fullmatch(code):
            r.bad(f"assets: bad asset code {code!r}")
    if kind is not RuleKind.NO_DATA and not asset_kinds and not assets:
        r.bad("asset_kinds or assets is required")
    if len(problems) > before:
        return None
    return Rule(rid, r.text("name", rid) or rid, kind, alarm_type, metric, asset_kinds, assets,
                scope, direction, **kw)  # fmt: skip


def _cleaning(raw: Any, problems: list[ImportProblem]) -> Cleaning:
    r = _Reader("cleaning", raw if raw is not None else {}, problems)
    min_dev = r.raw.get("min_dev", {})
    if not isinstance(min_dev, dict) or not all(
        isinstance(v, int | float) and v >= 0 for v in min_dev.values()
    ):
        r.bad("min_dev must map metrics to numbers ≥ 0")
        min_dev = {}
    window = int(r.num("window", 7, minimum=3))
    return Cleaning(window, r.num("z", 6.0, minimum=1), {k: float(v) for k, v in min_dev.items()})


def _anomaly(raw: Any, problems: list[ImportProblem]) -> AnomalyConfig:
    r = _Reader("anomaly", raw if raw is not None else {}, problems)
    alpha = r.num("alpha", 0.05)
    if not 0 < alpha < 1:
        r.bad("alpha must be in (0, 1)")
    return AnomalyConfig(bool(r.raw.get("enabled", True)), r.names("metrics"),
                         r.num("z", 8.0, minimum=1), r.level("level") if "level" in r.raw else 1,
                         alpha, int(r.num("warmup", 12, minimum=1)),
                         int(r.num("joint_min_series", 3)),
                         r.num("joint_z", 3.0, minimum=1),
                         int(r.num("common_min_series", 5)))  # fmt: skip


def _policy(raw: Any, problems: list[ImportProblem]) -> CasePolicy:
    r = _Reader("policy", raw if raw is not None else {}, problems)
    cats = r.raw.get("categories", {})
    if not isinstance(cats, dict) or not all(
        isinstance(k, str) and isinstance(v, str) and _CATEGORY.fullmatch(v)
        for k, v in cats.items()
    ):
        r.bad("categories must map alarm types to category keys such as E0403")
        cats = {}
    min_level = r.level("min_level") if "min_level" in r.raw else 3
    plan_level = r.level("plan_level") if "plan_level" in r.raw else 4
    return CasePolicy(min_level, plan_level, dict(cats))


def parse_ruleset(data: Any) -> RuleSet:
    """A validated rule set, or ImportRejected naming every problem."""
    problems: list[ImportProblem] = []
    if not isinstance(data, dict) or not isinstance(data.get("rules"), list):
        raise ImportRejected("a rule set is a mapping with a list of rules",
                             [ImportProblem("rules", "missing or not a list")])  # fmt: skip
    rules = [_rule(i, raw, problems) for i, raw in enumerate(data["rules"])]
    ok = [r for r in rules if r is not None]
    seen: set[str] = set()
    for rule in ok:
        if rule.id in seen:
            problems.append(ImportProblem(rule.id, "duplicate rule id"))
        seen.add(rule.id)
    by_id = {r.id: r for r in ok}
    for rule in ok:
        for term in rule.terms:
            for ref in term.rules:
                target = by_id.get(ref)
                if target is None:
                    problems.append(ImportProblem(rule.id, f"when: unknown rule {ref}"))
                elif target.kind is RuleKind.COUPLED:
                    problems.append(ImportProblem(rule.id, f"when: {ref} is itself coupled"))
    # A coupled alarm ends when its conditions run out (holds_until), a rule's alarm when its
    # readings say so; one alarm per (asset, type) cannot do both, so the types stay apart.
    plain = {r.type: r.id for r in ok if r.kind is not RuleKind.COUPLED}
    for rule in ok:
        if rule.kind is RuleKind.COUPLED and rule.type in plain:
            problems.append(ImportProblem(rule.id, f"type {rule.type} is also rule "
                                          f"{plain[rule.type]}'s: a coupled rule raises an "
                                          "alarm type of its own"))  # fmt: skip
    ruleset = RuleSet(tuple(ok), _cleaning(data.get("cleaning"), problems),
                      _anomaly(data.get("anomaly"), problems),
                      _policy(data.get("policy"), problems))  # fmt: skip
    if problems or len(ok) < len(rules):
        raise ImportRejected(f"the rule set has {len(problems)} problem(s) / 规则有误", problems)
    return ruleset
