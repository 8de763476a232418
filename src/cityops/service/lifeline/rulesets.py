"""Rule sets (告警规则) as versioned data: the packaged default until an admin replaces it."""

from __future__ import annotations

from importlib import resources
from typing import Any

import yaml
from sqlalchemy import func, select

from cityops.adapters.db.alarm_models import AlarmRuleSetRow
from cityops.bootstrap import App
from cityops.domain.errors import ImportProblem, ImportRejected, NotFound
from cityops.domain.lifeline.ruleset import RuleSet, parse_ruleset

DEFAULT_VERSION = 0  # the packaged file, before any edit


def default_content() -> dict[str, Any]:
    text = resources.files("cityops.data").joinpath("lifeline_rules.yaml").read_text("utf-8")
    content: dict[str, Any] = yaml.safe_load(text)
    return content


def current(app: App) -> tuple[int, dict[str, Any]]:
    """(version, content) of the rule set in force."""
    with app.reads() as s:
        row = s.scalars(select(AlarmRuleSetRow).order_by(AlarmRuleSetRow.version.desc())).first()
    return (row.version, row.content) if row else (DEFAULT_VERSION, default_content())


def current_version(app: App) -> int:
    """Only the version in force: what engines in other processes poll (an index lookup)."""
    with app.reads() as s:
        version = s.scalar(select(func.max(AlarmRuleSetRow.version)))
    return DEFAULT_VERSION if version is None else int(version)


def check(app: App, content: Any) -> RuleSet:
    """Validate a rule set, including the categories its case policy names."""
    ruleset = parse_ruleset(content)
    categories = app.reference.get().categories
    problems = [ImportProblem(f"policy.categories.{t}", f"unknown category {key} / 未知分类")
                for t, key in ruleset.policy.categories.items()
                if key not in categories]  # fmt: skip
    if problems:
        raise ImportRejected("the case policy names unknown categories / 分类不存在", problems)
    return ruleset


def replace(app: App, content: Any, who: str, note: str | None = None) -> dict[str, Any]:
    check(app, content)
    with app.sessions.begin() as s:
        version = int(s.scalar(select(func.coalesce(func.max(AlarmRuleSetRow.version), 0))) or 0)
        row = AlarmRuleSetRow(version=version + 1, content=content, created_at=app.clock(),
                              created_by=who, note=note)  # fmt: skip
        s.add(row)
    return version_view(row)


def version_view(row: AlarmRuleSetRow, *, content: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {"version": row.version, "created_at": row.created_at.isoformat(),
                           "created_by": row.created_by, "note": row.note,
                           "rules": len(row.content.get("rules", []))}  # fmt: skip
    if content:
        out["content"] = row.content
    return out


def versions(app: App) -> list[dict[str, Any]]:
    with app.reads() as s:
        rows = s.scalars(select(AlarmRuleSetRow).order_by(AlarmRuleSetRow.version.desc())).all()
    return [version_view(r) for r in rows]


def version(app: App, number: int) -> dict[str, Any]:
    if number == DEFAULT_VERSION:
        content = default_content()
        return {"version": 0, "created_by": "default", "note": "packaged default",
                "rules": len(content["rules"]), "content": content}  # fmt: skip
    with app.reads() as s:
        row = s.scalars(select(AlarmRuleSetRow).where(AlarmRuleSetRow.version == number)).first()
    if row is None:
        raise NotFound(f"no rule set version {number} / 无此版本", version=number)
    return version_view(row, content=True)
