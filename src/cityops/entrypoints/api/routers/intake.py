"""Channel endpoints: each keeps the raw payload verbatim and is idempotent on its source id."""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Request, Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from cityops.domain.errors import Forbidden, ValidationFailed
from cityops.domain.model import Channel, Role
from cityops.entrypoints.api.deps import AppDep, PrincipalDep
from cityops.service import media
from cityops.service.intake import ReportInput, Submitted, submit, submit_batch
from cityops.service.principal import Principal

router = APIRouter(prefix="/api/v1/intake", tags=["intake 上报"])


# ``media://<id>`` from POST /api/v1/media (must exist), an http(s) URL, or a channel's own ref.
Photo = Annotated[str, Field(min_length=1, max_length=2000)]


class Location(BaseModel):
    model_config = ConfigDict(extra="forbid")
    lon: float | None = Field(None, ge=-180, le=180)
    lat: float | None = Field(None, ge=-90, le=90)
    grid_code: str | None = Field(None, pattern=r"^\d{14}$")
    address: str | None = Field(None, max_length=200)
    crs: Literal["wgs84", "gcj02", "bd09", "cgcs2000"] = Field(
        "wgs84", description="coordinate system of lon/lat; converted to WGS-84 at intake"
    )


class HotlineOrder(BaseModel):
    """12345 热线工单."""

    model_config = ConfigDict(extra="allow")
    work_order_no: str = Field(min_length=1, max_length=128)
    appeal_type: Literal["咨询", "求助", "投诉", "建议", "举报"]
    content: str = Field(min_length=1, max_length=5000)
    caller_name: str | None = Field(None, max_length=100)
    caller_phone: str | None = Field(None, max_length=32)
    category: str | None = Field(None, pattern=r"^[CE]\d{4}$")
    location: Location


class InspectorReport(BaseModel):
    """监督员上报: category and place seen on site."""

    model_config = ConfigDict(extra="forbid")
    report_id: str = Field(min_length=1, max_length=128)
    category: str = Field(pattern=r"^[CE]\d{4}$")
    description: str = Field(min_length=1, max_length=5000)
    location: Location
    photos: list[Photo] = Field(default_factory=list, max_length=9)
    component_code: str | None = Field(None, pattern=r"^\d{16}$")


class CitizenReport(BaseModel):
    """市民上报 (web/app form)."""

    model_config = ConfigDict(extra="forbid")
    client_request_id: str = Field(min_length=1, max_length=128)
    category: str = Field(pattern=r"^[CE]\d{4}$")
    description: str = Field(min_length=1, max_length=5000)
    location: Location
    photos: list[Photo] = Field(default_factory=list, max_length=9)
    contact_name: str | None = Field(None, max_length=100)
    contact_phone: str | None = Field(None, max_length=32)


class ManualEntry(BaseModel):
    """受理员录入 (a walk-in, a letter, a call outside 12345)."""

    model_config = ConfigDict(extra="forbid")
    category: str | None = Field(None, pattern=r"^[CE]\d{4}$")
    description: str = Field(min_length=1, max_length=5000)
    location: Location
    reporter_name: str | None = Field(None, max_length=100)
    reporter_phone: str | None = Field(None, max_length=32)
    source: str | None = Field(None, max_length=50, description="来源: 来信, 来访, 电话 …")


class SubmittedOut(BaseModel):
    case_id: int
    case_no: str
    state: str
    created: bool  # a new case was opened for this report
    merged: bool = False  # the report joined an open case about the same problem (并案)


def _allow(principal: Principal, channel: Channel, *roles: Role) -> None:
    if principal.role is Role.SYSTEM:
        if channel not in principal.channels:
            raise Forbidden(f"this API key may not submit to the {channel.value} channel")
        return
    if principal.role not in roles:
        raise Forbidden(f"role {principal.role.value} may not submit {channel.value} reports")


async def _raw(request: Request) -> str:
    return (await request.body()).decode("utf-8", errors="replace")


def _reply(result: Submitted, response: Response) -> SubmittedOut:
    response.status_code = 201 if result.created else 200
    return SubmittedOut(
        case_id=result.case_id, case_no=result.case_no, state=result.state,
        created=result.created, merged=result.merged,
    )  # fmt: skip


def _where(loc: Location) -> dict[str, Any]:
    return {"lon": loc.lon, "lat": loc.lat, "grid_code": loc.grid_code, "address": loc.address,
            "crs": loc.crs}  # fmt: skip


@router.post("/hotline", response_model=SubmittedOut, status_code=201)
async def hotline(
    order: HotlineOrder, request: Request, response: Response, app: AppDep, principal: PrincipalDep
) -> SubmittedOut:
    _allow(principal, Channel.HOTLINE, Role.ACCEPTOR, Role.SHIFT_LEADER)
    report = _hotline_report(order, await _raw(request))
    return _reply(submit(app, report, principal), response)


