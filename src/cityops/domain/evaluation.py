"""综合评价: evaluation metrics computed from the case log (after GB/T 30428.4).

Each case's log is turned once into ``CaseFacts`` — one small ``Fact`` per countable event,
already attributed to the department that held the case — so ``evaluate`` over any period and
dimension is a filter and a count. Formulas and weights: ``evaluation_formulas`` and
docs/evaluation.md.
"""

from __future__ import annotations

import csv
import io
import statistics
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from cityops.domain.errors import ValidationFailed
from cityops.domain.evaluation_formulas import (
    DEFAULT_WEIGHTS,
    DIMENSION_LABELS,
    FORMULAS,
    METRIC_KEYS,
    Dimension,
    Formula,
    ScoreWeights,
    composite_score,
    ratio,
)
from cityops.domain.events import LoggedEvent
from cityops.domain.model import Channel

__all__ = [
    "DEFAULT_WEIGHTS",
    "FORMULAS",
    "METRIC_KEYS",
    "CaseDims",
    "CaseFacts",
    "Dimension",
    "EvaluationRow",
    "Fact",
    "FactKind",
    "Formula",
    "ScoreWeights",
    "evaluate",
    "facts_from_log",
    "rows_to_csv",
]


class FactKind(StrEnum):
    REPORTED = "reported"
    OPENED = "opened"
    INVALID = "invalid"
    DISPATCHED = "dispatched"
    RETURNED = "returned"
    COMPLETED = "completed"
    REWORK = "rework"
    CLOSED = "closed"
    EXTENDED = "extended"
    OVERDUE = "overdue"
    RATED = "rated"


@dataclass(frozen=True, slots=True)
class Fact:
    """One countable event; ``department_id`` is who it counts against (None: no department)."""

    kind: FactKind
    at: datetime
    department_id: int | None
    late: bool = False  # for COMPLETED / CLOSED: the stage ended after its deadline
    value: float | None = None  # COMPLETED: hours since the latest dispatch; RATED: the rating


@dataclass(frozen=True, slots=True)
class CaseDims:
    case_id: int
    reported_at: datetime
    street_code: str
    grid_code: str | None
    reporter_inspector_id: int | None
    channel: Channel


@dataclass(frozen=True, slots=True)
class CaseFacts:
    dims: CaseDims
    facts: tuple[Fact, ...]


# Actions that become a fact counted against the department holding the case before the event.
_SIMPLE: dict[str, FactKind] = {
    "open": FactKind.OPENED,
    "fast_track": FactKind.OPENED,
    "reopen": FactKind.OPENED,  # counted so that a re-closed case keeps close_rate ≤ 1
    "invalidate": FactKind.INVALID,
    "refute": FactKind.INVALID,
    "return": FactKind.RETURNED,
    "check_fail": FactKind.REWORK,  # rework of the work of the department that completed it
    "approve_extension": FactKind.EXTENDED,
    "overdue": FactKind.OVERDUE,
}
_DISPATCHES = frozenset({"dispatch", "redispatch"})


def _rating(data: Mapping[str, Any]) -> float | None:
    # The workflow validates ratings; anything else is skipped rather than failing a report.
    value = data.get("rating")
    if isinstance(value, bool) or not isinstance(value, int | float) or not 1 <= value <= 5:
        return None
    return float(value)


def facts_from_log(case: CaseDims, events: Sequence[LoggedEvent]) -> CaseFacts:
    """Walk the case's log once, attributing each countable event (see docs/evaluation.md)."""
    facts = [Fact(FactKind.REPORTED, case.reported_at, None)]
    department: int | None = None  # assigned before the current event
    dispatched_at: datetime | None = None
    for event in sorted(events, key=lambda e: e.seq):
        if event.case_id != case.case_id:
            raise ValidationFailed(
                f"event {event.seq} belongs to case {event.case_id}, not {case.case_id}",
                case_id=case.case_id,
            )
        action, at = event.action, event.at
        late = event.data.get("overdue") is True
        if action in _DISPATCHES:
            dispatched_at = at
            # Counted for the department dispatched to, i.e. the one assigned after the event.
            facts.append(Fact(FactKind.DISPATCHED, at, event.department_id, late))
        elif action == "complete":
            hours = None if dispatched_at is None else (at - dispatched_at).total_seconds() / 3600
            facts.append(Fact(FactKind.COMPLETED, at, department, late, hours))
        elif action == "close":
            facts.append(Fact(FactKind.CLOSED, at, department, late))
        elif action == "rate":
            rating = _rating(event.data)
            if rating is not None:
                facts.append(Fact(FactKind.RATED, at, department, value=rating))
        elif action in _SIMPLE:
            facts.append(Fact(_SIMPLE[action], at, department))
        elif action == "merge":
            # 并案: the duplicate's problem is closed with the case it joined, so its own 立案
            # would otherwise count as a case opened and never closed.
            facts = [f for f in facts if f.kind is not FactKind.OPENED]
        if late and action != "overdue":
            # Lateness counts against whoever held the case while the clock ran out: for a late
            # dispatch that is nobody (or the previous department on a redispatch).
            facts.append(Fact(FactKind.OVERDUE, at, department))
        department = event.department_id
    return CaseFacts(case, tuple(facts))


