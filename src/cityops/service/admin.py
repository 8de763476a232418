"""Administrative imports: regions, departments, taxonomy, rules, users, calendars.

Each import validates everything first and writes in one transaction, so a file with one bad
item leaves the database as it was, and the error names every offending item. Every change
is written to the audit log.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import shapely
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from cityops.adapters.db.models import (
    AuditRow,
    CategoryRow,
    DepartmentRow,
    HolidayScheduleRow,
    RegionRow,
    RuleRow,
    RuleSetRow,
    UserRow,
)
from cityops.bootstrap import App
from cityops.domain.calendar import YearSchedule
from cityops.domain.errors import Conflict, ImportProblem, ImportRejected
from cityops.domain.model import DepartmentLevel, Role
from cityops.domain.regions import RegionSpec
from cityops.domain.routing import ResponsibilityRule, TimeWindow, check_rules
from cityops.domain.taxonomy import Taxonomy
from cityops.service.auth import hash_password


@dataclass(frozen=True, slots=True)
class ImportResult:
    kind: str
    created: int
    updated: int = 0


def audit(
    s: Session, actor: str, action: str, target: str, detail: Mapping[str, Any], now: datetime
) -> None:
    s.add(AuditRow(at=now, actor=actor, action=action, target=target, detail=dict(detail)))


def import_regions(app: App, specs: Sequence[RegionSpec], actor: str) -> ImportResult:
    """Upsert validated regions (parents first, as ``parse_region_*`` returns them)."""
    now = app.clock()
    created = updated = 0
    with app.sessions.begin() as s:
        existing = {r.code: r for r in s.scalars(select(RegionRow))}
        for spec in specs:
            geom = json.loads(shapely.to_geojson(spec.geometry)) if spec.geometry else None
            bounds = spec.geometry.bounds if spec.geometry is not None else (None,) * 4
            row = existing.get(spec.code)
            if row is None:
                row = RegionRow(code=spec.code)
                s.add(row)
                created += 1
            else:
                updated += 1
            row.name, row.level, row.parent_code = spec.name, spec.level.value, spec.parent_code
            row.geometry = geom
            row.min_lon, row.min_lat, row.max_lon, row.max_lat = bounds
        audit(
            s,
            actor,
            "import_regions",
            f"{len(specs)} regions",
            {"created": created, "updated": updated},
            now,
        )
    app.reference.invalidate()
    return ImportResult("regions", created, updated)


def region_codes(app: App) -> set[str]:
    with app.reads() as s:
        return set(s.scalars(select(RegionRow.code)))


def import_departments(app: App, items: Iterable[Mapping[str, Any]], actor: str) -> ImportResult:
    items = list(items)
    problems: list[ImportProblem] = []
    codes = region_codes(app)
    seen: set[str] = set()
    for i, d in enumerate(items):
        where = f"departments[{i}] {d.get('code', '?')}"
        if not d.get("code") or not d.get("name"):
            problems.append(ImportProblem(where, "code and name are required"))
        if d.get("code") in seen:
            problems.append(ImportProblem(where, "duplicate code"))
        seen.add(str(d.get("code")))
        if d.get("level") not in DepartmentLevel.__members__.values():
            problems.append(ImportProblem(where, f"level must be one of {list(DepartmentLevel)}"))
        if d.get("region_code") and d["region_code"] not in codes:
            problems.append(ImportProblem(where, f"unknown region {d['region_code']}"))
    if problems:
        raise ImportRejected("departments rejected; nothing imported", problems)
    now = app.clock()
    created = updated = 0
    with app.sessions.begin() as s:
        existing = {d.code: d for d in s.scalars(select(DepartmentRow))}
        for d in items:
            row = existing.get(d["code"])
            if row is None:
                row = DepartmentRow(code=d["code"])
                s.add(row)
                created += 1
            else:
                updated += 1
            row.name, row.level = d["name"], d["level"]
            row.region_code, row.kinds = d.get("region_code"), list(d.get("kinds") or [])
        audit(
            s,
            actor,
            "import_departments",
            f"{len(items)} departments",
            {"created": created, "updated": updated},
            now,
        )
    app.reference.invalidate()
    return ImportResult("departments", created, updated)


def import_taxonomy(app: App, taxonomy: Taxonomy, actor: str) -> ImportResult:
    now = app.clock()
    majors = {m.key: m.name for m in taxonomy.majors}
    created = updated = 0
    with app.sessions.begin() as s:
        existing = {c.key: c for c in s.scalars(select(CategoryRow))}
        for c in taxonomy:
            row = existing.pop(c.key, None)
            if row is None:
                row = CategoryRow(key=c.key)
                s.add(row)
                created += 1
            else:
                updated += 1
            row.kind, row.major_code, row.major_name = (
                c.kind.value,
                c.major_code,
                majors[c.major_key],
            )
            row.code, row.name, row.urgency = c.code, c.name, c.urgency.value
            row.filing_condition, row.closing_condition = c.filing_condition, c.closing_condition
            row.time_limits = {k.value: str(v) for k, v in c.time_limits.items()}
            row.keywords, row.owner_hint, row.active = list(c.keywords), c.owner_hint, True
        for row in existing.values():  # cases keep pointing at retired categories
            row.active = False
        audit(
            s,
            actor,
            "import_taxonomy",
            taxonomy.version,
            {"created": created, "updated": updated, "retired": len(existing)},
            now,
        )
    app.reference.invalidate()
    return ImportResult("taxonomy", created, updated)


def _window(raw: Any) -> TimeWindow | None:
    if not raw:
        return None
    return TimeWindow(
        datetime.strptime(raw["start"], "%H:%M").time(),
        datetime.strptime(raw["end"], "%H:%M").time(),
    )


def import_rules(
    app: App,
    items: Iterable[Mapping[str, Any]],
    version: str,
    effective_from: datetime,
    actor: str,
) -> ImportResult:
    """Publish a new version of the responsibility list (事项责任清单)."""
    items = list(items)
    problems: list[ImportProblem] = []
    snap = app.reference.get()
    codes = region_codes(app)
    rules: list[ResponsibilityRule] = []
    for i, r in enumerate(items):
        where = f"rules[{i}] {r.get('category')} @ {r.get('area')}"
        try:
            window = _window(r.get("window"))
        except (KeyError, TypeError, ValueError):
            problems.append(ImportProblem(where, "window needs start and end as HH:MM"))
            window = None
        if r.get("department") not in snap.departments_by_code:
            problems.append(ImportProblem(where, f"unknown department {r.get('department')}"))
        if r.get("area") not in codes:
            problems.append(ImportProblem(where, f"unknown area {r.get('area')}"))
        cat = str(r.get("category", ""))
        if cat != "*" and len(cat) == 5 and cat not in snap.categories:
            problems.append(ImportProblem(where, f"unknown category {cat}"))
        rules.append(
            ResponsibilityRule(cat, str(r.get("area", "")), str(r.get("department", "")), window)
        )
    if not problems:
        try:
            check_rules(rules)
        except ImportRejected as exc:
            problems.extend(exc.problems)
    if problems:
        raise ImportRejected(f"responsibility list {version} rejected; nothing imported", problems)
    now = app.clock()
    with app.sessions.begin() as s:
        if s.scalars(select(RuleSetRow).where(RuleSetRow.version == version)).first():
            raise Conflict(
                f"version {version} already exists; publish a new version", version=version
            )
        rs = RuleSetRow(version=version, effective_from=effective_from, created_at=now)
        s.add(rs)
        s.flush()
        s.add_all(
            RuleRow(
                ruleset_id=rs.id,
                category=r.category,
                area=r.area,
                department_code=r.department,
                window_start=r.window.start.strftime("%H:%M") if r.window else None,
                window_end=r.window.end.strftime("%H:%M") if r.window else None,
            )
            for r in rules
        )
        audit(
            s,
            actor,
            "import_rules",
            version,
            {"rules": len(rules), "effective_from": effective_from.isoformat()},
            now,
        )
    app.reference.invalidate()
    return ImportResult("rules", len(rules))


def import_users(app: App, items: Iterable[Mapping[str, Any]], actor: str) -> ImportResult:
    items = list(items)
    problems: list[ImportProblem] = []
    snap = app.reference.get()
    codes = region_codes(app)
    for i, u in enumerate(items):
        where = f"users[{i}] {u.get('username', '?')}"
        if u.get("role") not in Role.__members__.values() or u.get("role") == Role.SYSTEM:
            problems.append(ImportProblem(where, f"unknown role {u.get('role')}"))
        if u.get("scope") and u["scope"] not in codes:
            problems.append(ImportProblem(where, f"unknown scope region {u['scope']}"))
        if u.get("department") and u["department"] not in snap.departments_by_code:
            problems.append(ImportProblem(where, f"unknown department {u['department']}"))
        if u.get("role") == Role.HANDLER and not u.get("department"):
            problems.append(ImportProblem(where, "a handler needs a department"))
        if len(str(u.get("password", ""))) < 8:
            problems.append(ImportProblem(where, "password needs at least 8 characters"))
    if problems:
        raise ImportRejected("users rejected; nothing imported", problems)
    now = app.clock()
    created = updated = 0
    with app.sessions.begin() as s:
        existing = {u.username: u for u in s.scalars(select(UserRow))}
        for u in items:
            row = existing.get(u["username"])
            if row is None:
                row = UserRow(username=u["username"])
                s.add(row)
                created += 1
            else:
                updated += 1
            dept = snap.departments_by_code.get(u.get("department") or "")
            row.display_name = u.get("display_name") or u["username"]
            row.role, row.scope_code = u["role"], u.get("scope")
            row.department_id = dept.id if dept else None
            row.password_hash, row.phone, row.active = (
                hash_password(u["password"]),
                u.get("phone"),
                True,
            )
        audit(
            s,
            actor,
            "import_users",
            f"{len(items)} users",
            {"created": created, "updated": updated},
            now,
        )
    return ImportResult("users", created, updated)


def load_holidays(app: App, schedule: YearSchedule, actor: str) -> ImportResult:
    """Store an official schedule for a year (overrides the package's, if any)."""
    now = app.clock()
    with app.sessions.begin() as s:
        s.execute(delete(HolidayScheduleRow).where(HolidayScheduleRow.year == schedule.year))
        s.add(
            HolidayScheduleRow(
                year=schedule.year,
                holidays=sorted(d.isoformat() for d in schedule.holidays),
                workdays=sorted(d.isoformat() for d in schedule.workdays),
                source=schedule.source[:200],
                loaded_at=now,
            )
        )
        audit(
            s,
            actor,
            "load_holidays",
            str(schedule.year),
            {"holidays": len(schedule.holidays), "workdays": len(schedule.workdays)},
            now,
        )
    app.reference.invalidate()
    return ImportResult("holidays", 1)
