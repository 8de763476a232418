"""Case taxonomy (部件和事件分类, GB/T 30428.2): major classes, subclasses and their rules.

A category's global key is ``"C" + code`` for 部件 and ``"E" + code`` for 事件, because the two
kinds reuse the same 4-digit codes (部件 0101 上水井盖 vs 事件 0101 私搭乱建).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from importlib import resources
from types import MappingProxyType
from typing import Any

import yaml

from cityops.domain.errors import ImportProblem, ImportRejected, ValidationFailed
from cityops.domain.model import Stage, Urgency
from cityops.domain.timelimit import TimeLimit, TimeUnit


class CategoryKind(StrEnum):
    COMPONENT = "component"  # 部件: a physical object (井盖, 路灯 …)
    EVENT = "event"  # 事件: a behaviour or situation (占道经营, 路面塌陷 …)

    @property
    def prefix(self) -> str:
        return "C" if self is CategoryKind.COMPONENT else "E"

    @property
    def label_zh(self) -> str:
        return KIND_LABELS_ZH[self]


KIND_LABELS_ZH: dict[CategoryKind, str] = {
    CategoryKind.COMPONENT: "部件",
    CategoryKind.EVENT: "事件",
}

# Used when a taxonomy file declares no ``owner_hints`` of its own; mirrors the default YAML.
DEFAULT_OWNER_HINTS: frozenset[str] = frozenset(
    {
        "water", "gas", "power", "telecom", "roads", "traffic_police", "sanitation",
        "greening", "urban_management", "housing", "market", "ecology", "emergency",
    }
)  # fmt: skip

_MAJOR_CODE = re.compile(r"^\d{2}$")
_SUB_CODE = re.compile(r"^\d{4}$")


@dataclass(frozen=True, slots=True)
class MajorClass:
    kind: CategoryKind
    code: str  # 2 digits
    name: str

    @property
    def key(self) -> str:
        return self.kind.prefix + self.code


@dataclass(frozen=True, slots=True)
class Category:
    kind: CategoryKind
    major_code: str
    code: str  # 4 digits: major code + 2
    name: str
    urgency: Urgency
    filing_condition: str  # 立案条件
    closing_condition: str  # 结案条件
    # A read-only mapping is unhashable, so leave it out of the hash (the key is unique anyway).
    time_limits: Mapping[Stage, TimeLimit] = field(hash=False)
    keywords: tuple[str, ...] = ()
    owner_hint: str | None = None

    @property
    def key(self) -> str:
        return self.kind.prefix + self.code

    @property
    def major_key(self) -> str:
        return self.kind.prefix + self.major_code

    def limit(self, stage: Stage) -> TimeLimit:
        return self.time_limits[stage]


@dataclass(frozen=True)
class Taxonomy:
    version: str
    majors: tuple[MajorClass, ...]
    categories: tuple[Category, ...]
    owner_hints: frozenset[str] = DEFAULT_OWNER_HINTS
    _by_key: dict[str, Category] = field(init=False, repr=False, compare=False)
    _majors_by_key: dict[str, MajorClass] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_key", {c.key: c for c in self.categories})
        object.__setattr__(self, "_majors_by_key", {m.key: m for m in self.majors})

    def get(self, key: str) -> Category | None:
        return self._by_key.get(key)

    def require(self, key: str) -> Category:
        """Like :meth:`get`, but an unknown key is the caller's input error."""
        category = self._by_key.get(key)
        if category is None:
            raise ValidationFailed(f"unknown category {key!r}", category=key)
        return category

    def major(self, major_key: str) -> MajorClass | None:
        return self._majors_by_key.get(major_key)

    def by_major(self, major_key: str) -> tuple[Category, ...]:
        """Subclasses of one major class, e.g. ``by_major("E05")`` (街面秩序)."""
        return tuple(c for c in self.categories if c.major_key == major_key)

    def __iter__(self) -> Iterator[Category]:
        return iter(self.categories)

    def __len__(self) -> int:
        return len(self.categories)

    def __contains__(self, key: object) -> bool:
        return key in self._by_key


