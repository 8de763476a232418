"""City lifeline alarms (城市生命线告警): alarms, rule sets, emergency plans, plan steps."""

from __future__ import annotations

from typing import Annotated, Any

import yaml
from fastapi import APIRouter, Depends, Query, Request
from pydantic import AwareDatetime, BaseModel, Field

from cityops.domain.errors import UnsupportedMediaType, ValidationFailed
from cityops.domain.model import Role
from cityops.entrypoints.api.deps import AppDep, require
from cityops.service.lifeline import lifeline, plans, rulesets
from cityops.service.lifeline import queries as q
from cityops.service.principal import Principal

router = APIRouter(prefix="/api/v1/lifeline", tags=["lifeline alarms 生命线告警"])
Admin = Annotated[Principal, Depends(require(Role.ADMIN))]
Staff = Annotated[
    Principal, Depends(require(*(r for r in Role if r not in (Role.CITIZEN, Role.SYSTEM))))
]
# Who answers alarms: the centre, and the owners' handlers for their own assets.
Operators = Annotated[Principal, Depends(require(
    Role.ADMIN, Role.COMMANDER, Role.SHIFT_LEADER, Role.DISPATCHER, Role.HANDLER))]  # fmt: skip
RULES_MAX_BYTES = 1024 * 1024


@router.get("/alarms")
def get_alarms(
    app: AppDep, who: Staff, state: str | None = None,
    level: Annotated[int | None, Query(ge=1, le=4)] = None, type: str | None = None,
    asset: str | None = None, start: Annotated[AwareDatetime | None, Query(alias="from")] = None,
    end: Annotated[AwareDatetime | None, Query(alias="to")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200, offset: Annotated[int, Query(ge=0)] = 0,
) -> dict[str, Any]:  # fmt: skip
    """``state`` is active, acknowledged, cleared or open (not cleared); ``level`` is a minimum."""
    return q.list_alarms(app, who, state=state, level=level, alarm_type=type, asset=asset,
                         start=start, end=end, limit=limit, offset=offset)  # fmt: skip


@router.get("/alarms/{alarm_id}")
def get_alarm(alarm_id: int, app: AppDep, who: Staff) -> dict[str, Any]:
    return q.alarm_detail(app, who, alarm_id)


class NoteIn(BaseModel):
    note: str | None = Field(default=None, max_length=2000)


class RequiredNoteIn(BaseModel):
    note: str = Field(min_length=1, max_length=2000)


@router.post("/alarms/{alarm_id}/acknowledge")
def acknowledge(alarm_id: int, body: NoteIn, app: AppDep, who: Operators) -> dict[str, Any]:
    q.check_visible(app, who, alarm_id)
    lifeline(app).manual(alarm_id, "acknowledge", who.username, body.note)
    return q.alarm_detail(app, who, alarm_id)


@router.post("/alarms/{alarm_id}/clear")
def clear(alarm_id: int, body: RequiredNoteIn, app: AppDep, who: Operators) -> dict[str, Any]:
    """Clear by hand (a note says why); a condition still present raises it again."""
    q.check_visible(app, who, alarm_id)
    lifeline(app).manual(alarm_id, "clear", who.username, body.note.strip())
    return q.alarm_detail(app, who, alarm_id)


@router.get("/rules")
def get_rules(app: AppDep, who: Staff) -> dict[str, Any]:
    version, content = rulesets.current(app)
    return {"version": version, "content": content}


@router.put("/rules")
async def put_rules(
    request: Request, app: AppDep, who: Admin,
    note: Annotated[str | None, Query(max_length=500)] = None,
) -> dict[str, Any]:  # fmt: skip
    """Replace the rule set (JSON, or YAML as ``application/yaml``); validated as a whole,
    every problem named; a new version on success."""
    raw = await request.body()
    if len(raw) > RULES_MAX_BYTES:
        raise ValidationFailed(f"the rule set is over {RULES_MAX_BYTES} bytes")
    kind = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if kind not in ("application/json", "application/yaml", "application/x-yaml", "text/yaml"):
        raise UnsupportedMediaType("send application/json or application/yaml", content_type=kind)
    try:
        content = yaml.safe_load(raw.decode("utf-8"))  # JSON is YAML
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ValidationFailed(f"the rule set is not valid JSON/YAML: {exc}") from exc
    engine = lifeline(app)  # refuses (409) before anything is written when alarms are off
    out = rulesets.replace(app, content, who.username, note)
    engine.reload_rules()
    return out


@router.get("/rules/versions")
def get_rule_versions(app: AppDep, who: Staff) -> list[dict[str, Any]]:
    return rulesets.versions(app)


@router.get("/rules/versions/{version}")
def get_rule_version(version: int, app: AppDep, who: Staff) -> dict[str, Any]:
    return rulesets.version(app, version)


@router.get("/plans")
def get_plans(app: AppDep, who: Staff) -> list[dict[str, Any]]:
    return plans.list_plans(app)


class PlansIn(BaseModel):
    plans: list[Any]


@router.put("/plans")
def put_plans(body: PlansIn, app: AppDep, who: Admin) -> list[dict[str, Any]]:
    """Replace every emergency plan (cases keep the copy of the steps they were given)."""
    return plans.replace_plans(app, body.plans, who.username)


@router.post("/cases/{case_id}/plan-steps/{step_no}/done")
def plan_step_done(case_id: int, step_no: int, body: NoteIn, app: AppDep,
                   who: Staff) -> dict[str, Any]:  # fmt: skip
    return plans.step_done(app, case_id, step_no, who, body.note)
