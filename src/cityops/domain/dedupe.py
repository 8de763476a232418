"""Duplicate detection (并案): is a new report about a case that is already open?

A candidate is an open case of the same subclass (or, weighted down, the same major class)
within a distance and a time window that depend on the subclass. Closeness in space and time
and the similarity of the texts (character bigrams, which need no word segmentation) make a
score in [0, 1]: at or above ``merge_at`` the report joins the case automatically; at or above
``suggest_at`` the new case carries a suggestion for the acceptor.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import pairwise

from cityops.domain.coords import metres


@dataclass(frozen=True, slots=True)
class DedupePolicy:
    distance_m: float = 100.0
    window: timedelta = timedelta(days=3)
    merge_at: float = 0.75
    suggest_at: float = 0.45
    # Per subclass: e.g. a burst water main is one incident over a longer stretch of road.
    distance_by_category: Mapping[str, float] = field(default_factory=dict)
    window_by_category: Mapping[str, timedelta] = field(default_factory=dict)

    def distance_for(self, category: str) -> float:
        return self.distance_by_category.get(category, self.distance_m)

    def window_for(self, category: str) -> timedelta:
        return self.window_by_category.get(category, self.window)


@dataclass(frozen=True, slots=True)
class Candidate:
    case_id: int
    category: str
    lon: float
    lat: float
    created_at: datetime
    text: str


@dataclass(frozen=True, slots=True)
class Match:
    case_id: int
    score: float
    distance_m: float
    text_similarity: float
    same_subclass: bool

    def as_dict(self) -> dict[str, object]:
        return {"case_id": self.case_id, "score": round(self.score, 3),
                "distance_m": round(self.distance_m, 1),
                "text_similarity": round(self.text_similarity, 3),
                "same_subclass": self.same_subclass}  # fmt: skip


def bigrams(text: str) -> set[str]:
    chars = [c for c in text.lower() if c.isalnum()]
    return {a + b for a, b in pairwise(chars)} or set(chars)


def text_similarity(a: str, b: str) -> float:
    """Dice coefficient of character bigrams: 1 for the same text, 0 for nothing shared."""
    x, y = bigrams(a), bigrams(b)
    if not x or not y:
        return 0.0
    return 2 * len(x & y) / (len(x) + len(y))


def best_match(
    category: str,
    lon: float,
    lat: float,
    at: datetime,
    text: str,
    candidates: Iterable[Candidate],
    policy: DedupePolicy,
) -> Match | None:
    """The most likely case this report repeats, if any is within reach."""
    reach, window = policy.distance_for(category), policy.window_for(category)
    best: Match | None = None
    for c in candidates:
        same = c.category == category
        if not same and c.category[:3] != category[:3]:
            continue  # different major class: not the same problem
        d = metres(lon, lat, c.lon, c.lat)
        age = abs(at - c.created_at)
        if d > reach or age > window:
            continue
        sim = text_similarity(text, c.text)
        closeness = 1 - d / reach
        freshness = 1 - age / window
        score = (0.45 * closeness + 0.15 * freshness + 0.40 * sim) * (1.0 if same else 0.6)
        if best is None or score > best.score:
            best = Match(c.case_id, score, d, sim, same)
    return best