def _text(value: Any) -> str | None:
    """A non-blank string, stripped; anything else counts as missing."""
    return value.strip() if isinstance(value, str) and value.strip() else None


def _code(value: Any, pattern: re.Pattern[str], digits: int) -> tuple[str | None, str | None]:
    """(code, problem). Unquoted YAML codes arrive as ints and lose leading zeros, so say so."""
    if isinstance(value, str) and pattern.match(value):
        return value, None
    if value is None:
        return None, "missing code"
    hint = " (quote it in YAML)" if isinstance(value, int) else ""
    return None, f"code must be a {digits}-digit string{hint}, got {value!r}"


def _parse_majors(
    raw: Any, problems: list[ImportProblem]
) -> dict[tuple[CategoryKind, str], MajorClass]:
    majors: dict[tuple[CategoryKind, str], MajorClass] = {}
    if not isinstance(raw, list) or not raw:
        problems.append(ImportProblem("majors", "must be a non-empty list"))
        return majors
    for i, item in enumerate(raw):
        where = f"majors[{i}]"
        if not isinstance(item, Mapping):
            problems.append(ImportProblem(where, "must be a mapping"))
            continue
        reasons: list[str] = []
        kind = _kind(item.get("kind"), reasons)
        code, bad = _code(item.get("code"), _MAJOR_CODE, 2)
        reasons += [bad] if bad else []
        name = _text(item.get("name"))
        where = " ".join(p for p in (where, kind and code and kind.prefix + code, name) if p)
        if name is None:
            reasons.append("missing name")
        if kind and code and (kind, code) in majors:
            reasons.append(f"duplicate major {kind.prefix}{code}")
        if reasons:
            problems += [ImportProblem(where, r) for r in reasons]
        elif kind and code and name:
            majors[(kind, code)] = MajorClass(kind, code, name)
    return majors


def _kind(value: Any, reasons: list[str]) -> CategoryKind | None:
    try:
        return CategoryKind(value)
    except ValueError:
        reasons.append(f"unknown kind {value!r} (expected component or event)")
        return None


def _parse_limits(raw: Any, urgency: Urgency | None, reasons: list[str]) -> dict[Stage, TimeLimit]:
    limits: dict[Stage, TimeLimit] = {}
    if not isinstance(raw, Mapping):
        reasons.append("time_limits must map each stage to a time limit")
        return limits
    for extra in sorted(set(map(str, raw)) - {s.value for s in Stage}):
        reasons.append(f"unknown stage {extra!r} in time_limits")
    for stage in Stage:
        text = raw.get(stage.value)
        if text is None:
            reasons.append(f"missing time limit for stage {stage.value}")
            continue
        try:
            limit = TimeLimit.parse(str(text))
        except ValidationFailed as exc:
            reasons.append(f"stage {stage.value}: {exc.message}")
            continue
        # Emergencies are worked around the clock, so their clocks must not pause off-hours.
        if urgency is Urgency.URGENT and limit.unit is not TimeUnit.CALENDAR_HOURS:
            reasons.append(
                f"urgent category must use calendar hours ('h'), stage {stage.value} has {text!r}"
            )
        limits[stage] = limit
    return limits


