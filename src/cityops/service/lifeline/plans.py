"""Emergency plans (应急预案): stored as data, attached to the cases of top-level alarms, with
each step tracked on the case (who marked it done, when, with what note)."""

from __future__ import annotations

from importlib import resources
from typing import Any

import yaml
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from cityops.adapters.db.alarm_models import CasePlanStepRow, EmergencyPlanRow
from cityops.adapters.db.models import CaseRow
from cityops.bootstrap import App
from cityops.domain.errors import Conflict, ImportProblem, ImportRejected, NotFound
from cityops.domain.lifeline.assets import CODE, AssetKind
from cityops.domain.lifeline.ruleset import level_of
from cityops.service.caselog import record_event
from cityops.service.principal import SYSTEM, Principal

_LISTS = ("alarm_types", "asset_kinds", "steps", "resources")


def _default() -> list[dict[str, Any]]:
    text = resources.files("cityops.data").joinpath("lifeline_plans.yaml").read_text("utf-8")
    plans: list[dict[str, Any]] = yaml.safe_load(text)["plans"]
    return plans


def parse_plans(items: Any) -> list[dict[str, Any]]:
    """Validated plans (all or nothing, every problem named)."""
    problems: list[ImportProblem] = []
    if not isinstance(items, list):
        raise ImportRejected("plans must be a list", [ImportProblem("plans", "not a list")])
    if not items:  # an empty table means "not seeded yet" and would get the packaged plans back
        raise ImportRejected("give at least one plan (to attach none, raise policy.plan_level) "
                             "/ 至少需要一个预案", [ImportProblem("plans", "empty")])  # fmt: skip
    out, codes = [], set()
    for i, p in enumerate(items):
        where = f"plans[{i}]"
        if not isinstance(p, dict):
            problems.append(ImportProblem(where, "must be a mapping"))
            continue
        code, name = p.get("code"), p.get("name")
        if not isinstance(code, str) or not CODE.fullmatch(code) or code in codes:
            problems.append(ImportProblem(where, "code must be a unique 1–64 character code"))
        elif isinstance(code, str):
            codes.add(code)
        if not isinstance(name, str) or not name.strip() or len(name) > 100:
            problems.append(ImportProblem(where, "name must be 1–100 characters"))
        level = level_of(p.get("min_level"))
        if level is None:
            problems.append(ImportProblem(where, "min_level must be 1–4 or 蓝/黄/橙/红"))
        for key in _LISTS:
            value = p.get(key, [])
            if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
                problems.append(ImportProblem(where, f"{key} must be a list of strings"))
        kinds = p.get("asset_kinds", [])  # a non-list is reported by the loop above
        kinds = kinds if isinstance(kinds, list) else []
        bad = [k for k in kinds if k not in AssetKind.__members__.values()]
        if bad:
            problems.append(ImportProblem(where, f"unknown asset kinds {bad}"))
        contacts = p.get("contacts", [])
        if not isinstance(contacts, list) or not all(
            isinstance(c, dict) and isinstance(c.get("name"), str) for c in contacts
        ):
            problems.append(ImportProblem(where, "contacts must be a list of {name, role, phone}"))
        if not p.get("steps"):
            problems.append(ImportProblem(where, "a plan needs at least one step"))
        out.append({**{k: p.get(k, []) for k in (*_LISTS, "contacts")}, "code": code,
                    "name": name, "min_level": level})  # fmt: skip
    if problems:
        raise ImportRejected(f"{len(problems)} problem(s) in the plans / 预案有误", problems)
    return out


def _rows(s: Session) -> list[EmergencyPlanRow]:
    return list(s.scalars(select(EmergencyPlanRow).order_by(EmergencyPlanRow.code)))


def view(row: EmergencyPlanRow) -> dict[str, Any]:
    return {"code": row.code, "name": row.name, "min_level": row.min_level,
            "alarm_types": row.alarm_types, "asset_kinds": row.asset_kinds, "steps": row.steps,
            "contacts": row.contacts, "resources": row.resources,
            "updated_at": row.updated_at.isoformat(), "updated_by": row.updated_by}  # fmt: skip


