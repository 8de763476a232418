"""The responsibility list (事项责任清单): published versions and their reads."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import func, select

from cityops.adapters.db.models import RuleRow, RuleSetRow
from cityops.bootstrap import App
from cityops.domain.errors import Conflict, ImportProblem, ImportRejected, NotFound
from cityops.domain.routing import ResponsibilityRule, RuleSet, TimeWindow, check_rules
from cityops.service.admin.common import ImportResult, audit, region_codes


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
