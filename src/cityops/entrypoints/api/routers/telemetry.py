"""City lifeline telemetry (城市生命线): assets, devices, readings, series, latest, dead letters."""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Header, Query, Request, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import AwareDatetime, BaseModel, Field
from starlette.concurrency import run_in_threadpool

from cityops.bootstrap import App
from cityops.domain.errors import (
    Forbidden,
    PayloadTooLarge,
    Unauthorized,
    UnsupportedMediaType,
    ValidationFailed,
)
from cityops.domain.lifeline.imports import (
    parse_asset_csv,
    parse_asset_features,
    parse_device_csv,
    parse_device_items,
)
from cityops.domain.model import Role
from cityops.entrypoints.api.deps import AppDep, require
from cityops.service.auth import principal_from_token
from cityops.service.principal import Principal
from cityops.service.telemetry import IngestResult, RawMessage, dead_letters, telemetry
from cityops.service.telemetry import assets as svc
from cityops.service.telemetry import queries as q
from cityops.service.telemetry.decode import JSON, SENML
from cityops.service.telemetry.gateways import KEY_PREFIX, create_gateway, gateway_for_key
from cityops.service.telemetry.health import device_health

router = APIRouter(prefix="/api/v1/telemetry", tags=["telemetry 城市生命线"])
Admin = Annotated[Principal, Depends(require(Role.ADMIN))]
Staff = Annotated[
    Principal, Depends(require(*(r for r in Role if r not in (Role.CITIZEN, Role.SYSTEM))))
]
Centre = Annotated[Principal, Depends(require(Role.ADMIN, Role.COMMANDER, Role.SHIFT_LEADER,
                                              Role.AUDITOR))]  # fmt: skip
_bearer = HTTPBearer(auto_error=False)
IMPORT_MAX_BYTES = 50 * 1024 * 1024


async def _body(request: Request, limit: int) -> bytes:
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise PayloadTooLarge(f"the body is over {limit} bytes", limit=limit)
    return bytes(body)


def _kind(request: Request) -> str:
    return request.headers.get("content-type", "").split(";", 1)[0].strip().lower()


def _json(raw: bytes) -> Any:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ValidationFailed(f"the file is not valid JSON: {exc}") from exc


def _text(raw: bytes) -> str:
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ValidationFailed("a CSV file must be UTF-8") from exc


@router.post("/assets/import")
async def import_assets(request: Request, app: AppDep, who: Admin) -> dict[str, Any]:
    """GeoJSON (``application/geo+json`` / ``application/json``) or CSV (``text/csv``);
    all or nothing, every problem named (docs/lifeline.md)."""
    raw, kind = await _body(request, IMPORT_MAX_BYTES), _kind(request)
    if kind == "text/csv":
        specs, problems = parse_asset_csv(_text(raw))
    elif kind in ("application/geo+json", "application/json"):
        specs, problems = parse_asset_features(_json(raw))
    else:
        raise UnsupportedMediaType("send text/csv or application/geo+json", content_type=kind)
    r = svc.import_assets(app, specs, problems, who.username)
    return {"kind": r.kind, "created": r.created, "updated": r.updated}


@router.post("/devices/import")
async def import_devices(request: Request, app: AppDep, who: Admin) -> dict[str, Any]:
    """JSON list / GeoJSON points, or CSV with one row per metric; all or nothing."""
    raw, kind = await _body(request, IMPORT_MAX_BYTES), _kind(request)
    if kind == "text/csv":
        specs, problems = parse_device_csv(_text(raw))
    elif kind in ("application/geo+json", "application/json"):
        specs, problems = parse_device_items(_json(raw))
    else:
        raise UnsupportedMediaType("send text/csv or application/json", content_type=kind)
    r = svc.import_devices(app, specs, problems, who.username)
    return {"kind": r.kind, "created": r.created, "updated": r.updated}


@router.get("/assets")
def get_assets(
    app: AppDep, who: Staff, kind: str | None = None, owner: str | None = None,
    area: Annotated[str | None, Query(pattern=r"^\d{6,14}$")] = None,
    limit: Annotated[int, Query(ge=1, le=5000)] = 500, offset: Annotated[int, Query(ge=0)] = 0,
) -> dict[str, Any]:  # fmt: skip
    return svc.list_assets(app, who, kind=kind, owner=owner, area=area, limit=limit,
                           offset=offset)  # fmt: skip


@router.get("/assets/{code}")
def get_asset(code: str, app: AppDep, who: Staff) -> dict[str, Any]:
    return svc.asset_detail(app, who, code)


