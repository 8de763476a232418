"""Video-AI alerts (视频AI告警): the camera registry and the alert webhook."""

from __future__ import annotations

from typing import Annotated, Any, Self

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from cityops.domain.errors import Forbidden
from cityops.domain.model import Channel, Role
from cityops.entrypoints.api.deps import AppDep, PrincipalDep, require
from cityops.service.principal import Principal
from cityops.service.video import VideoAlert, import_cameras, list_cameras, receive_alert

router = APIRouter(prefix="/api/v1", tags=["video 视频AI告警"])
Admin = Annotated[Principal, Depends(require(Role.ADMIN))]
Staff = Annotated[
    Principal, Depends(require(*(r for r in Role if r not in (Role.CITIZEN, Role.SYSTEM))))
]


class CamerasIn(BaseModel):
    """Cameras to add or update by code; each item: code, name, lon, lat, view?, active?."""

    cameras: list[dict[str, Any]] = Field(min_length=1, max_length=10_000)


@router.post("/admin/cameras")
def post_cameras(body: CamerasIn, app: AppDep, who: Admin) -> dict[str, Any]:
    """All or nothing: one bad camera rejects the file, and every bad one is named."""
    result = import_cameras(app, body.cameras, who.username)
    return {"kind": result.kind, "created": result.created, "updated": result.updated}


@router.get("/cameras")
def get_cameras(
    app: AppDep,
    who: Staff,
    area: Annotated[str | None, Query(pattern=r"^\d{6,14}$")] = None,
) -> list[dict[str, Any]]:
    """The cameras in the caller's jurisdiction, optionally within one region (``area``)."""
    return list_cameras(app, who, area)


class AlertIn(BaseModel):
    """One detection from a camera platform; extra fields are kept in the raw payload."""

    model_config = ConfigDict(extra="ignore")
    alert_id: str = Field(min_length=1, max_length=128)
    camera_code: str = Field(min_length=1, max_length=64)
    event_type: str = Field(min_length=1, max_length=64)
    confidence: float = Field(ge=0, le=1)
    occurred_at: AwareDatetime
    snapshot_url: str = Field(min_length=1, max_length=1000, pattern=r"^(https?|s3|oss)://\S+$")
    bbox: list[float] | None = Field(None, min_length=4, max_length=4)
    lon: float | None = Field(None, ge=-180, le=180)
    lat: float | None = Field(None, ge=-90, le=90)

    @model_validator(mode="after")
    def _paired(self) -> Self:
        if (self.lon is None) != (self.lat is None):
            raise ValueError("give both lon and lat, or neither")
        return self


def _allow(principal: Principal) -> None:
    if principal.role is Role.SYSTEM:
        if Channel.VIDEO not in principal.channels:
            raise Forbidden("this API key may not submit to the video channel / 无视频告警权限")
    elif principal.role is not Role.ADMIN:
        raise Forbidden(f"role {principal.role.value} may not submit video alerts")


@router.post("/intake/video", status_code=201)
async def video_alert(
    body: AlertIn, request: Request, response: Response, app: AppDep, principal: PrincipalDep
) -> dict[str, Any]:
    """201 created; 200 folded, merged or a repeat; 202 ignored (below threshold)."""
    _allow(principal)
    raw = (await request.body()).decode("utf-8", errors="replace")
    alert = VideoAlert(
        alert_id=body.alert_id, camera_code=body.camera_code, event_type=body.event_type,
        confidence=body.confidence, occurred_at=body.occurred_at, snapshot_url=body.snapshot_url,
        raw=raw, bbox=body.bbox, lon=body.lon, lat=body.lat,
    )  # fmt: skip
    out = receive_alert(app, alert, principal)
    response.status_code = (
        202 if out.status == "ignored" else 201 if out.status == "created" and not out.repeat
        else 200
    )  # fmt: skip
    fields = {"status": out.status, "event_type": out.event_type, "category": out.category}
    if out.status == "ignored":
        return {**fields, "reason": out.reason}
    return {**fields, "case_id": out.case_id, "case_no": out.case_no, "state": out.state,
            "alerts": out.alerts, "repeat": out.repeat}  # fmt: skip
