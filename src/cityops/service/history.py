"""Bulk import of historical closed cases (历史案件导入), for classifier training and evaluation.

The file is CSV (see docs/history-import.md). The import is all-or-nothing: every row is checked
first and every bad row is named by its line; only a clean file is written, with a few
multi-row INSERTs. ``("history", source_id)`` is the idempotency key, so a file imported twice
is refused the second time, naming the rows already in.

Each case gets a short, honest log: ``submit`` at ``reported_at`` and ``close`` or ``invalidate``
at ``closed_at``, both by the system and marked ``{"imported": true}``. Nothing in between is
invented: an imported case was never opened or dispatched here, so evaluation counts it as
reported and closed (or invalid), and no department's dispatch or on-time figures move.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from typing import Any, cast

from sqlalchemy import Table, insert, select
from sqlalchemy.exc import IntegrityError

from cityops.adapters.db.ids import allocate_ids
from cityops.adapters.db.models import CaseEventRow, CaseRow, ReportRow
from cityops.bootstrap import App
from cityops.domain.errors import Conflict, ImportProblem, ImportRejected, ValidationFailed
from cityops.domain.model import CaseState, Channel, Role
from cityops.service.admin import ImportResult, audit
from cityops.service.bus import Event
from cityops.service.intake import SOURCE_ID_MAX
from cityops.service.locating import Place, locate
from cityops.service.reference import Snapshot

HISTORY_CHANNEL = "history"  # the reports' channel: with source_id, the idempotency key
REQUIRED = ("source_id", "channel", "category", "description", "reported_at", "closed_at", "state")
OPTIONAL = ("lon", "lat", "grid_code", "department", "crs")
FINAL = {CaseState.CLOSED: "close", CaseState.INVALID: "invalidate"}
MAX_ROWS = 200_000
MAX_PROBLEMS = 200  # listed; the message still gives the full count
_TIME_FORMATS = ("%Y/%m/%d %H:%M:%S", "%Y/%m/%d %H:%M", "%Y/%m/%d")
_NOTE = "历史案件导入 / imported history"

_CASES = cast(Table, CaseRow.__table__)
_REPORTS = cast(Table, ReportRow.__table__)
_EVENTS = cast(Table, CaseEventRow.__table__)


@dataclass(frozen=True, slots=True)
class HistoryImportResult(ImportResult):
    closed: int = 0
    invalid: int = 0
    batch: str = ""


@dataclass(frozen=True, slots=True)
class _Row:
    line: int
    raw: str
    source_id: str
    channel: Channel
    category: str
    description: str
    place: Place
    reported_at: datetime
    closed_at: datetime
    department_id: int | None
    state: CaseState


def _parse_time(text: str, tz: tzinfo) -> datetime:
    """ISO 8601 (``2026-03-01T09:30:00+08:00``, ``2026-03-01 09:30``) or ``2026/03/01 09:30``.

    A time without a zone is the city's local time.
    """
    text = text.strip()
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        for fmt in _TIME_FORMATS:
            try:
                value = datetime.strptime(text, fmt)
                break
            except ValueError:
                continue
        else:
            raise ValueError(text) from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=tz)
    return value.astimezone(UTC)


class _Checker:
    """Turns the CSV's records into rows, collecting every problem with its line."""

    def __init__(self, snap: Snapshot, tz: tzinfo, now: datetime) -> None:
        self.snap, self.tz, self.now = snap, tz, now
        self.problems: list[ImportProblem] = []

    def bad(self, line: int, reason: str) -> None:
        self.problems.append(ImportProblem(f"line {line}", reason))

    def _time(self, line: int, field: str, text: str) -> datetime | None:
        if not text:
            self.bad(line, f"{field} 缺失 / {field} is missing")
            return None
        try:
            return _parse_time(text, self.tz)
        except ValueError:
            self.bad(line, f"{field} 时间格式错误 {text!r} / {field} is not a date-time "
                           "(use 2026-03-01T09:30:00+08:00)")  # fmt: skip
            return None

    def _place(self, line: int, v: dict[str, str]) -> Place | None:
        lon_text, lat_text, grid = v.get("lon", ""), v.get("lat", ""), v.get("grid_code", "")
        lon = lat = None
        if lon_text or lat_text:
            try:
                lon, lat = float(lon_text), float(lat_text)
            except ValueError:
                self.bad(line, f"经纬度不是数字 ({lon_text!r}, {lat_text!r}) / lon/lat are "
                               "not numbers")  # fmt: skip
                return None
            if not (math.isfinite(lon) and math.isfinite(lat)):
                self.bad(line, "经纬度无效 / lon/lat are not finite")
                return None
        elif not grid:
            self.bad(line, "需要 lon/lat 或 grid_code / lon/lat or grid_code is required")
            return None
        try:
            return locate(self.snap, lon, lat, grid or None, None, crs=v.get("crs") or "wgs84")
        except ValidationFailed as exc:
            self.bad(line, exc.message)
            return None

    def row(self, line: int, raw: str, v: dict[str, str]) -> _Row | None:
        before = len(self.problems)
        source_id = v["source_id"]
        if not source_id or len(source_id) > SOURCE_ID_MAX:
            self.bad(line, f"source_id 需 1–{SOURCE_ID_MAX} 个字符 / source_id must be "
                           f"1–{SOURCE_ID_MAX} characters")  # fmt: skip
        channel = v["channel"]
        if channel not in Channel.__members__.values():
            allowed = ", ".join(c.value for c in Channel)
            self.bad(line, f"未知渠道 {channel!r} / unknown channel (one of {allowed})")
        info = self.snap.categories.get(v["category"])
        if info is None:  # a retired category is still known: old cases carry it
            self.bad(line, f"未知分类 {v['category']!r} / unknown category")
        if not v["description"]:
            self.bad(line, "缺少问题描述 / description is missing")
        place = self._place(line, v)
        reported = self._time(line, "reported_at", v["reported_at"])
        closed = self._time(line, "closed_at", v["closed_at"])
        if reported and closed and closed < reported:
            self.bad(line, "closed_at 早于 reported_at / closed_at is before reported_at")
        if closed and closed > self.now:
            self.bad(line, "closed_at 在未来 / closed_at is in the future")
        code = v.get("department", "")
        dept = self.snap.departments_by_code.get(code) if code else None
        if code and dept is None:
            self.bad(line, f"未知部门 {code!r} / unknown department")
        state = v["state"].lower()
        if state not in (CaseState.CLOSED, CaseState.INVALID):
            self.bad(line, f"状态 {v['state']!r} 无效，应为 closed 或 invalid / state must be "
                           "closed or invalid")  # fmt: skip
        if len(self.problems) > before:
            return None
        assert place is not None and reported is not None and closed is not None
        dept_id = dept.id if dept else None
        return _Row(line, raw, source_id, Channel(channel), v["category"], v["description"],
                    place, reported, closed, dept_id, CaseState(state))  # fmt: skip


