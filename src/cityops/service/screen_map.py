"""The cases a screen shows one by one: grid-cell load, open-case markers, the recent feed.

Scoped like every read; briefs carry no personal data (:func:`screen.case_brief`).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import case as when
from sqlalchemy import func, select

from cityops.adapters.db.models import CaseEventRow, CaseRow
from cityops.bootstrap import App
from cityops.domain.workflow import EVENT_NAMES
from cityops.service.access import visible_cases
from cityops.service.principal import Principal
from cityops.service.screen import OPEN, case_brief, overdue_now

MAX_MARKERS = 1000
FEED_SIZE = 30
# Log entries that are no workflow transition, by the name their bus event carries.
_LOG_EVENTS = {"merge_report": "ReportMerged"}


def event_name(action: str) -> str:
    """The bus event name of a log entry's action, so the feed and the live stream agree."""
    return EVENT_NAMES.get(action) or _LOG_EVENTS.get(action) or action


def map_view(app: App, principal: Principal, limit: int = MAX_MARKERS) -> dict[str, Any]:
    """Open and overdue cases per grid cell, and the newest open cases with a place."""
    now, snap = app.clock(), app.reference.get()
    vis = visible_cases(principal)
    with app.reads() as s:
        cells = s.execute(
            select(CaseRow.grid_code, func.count(), func.count(when((overdue_now(now), 1))))
            .where(vis, OPEN, CaseRow.grid_code.is_not(None))
            .group_by(CaseRow.grid_code)
        ).all()
        open_cases = s.scalars(
            select(CaseRow)
            .where(vis, OPEN, CaseRow.lon.is_not(None), CaseRow.lat.is_not(None))
            .order_by(CaseRow.id.desc())
            .limit(limit)
        ).all()
        markers = [case_brief(c, snap, now) for c in open_cases]
    return {
        "generated_at": now.isoformat(),
        "cells": [{"code": code, "open": int(n), "overdue": int(late)} for code, n, late in cells],
        "markers": markers,
        "truncated": len(markers) == limit,
    }


def recent_feed(app: App, principal: Principal, limit: int = FEED_SIZE) -> list[dict[str, Any]]:
    """The newest log entries of visible cases, shaped like the live stream's messages."""
    now, snap = app.clock(), app.reference.get()
    with app.reads() as s:
        rows = s.execute(
            select(CaseEventRow, CaseRow)
            .join(CaseRow, CaseEventRow.case_id == CaseRow.id)
            .where(visible_cases(principal))
            .order_by(CaseEventRow.at.desc(), CaseEventRow.id.desc())
            .limit(limit)
        ).all()
        return [
            {
                "name": event_name(e.action),
                "at": e.at.isoformat(),
                "payload": {
                    "action": e.action,
                    "from_state": e.from_state,
                    "to_state": e.to_state,
                },
                "case": case_brief(c, snap, now),
            }
            for e, c in rows
        ]
