"""The citizen portal's public API (``/citizen``): no login, per-IP limits, no personal data out.

``service/portal.py`` explains the tracking code and how a rating reaches the workflow.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from cityops.domain.errors import ValidationFailed
from cityops.domain.model import RegionLevel
from cityops.entrypoints.api.deps import AppDep, CategoryKey, Lat, Lon, RadiusM
from cityops.entrypoints.api.ratelimit import RateLimiter
from cityops.entrypoints.api.routers import ui
from cityops.service import media, portal
from cityops.service.locating import where_is
from cityops.service.nearby import DEFAULT_RADIUS_M, nearby_cases

router = APIRouter(prefix="/api/v1/portal", tags=["portal 市民门户"])

# (units, window) per client IP and purpose; in-process like the media limiter (docs/media.md).
LIMITS = {
    "read": (600, timedelta(minutes=10)),  # categories, places, where, nearby, regions
    "report": (20, timedelta(hours=1)),
    "track": (120, timedelta(minutes=10)),  # wrong codes count too: no guessing at speed
}


def _limit(request: Request, purpose: str, what: str) -> None:
    state = request.app.state
    limiters: dict[str, RateLimiter] | None = getattr(state, "portal_limiters", None)
    if limiters is None:
        limiters = {k: RateLimiter(n, w) for k, (n, w) in LIMITS.items()}
        state.portal_limiters = limiters
    client = request.client.host if request.client else "unknown"
    app = state.cityops
    limiters[purpose].take(client, 1, app.clock(), what)


@router.get("/categories")
def categories(request: Request, app: AppDep) -> list[dict[str, Any]]:
    """What can be reported, grouped by major class (部件 / 事件)."""
    _limit(request, "read", "requests")
    return portal.categories(app)


@router.get("/regions", response_class=Response)
def regions(
    request: Request,
    app: AppDep,
    level: Annotated[str, Query(pattern="^(district|street|community)$")] = "district",
) -> Response:
    """District, street or community boundaries (public geography) to place the pin on."""
    _limit(request, "read", "requests")
    return ui.regions_geojson(request, app, portal.PORTAL, RegionLevel(level), None)


@router.get("/places")
def places(
    request: Request, app: AppDep, q: Annotated[str, Query(min_length=1, max_length=50)]
) -> dict[str, Any]:
    """Address search (地名地址库) for the pin."""
    _limit(request, "read", "requests")
    return {"items": portal.places(app, q)}


@router.get("/where")
def where(
    request: Request,
    app: AppDep,
    lon: Lon,
    lat: Lat,
) -> dict[str, Any]:
    """Is the pin inside the city, and which district / street / community is it in."""
    _limit(request, "read", "requests")
    found = where_is(app.reference.get(), [(lon, lat)])[0]
    path = [p["name"] for p in found.get("path", []) if p["level"] in
            ("district", "street", "community")]  # fmt: skip
    return {"inside": found["inside"], "place": " ".join(path) or None}


@router.get("/nearby")
def nearby(
    request: Request,
    app: AppDep,
    category: CategoryKey,
    lon: Lon,
    lat: Lat,
    radius: RadiusM = DEFAULT_RADIUS_M,
) -> dict[str, Any]:
    """我也遇到了: open cases of the kind nearby; number, kind, state, distance, age only."""
    _limit(request, "read", "requests")
    return nearby_cases(app, portal.PORTAL, category, lon, lat, radius)


Photo = Annotated[str, Field(pattern=r"^media://[A-Za-z0-9_-]{10,64}$")]


class ReportIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    category: str = Field(pattern=r"^[CE]\d{4}$")
    description: str = Field(min_length=1, max_length=2000)
    lon: float = Field(ge=-180, le=180)
    lat: float = Field(ge=-90, le=90)
    address: str | None = Field(None, max_length=200)
    photos: list[Photo] = Field(default_factory=list, max_length=3)
    name: str | None = Field(None, max_length=50)
    phone: str | None = Field(None, pattern=r"^[0-9+\- ]{5,20}$")


class ReportOut(BaseModel):
    case_no: str
    state: str
    created: bool
    merged: bool
    tracking_code: str  # shown once: with the case number it shows the report and rates it


@router.post("/reports", response_model=ReportOut, status_code=201)
async def report(
    body: ReportIn,
    request: Request,
    response: Response,
    app: AppDep,
    idempotency_key: Annotated[str | None, Header()] = None,
) -> ReportOut:
    """市民上报 without a login; the Idempotency-Key makes a double tap one report."""
    if not idempotency_key or not 8 <= len(idempotency_key) <= 100:
        raise ValidationFailed(
            "the Idempotency-Key header (8–100 characters) is required / 需要幂等键",
            field="Idempotency-Key",
        )
    _limit(request, "report", "reports")
    media.check_refs(app, body.photos, "photos")
    raw = (await request.body()).decode("utf-8", errors="replace")
    answer = portal.submit(app, body.model_dump(), idempotency_key, raw)
    response.status_code = 201 if answer["created"] else 200
    return ReportOut(**answer)


class TrackIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    case_no: str = Field(min_length=4, max_length=20)
    tracking_code: str | None = Field(None, max_length=40)


@router.post("/track")
def track(body: TrackIn, request: Request, app: AppDep) -> dict[str, Any]:
    """Progress by case number (public steps); with the tracking code, the citizen's own part.

    A POST so that the code never lands in an access log or a browser's history.
    """
    _limit(request, "track", "look-ups")
    return portal.track(app, body.case_no, body.tracking_code)


class RatingIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    case_no: str = Field(min_length=4, max_length=20)
    tracking_code: str = Field(min_length=1, max_length=40)
    rating: int = Field(ge=1, le=5)
    comment: str | None = Field(None, max_length=500)


@router.post("/rating")
def rating(body: RatingIn, request: Request, app: AppDep) -> dict[str, Any]:
    """回访满意度 (1–5 and a comment) once the case is closed; once per report."""
    _limit(request, "track", "look-ups")
    return portal.rate(app, body.case_no, body.tracking_code, body.rating, body.comment)