def _records(text: str) -> tuple[str, list[str], list[tuple[int, str, list[str]]]]:
    """(header line, column names, [(line number, raw text, cells)]); blank lines skipped."""
    lines = list(io.StringIO(text.removeprefix("\ufeff"), newline=""))
    reader = csv.reader(lines)
    try:
        header = next(reader)
    except StopIteration:
        return "", [], []
    except csv.Error as exc:
        raise ImportRejected("历史案件未导入 / history rejected", [
            ImportProblem("line 1", f"CSV 格式错误 / malformed CSV: {exc}")
        ]) from exc  # fmt: skip
    header_raw = "".join(lines[: reader.line_num]).rstrip("\r\n")
    records: list[tuple[int, str, list[str]]] = []
    start = reader.line_num + 1
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            raise ImportRejected("历史案件未导入 / history rejected", [
                ImportProblem(f"line {start}", f"CSV 格式错误 / malformed CSV: {exc}")
            ]) from exc  # fmt: skip
        if any(c.strip() for c in cells):
            records.append((start, "".join(lines[start - 1 : reader.line_num]).rstrip("\r\n"),
                            cells))  # fmt: skip
        start = reader.line_num + 1
    return header_raw, [h.strip().lower() for h in header], records


def _reject(problems: list[ImportProblem], rows: int) -> ImportRejected:
    lines = len({p.item for p in problems})
    listed = problems[:MAX_PROBLEMS]
    if len(problems) > MAX_PROBLEMS:
        listed.append(
            ImportProblem(
                "file",
                f"另有 {len(problems) - MAX_PROBLEMS} 个问题未列出"
                f" / {len(problems) - MAX_PROBLEMS} more not listed",
            )
        )
    return ImportRejected(
        f"历史案件未导入：{lines} 处有问题 / history rejected: problems on {lines} of {rows} "
        "row(s); nothing was imported",
        listed,
    )


