"""Cases: scoped lists with filters, detail with the timeline, and workflow actions."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query
from pydantic import BaseModel, ConfigDict, Field

from cityops.domain.workflow import TRANSITIONS, Command
from cityops.entrypoints.api.deps import AppDep, PrincipalDep
from cityops.service import notify
from cityops.service.media import check_refs
from cityops.service.queries import CaseFilter, case_detail, list_cases
from cityops.service.workflow import Outcome, act

router = APIRouter(prefix="/api/v1/cases", tags=["cases 案卷"])


class Page(BaseModel):
    total: int
    limit: int
    offset: int
    items: list[dict[str, Any]]


@router.get("", response_model=Page)
def cases(
    app: AppDep,
    principal: PrincipalDep,
    state: Annotated[list[str] | None, Query()] = None,
    category: Annotated[str | None, Query(pattern=r"^([CE](\d{2}|\d{4}))$")] = None,
    area: Annotated[str | None, Query(pattern=r"^\d{6,14}$")] = None,
    department_id: int | None = None,
    channel: str | None = None,
    overdue: bool | None = None,
    created_from: Annotated[datetime | None, Query(alias="from")] = None,
    created_to: Annotated[datetime | None, Query(alias="to")] = None,
    q: Annotated[str | None, Query(max_length=100)] = None,
    triage: Annotated[str | None, Query(pattern="^(locate|classify)$")] = None,
    suggested: Annotated[bool | None, Query(description="open, with a 并案 suggestion")] = None,
    extension_pending: Annotated[
        bool | None, Query(description="a 延期 request waits for approval")
    ] = None,
    returned: Annotated[
        bool | None, Query(description="回退 by the department, not dispatched again since")
    ] = None,
    supervised: Annotated[bool | None, Query(description="督办 at least once")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> Page:
    flt = CaseFilter(
        state, category, area, department_id, channel, overdue, created_from, created_to, q,
        triage, suggested, extension_pending, returned, supervised,
    )  # fmt: skip
    total, items = list_cases(app, principal, flt, limit, offset)
    return Page(total=total, limit=limit, offset=offset, items=items)


@router.get("/transitions", tags=["workflow"])
def transitions() -> list[dict[str, Any]]:
    """The workflow table itself: who may do what from which state."""
    return [
        {
            "action": t.action,
            "label": t.label_zh,
            "from": sorted(s.value for s in t.from_states),
            "to": t.to_state,
            "roles": sorted(r.value for r in t.roles),
            "guards": list(t.guards),
        }
        for t in TRANSITIONS
    ]


@router.get("/{case_id}")
def case(case_id: int, app: AppDep, principal: PrincipalDep) -> dict[str, Any]:
    return case_detail(app, principal, case_id)


@router.get("/{case_id}/notifications")
def notifications(case_id: int, app: AppDep, principal: PrincipalDep) -> dict[str, Any]:
    """What the case's reporters were told (结案 notices) and whether it was delivered."""
    return notify.for_case(app, principal, case_id)


class ActionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    note: str | None = Field(None, max_length=2000)
    department_id: int | None = None
    rating: int | None = None
    extension: str | None = Field(None, max_length=12, description="e.g. 2wd, 8wh, 12h")
    media: list[str] = Field(default_factory=list, max_length=9, description="media://<id>, URLs")
    category: str | None = Field(None, pattern=r"^[CE]\d{4}$", description="amend only")
    location: dict[str, Any] | None = Field(None, description="amend only: lon/lat or grid_code")
    into: str | None = Field(None, max_length=20, description="merge only: the case number")
    plan_note: str | None = Field(
        None, max_length=2000, description="complete only: why emergency plan steps are left open"
    )


class OutcomeOut(BaseModel):
    case_id: int
    case_no: str | None
    action: str
    from_state: str | None
    to_state: str
    event_seq: int
    replayed: bool


@router.post("/{case_id}/actions/{action}", response_model=OutcomeOut)
def take_action(
    case_id: int,
    action: str,
    body: ActionIn,
    app: AppDep,
    principal: PrincipalDep,
    idempotency_key: Annotated[str | None, Header(max_length=128)] = None,
) -> OutcomeOut:
    """Take one workflow step. An illegal step is a 409 listing the allowed next steps.

    ``merge`` (并案) names the case to merge into with ``into`` (its case number);
    ``reject_duplicate`` (不予并案) clears the intake's suggestion and needs a ``note``.
    """
    check_refs(app, body.media, "media")  # media://<id> must be uploaded; URLs pass
    department_id = body.department_id
    if action == "dispatch" and department_id is None:
        # Follow the responsibility list's proposal unless the dispatcher chose otherwise.
        routing = case_detail(app, principal, case_id).get("routing") or {}
        department_id = routing.get("department_id")
    data: dict[str, Any] = {}
    if action == "amend":
        data = {k: v for k, v in (("category", body.category), ("location", body.location)) if v}
    elif action == "merge":
        data = {"into": body.into}
    elif action == "complete" and body.plan_note and body.plan_note.strip():
        data = {"plan_note": body.plan_note.strip()}  # kept in the event's data
    cmd = Command(
        action=action,
        note=body.note,
        department_id=department_id,
        rating=body.rating,
        extension=body.extension,
        media=tuple(body.media),
        data=data,
    )
    outcome: Outcome = act(app, case_id, principal, cmd, idempotency_key)
    return OutcomeOut(**{k: getattr(outcome, k) for k in OutcomeOut.model_fields})