@dataclass(frozen=True, slots=True)
class EvaluationRow:
    key: str  # the dimension value: department id, street or grid code, inspector id
    metrics: dict[str, float | int | None]
    score: float | None


@dataclass(slots=True)
class _Tally:
    counts: Counter[FactKind] = field(default_factory=Counter)
    completed_late: int = 0
    closed_late: int = 0
    good_ratings: int = 0
    hours: list[float] = field(default_factory=list)
    overdue_cases: set[int] = field(default_factory=set)

    def add(self, fact: Fact, case_id: int) -> None:
        kind = fact.kind
        self.counts[kind] += 1
        if kind is FactKind.COMPLETED:
            self.completed_late += fact.late
            if fact.value is not None:
                self.hours.append(fact.value)
        elif kind is FactKind.CLOSED:
            self.closed_late += fact.late
        elif kind is FactKind.RATED:
            self.good_ratings += fact.value is not None and fact.value >= 4
        elif kind is FactKind.OVERDUE:
            self.overdue_cases.add(case_id)

    def metrics(self, by_department: bool = False) -> dict[str, float | int | None]:
        c = self.counts
        opened, closed = c[FactKind.OPENED], c[FactKind.CLOSED]
        completed, dispatched = c[FactKind.COMPLETED], c[FactKind.DISPATCHED]
        metrics: dict[str, float | int | None] = {
            "reported": c[FactKind.REPORTED],
            "opened": opened,
            "invalid": c[FactKind.INVALID],
            "dispatched": dispatched,
            "handled": completed,
            "returned": c[FactKind.RETURNED],
            "reworked": c[FactKind.REWORK],
            "closed": closed,
            # A department opens nothing (立案 precedes dispatch): its cases are those sent to it.
            "close_rate": ratio(closed, dispatched if by_department else opened),
            "on_time_close_rate": ratio(closed - self.closed_late, closed),
            "on_time_handle_rate": ratio(completed - self.completed_late, completed),
            "rework_rate": ratio(c[FactKind.REWORK], completed),
            "return_rate": ratio(c[FactKind.RETURNED], dispatched),
            "overdue": len(self.overdue_cases),
            "extended": c[FactKind.EXTENDED],
            "mean_handle_hours": statistics.fmean(self.hours) if self.hours else None,
            "median_handle_hours": statistics.median(self.hours) if self.hours else None,
            "satisfaction": ratio(self.good_ratings, c[FactKind.RATED]),
        }
        assert tuple(metrics) == METRIC_KEYS  # the CSV columns follow FORMULAS
        return metrics


def _case_key(dims: CaseDims, dimension: Dimension) -> str | None:
    if dimension is Dimension.STREET:
        return dims.street_code
    if dimension is Dimension.GRID:
        return dims.grid_code
    if dimension is Dimension.INSPECTOR:
        inspector = dims.reporter_inspector_id
        return None if inspector is None else str(inspector)
    return None  # department: per fact


def evaluate(
    facts: Iterable[CaseFacts],
    dimension: Dimension,
    start: datetime,
    end: datetime,
    weights: ScoreWeights = DEFAULT_WEIGHTS,
) -> list[EvaluationRow]:
    """One row per key with anything counted in [start, end), best score first (None last)."""
    if end <= start:
        raise ValidationFailed("评价期间为空 / the period [start, end) is empty")
    by_department = dimension is Dimension.DEPARTMENT
    tallies: dict[str, _Tally] = {}
    for case in facts:
        case_key = _case_key(case.dims, dimension)
        if case_key is None and not by_department:
            continue  # e.g. a hotline case has no reporting inspector
        case_id = case.dims.case_id
        for fact in case.facts:
            if not start <= fact.at < end:
                continue
            if by_department:
                if fact.department_id is None:
                    continue
                key = str(fact.department_id)
            else:
                assert case_key is not None
                key = case_key
            tally = tallies.get(key)
            if tally is None:
                tally = tallies[key] = _Tally()
            tally.add(fact, case_id)
    rows = []
    for key, tally in tallies.items():
        metrics = tally.metrics(by_department)
        rows.append(EvaluationRow(key, metrics, composite_score(metrics, weights)))
    rows.sort(key=lambda r: (r.score is None, -(r.score or 0.0), r.key))
    return rows


def _cell(value: float | int | None, digits: int = 4) -> str:
    if value is None:
        return ""
    return str(value) if isinstance(value, int) else f"{value:.{digits}f}"


def rows_to_csv(rows: Iterable[EvaluationRow], dimension: Dimension) -> str:
    """CSV with one header row of "中文 (key)" cells; empty cells where a rate is None."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([
        f"{DIMENSION_LABELS[dimension]} ({dimension.value})",
        *(f"{FORMULAS[key].label_zh} ({key})" for key in METRIC_KEYS),
        f"{FORMULAS['score'].label_zh} (score)",
    ])
    for row in rows:
        writer.writerow([
            row.key,
            *(_cell(row.metrics.get(key)) for key in METRIC_KEYS),
            _cell(row.score, 2),
        ])
    return out.getvalue()
