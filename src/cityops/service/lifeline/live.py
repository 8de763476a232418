"""Alarm changes on the event bus (so the live stream pushes them to screens and consoles).

Only changes a screen shows are published: a new alarm, a higher level, a re-raise, an
acknowledgement, a clear. "repeated" (the same alarm seen again) only counts, and at 85,000
sensors it would flood every stream. Each event names the asset's grid cell and owner, which
the live hub uses to show it only to those who may see the asset (scoped like the alarm list).
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import select

from cityops.adapters.db.alarm_models import AlarmRow
from cityops.adapters.db.lifeline_models import LifelineAssetRow
from cityops.bootstrap import App
from cityops.domain.lifeline.alarms import Change
from cityops.service.bus import Event

log = logging.getLogger(__name__)

EVENT_NAMES = {
    "raised": "LifelineAlarmRaised", "escalated": "LifelineAlarmEscalated",
    "reraised": "LifelineAlarmReraised", "acknowledged": "LifelineAlarmAcknowledged",
    "cleared": "LifelineAlarmCleared",
}  # fmt: skip


def alarm_events(app: App, changes: list[Change]) -> list[Event]:
    """The bus events for ``changes`` (the last change per alarm and kind wins)."""
    shown = {(c.alarm.id, c.what): c for c in changes if c.what in EVENT_NAMES and c.alarm.id}
    if not shown:
        return []
    ids = {alarm_id for alarm_id, _ in shown}
    with app.reads() as s:
        rows = s.execute(
            select(AlarmRow.id, LifelineAssetRow.code, LifelineAssetRow.name,
                   LifelineAssetRow.kind, LifelineAssetRow.grid_code,
                   LifelineAssetRow.owner_department_id)
            .join(LifelineAssetRow, LifelineAssetRow.id == AlarmRow.asset_id)
            .where(AlarmRow.id.in_(ids))
        ).all()  # fmt: skip
    assets = {r[0]: r[1:] for r in rows}
    out = []
    for (alarm_id, what), change in shown.items():
        asset = assets.get(alarm_id)
        if asset is None:  # no asset: nobody could be shown it
            continue
        code, name, kind, grid, owner = asset
        a = change.alarm
        payload: dict[str, Any] = {
            "alarm_id": alarm_id, "what": what, "alarm_type": a.key[1], "level": a.level,
            "current_level": a.current, "state": a.state.value, "asset": code,
            "asset_name": name, "asset_kind": kind, "grid_code": grid, "department_id": owner,
        }  # fmt: skip
        out.append(Event(EVENT_NAMES[what], app.clock(), payload))
    return out


def publish_changes(app: App, changes: list[Change]) -> None:
    """Publish after the changes are committed; a failure here never affects the alarms."""
    try:
        for event in alarm_events(app, changes):
            app.bus.publish(event)
    except Exception:
        log.exception("lifeline: could not publish %d alarm changes", len(changes))