class HotlineBatch(BaseModel):
    """A 12345 system's sync: up to 500 work orders, each judged on its own."""

    orders: list[dict[str, Any]] = Field(min_length=1, max_length=500)


@router.post("/hotline/batch")
async def hotline_batch(body: HotlineBatch, app: AppDep, principal: PrincipalDep) -> dict[str, Any]:
    """Per-order results: ``created``/``duplicate`` with the case, or ``rejected`` with why."""
    _allow(principal, Channel.HOTLINE, Role.ACCEPTOR, Role.SHIFT_LEADER)
    results: list[dict[str, Any] | None] = [None] * len(body.orders)
    reports: list[tuple[int, ReportInput]] = []
    for i, raw in enumerate(body.orders):
        try:
            order = HotlineOrder.model_validate(raw)
        except ValidationError as exc:
            results[i] = {"index": i, "status": "rejected", "code": "invalid_request",
                          "message": "the order is invalid", "details": {"problems": [
                              {"field": ".".join(map(str, e["loc"])), "reason": e["msg"]}
                              for e in exc.errors()]}}  # fmt: skip
            continue
        reports.append((i, _hotline_report(order, json.dumps(raw, ensure_ascii=False))))
    outcomes = submit_batch(app, [r for _, r in reports], principal) if reports else []
    for (i, _), out in zip(reports, outcomes, strict=True):
        if isinstance(out, Submitted):
            status = "merged" if out.merged else "created" if out.created else "duplicate"
            results[i] = {"index": i, "status": status, "case_id": out.case_id,
                          "case_no": out.case_no, "state": out.state}  # fmt: skip
        else:
            results[i] = {"index": i, "status": "rejected", "code": out.code,
                          "message": out.message, "details": out.details}  # fmt: skip
    return {"results": results}


def _hotline_report(order: HotlineOrder, raw: str) -> ReportInput:
    return ReportInput(
        channel=Channel.HOTLINE, source_id=order.work_order_no, raw=raw,
        description=order.content, category=order.category, **_where(order.location),
        reporter_name=order.caller_name, reporter_phone=order.caller_phone,
        extra={"appeal_type": order.appeal_type},
    )  # fmt: skip


@router.post("/inspector", response_model=SubmittedOut, status_code=201)
async def inspector(
    body: InspectorReport,
    request: Request,
    response: Response,
    app: AppDep,
    principal: PrincipalDep,
) -> SubmittedOut:
    _allow(principal, Channel.INSPECTOR, Role.INSPECTOR)
    media.check_refs(app, body.photos, "photos")
    report = ReportInput(
        channel=Channel.INSPECTOR,
        source_id=f"{principal.username}:{body.report_id}",
        raw=await _raw(request),
        description=body.description,
        category=body.category,
        **_where(body.location),
        reporter_user_id=principal.user_id,
        media=tuple(body.photos),
        component_code=body.component_code,
    )
    return _reply(submit(app, report, principal), response)


@router.post("/citizen", response_model=SubmittedOut, status_code=201)
async def citizen(
    body: CitizenReport, request: Request, response: Response, app: AppDep, principal: PrincipalDep
) -> SubmittedOut:
    _allow(principal, Channel.CITIZEN, Role.CITIZEN)
    media.check_refs(app, body.photos, "photos")
    report = ReportInput(
        channel=Channel.CITIZEN,
        source_id=f"{principal.username}:{body.client_request_id}",
        raw=await _raw(request),
        description=body.description,
        category=body.category,
        **_where(body.location),
        reporter_user_id=principal.user_id,
        media=tuple(body.photos),
        reporter_name=body.contact_name,
        reporter_phone=body.contact_phone,
    )
    return _reply(submit(app, report, principal), response)


@router.post("/manual", response_model=SubmittedOut, status_code=201)
async def manual(
    body: ManualEntry,
    request: Request,
    response: Response,
    app: AppDep,
    principal: PrincipalDep,
    idempotency_key: Annotated[str | None, Header()] = None,
) -> SubmittedOut:
    _allow(principal, Channel.MANUAL, Role.ACCEPTOR, Role.SHIFT_LEADER)
    if not idempotency_key or len(idempotency_key) > 128:
        raise ValidationFailed(
            "the Idempotency-Key header (1–128 characters) is required / 需要幂等键",
            field="Idempotency-Key",
        )
    report = ReportInput(
        channel=Channel.MANUAL,
        source_id=idempotency_key,
        raw=await _raw(request),
        description=body.description,
        category=body.category,
        **_where(body.location),
        reporter_name=body.reporter_name,
        reporter_phone=body.reporter_phone,
        extra={"source": body.source} if body.source else {},
    )
    return _reply(submit(app, report, principal), response)