def ensure_defaults(app: App) -> None:
    """Seed the packaged plans into an empty table. Checked with a read first: the write
    lock (SQLite's one writer) is taken only the one time there is something to seed."""
    with app.reads() as s:
        if s.scalar(select(EmergencyPlanRow.code).limit(1)) is not None:
            return
    with app.sessions.begin() as s:
        if not _rows(s):
            _write(s, parse_plans(_default()), app, "default")


def _write(s: Session, plans: list[dict[str, Any]], app: App, who: str) -> None:
    s.execute(delete(EmergencyPlanRow))
    now = app.clock()
    s.add_all(EmergencyPlanRow(**p, updated_at=now, updated_by=who) for p in plans)


def list_plans(app: App) -> list[dict[str, Any]]:
    ensure_defaults(app)
    with app.reads() as s:
        return [view(r) for r in _rows(s)]


def replace_plans(app: App, items: Any, who: str) -> list[dict[str, Any]]:
    plans = parse_plans(items)
    with app.sessions.begin() as s:
        _write(s, plans, app, who)
        s.flush()
        return [view(r) for r in _rows(s)]


def choose(
    s: Session, alarm_type: str, asset_kind: str | None, level: int
) -> EmergencyPlanRow | None:
    """The most specific plan for an alarm: by type before by asset kind, then the highest
    min_level at or below the alarm's level."""
    best: tuple[int, int] | None = None
    found = None
    for row in _rows(s):
        if row.min_level > level:
            continue
        rank = 2 if alarm_type in row.alarm_types else 1 if asset_kind in row.asset_kinds else 0
        if rank and (best is None or (rank, row.min_level) > best):
            best, found = (rank, row.min_level), row
    return found


def attach(s: Session, case: CaseRow, plan: EmergencyPlanRow, alarm_id: int, app: App) -> None:
    """Copy the plan's steps onto the case (the plan may change later; the case keeps its copy)."""
    if s.get(CasePlanStepRow, (case.id, 1)) is not None:
        return  # one plan per case
    for no, text in enumerate(plan.steps, start=1):
        s.add(CasePlanStepRow(case_id=case.id, step_no=no, plan_code=plan.code,
                              alarm_id=alarm_id, text=text))  # fmt: skip
    record_event(s, case, action="plan_attached", from_state=case.state, principal=SYSTEM,
                 now=app.clock(), note=f"启动应急预案：{plan.name}",
                 data={"plan": view(plan), "alarm_id": alarm_id})  # fmt: skip


def step_done(app: App, case_id: int, step_no: int, who: Principal,
              note: str | None) -> dict[str, Any]:  # fmt: skip
    from cityops.service.queries import case_detail  # the caller must see the case

    case_detail(app, who, case_id)
    now = app.clock()
    with app.sessions.begin() as s:
        step = s.get(CasePlanStepRow, (case_id, step_no), with_for_update=True)
        if step is None:
            raise NotFound(f"case {case_id} has no plan step {step_no} / 无此预案步骤",
                           case_id=case_id, step_no=step_no)  # fmt: skip
        if step.done_at is not None:
            raise Conflict(f"step {step_no} was already done by {step.done_by} / 该步骤已完成",
                           done_at=step.done_at.isoformat())  # fmt: skip
        step.done_at, step.done_by, step.note = now, who.username, note
        case = s.get(CaseRow, case_id, with_for_update=True)
        assert case is not None
        record_event(s, case, action="plan_step", from_state=case.state, principal=who, now=now,
                     note=f"预案步骤 {step_no} 完成：{step.text}" + (f"（{note}）" if note else ""),
                     data={"step_no": step_no, "plan": step.plan_code})  # fmt: skip
        return step_view(step)


def step_view(step: CasePlanStepRow) -> dict[str, Any]:
    return {"no": step.step_no, "text": step.text, "plan": step.plan_code,
            "done_at": step.done_at.isoformat() if step.done_at else None,
            "done_by": step.done_by, "note": step.note}  # fmt: skip
