"""Administrative imports: regions, departments, taxonomy, rules, users, calendars.

Each import validates everything first and writes in one transaction, so a file with one bad
item leaves the database as it was, and the error names every offending item. Every change
is written to the audit log.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

import shapely
from sqlalchemy import delete, func, insert, select
from sqlalchemy.orm import Session

from cityops.adapters.db.models import (
    AuditRow,
    Base,
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
from cityops.domain.errors import (
    Conflict,
    ImportProblem,
    ImportRejected,
    NotFound,
    ValidationFailed,
)
from cityops.domain.model import DepartmentLevel, Role, Stage, Urgency
from cityops.domain.regions import RegionSpec
from cityops.domain.routing import ResponsibilityRule, RuleSet, TimeWindow, check_rules
from cityops.domain.taxonomy import Category, Taxonomy
from cityops.domain.timelimit import TimeLimit, TimeUnit
from cityops.service.auth import hash_password
from cityops.service.reference import Snapshot

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


def _upsert(
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


def import_regions(app: App, specs: Sequence[RegionSpec], actor: str) -> ImportResult:
    """Upsert validated regions (parents first, as ``parse_region_*`` returns them)."""
    now = app.clock()

    def fill(row: RegionRow, spec: RegionSpec) -> None:
        geom = json.loads(shapely.to_geojson(spec.geometry)) if spec.geometry else None
        bounds = spec.geometry.bounds if spec.geometry is not None else (None,) * 4
        row.name, row.level, row.parent_code = spec.name, spec.level.value, spec.parent_code
        row.geometry = geom
        row.min_lon, row.min_lat, row.max_lon, row.max_lat = bounds

    with app.sessions.begin() as s:
        created, updated, _ = _upsert(s, RegionRow, "code", ((x.code, x) for x in specs), fill)
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
        elif len(str(d["code"])) > 40 or len(str(d["name"])) > 100:
            problems.append(ImportProblem(where, "code ≤ 40 and name ≤ 100 characters"))
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

    def fill(row: DepartmentRow, d: Mapping[str, Any]) -> None:
        row.name, row.level = d["name"], d["level"]
        row.region_code, row.kinds = d.get("region_code"), list(d.get("kinds") or [])

    with app.sessions.begin() as s:
        created, updated, _ = _upsert(
            s, DepartmentRow, "code", ((d["code"], d) for d in items), fill
        )
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

    def fill(row: CategoryRow, c: Category) -> None:
        row.kind, row.major_code, row.major_name = c.kind.value, c.major_code, majors[c.major_key]
        row.code, row.name, row.urgency = c.code, c.name, c.urgency.value
        row.filing_condition, row.closing_condition = c.filing_condition, c.closing_condition
        row.time_limits = {k.value: str(v) for k, v in c.time_limits.items()}
        row.keywords, row.owner_hint, row.active = list(c.keywords), c.owner_hint, True

    with app.sessions.begin() as s:
        created, updated, retired = _upsert(
            s, CategoryRow, "key", ((c.key, c) for c in taxonomy), fill
        )
        for row in retired:  # cases keep pointing at retired categories
            row.active = False
        audit(
            s,
            actor,
            "import_taxonomy",
            taxonomy.version,
            {"created": created, "updated": updated, "retired": len(retired)},
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


def _user_reasons(
    u: Mapping[str, Any], snap: Snapshot, codes: set[str], *, password_required: bool = True
) -> list[str]:
    """Everything wrong with one user as the import and the edit both see it."""
    reasons: list[str] = []
    name = u.get("username")
    if not isinstance(name, str) or not name.strip() or len(name) > 64:
        reasons.append("username is required, at most 64 characters")
    role = u.get("role")
    if role not in Role.__members__.values() or role == Role.SYSTEM:
        reasons.append(f"unknown role {role}")
    scope, dept = u.get("scope"), u.get("department")
    if scope and (not isinstance(scope, str) or scope not in codes):
        reasons.append(f"unknown scope region {scope}")
    if dept and (not isinstance(dept, str) or dept not in snap.departments_by_code):
        reasons.append(f"unknown department {dept}")
    if role == Role.HANDLER and not dept:
        reasons.append("a handler needs a department")
    shown = u.get("display_name")
    if shown is not None and (not isinstance(shown, str) or len(shown) > 100):
        reasons.append("display_name must be text of at most 100 characters")
    if u.get("phone") is not None and len(str(u["phone"])) > 32:
        reasons.append("phone has at most 32 characters")
    if (password_required or "password" in u) and len(str(u.get("password") or "")) < 8:
        reasons.append("password needs at least 8 characters")
    return reasons


def _active_admins(s: Session, *, lock: bool = False) -> set[str]:
    """Usernames of the active admins; ``lock`` serialises the writers that may remove one."""
    q = select(UserRow.username).where(UserRow.role == Role.ADMIN.value, UserRow.active)
    return set(s.scalars(q.with_for_update() if lock else q))


def _keep_an_admin(s: Session, before: set[str], username: str) -> None:
    """Refuse (409) a change that leaves the city without an active admin."""
    s.flush()
    if before and not _active_admins(s):
        raise Conflict(
            "the last active admin cannot be deactivated or demoted / 不能停用或降级最后一位管理员",
            username=username,
        )


def import_users(app: App, items: Iterable[Mapping[str, Any]], actor: str) -> ImportResult:
    items = list(items)
    problems: list[ImportProblem] = []
    snap = app.reference.get()
    codes = region_codes(app)
    first_at: dict[str, int] = {}
    for i, u in enumerate(items):
        where = f"users[{i}] {u.get('username', '?')}"
        reasons = _user_reasons(u, snap, codes)
        name = u.get("username")
        if isinstance(name, str) and first_at.setdefault(name, i) != i:
            reasons.append(f"duplicate username (first at users[{first_at[name]}])")
        problems += [ImportProblem(where, r) for r in reasons]
    if problems:
        raise ImportRejected("users rejected; nothing imported", problems)
    now = app.clock()

    def fill(row: UserRow, u: Mapping[str, Any]) -> None:
        dept = snap.departments_by_code.get(u.get("department") or "")
        row.display_name = u.get("display_name") or u["username"]
        row.role, row.scope_code = u["role"], u.get("scope")
        row.department_id = dept.id if dept else None
        row.password_hash, row.phone, row.active = (
            hash_password(u["password"], app.settings),
            u.get("phone"),
            True,
        )

    with app.sessions.begin() as s:
        admins = _active_admins(s, lock=True)
        created, updated, _ = _upsert(
            s, UserRow, "username", ((u["username"], u) for u in items), fill
        )
        _keep_an_admin(s, admins, ", ".join(sorted(admins)))
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


# --------------------------------------------------------------------------------------------
# Edits of single items: validated like the imports, all-or-nothing, audited with before/after.


def _reject(message: str, problems: Sequence[ImportProblem]) -> None:
    if problems:
        raise ValidationFailed(message, problems=[p.as_dict() for p in problems])


def _diff(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, Any]:
    changed = [k for k in after if after[k] != before.get(k)]
    return {"before": {k: before.get(k) for k in changed}, "after": {k: after[k] for k in changed}}


CATEGORY_FIELDS = frozenset(
    {"name", "urgency", "filing_condition", "closing_condition", "time_limits", "active"}
)


def category_view(row: CategoryRow) -> dict[str, Any]:
    return {
        "key": row.key,
        "kind": row.kind,
        "major": row.major_name,
        "name": row.name,
        "urgency": row.urgency,
        "filing_condition": row.filing_condition,
        "closing_condition": row.closing_condition,
        "time_limits": row.time_limits,
        "active": row.active,
    }


def _text_or_problem(
    value: Any, field: str, max_len: int, problems: list[ImportProblem]
) -> str | None:
    if isinstance(value, str) and value.strip() and len(value.strip()) <= max_len:
        return value.strip()
    problems.append(ImportProblem(field, f"must be non-blank text of at most {max_len} characters"))
    return None


def _limits(
    current: Mapping[str, Any], patch: Any, urgency: str, problems: list[ImportProblem]
) -> dict[str, str]:
    """Merge ``patch`` into the stored limits (null removes a stage) and check them as the
    taxonomy import does: all five stages, valid TimeLimits, calendar hours when urgent."""
    if not isinstance(patch, Mapping):
        problems.append(ImportProblem("time_limits", "must map stages to time limits"))
        return dict(current)
    merged = {**current, **patch}
    for extra in sorted(set(map(str, merged)) - {s.value for s in Stage}):
        problems.append(ImportProblem(f"time_limits.{extra}", "unknown stage"))
    out: dict[str, str] = {}
    for stage in Stage:
        where, text = f"time_limits.{stage.value}", merged.get(stage.value)
        if text is None:
            problems.append(ImportProblem(where, "every stage needs a time limit"))
            continue
        try:
            limit = TimeLimit.parse(str(text))
        except ValidationFailed as exc:
            problems.append(ImportProblem(where, exc.message))
            continue
        if urgency == Urgency.URGENT and limit.unit is not TimeUnit.CALENDAR_HOURS:
            problems.append(
                ImportProblem(where, f"urgent category must use calendar hours ('h'), got {text!r}")
            )
        out[stage.value] = str(limit)
    return out


def edit_category(app: App, key: str, changes: Mapping[str, Any], actor: str) -> dict[str, Any]:
    """Change one category's name, conditions, urgency, time limits or active flag.

    New clocks (new cases, and stages started from now on) use the new limits; running ones
    keep theirs.
    """
    problems = [
        ImportProblem(f, "not an editable field") for f in sorted(set(changes) - CATEGORY_FIELDS)
    ]
    if not changes:
        problems.append(ImportProblem("body", "nothing to change"))
    now = app.clock()
    with app.sessions.begin() as s:
        row = s.get(CategoryRow, key, with_for_update=True)
        if row is None:
            raise NotFound(f"unknown category {key} / 未知分类", category=key)
        before = category_view(row)
        after = dict(before)
        for field in ("name", "filing_condition", "closing_condition"):
            if field in changes:
                after[field] = _text_or_problem(
                    changes[field], field, 50 if field == "name" else 2000, problems
                )
        if "urgency" in changes:
            if changes["urgency"] in Urgency.__members__.values():
                after["urgency"] = str(changes["urgency"])
            else:
                problems.append(
                    ImportProblem("urgency", f"must be one of {[u.value for u in Urgency]}")
                )
        if "active" in changes:
            if isinstance(changes["active"], bool):
                after["active"] = changes["active"]
            else:
                problems.append(ImportProblem("active", "must be true or false"))
        after["time_limits"] = _limits(
            row.time_limits, changes.get("time_limits", {}), after["urgency"], problems
        )
        _reject(f"category {key} not changed: {len(problems)} problem(s)", problems)
        row.name, row.urgency, row.active = after["name"], after["urgency"], after["active"]
        row.filing_condition, row.closing_condition = (
            after["filing_condition"],
            after["closing_condition"],
        )
        row.time_limits = after["time_limits"]
        audit(s, actor, "edit_category", key, _diff(before, after), now)
    app.reference.invalidate()
    return after


USER_FIELDS = frozenset({"role", "scope", "department", "active", "display_name", "password"})


def _user_view(row: UserRow, snap: Snapshot) -> dict[str, Any]:
    dept = snap.departments_by_id.get(row.department_id or -1)
    return {
        "id": row.id,
        "username": row.username,
        "display_name": row.display_name,
        "role": row.role,
        "scope": row.scope_code,
        "department": dept.code if dept else None,
        "department_id": row.department_id,
        "active": row.active,
    }


def list_users(app: App, role: Role | None = None) -> list[dict[str, Any]]:
    """Every user, without secrets; optionally one role only."""
    snap = app.reference.get()
    q = select(UserRow).order_by(UserRow.username)
    if role is not None:
        q = q.where(UserRow.role == role.value)
    with app.reads() as s:
        return [_user_view(u, snap) for u in s.scalars(q)]


def edit_user(app: App, username: str, changes: Mapping[str, Any], actor: str) -> dict[str, Any]:
    """Change a user's role, jurisdiction, department, name, password or active flag."""
    problems = [
        ImportProblem(f, "not an editable field") for f in sorted(set(changes) - USER_FIELDS)
    ]
    if not changes:
        problems.append(ImportProblem("body", "nothing to change"))
    if "active" in changes and not isinstance(changes["active"], bool):
        problems.append(ImportProblem("active", "must be true or false"))
    snap, codes, now = app.reference.get(), region_codes(app), app.clock()
    with app.sessions.begin() as s:
        admins = _active_admins(s, lock=True)
        row = s.scalars(
            select(UserRow).where(UserRow.username == username).with_for_update()
        ).first()
        if row is None:
            raise NotFound(f"unknown user {username} / 未知用户", username=username)
        before = _user_view(row, snap)
        after = {**before, **{k: v for k, v in changes.items() if k in USER_FIELDS - {"password"}}}
        checked = {**after, **({"password": changes["password"]} if "password" in changes else {})}
        reasons = _user_reasons(checked, snap, codes, password_required=False)
        problems += [ImportProblem(username, r) for r in reasons]
        _reject(f"user {username} not changed: {len(problems)} problem(s)", problems)
        dept = snap.departments_by_code.get(after["department"] or "")
        row.role, row.scope_code, row.active = (
            after["role"],
            after["scope"] or None,
            after["active"],
        )
        row.display_name = after["display_name"] or username
        row.department_id = dept.id if dept else None
        if "password" in changes:
            row.password_hash = hash_password(changes["password"], app.settings)
        _keep_an_admin(s, admins, username)
        detail = _diff(before, _user_view(row, snap))
        if "password" in changes:
            detail["after"]["password"] = "changed"  # never the hash
        audit(s, actor, "edit_user", username, detail, now)
        return _user_view(row, snap)


