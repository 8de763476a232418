"""指挥大屏: the big screen's figures, map and feed, for the operations centre."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request

from cityops.domain.lifeline.assets import AssetKind
from cityops.domain.model import Role
from cityops.entrypoints.api.deps import AppDep, require
from cityops.service.lifeline.queries import asset_layer, screen_summary
from cityops.service.principal import Principal
from cityops.service.screen import TtlCache, department_ranking, overview
from cityops.service.screen_map import FEED_SIZE, MAX_MARKERS, map_view, recent_feed

router = APIRouter(prefix="/api/v1/screen", tags=["screen 大屏"])
# The operations centre and those who read its figures; every figure is scoped to the caller.
CENTRE = (Role.ADMIN, Role.COMMANDER, Role.SHIFT_LEADER, Role.DISPATCHER, Role.ACCEPTOR,
          Role.AUDITOR)  # fmt: skip
Viewer = Annotated[Principal, Depends(require(*CENTRE))]
RANKING_SECONDS = 300.0


@router.get("/overview")
def screen_overview(app: AppDep, who: Viewer) -> dict[str, Any]:
    """Today's figures, 24-hour and 30-day trends, top categories, hot grid cells."""
    return overview(app, who)


@router.get("/map")
def screen_map(
    app: AppDep, who: Viewer, limit: Annotated[int, Query(ge=1, le=5000)] = MAX_MARKERS
) -> dict[str, Any]:
    """Open and overdue cases per grid cell, and the newest open cases as markers."""
    return map_view(app, who, limit)


@router.get("/feed")
def screen_feed(
    app: AppDep, who: Viewer, limit: Annotated[int, Query(ge=1, le=200)] = FEED_SIZE
) -> list[dict[str, Any]]:
    """The newest case log entries, shaped like the live stream's messages."""
    return recent_feed(app, who, limit)


@router.get("/ranking")
def screen_ranking(request: Request, app: AppDep, _: Viewer) -> dict[str, Any]:
    """Departments by the evaluation's composite score over 30 days (cached five minutes)."""
    state = request.app.state
    if not hasattr(state, "ranking_cache"):
        state.ranking_cache = TtlCache(RANKING_SECONDS)
    result: dict[str, Any] = state.ranking_cache.get("department", lambda: department_ranking(app))
    return result


@router.get("/lifeline")
def screen_lifeline(app: AppDep, who: Viewer) -> dict[str, Any]:
    """City lifeline: open alarms by level, type and state, each asset's worst open alarm."""
    return screen_summary(app, who)


@router.get("/lifeline/assets")
def screen_lifeline_assets(
    app: AppDep, who: Viewer, kind: AssetKind | None = None
) -> dict[str, Any]:
    """The lifeline assets the caller may see, as GeoJSON (pipes as lines, wells as points);
    an unknown ``kind`` is a 422 naming the kinds there are."""
    return asset_layer(app, who, kind.value if kind else None)
