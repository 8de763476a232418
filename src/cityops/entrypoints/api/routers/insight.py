"""Insight: history import, routing quality (分拨质量) and "me too" (附近同类案件).

Included before the cases router: ``/api/v1/cases/nearby`` must win over ``/cases/{case_id}``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import Response

from cityops.domain.model import Role
from cityops.entrypoints.api.bodies import CSV_TYPES, decode_csv, media_type
from cityops.entrypoints.api.deps import (
    AppDep,
    CategoryKey,
    Lat,
    Lon,
    PrincipalDep,
    RadiusM,
    require,
)
from cityops.service.history import import_history
from cityops.service.nearby import DEFAULT_RADIUS_M, nearby_cases
from cityops.service.principal import Principal
from cityops.service.routing_quality import routing_quality

router = APIRouter(prefix="/api/v1", tags=["insight 研判"])
Admin = Annotated[Principal, Depends(require(Role.ADMIN))]
Reader = Annotated[
    Principal,
    Depends(require(Role.ADMIN, Role.COMMANDER, Role.SHIFT_LEADER, Role.AUDITOR)),
]

_CSV_TYPES = CSV_TYPES | {"text/plain"}
_HISTORY_BODY = {
    "required": True,
    "content": {"text/csv": {"schema": {"type": "string", "title": "history CSV"}}},
}


async def _csv_text(request: Request, _: Admin) -> str:
    """The body as text, decoded by its declared charset (UTF-8 by default); admin check first."""
    ctype, charset = media_type(request.headers.get("content-type", ""))
    if ctype not in _CSV_TYPES:
        raise HTTPException(415, f"unsupported content type {ctype!r}: send text/csv")
    return decode_csv(await request.body(), charset)


@router.post("/admin/history", openapi_extra={"requestBody": _HISTORY_BODY})
def import_history_cases(
    app: AppDep, who: Admin, text: Annotated[str, Depends(_csv_text)]
) -> dict[str, Any]:
    """历史案件导入: closed/invalid cases from CSV (docs/history-import.md); all-or-nothing."""
    r = import_history(app, text, who.username)
    return {"kind": r.kind, "created": r.created, "closed": r.closed, "invalid": r.invalid,
            "batch": r.batch}  # fmt: skip


@router.get("/reports/routing-quality", response_model=None)
def routing_quality_report(
    app: AppDep,
    who: Reader,
    start: Annotated[datetime, Query(alias="from")],
    end: Annotated[datetime, Query(alias="to")],
    format: Annotated[str, Query(pattern="^(json|csv)$")] = "json",
) -> dict[str, Any] | Response:
    """Per responsibility rule: dispatches, returns (回退), return rate, where cases went."""
    report = routing_quality(app, who, start, end)
    if format == "csv":
        return Response(
            "\ufeff" + report.csv(),  # BOM so spreadsheet programs read the Chinese
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": 'attachment; filename="routing-quality.csv"'},
        )
    return report.as_dict()


@router.get("/cases/nearby", tags=["cases 案卷"])
def nearby(
    app: AppDep,
    who: PrincipalDep,
    category: CategoryKey,
    lon: Lon,
    lat: Lat,
    radius: RadiusM = DEFAULT_RADIUS_M,
    crs: Annotated[str, Query(max_length=16)] = "wgs84",
) -> dict[str, Any]:
    """我也遇到了: open cases of the category nearby, public fields only, newest first."""
    return nearby_cases(app, who, category, lon, lat, radius, crs)
