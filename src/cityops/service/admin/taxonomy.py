"""The taxonomy (分类): whole imports and single-category edits."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cityops.adapters.db.models import CategoryRow
from cityops.bootstrap import App
from cityops.domain.errors import ImportProblem, NotFound, ValidationFailed
from cityops.domain.model import Stage, Urgency
from cityops.domain.taxonomy import Category, Taxonomy
from cityops.domain.timelimit import TimeLimit, TimeUnit
from cityops.service.admin.common import ImportResult, audit, diff, reject, upsert


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
        created, updated, retired = upsert(
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
        reject(f"category {key} not changed: {len(problems)} problem(s)", problems)
        row.name, row.urgency, row.active = after["name"], after["urgency"], after["active"]
        row.filing_condition, row.closing_condition = (
            after["filing_condition"],
            after["closing_condition"],
        )
        row.time_limits = after["time_limits"]
        audit(s, actor, "edit_category", key, diff(before, after), now)
    app.reference.invalidate()
    return after