def parse_history(app: App, text: str) -> list[_Row]:
    """Check the whole file; raise :class:`ImportRejected` naming every bad line."""
    snap, now = app.reference.get(), app.clock()
    header_raw, header, records = _records(text)
    missing = [c for c in REQUIRED if c not in header]
    unknown = [c for c in header if c not in REQUIRED and c not in OPTIONAL]
    dupes = sorted({c for c in header if header.count(c) > 1})
    problems = [ImportProblem("line 1", f"缺少列 / missing column {c!r}") for c in missing]
    problems += [ImportProblem("line 1", f"未知列 / unknown column {c!r}") for c in unknown]
    problems += [ImportProblem("line 1", f"重复列 / repeated column {c!r}") for c in dupes]
    if ("lon" in header) != ("lat" in header):
        problems.append(ImportProblem("line 1", "lon 与 lat 列需成对 / lon and lat go together"))
    if not missing and not any(c in header for c in ("lon", "grid_code")):
        problems.append(ImportProblem("line 1", "需要 lon,lat 或 grid_code 列 / lon,lat or "
                                                "grid_code columns are required"))  # fmt: skip
    if not problems and not records:
        problems.append(ImportProblem("file", "没有数据行 / no data rows"))
    if len(records) > MAX_ROWS:
        problems.append(ImportProblem("file", f"超过 {MAX_ROWS} 行，请分批 / more than "
                                              f"{MAX_ROWS} rows: split the file"))  # fmt: skip
    if problems:
        raise _reject(problems, len(records))
    checker = _Checker(snap, app.settings.tz, now)
    rows: list[_Row] = []
    first_line: dict[str, int] = {}
    for line, raw, cells in records:
        if len(cells) != len(header):
            checker.bad(line, f"应有 {len(header)} 列，实有 {len(cells)} 列 / expected "
                              f"{len(header)} fields, found {len(cells)}")  # fmt: skip
            continue
        values = {h: c.strip() for h, c in zip(header, cells, strict=True)}
        sid = values["source_id"]
        if sid in first_line:
            checker.bad(line, f"source_id {sid!r} 与第 {first_line[sid]} 行重复 / duplicate "
                              f"source_id (first on line {first_line[sid]})")  # fmt: skip
        elif sid:
            first_line[sid] = line
        row = checker.row(line, f"{header_raw}\n{raw}", values)
        if row is not None:
            rows.append(row)
    _check_known(app, first_line, checker)
    if checker.problems:
        checker.problems.sort(key=lambda p: int(p.item.split()[1]))
        raise _reject(checker.problems, len(records))
    return rows


def _check_known(app: App, first_line: dict[str, int], checker: _Checker) -> None:
    ids = list(first_line)
    with app.reads() as s:
        for i in range(0, len(ids), 500):
            found = s.execute(
                select(ReportRow.source_id, CaseRow.case_no)
                .join(CaseRow, ReportRow.case_id == CaseRow.id)
                .where(ReportRow.channel == HISTORY_CHANNEL,
                       ReportRow.source_id.in_(ids[i : i + 500]))
            ).all()  # fmt: skip
            for sid, case_no in found:
                checker.bad(first_line[sid], f"source_id {sid!r} 已导入（案卷 {case_no}）/ "
                                             f"already imported as case {case_no}")  # fmt: skip


