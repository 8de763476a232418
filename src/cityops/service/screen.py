"""The big screen's figures (指挥大屏): today, trends, top categories, hot grid cells, ranking.

Every figure is counted from the cases and their log by SQL that runs the same on SQLite and
PostgreSQL, scoped to what the caller may see (:func:`visible_cases`). Times are bucketed by
the hour in SQL relative to a local-midnight origin, then folded into local days here, so
days follow the city's zone (DST included) without zone arithmetic in the database.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from time import monotonic
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    cast,
    distinct,
    func,
    literal_column,
    select,
)
from sqlalchemy import case as when
from sqlalchemy.orm import InstrumentedAttribute, Session

from cityops.adapters.db.models import CaseEventRow, CaseRow, ReportRow
from cityops.bootstrap import App
from cityops.domain.evaluation_formulas import Dimension
from cityops.domain.model import TERMINAL_STATES, CaseState
from cityops.service.access import visible_cases
from cityops.service.evaluation import run_evaluation
from cityops.service.principal import Principal
from cityops.service.reference import Snapshot

TREND_DAYS = 30
TOP = 10
_CLOSED_STATES = [s.value for s in TERMINAL_STATES]
_NOT_COUNTED = [CaseState.INVALID.value, CaseState.MERGED.value]  # not a problem of the city
OPENING = ("open", "fast_track")  # 立案: the first opening of a case (reopen is not new work)

OPEN: ColumnElement[bool] = CaseRow.state.not_in(_CLOSED_STATES)


def overdue_now(now: datetime) -> ColumnElement[bool]:
    """Open, running and past its stage deadline (marked by the sweeper or not yet)."""
    late = CaseRow.stage_overdue.is_(True) | (CaseRow.stage_due_at < now)
    return OPEN & (CaseRow.state != CaseState.SUSPENDED.value) & late


def is_overdue(case: CaseRow, now: datetime) -> bool:
    """:func:`overdue_now` for one loaded case."""
    if case.state in _CLOSED_STATES or case.state == CaseState.SUSPENDED.value:
        return False
    return case.stage_overdue or (case.stage_due_at is not None and case.stage_due_at < now)


def case_brief(case: CaseRow, snap: Snapshot, now: datetime) -> dict[str, Any]:
    """What a screen shows of a case on the map and in the feed: no personal data."""
    cat = snap.categories.get(case.category or "")
    dept = snap.departments_by_id.get(case.department_id or -1)
    return {
        "id": case.id,
        "case_no": case.case_no,
        "state": case.state,
        "channel": case.channel,
        "category": case.category,
        "category_name": cat.name if cat else None,
        "title": case.title,
        "urgency": case.urgency,
        "lon": case.lon,
        "lat": case.lat,
        "grid_code": case.grid_code,
        "grid_name": snap.region_names.get(case.grid_code or ""),
        "street_name": snap.region_names.get(case.street_code or ""),
        "department_name": dept.name if dept else None,
        "overdue": is_overdue(case, now),
        "created_at": case.created_at.isoformat(),
    }


# -- time buckets --------------------------------------------------------------------------------


def _epoch(column: Any, dialect: str) -> ColumnElement[int]:
    """Seconds since 1970 of a naive-UTC timestamp column."""
    if dialect == "sqlite":
        return cast(func.strftime("%s", column), BigInteger)
    return cast(func.floor(func.extract("epoch", column)), BigInteger)


def _hour_counts(
    s: Session,
    column: InstrumentedAttribute[datetime],
    where: Sequence[ColumnElement[bool]],
    origin: datetime,
    hours: int,
    *,
    join_case: InstrumentedAttribute[int | None] | InstrumentedAttribute[int],
) -> list[int]:
    """How many rows fall in each hour from ``origin``; ``join_case`` links the row to its case."""
    dialect = s.get_bind().dialect.name
    # Literal integers (not bind parameters) so GROUP BY repeats exactly the selected expression.
    start: ColumnElement[int] = literal_column(str(int(origin.timestamp())))
    bucket = ((_epoch(column, dialect) - start) // literal_column("3600")).label("bucket")
    end = origin + timedelta(hours=hours)
    query = (
        select(bucket, func.count())
        .select_from(column.class_)
        .join(CaseRow, join_case == CaseRow.id)
        .where(column >= origin, column < end, *where)
        .group_by(bucket)
    )
    out = [0] * hours
    for index, n in s.execute(query):
        if index is not None and 0 <= int(index) < hours:
            out[int(index)] += int(n)
    return out


def local_midnight(moment: datetime, app: App, days_back: int = 0) -> datetime:
    tz = app.settings.tz
    day = moment.astimezone(tz).date() - timedelta(days=days_back)
    return datetime.combine(day, time(), tz)


@dataclass(frozen=True, slots=True)
class _Series:
    reported: list[int]
    opened: list[int]
    closed: list[int]
    closed_on_time: list[int]


def _series(s: Session, where: list[ColumnElement[bool]], origin: datetime, hours: int) -> _Series:
    def events(*clauses: ColumnElement[bool]) -> list[int]:
        return _hour_counts(
            s, CaseEventRow.at, [*where, *clauses], origin, hours, join_case=CaseEventRow.case_id
        )

    on_time = CaseRow.ever_overdue.is_(False)
    return _Series(
        reported=_hour_counts(
            s, ReportRow.received_at, where, origin, hours, join_case=ReportRow.case_id
        ),
        opened=events(CaseEventRow.action.in_(OPENING)),
        closed=events(CaseEventRow.action == "close"),
        closed_on_time=events(CaseEventRow.action == "close", on_time),
    )


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


# -- the figures ---------------------------------------------------------------------------------


def overview(app: App, principal: Principal) -> dict[str, Any]:
    """Today's figures, the 24-hour and 30-day trends, top categories and hot grid cells."""
    now, snap = app.clock(), app.reference.get()
    tz = app.settings.tz
    vis = visible_cases(principal)
    # Hour arithmetic in UTC: local wall-clock arithmetic would slip an hour across DST.
    today = local_midnight(now, app)
    this_hour = now.astimezone(tz).replace(minute=0, second=0, microsecond=0).astimezone(UTC)
    hour0 = this_hour - timedelta(hours=23)
    day0 = local_midnight(now, app, TREND_DAYS - 1).astimezone(UTC)
    day_hours = int((local_midnight(now, app, -1).astimezone(UTC) - day0).total_seconds() // 3600)
    with app.reads() as s:
        figures = _today(s, vis, today, now)
        hourly = _series(s, [vis], hour0, 24)
        daily_hours = _series(s, [vis], day0, day_hours)
        categories = _top_categories(s, vis, day0, snap)
        grids = _hot_grids(s, vis, day0, now, snap)
    days = [today.date() - timedelta(days=TREND_DAYS - 1 - i) for i in range(TREND_DAYS)]
    index = {d: i for i, d in enumerate(days)}
    day_of_hour = [index.get((day0 + timedelta(hours=h)).astimezone(tz).date(), -1)
                   for h in range(day_hours)]  # fmt: skip

    def fold(values: list[int]) -> list[int]:
        out = [0] * TREND_DAYS
        for h, n in enumerate(values):
            if day_of_hour[h] >= 0:
                out[day_of_hour[h]] += n
        return out

    closed, on_time = fold(daily_hours.closed), fold(daily_hours.closed_on_time)
    return {
        "generated_at": now.isoformat(),
        "timezone": app.settings.timezone,
        "today": figures,
        "trend_24h": {
            "hours": [(hour0 + timedelta(hours=h)).astimezone(tz).isoformat() for h in range(24)],
            "reported": hourly.reported,
            "opened": hourly.opened,
            "closed": hourly.closed,
        },
        "trend_30d": {
            "days": [d.isoformat() for d in days],
            "reported": fold(daily_hours.reported),
            "opened": fold(daily_hours.opened),
            "closed": closed,
            "on_time_rate": [_rate(a, b) for a, b in zip(on_time, closed, strict=True)],
        },
        "top_categories": categories,
        "hot_grids": grids,
    }


def _today(
    s: Session, vis: ColumnElement[bool], today: datetime, now: datetime
) -> dict[str, Any]:
    channels: dict[str, int] = {
        channel: int(n)
        for channel, n in s.execute(
            select(ReportRow.channel, func.count())
            .join(CaseRow, ReportRow.case_id == CaseRow.id)
            .where(vis, ReportRow.received_at >= today)
            .group_by(ReportRow.channel)
        )
    }
    in_today = CaseEventRow.at >= today
    opened = s.scalar(
        select(func.count(distinct(CaseEventRow.case_id)))
        .join(CaseRow, CaseEventRow.case_id == CaseRow.id)
        .where(vis, in_today, CaseEventRow.action.in_(OPENING))
    )
    closed, on_time = s.execute(
        select(
            func.count(distinct(CaseEventRow.case_id)),
            func.count(distinct(when((CaseRow.ever_overdue.is_(False), CaseEventRow.case_id)))),
        )
        .join(CaseRow, CaseEventRow.case_id == CaseRow.id)
        .where(vis, in_today, CaseEventRow.action == "close")
    ).one()
    open_now, overdue = s.execute(
        select(func.count(), func.count(when((overdue_now(now), CaseRow.id))))
        .where(vis, OPEN)
    ).one()
    return {
        "since": today.isoformat(),
        "reported": sum(channels.values()),
        "by_channel": dict(sorted(channels.items())),
        "opened": int(opened or 0),
        "closed": int(closed or 0),
        "closed_on_time": int(on_time or 0),
        "on_time_rate": _rate(int(on_time or 0), int(closed or 0)),
        "open": int(open_now or 0),
        "overdue": int(overdue or 0),
    }


def _top_categories(
    s: Session, vis: ColumnElement[bool], since: datetime, snap: Snapshot
) -> list[dict[str, Any]]:
    n = func.count().label("n")
    rows = s.execute(
        select(CaseRow.category, n)
        .where(vis, CaseRow.created_at >= since, CaseRow.category.is_not(None),
               CaseRow.state.not_in(_NOT_COUNTED))
        .group_by(CaseRow.category)
        .order_by(n.desc(), CaseRow.category)
        .limit(TOP)
    )  # fmt: skip
    out = []
    for key, count in rows:
        cat = snap.categories.get(key or "")
        out.append({"category": key, "name": cat.name if cat else key, "count": int(count)})
    return out


def _hot_grids(
    s: Session, vis: ColumnElement[bool], since: datetime, now: datetime, snap: Snapshot
) -> list[dict[str, Any]]:
    n = func.count().label("n")
    rows = s.execute(
        select(
            CaseRow.grid_code,
            n,
            func.count(when((OPEN, CaseRow.id))),
            func.count(when((overdue_now(now), CaseRow.id))),
        )
        .where(vis, CaseRow.created_at >= since, CaseRow.grid_code.is_not(None),
               CaseRow.state.not_in(_NOT_COUNTED))
        .group_by(CaseRow.grid_code)
        .order_by(n.desc(), CaseRow.grid_code)
        .limit(TOP)
    )  # fmt: skip
    out = []
    for code, total, open_, overdue in rows:
        street = snap.region_path(code or "")[2:3]
        out.append({
            "grid_code": code, "name": snap.region_names.get(code or "", code),
            "street_name": street[0].name if street else None,
            "count": int(total), "open": int(open_), "overdue": int(overdue),
        })  # fmt: skip
    return out


# -- department ranking (from the evaluation) ----------------------------------------------------

RANKED_METRICS = ("dispatched", "closed", "on_time_handle_rate", "close_rate", "return_rate")


def department_ranking(app: App, limit: int = TOP) -> dict[str, Any]:
    """综合评价 of departments over the last 30 days, best first (the evaluation's own scores)."""
    now = app.clock()
    start = now - timedelta(days=TREND_DAYS)
    result = run_evaluation(app, Dimension.DEPARTMENT, start, now)
    rows = [r for r in result.rows if r.score is not None]
    rows.sort(key=lambda r: (-(r.score or 0), r.key))
    return {
        "from": start.isoformat(),
        "to": now.isoformat(),
        "generated_at": now.isoformat(),
        "rows": [
            {
                "rank": i + 1,
                "key": r.key,
                "name": result.names.get(r.key, r.key),
                "score": r.score,
                "metrics": {k: r.metrics.get(k) for k in RANKED_METRICS},
            }
            for i, r in enumerate(rows[:limit])
        ],
    }


class TtlCache:
    """One value per key for ``seconds``: the ranking reads the whole log of 30 days."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._values: dict[str, tuple[float, Any]] = {}
        self._lock = threading.Lock()

    def get(self, key: str, compute: Callable[[], Any]) -> Any:
        now = monotonic()
        with self._lock:
            hit = self._values.get(key)
        if hit is not None and now - hit[0] < self.seconds:
            return hit[1]
        value = compute()  # outside the lock: two callers may both compute, neither waits
        with self._lock:
            self._values[key] = (now, value)
        return value
