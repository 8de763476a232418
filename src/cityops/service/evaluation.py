"""综合评价 from the case log, for any period and dimension."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from cityops.adapters.db.models import CaseEventRow, CaseRow, DepartmentRow, RegionRow, UserRow
from cityops.bootstrap import App
from cityops.domain.errors import ValidationFailed
from cityops.domain.evaluation import (
    CaseDims,
    EvaluationRow,
    evaluate,
    facts_from_log,
    rows_to_csv,
)
from cityops.domain.evaluation_formulas import (
    DEFAULT_WEIGHTS,
    DIMENSION_LABELS,
    FORMULAS,
    Dimension,
    ScoreWeights,
)
from cityops.domain.events import LoggedEvent
from cityops.domain.model import Channel, Role


@dataclass(frozen=True, slots=True)
class Evaluation:
    dimension: Dimension
    start: datetime
    end: datetime
    weights: ScoreWeights
    rows: list[EvaluationRow]
    names: dict[str, str]

    def as_dict(self) -> dict[str, Any]:
        return {
            "dimension": self.dimension.value,
            "dimension_label": DIMENSION_LABELS[self.dimension],
            "from": self.start.isoformat(),
            "to": self.end.isoformat(),
            "weights": self.weights.as_dict(),
            "formulas": {
                k: {"label_zh": f.label_zh, "label_en": f.label_en, "formula": f.formula_text}
                for k, f in FORMULAS.items()
            },
            "rows": [
                {
                    "key": r.key,
                    "name": self.names.get(r.key, r.key),
                    "score": r.score,
                    "metrics": r.metrics,
                }
                for r in self.rows
            ],
        }

    def csv(self) -> str:
        return rows_to_csv(self.rows, self.dimension)


def parse_weights(text: str | None) -> ScoreWeights:
    """``on_time_handle_rate:0.4,close_rate:0.3`` → weights (unnamed ones keep defaults)."""
    if not text:
        return DEFAULT_WEIGHTS
    values = DEFAULT_WEIGHTS.as_dict()
    for part in text.split(","):
        name, _, raw = part.partition(":")
        if name.strip() not in values:
            raise ValidationFailed(f"unknown weight {name.strip()!r}", allowed=sorted(values))
        try:
            values[name.strip()] = float(raw)
        except ValueError as exc:
            raise ValidationFailed(f"weight {name.strip()} must be a number") from exc
    return ScoreWeights(**values)


def run_evaluation(
    app: App,
    dimension: Dimension,
    start: datetime,
    end: datetime,
    weights: ScoreWeights = DEFAULT_WEIGHTS,
) -> Evaluation:
    if end <= start:
        raise ValidationFailed("'to' must be after 'from'", field="to")
    with app.reads() as s:
        touched = select(CaseEventRow.case_id).where(
            CaseEventRow.at >= start, CaseEventRow.at < end
        )
        cases = s.scalars(select(CaseRow).where(CaseRow.id.in_(touched))).all()
        ids = [c.id for c in cases]
        logs: dict[int, list[LoggedEvent]] = defaultdict(list)
        inspectors = set(s.scalars(select(UserRow.id).where(UserRow.role == Role.INSPECTOR)))
        for chunk in range(0, len(ids), 5000):
            rows = s.scalars(
                select(CaseEventRow)
                .where(CaseEventRow.case_id.in_(ids[chunk : chunk + 5000]))
                .order_by(CaseEventRow.case_id, CaseEventRow.seq)
            ).all()
            for e in rows:
                logs[e.case_id].append(
                    LoggedEvent(
                        e.case_id,
                        e.seq,
                        e.action,
                        e.from_state,
                        e.to_state,
                        e.at,
                        e.actor_id,
                        e.actor_role,
                        e.department_id,
                        e.data or {},
                    )
                )
        names = _names(s, dimension)
    facts = [
        facts_from_log(
            CaseDims(
                case_id=c.id,
                reported_at=c.created_at,
                street_code=c.street_code or "",
                grid_code=c.grid_code,
                reporter_inspector_id=c.reporter_user_id
                if c.reporter_user_id in inspectors
                else None,
                channel=Channel(c.channel),
            ),
            logs[c.id],
        )
        for c in cases
    ]
    table = evaluate(facts, dimension, start, end, weights)
    return Evaluation(dimension, start, end, weights, table, names)


def _names(s: Session, dimension: Dimension) -> dict[str, str]:
    query: Select[Any, str]
    if dimension is Dimension.DEPARTMENT:
        query = select(DepartmentRow.id, DepartmentRow.name)
    elif dimension is Dimension.INSPECTOR:
        query = select(UserRow.id, UserRow.display_name)
    else:
        level = "street" if dimension is Dimension.STREET else "grid"
        query = select(RegionRow.code, RegionRow.name).where(RegionRow.level == level)
    return {str(key): name for key, name in s.execute(query)}
