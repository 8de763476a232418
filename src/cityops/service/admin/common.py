"""What every admin import and edit shares: results, the audit log, upserts by key."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from cityops.adapters.db.models import AuditRow, Base, RegionRow
from cityops.bootstrap import App
from cityops.domain.errors import ImportProblem, ValidationFailed

RowT = TypeVar("RowT", bound=Base)
ItemT = TypeVar("ItemT")


@dataclass(frozen=True, slots=True)
class ImportResult:
    kind: str
    created: int
    updated: int = 0


def audit(
    s: Session, actor: str, action: str, target: str, detail: Mapping[str, Any], now: datetime
) -> None:
    s.add(AuditRow(at=now, actor=actor, action=action, target=target, detail=dict(detail)))


def upsert(
    s: Session,
    model: type[RowT],
    key: str,
    items: Iterable[tuple[str, ItemT]],
    fill: Callable[[RowT, ItemT], None],
) -> tuple[int, int, list[RowT]]:
    """Find each item's row by ``key``, else create it; ``fill`` sets the other columns.

    Returns (created, updated, the existing rows that no item named).
    """
    existing: dict[str, RowT] = {getattr(r, key): r for r in s.scalars(select(model))}
    named: set[str] = set()
    created = updated = 0
    for k, item in items:
        row = existing.get(k)
        if row is None:
            row = model(**{key: k})
            s.add(row)
            created += 1
        else:
            updated += 1
        named.add(k)
        fill(row, item)
    return created, updated, [r for k, r in existing.items() if k not in named]


def upsert_values(
    s: Session, model: type[RowT], rows: Sequence[Mapping[str, Any]], key: str = "code"
) -> tuple[int, int]:
    """Update the rows whose ``key`` exists, insert the rest in one multi-row INSERT.

    For large imports of plain values (components, cameras); returns (created, updated).
    """
    existing: dict[Any, RowT] = {getattr(r, key): r for r in s.scalars(select(model))}
    new = []
    for values in rows:
        row = existing.get(values[key])
        if row is None:
            new.append(values)
            continue
        for column, value in values.items():
            setattr(row, column, value)
    if new:
        s.execute(insert(model), new)
    return len(new), len(rows) - len(new)


def region_codes(app: App) -> set[str]:
    with app.reads() as s:
        return set(s.scalars(select(RegionRow.code)))


def reject(message: str, problems: Sequence[ImportProblem]) -> None:
    if problems:
        raise ValidationFailed(message, problems=[p.as_dict() for p in problems])


def diff(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, Any]:
    changed = [k for k in after if after[k] != before.get(k)]
    return {"before": {k: before.get(k) for k in changed}, "after": {k: after[k] for k in changed}}
