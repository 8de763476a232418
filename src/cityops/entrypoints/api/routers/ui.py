"""What every screen needs before its data: UI settings and the city's polygons as GeoJSON."""

from __future__ import annotations

import gzip
import hashlib
import json
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from sqlalchemy import func, select

from cityops.adapters.db.models import RegionRow
from cityops.domain.model import RegionLevel
from cityops.entrypoints.api.deps import AppDep, PrincipalDep

router = APIRouter(prefix="/api/v1", tags=["ui 界面"])


@router.get("/ui/config")
def ui_config(app: AppDep) -> dict[str, Any]:
    """Public: the login page shows the city's name before anybody signs in."""
    s = app.settings
    with app.reads() as session:
        city = session.execute(
            select(RegionRow.code, RegionRow.name).where(RegionRow.level == RegionLevel.CITY)
            .order_by(RegionRow.code).limit(1)
        ).first()  # fmt: skip
        bounds = session.execute(
            select(func.min(RegionRow.min_lon), func.min(RegionRow.min_lat),
                   func.max(RegionRow.max_lon), func.max(RegionRow.max_lat))
            .where(RegionRow.level.in_([RegionLevel.CITY, RegionLevel.DISTRICT]))
        ).one()  # fmt: skip
    return {
        "city": {"code": city[0], "name": city[1]} if city else None,
        "bounds": list(bounds) if None not in bounds else None,  # [w, s, e, n], WGS-84
        "timezone": s.timezone,
        "default_lang": "zh-CN",
        "map": {
            "tile_url": s.map_tile_url,
            "attribution": s.map_tile_attribution,
            "max_zoom": s.map_tile_max_zoom,
        },
        "live": {"heartbeat_seconds": s.live_heartbeat_seconds},
    }


@router.get("/geo/regions", response_class=Response)
def regions_geojson(
    request: Request,
    app: AppDep,
    _: PrincipalDep,
    level: RegionLevel = RegionLevel.DISTRICT,
    within: Annotated[str | None, Query(pattern=r"^\d{6,14}$")] = None,
) -> Response:
    """The regions of one level (inside ``within``) as a GeoJSON FeatureCollection (WGS-84).

    The body rarely changes, so it carries an ETag (304 when unchanged) and is gzipped for
    clients that accept it: a city's grid layer is megabytes of coordinates.
    """
    query = select(RegionRow).where(RegionRow.level == level).order_by(RegionRow.code)
    if within:
        query = query.where(RegionRow.code.startswith(within))
    with app.reads() as s:
        features = [
            {
                "type": "Feature",
                "id": r.code,
                "properties": {
                    "code": r.code,
                    "name": r.name,
                    "level": r.level,
                    "parent": r.parent_code,
                },
                "geometry": r.geometry,
            }
            for r in s.scalars(query)
        ]
    body = json.dumps(
        {"type": "FeatureCollection", "features": features},
        ensure_ascii=False,
        separators=(",", ":"),
    ).encode()
    etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
    headers = {"ETag": etag, "Cache-Control": "private, max-age=300", "Vary": "Accept-Encoding"}
    if etag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers=headers)
    if "gzip" in request.headers.get("accept-encoding", "") and len(body) > 1024:
        body, headers["Content-Encoding"] = gzip.compress(body, compresslevel=5), "gzip"
    return Response(body, media_type="application/geo+json", headers=headers)
