"""Alarms between the domain's AlarmBook and their rows: load the open and recently cleared
ones, write what a batch, a tick or an operator changed (rows and the event log) in the
caller's transaction.

The rows are the truth. Every update of an alarm row expects the ``revision`` its copy read
and bumps it: a copy outdated by another process (an acknowledgement or clear in the API, a
second ingesting engine) fails with :class:`StaleAlarm` instead of writing over the newer
state, and the caller reloads and decides again. A compare-and-set on the row is atomic on
both engines: SQLite has one writer at a time, PostgreSQL re-checks the condition on the
newest row version after waiting for a concurrent writer."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from cityops.adapters.db.alarm_models import AlarmEventRow, AlarmRow
from cityops.domain.lifeline.alarms import (
    OPEN,
    Alarm,
    AlarmBook,
    AlarmPolicy,
    AlarmState,
    Change,
)


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
        facts=dict(row.facts), id=row.id, case_id=row.case_id, revision=row.revision,
    )  # fmt: skip


class StaleAlarm(Exception):
    """An alarm row changed since this copy of it was read."""

    def __init__(self, alarm_id: int) -> None:
        super().__init__(f"lifeline alarm {alarm_id} changed since it was read")
        self.alarm_id = alarm_id


def load_book(s: Session, policy: AlarmPolicy, now_ms: int) -> AlarmBook:
    """The open alarms and those cleared within the re-raise window (two index scans: the
    engine reloads at every tick, and the table keeps every alarm ever raised)."""
    book = AlarmBook(policy)
    since = dt(now_ms - policy.reraise_window_ms)
    rows = [*s.scalars(select(AlarmRow).where(AlarmRow.state.in_([x.value for x in OPEN]))),
            *s.scalars(select(AlarmRow).where(AlarmRow.state == AlarmState.CLEARED.value,
                                              AlarmRow.cleared_at >= since))]  # fmt: skip
    for row in sorted(rows, key=lambda r: r.id):  # a later alarm of a key wins
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
    """Insert new alarms, update the others where their row is still at the revision they
    read (else :class:`StaleAlarm`; roll back), log the changes (``ids_of(alarm)`` gives the
    asset and device ids). The copies' revisions move on: drop them if the transaction
    does not commit."""
    for a in alarms:
        values = _values(a, ids_of(a))
        if a.id is None:
            row = AlarmRow(**values, revision=0)
            s.add(row)
            s.flush()
            a.id, a.revision = row.id, 0
            continue
        # Unknown ids never blank known ones; a case is linked on the row by the follow-up
        # (service/lifeline/policy.py) and may not have reached this copy yet.
        kept = {name: value for name, value in values.items()
                if value is not None or name not in ("asset_id", "device_id", "case_id")}
        done = s.connection().execute(
            update(AlarmRow).where(AlarmRow.id == a.id, AlarmRow.revision == a.revision)
            .values({**kept, "revision": a.revision + 1}))  # fmt: skip
        if done.rowcount != 1:
            raise StaleAlarm(a.id)
        a.revision += 1
    s.add_all(
        AlarmEventRow(alarm_id=c.alarm.id, at=dt(c.at), what=c.what, level=c.level, by=c.by,
                      note=c.note, data={k: c.alarm.facts.get(k) for k in ("rule", "value")})
        for c in changes
    )  # fmt: skip