def _parse_subclass(
    i: int,
    item: Any,
    majors: Mapping[tuple[CategoryKind, str], MajorClass],
    owner_hints: frozenset[str],
    seen: dict[str, int],
    problems: list[ImportProblem],
) -> Category | None:
    where = f"subclasses[{i}]"
    if not isinstance(item, Mapping):
        problems.append(ImportProblem(where, "must be a mapping"))
        return None
    reasons: list[str] = []
    kind = _kind(item.get("kind"), reasons)
    code, bad = _code(item.get("code"), _SUB_CODE, 4)
    reasons += [bad] if bad else []
    name = _text(item.get("name"))
    key = kind.prefix + code if kind and code else None
    where = " ".join(p for p in (where, key, name) if p)

    major, bad = _code(item.get("major"), _MAJOR_CODE, 2)
    if bad:
        reasons.append(f"major {bad}")
    elif kind and major and (kind, major) not in majors:
        reasons.append(f"unknown major {kind.prefix}{major}")
    elif code and major and not code.startswith(major):
        reasons.append(f"code {code} does not begin with its major code {major}")
    if key is not None:
        if key in seen:
            reasons.append(f"duplicate key {key} (first at subclasses[{seen[key]}])")
        else:
            seen[key] = i
    if name is None:
        reasons.append("missing name")
    filing = _text(item.get("filing_condition"))
    closing = _text(item.get("closing_condition"))
    if filing is None:
        reasons.append("missing filing_condition (立案条件)")
    if closing is None:
        reasons.append("missing closing_condition (结案条件)")
    urgency: Urgency | None = None
    try:
        urgency = Urgency(item.get("urgency", Urgency.NORMAL.value))
    except ValueError:
        reasons.append(f"unknown urgency {item.get('urgency')!r} (expected normal or urgent)")
    limits = _parse_limits(item.get("time_limits"), urgency, reasons)
    keywords = item.get("keywords") or []
    if not isinstance(keywords, list) or not all(_text(k) for k in keywords):
        reasons.append("keywords must be a list of non-blank strings")
        keywords = []
    owner_hint = item.get("owner_hint")
    if owner_hint is not None and not (isinstance(owner_hint, str) and owner_hint in owner_hints):
        reasons.append(f"unknown owner_hint {owner_hint!r}")

    if reasons:
        problems += [ImportProblem(where, r) for r in reasons]
        return None
    assert kind and major and code and name and filing and closing and urgency
    return Category(
        kind=kind,
        major_code=major,
        code=code,
        name=name,
        urgency=urgency,
        filing_condition=filing,
        closing_condition=closing,
        time_limits=MappingProxyType(limits),
        keywords=tuple(k.strip() for k in keywords),
        owner_hint=owner_hint,
    )


def parse_taxonomy(data: Mapping[str, Any]) -> Taxonomy:
    """Validate a whole taxonomy document; raise :class:`ImportRejected` naming every problem."""
    problems: list[ImportProblem] = []
    version = _text(data.get("version"))
    if version is None:
        problems.append(ImportProblem("version", "missing version"))
    raw_hints = data.get("owner_hints")
    owner_hints = DEFAULT_OWNER_HINTS
    if raw_hints is not None:
        if isinstance(raw_hints, list) and all(_text(h) for h in raw_hints):
            owner_hints = frozenset(h.strip() for h in raw_hints)
        else:
            problems.append(ImportProblem("owner_hints", "must be a list of non-blank strings"))
    majors = _parse_majors(data.get("majors"), problems)
    raw_subs = data.get("subclasses")
    categories: list[Category] = []
    if not isinstance(raw_subs, list) or not raw_subs:
        problems.append(ImportProblem("subclasses", "must be a non-empty list"))
    else:
        seen: dict[str, int] = {}
        for i, item in enumerate(raw_subs):
            category = _parse_subclass(i, item, majors, owner_hints, seen, problems)
            if category is not None:
                categories.append(category)
    if problems:
        raise ImportRejected(f"taxonomy rejected: {len(problems)} problem(s)", problems)
    assert version is not None
    return Taxonomy(version, tuple(majors.values()), tuple(categories), owner_hints)


def load_default_taxonomy() -> Taxonomy:
    """The packaged GB/T 30428.2 default (``cityops/data/taxonomy.yaml``)."""
    text = resources.files("cityops.data").joinpath("taxonomy.yaml").read_text(encoding="utf-8")
    data = yaml.safe_load(text)
    if not isinstance(data, Mapping):
        raise ValidationFailed("packaged taxonomy.yaml is not a mapping")
    return parse_taxonomy(data)