# --------------------------------------------------------------------------------------------
# Reads for staff screens.


def department_detail(app: App, department_id: int) -> dict[str, Any]:
    """A department with its active members."""
    with app.reads() as s:
        d = s.get(DepartmentRow, department_id)
        if d is None:
            raise NotFound(
                f"unknown department {department_id} / 未知部门", department_id=department_id
            )
        members = s.scalars(
            select(UserRow)
            .where(UserRow.department_id == department_id, UserRow.active)
            .order_by(UserRow.username)
        )
        return {
            "id": d.id,
            "code": d.code,
            "name": d.name,
            "level": d.level,
            "region_code": d.region_code,
            "kinds": d.kinds,
            "members": [
                {"username": u.username, "display_name": u.display_name, "role": u.role}
                for u in members
            ],
        }


def ruleset_view(app: App, version: str | None = None) -> dict[str, Any]:
    """The responsibility list in force now, or the named version; re-importable as it is."""
    now = app.clock()
    current = app.reference.ruleset_at(now)
    found: RuleSet | None = current
    if version is not None:
        found = next((r for r in app.reference.get().rulesets if r.version == version), None)
    if found is None:
        what = f"version {version}" if version else "in force"
        raise NotFound(f"no responsibility list {what} / 无此责任清单", version=version)
    return {
        "version": found.version,
        "effective_from": found.effective_from.isoformat(),
        "in_force": current is not None and current.version == found.version,
        "rules": [
            {
                "id": r.id,
                "category": r.category,
                "area": r.area,
                "department": r.department,
                "window": {
                    "start": r.window.start.strftime("%H:%M"),
                    "end": r.window.end.strftime("%H:%M"),
                }
                if r.window
                else None,
            }
            for r in found.rules
        ],
    }


def rule_versions(app: App) -> list[dict[str, Any]]:
    """Every published version, newest effective date first, with its status now."""
    now = app.clock()
    current = app.reference.ruleset_at(now)
    q = (
        select(RuleSetRow, func.count(RuleRow.id))
        .outerjoin(RuleRow, RuleRow.ruleset_id == RuleSetRow.id)
        .group_by(RuleSetRow.id)
        .order_by(RuleSetRow.effective_from.desc(), RuleSetRow.id.desc())
    )
    with app.reads() as s:
        rows = s.execute(q).all()
    return [
        {
            "version": rs.version,
            "effective_from": rs.effective_from.isoformat(),
            "created_at": rs.created_at.isoformat(),
            "rules": n,
            "status": "in_force"
            if current is not None and rs.version == current.version
            else ("scheduled" if rs.effective_from > now else "superseded"),
        }
        for rs, n in rows
    ]