@router.get("/devices")
def get_devices(
    app: AppDep, who: Staff, asset: str | None = None, kind: str | None = None,
    limit: Annotated[int, Query(ge=1, le=5000)] = 500, offset: Annotated[int, Query(ge=0)] = 0,
) -> dict[str, Any]:  # fmt: skip
    return q.list_devices(app, who, asset=asset, kind=kind, limit=limit, offset=offset)


@router.get("/device-health")
def get_device_health(
    app: AppDep, who: Staff,
    status: Annotated[str | None, Query(pattern=r"^(online|offline|never)$")] = None,
    asset: str | None = None, kind: str | None = None,
    search: Annotated[str | None, Query(alias="q", max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100, offset: Annotated[int, Query(ge=0)] = 0,
) -> dict[str, Any]:  # fmt: skip
    """Devices online / offline / never reported (last seen against their sampling interval),
    counts per status, last values and battery; ``kind`` is the asset kind, ``q`` a part of
    the device or asset code."""
    return device_health(app, who, status=status, asset=asset, kind=kind, q=search,
                         limit=limit, offset=offset)  # fmt: skip


@router.get("/devices/{code}")
def get_device(code: str, app: AppDep, who: Staff) -> dict[str, Any]:
    return svc.device_detail(app, who, code)


class GatewayIn(BaseModel):
    code: str = Field(min_length=1, max_length=64)
    name: str = Field(min_length=1, max_length=100)


@router.post("/gateways", status_code=201)
def post_gateway(body: GatewayIn, app: AppDep, who: Admin) -> dict[str, Any]:
    """A key for a gateway to post readings (``X-API-Key``); shown once."""
    return {"code": body.code, "key": create_gateway(app, body.code, body.name)}


def _source(
    app: AppDep,
    creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    x_api_key: Annotated[str | None, Header()] = None,
) -> str:
    """A gateway key, or an admin's token (for tests and manual corrections)."""
    if x_api_key:
        if not x_api_key.startswith(KEY_PREFIX):
            raise Forbidden("this key is not a gateway key / 非网关密钥")
        return f"http:{gateway_for_key(app, x_api_key)}"
    if creds is None:
        raise Unauthorized("a gateway key (X-API-Key) or a login is required")
    principal = principal_from_token(app, creds.credentials)
    if principal.role is not Role.ADMIN:
        raise Forbidden(f"role {principal.role.value} may not post readings")
    return f"http:user:{principal.username}"


def _results(result: IngestResult, *, forwarded: bool = False) -> dict[str, Any]:
    """Per message: accepted, duplicates, rejected, the dead letter. In forward mode also
    ``forwarded`` (the points handed to the ingesting worker) and no duplicates (null: the
    worker finds them)."""

    def counts(accepted: int, duplicates: int) -> dict[str, Any]:
        if not forwarded:
            return {"accepted": accepted, "duplicates": duplicates}
        return {"accepted": accepted, "duplicates": None, "forwarded": accepted}

    return {**counts(result.accepted, result.duplicates), "rejected": result.rejected,
            "dead_letters": result.dead_letters,
            "messages": [{**counts(m.accepted, m.duplicates), "rejected": m.rejected,
                          "reason": m.reason, "problems": m.problems,
                          "dead_letter_id": m.dead_letter_id}
                         for m in result.messages]}  # fmt: skip


@router.post("/readings")
async def post_readings(
    request: Request, response: Response, app: AppDep,
    source: Annotated[str, Depends(_source)],
    device: Annotated[str | None, Query(max_length=64, description="the device, when the "
                                        "payload's names carry only metrics")] = None,
    batch: Annotated[bool, Query(description="the body is {\"messages\": [...]}")] = False,
) -> dict[str, Any]:  # fmt: skip
    """One message (SenML ``application/senml+json`` or plain JSON), or with ``batch=true``
    an envelope ``{"messages": [pack-or-object, …]}``. Answers per message: accepted,
    duplicates, rejected and the dead letter keeping the bad part. 200 when anything was
    stored or was already there; 422 when nothing in the request could be used. With
    CITYOPS_TELEMETRY_HTTP_FORWARD: 202 once the broker took the good points for the
    ``cityops mqtt`` worker (``forwarded``; duplicates null: not known yet), 503 with
    Retry-After when it did not (nothing written)."""
    raw, kind = await _body(request, app.settings.telemetry_http_max_bytes), _kind(request)
    if kind not in (SENML, JSON, ""):
        raise UnsupportedMediaType("send application/senml+json or application/json",
                                   content_type=kind)  # fmt: skip
    now = app.clock().timestamp()
    if batch:
        envelope = _json(raw)
        items = envelope.get("messages") if isinstance(envelope, dict) else None
        if not isinstance(items, list) or not items:
            raise ValidationFailed('a batch is {"messages": [ … ]} with at least one message')
        messages = [RawMessage(source, orjson.dumps(m), now, kind, device) for m in items]
    else:
        messages = [RawMessage(source, raw, now, kind, device)]
    if app.settings.telemetry_http_forward:
        return await _forward(app, response, messages)
    result = telemetry(app).ingest_http(messages)  # this process's stream: see lifespan.py
    body = _results(result)
    if result.accepted == 0 and result.duplicates == 0 and result.dead_letters:
        raise ValidationFailed("nothing in the request could be stored; see the dead letters",
                               **body)  # fmt: skip
    return body


async def _forward(app: App, response: Response, messages: list[RawMessage]) -> dict[str, Any]:
    """Hand the readings to the ingesting worker through the broker (blocking: off the loop);
    a broker that did not take them is a 503 with Retry-After (ForwardUnavailable)."""
    done = await run_in_threadpool(telemetry(app).forward_http, messages)
    body = _results(done.result, forwarded=True)
    if done.forwarded == 0 and done.result.dead_letters:
        raise ValidationFailed("nothing in the request could be used; see the dead letters",
                               **body)  # fmt: skip
    response.status_code = 202
    return body


@router.get("/series")
def get_series(
    app: AppDep, who: Staff, device: str, metric: str,
    start: Annotated[AwareDatetime, Query(alias="from")],
    end: Annotated[AwareDatetime, Query(alias="to")],
    step: Annotated[str, Query(pattern=r"^(raw|1m|1h)$")] = "raw",
    agg: Annotated[str | None, Query(pattern=r"^(avg|min|max|last|count)$")] = None,
) -> dict[str, Any]:  # fmt: skip
    """Readings of one series in [from, to): raw, or 1-minute / 1-hour buckets by ``agg``."""
    return q.series(app, who, q.SeriesQuery(device, metric, start, end, step, agg))


@router.get("/latest")
def get_latest(
    app: AppDep, who: Staff, asset: str | None = None, device: str | None = None,
    kind: str | None = None, limit: Annotated[int, Query(ge=1, le=10_000)] = 2000,
) -> list[dict[str, Any]]:  # fmt: skip
    """Newest value per metric of each device, with online/offline (docs/lifeline.md)."""
    return q.latest(app, who, asset=asset, device=device, kind=kind, limit=limit)


@router.get("/dead-letters")
def get_dead_letters(
    app: AppDep, who: Centre, resolved: bool | None = False, reason: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    before_id: Annotated[int | None, Query(ge=1)] = None,
    group: Annotated[bool, Query(description="identical dead letters as one row with their "
                                 "count (newest group first; no before_id)")] = False,
) -> dict[str, Any]:  # fmt: skip
    """Messages that could not be (wholly) ingested, newest first, with their raw bytes."""
    if group:
        if before_id is not None:
            raise ValidationFailed("page grouped dead letters with limit, not before_id",
                                   field="before_id")  # fmt: skip
        return dead_letters.grouped(app, resolved=resolved, reason=reason, limit=limit)
    return q.dead_letters(app, resolved=resolved, reason=reason, limit=limit,
                          before_id=before_id)  # fmt: skip


@router.get("/dead-letters/{id_}")
def get_dead_letter(id_: int, app: AppDep, who: Centre) -> dict[str, Any]:
    """One dead letter, the device it names, and the ids of its identical twins."""
    return dead_letters.detail(app, id_)


class ResolveIn(BaseModel):
    note: str | None = Field(None, max_length=2000)
    identical: bool = Field(False, description="also every unresolved identical dead letter")


@router.post("/dead-letters/{id_}/resolve")
def resolve_dead_letter(id_: int, body: ResolveIn, app: AppDep, who: Admin) -> dict[str, Any]:
    if body.identical:
        return dead_letters.resolve_identical(app, id_, who.username, body.note)
    return q.resolve_dead_letter(app, id_, who.username, body.note)


class ReplayIn(BaseModel):
    device: str | None = Field(None, min_length=1, max_length=64,
                               description="the device, for bare metric names whose transport "
                               "named it (HTTP ?device=)")  # fmt: skip
    identical: bool = Field(True, description="resolve the identical dead letters too")


@router.post("/dead-letters/{id_}/replay")
def replay_dead_letter(id_: int, body: ReplayIn, app: AppDep, who: Admin) -> dict[str, Any]:
    """Ingest the kept bytes again (after the device or its unit was fixed) and resolve the
    dead letter with the outcome; if it still fails, the new dead letter is named."""
    return dead_letters.replay(app, id_, who.username, device=body.device,
                               identical=body.identical)  # fmt: skip