def import_history(app: App, csv_text: str, actor: str) -> HistoryImportResult:
    """Check the whole CSV, then write every case, report and event in one transaction."""
    rows = parse_history(app, csv_text)
    snap, now, tz = app.reference.get(), app.clock(), app.settings.tz
    try:
        with app.sessions.begin() as session:
            ids = allocate_ids(session, _CASES, len(rows))
            batch = f"history-{now:%Y%m%dT%H%M%SZ}-{ids[0]}"
            cases, reports, events = [], [], []
            for case_id, row in zip(ids, rows, strict=True):
                cases.append(_case(snap, case_id, row, tz))
                reports.append(_report(case_id, row, now))
                events += _events(case_id, row, batch)
            conn = session.connection()
            conn.execute(insert(_CASES), cases)
            conn.execute(insert(_REPORTS), reports)
            conn.execute(insert(_EVENTS), events)
            closed = sum(r.state is CaseState.CLOSED for r in rows)
            audit(session, actor, "import_history", batch, {
                "created": len(rows), "closed": closed, "invalid": len(rows) - closed,
                "first_case_id": ids[0], "last_case_id": ids[-1],
            }, now)  # fmt: skip
    except IntegrityError as exc:
        raise Conflict(
            "另一导入同时写入了部分 source_id，请重试以查看 / another import wrote some of these "
            "source ids meanwhile; retry to see which",
        ) from exc
    app.bus.publish(Event("HistoryImported", now, {"batch": batch, "created": len(rows)}))
    return HistoryImportResult("history", len(rows), 0, closed, len(rows) - closed, batch)


def _case(snap: Snapshot, case_id: int, row: _Row, tz: tzinfo) -> dict[str, Any]:
    info = snap.categories[row.category]
    code = row.place.grid_code
    return {
        "id": case_id, "case_no": f"{row.reported_at.astimezone(tz):%Y%m%d}{case_id:06d}",
        "state": row.state.value, "resume_state": None, "channel": row.channel.value,
        "category": row.category, "urgency": info.urgency.value, "priority": "normal",
        "level": "street", "title": info.name[:200], "description": row.description,
        "address": None, "lon": row.place.lon, "lat": row.place.lat, "grid_code": code,
        "community_code": code[:12] if code else None, "street_code": code[:9] if code else None,
        "district_code": code[:6] if code else None, "department_id": row.department_id,
        "rule_id": None, "routing": None, "reporter_user_id": None, "reporter_name": None,
        "reporter_phone": None, "created_at": row.reported_at, "updated_at": row.closed_at,
        "closed_at": row.closed_at if row.state is CaseState.CLOSED else None,
        "stage": None, "stage_started_at": None, "stage_due_at": None, "stage_limit": None,
        "stage_overdue": False, "ever_overdue": False, "suspended_at": None,
        "escalated_for": None, "extension": None, "warnings": [], "rating": None,
        "event_seq": 2, "component_code": None, "triage": None,
        "classification": None, "location": {**(row.place.how or {}), "imported": True},
        "duplicate_of": None, "report_count": 1,
    }  # fmt: skip


def _report(case_id: int, row: _Row, now: datetime) -> dict[str, Any]:
    return {
        "channel": HISTORY_CHANNEL, "source_id": row.source_id, "received_at": now,
        "raw": row.raw, "reporter_name": None, "reporter_phone": None, "reporter_user_id": None,
        "case_id": case_id, "merged": False, "alerts": 1, "last_alert_at": None,
    }  # fmt: skip


def _events(case_id: int, row: _Row, batch: str) -> list[dict[str, Any]]:
    common: dict[str, Any] = {"case_id": case_id, "actor_id": None, "actor_role": Role.SYSTEM.value,
              "media": [], "correlation_id": None}  # fmt: skip
    return [
        {**common, "seq": 1, "action": "submit", "from_state": None,
         "to_state": CaseState.REPORTED.value, "at": row.reported_at, "department_id": None,
         "note": _NOTE, "data": {"imported": True, "channel": row.channel.value,
                                 "source_id": row.source_id, "import_batch": batch}},
        {**common, "seq": 2, "action": FINAL[row.state], "from_state": CaseState.REPORTED.value,
         "to_state": row.state.value, "at": row.closed_at, "department_id": row.department_id,
         "note": _NOTE, "data": {"imported": True, "import_batch": batch}},
    ]  # fmt: skip
