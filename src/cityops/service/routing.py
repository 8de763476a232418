"""Routing (智能分拨): who should handle a case, and why.

In order: the owner of the component (部件) the report names or stands next to; the
responsibility list (事项责任清单); otherwise nobody — the case waits in the street's
routing queue (triage ``route``) for a dispatcher to decide.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from cityops.adapters.db.models import CaseRow
from cityops.service.reference import Snapshot

# A report of a broken 部件 this close to a known one is taken to be about that one.
COMPONENT_REACH_M = 30.0


def route(case: CaseRow, snap: Snapshot, now: datetime, tz: Any) -> None:
    """Propose the responsible department (the dispatcher or the fast path follows it)."""
    case.routing = _by_component(case, snap) or _by_rules(case, snap, now, tz)
    if case.routing is not None:
        if case.triage == "route":
            case.triage = None
    elif case.category and case.grid_code and case.triage is None:
        case.triage = "route"


def route_to_owner(case: CaseRow, snap: Snapshot, department: str, what: str) -> None:
    """A report about an owned thing that is no 部件 (a lifeline asset's alarm): its owner
    (权属单位) handles it, as a component's owner would."""
    dept = snap.departments_by_code.get(department)
    owner = _owner(snap, dept.id if dept else None)
    if owner is None:
        return
    explanation = (f"按设施权属：{what} 的权属单位是{owner['department_name']} / by ownership: "
                   f"{what} belongs to {owner['department']}")  # fmt: skip
    case.routing = {**owner, "rule_id": None, "asset": what, "explanation": explanation}
    if case.triage == "route":
        case.triage = None


def owner_dispatch(routing: dict[str, Any] | None) -> str | None:
    """How a dispatch that followed an owner routing (a lifeline asset's or a 部件's) reads:
    sent to the owner — not "as the responsibility list proposed" (None: a list routing)."""
    if not routing or routing.get("rule_id") is not None:
        return None
    if routing.get("asset"):
        zh, en, what = "设施", "asset", routing["asset"]
    elif routing.get("component"):
        zh, en, what = "部件", "component", routing["component"]
    else:
        return None
    return (f"按{zh}权属派遣给其权属单位{routing.get('department_name')}：{what} / dispatched "
            f"to the owner of the {en} {what}: {routing.get('department')}")  # fmt: skip


def _owner(snap: Snapshot, department_id: int | None) -> dict[str, Any] | None:
    dept = snap.departments_by_id.get(department_id or -1)
    if dept is None:
        return None
    return {"department": dept.code, "department_id": dept.id, "department_name": dept.name}


def _by_component(case: CaseRow, snap: Snapshot) -> dict[str, Any] | None:
    if case.component_code:
        component = snap.components.get(case.component_code)
        distance = None
    elif case.category and case.category.startswith("C") and case.lon is not None:
        assert case.lat is not None
        near = snap.components.nearest(case.category, case.lon, case.lat, COMPONENT_REACH_M)
        component, distance = near if near else (None, None)
    else:
        return None
    if component is None:
        return None
    owner = _owner(snap, component.owner_department_id)
    if owner is None:
        return None
    case.component_code = component.code
    where = "上报指明的部件" if distance is None else f"距上报位置 {distance:.0f} 米的部件"
    where_en = "the component named in the report" if distance is None else (
        f"the component {distance:.0f} m from the reported place"
    )
    explanation = (
        f"按部件权属：{where} {component.code}（{component.name}）的权属单位是"
        f"{owner['department_name']} / by ownership: {where_en} {component.code} belongs to "
        f"{owner['department']}"
    )
    return {**owner, "rule_id": None, "component": component.code, "explanation": explanation}


def _by_rules(case: CaseRow, snap: Snapshot, now: datetime, tz: Any) -> dict[str, Any] | None:
    if not case.category or not case.grid_code:
        return None
    ruleset = next((r for r in snap.rulesets if r.effective_from <= now), None)
    if ruleset is None:
        return None
    found = ruleset.resolve(case.category, case.grid_code, now.astimezone(tz).time())
    owner = _owner(snap, snap.departments_by_code[found.department].id) if (
        found and found.department in snap.departments_by_code
    ) else None
    if found is None or owner is None:
        return None
    return {**owner, "rule_id": found.rule.id, "ruleset": ruleset.version,
            "explanation": found.explanation}  # fmt: skip
