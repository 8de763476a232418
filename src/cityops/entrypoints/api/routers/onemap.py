"""One map (一张图): grid layers beside the city's grid (多格合一), and where a point is in all."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Query
from pydantic import BaseModel, Field

from cityops.entrypoints.api.deps import AppDep, Lat, Lon, PrincipalDep
from cityops.entrypoints.api.routers.admin import Admin, Staff
from cityops.service import layers
from cityops.service.locating import MAX_POINTS, where_is

router = APIRouter(prefix="/api/v1", tags=["map 一张图"])

_LAYER_BODY = {
    "required": True,
    "content": {
        "application/json": {"schema": {"type": "object", "title": "GeoJSON FeatureCollection"}}
    },
}
CrsParam = Annotated[
    str | None, Query(max_length=32, description="wgs84 (default), gcj02, bd09 or cgcs2000")
]


@router.get("/admin/layers")
def list_layers(app: AppDep, _: Staff) -> list[dict[str, Any]]:
    """Grid layers beside the city-operations grid, with their number of cells."""
    return layers.list_layers(app)


@router.put("/admin/layers/{code}", openapi_extra={"requestBody": _LAYER_BODY})
def import_layer(
    code: str,
    who: Admin,
    app: AppDep,
    body: Annotated[Any, Body()],
    name: Annotated[str | None, Query(max_length=100)] = None,
    crs: CrsParam = None,
) -> dict[str, Any]:
    """Create or replace a layer from a GeoJSON FeatureCollection; all-or-nothing (422 names
    every offending cell). The file's ``crs`` member is honoured; ``crs`` must agree with it."""
    return layers.import_layer(app, code, body, who.username, name=name, crs=crs).as_dict()


@router.get("/admin/layers/{code}")
def layer_cells(code: str, app: AppDep, _: Staff) -> dict[str, Any]:
    """The layer's cells as a WGS-84 GeoJSON FeatureCollection."""
    return layers.layer_geojson(app, code)


@router.delete("/admin/layers/{code}")
def delete_layer(code: str, app: AppDep, who: Admin) -> dict[str, Any]:
    return layers.delete_layer(app, code, who.username)


@router.get("/map/locate")
def locate(
    app: AppDep,
    _: PrincipalDep,
    lon: Lon,
    lat: Lat,
    crs: CrsParam = None,
) -> dict[str, Any]:
    """The point's grid cell, jurisdiction path and cell in every layer; outside the city's
    grid, ``inside: false`` with the nearest cell and its distance."""
    return where_is(app.reference.get(), [(lon, lat)], crs or "wgs84")[0]


class PointsIn(BaseModel):
    crs: str = Field("wgs84", max_length=32)
    points: list[tuple[float, float]] = Field(
        min_length=1, max_length=MAX_POINTS, description="[[lon, lat], …]"
    )


@router.post("/map/locate")
def locate_many(body: PointsIn, app: AppDep, _: PrincipalDep) -> dict[str, Any]:
    """The same for a batch of points, answered in order."""
    return {"items": where_is(app.reference.get(), body.points, body.crs)}
