"""Alarms between the domain's AlarmBook and their rows: load the open and recently cleared
ones, write what a batch or a tick changed (rows and the event log) in the caller's
transaction."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from cityops.adapters.db.alarm_models import AlarmEventRow, AlarmRow
from cityops.domain.lifeline.alarms import Alarm, AlarmBook, AlarmPolicy, AlarmState, Change


def dt(ms: int | None) -> datetime | None:
    return None if ms is None else datetime.fromtimestamp(ms / 1000, UTC)


def ms(moment: datetime | None) -> int | None:
    return None if moment is None else int(moment.timestamp() * 1000)


def to_domain(row: AlarmRow) -> Alarm:
    return Alarm(
        key=(row.subject, row.alarm_type), level=row.level, first_seen=ms(row.first_seen) or 0,
        last_seen=ms(row.last_seen) or 0, state=AlarmState(row.state), current=row.current_level,
        count=row.count, gone_since=ms(row.gone_since), reraised=row.reraised,
        acknowledged_by=row.acknowledged_by, acknowledged_at=ms(row.acknowledged_at),
        cleared_at=ms(row.cleared_at), cleared_how=row.cleared_how, cleared_by=row.cleared_by,
        facts=dict(row.facts), id=row.id, case_id=row.case_id,
    )  # fmt: skip


def load_book(s: Session, policy: AlarmPolicy, now_ms: int) -> AlarmBook:
    book = AlarmBook(policy)
    since = dt(now_ms - policy.reraise_window_ms)
    for row in s.scalars(select(AlarmRow).where(or_(
            AlarmRow.state != AlarmState.CLEARED.value, AlarmRow.cleared_at >= since))
            .order_by(AlarmRow.id)):  # fmt: skip
        book.load(to_domain(row))
    return book


def _values(a: Alarm, ids: dict[str, Any]) -> dict[str, Any]:
    return {
        "subject": a.key[0], "alarm_type": a.key[1], "rule_id": a.facts.get("rule"),
        "asset_id": ids.get("asset_id"), "device_id": ids.get("device_id"), "level": a.level,
        "current_level": a.current, "state": a.state.value, "count": a.count,
        "reraised": a.reraised, "first_seen": dt(a.first_seen), "last_seen": dt(a.last_seen),
        "gone_since": dt(a.gone_since), "acknowledged_by": a.acknowledged_by,
        "acknowledged_at": dt(a.acknowledged_at), "cleared_at": dt(a.cleared_at),
        "cleared_how": a.cleared_how, "cleared_by": a.cleared_by, "case_id": a.case_id,
        "facts": a.facts,
    }  # fmt: skip


def save(s: Session, alarms: list[Alarm], changes: list[Change],
         ids_of: Any) -> None:  # fmt: skip
    """Insert new alarms, update the others, log the changes (``ids_of(alarm)`` gives the
    asset and device ids)."""
    for a in alarms:
        values = _values(a, ids_of(a))
        if a.id is None:
            row = AlarmRow(**values)
            s.add(row)
            s.flush()
            a.id = row.id
        else:
            found = s.get(AlarmRow, a.id)
            if found is None:
                continue
            for name, value in values.items():
                if name not in ("asset_id", "device_id") or value is not None:
                    setattr(found, name, value)
    s.add_all(
        AlarmEventRow(alarm_id=c.alarm.id, at=dt(c.at), what=c.what, level=c.level, by=c.by,
                      note=c.note, data={k: c.alarm.facts.get(k) for k in ("rule", "value")})
        for c in changes
    )  # fmt: skip
