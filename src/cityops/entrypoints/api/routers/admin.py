"""Administration: the city's structure, taxonomy, responsibility list, users, calendar."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from cityops.adapters.db.models import AuditRow, CategoryRow, DepartmentRow, RegionRow
from cityops.domain.calendar import parse_year_schedule
from cityops.domain.errors import ImportProblem, ImportRejected, ValidationFailed
from cityops.domain.layers import declared_crs
from cityops.domain.model import Channel, Role, Urgency
from cityops.domain.regions import parse_region_csv, parse_region_features
from cityops.domain.taxonomy import parse_taxonomy
from cityops.entrypoints.api.bodies import CSV_TYPES, decode_csv, media_type
from cityops.entrypoints.api.deps import AppDep, PrincipalDep, require
from cityops.service import admin
from cityops.service.auth import create_api_key
from cityops.service.principal import Principal

router = APIRouter(prefix="/api/v1", tags=["admin 管理"])
Admin = Annotated[Principal, Depends(require(Role.ADMIN))]
AdminOrAuditor = Annotated[Principal, Depends(require(Role.ADMIN, Role.AUDITOR))]
# Every signed-in member of staff: not citizens, not channel API keys.
Staff = Annotated[
    Principal, Depends(require(*(r for r in Role if r not in (Role.CITIZEN, Role.SYSTEM))))
]


def _result(r: admin.ImportResult) -> dict[str, Any]:
    return {"kind": r.kind, "created": r.created, "updated": r.updated}


_JSON_TYPES = frozenset({"application/json", "application/geo+json"})


async def _region_upload(request: Request, _: Admin) -> tuple[str, Any]:
    """("csv", text) or ("geojson", parsed JSON), by content type; the admin check runs first."""
    ctype, charset = media_type(request.headers.get("content-type", "application/json"))
    raw = await request.body()
    if ctype in CSV_TYPES:
        return "csv", decode_csv(raw, charset)
    if ctype in _JSON_TYPES:
        try:
            return "geojson", json.loads(raw)
        except ValueError as exc:
            raise RequestValidationError(
                [{"type": "json_invalid", "loc": ("body",), "msg": f"JSON decode error: {exc}"}]
            ) from exc
    raise HTTPException(
        415, f"unsupported content type {ctype!r}: send GeoJSON (application/json) or text/csv"
    )


_REGION_BODY = {
    "required": True,
    "content": {
        "application/json": {"schema": {"type": "object", "title": "GeoJSON FeatureCollection"}},
        "text/csv": {"schema": {"type": "string", "title": "code,name,level,parent[,wkt]"}},
    },
}


@router.post("/admin/regions", openapi_extra={"requestBody": _REGION_BODY})
def import_regions(
    who: Admin,
    app: AppDep,
    upload: Annotated[tuple[str, Any], Depends(_region_upload)],
    crs: Annotated[
        str | None, Query(max_length=32, description="wgs84 (default), gcj02, bd09, cgcs2000")
    ] = None,
) -> dict[str, Any]:
    """GeoJSON FeatureCollection or CSV (``code,name,level,parent[,wkt]``); all-or-nothing.

    Geometries in GCJ-02 or BD-09 (``crs``, or the GeoJSON ``crs`` member) become WGS-84; grid
    cells that are invalid, overlap a cell or leave a gap are refused, each named.
    """
    kind, payload = upload
    existing = admin.region_codes(app)
    if kind == "csv":
        system = declared_crs({}, crs)
        specs = parse_region_csv(payload, existing)
    elif isinstance(payload, dict):
        system = declared_crs(payload, crs)
        specs = parse_region_features(payload, existing)
    else:
        raise ImportRejected(
            "regions rejected: not a GeoJSON FeatureCollection",
            [ImportProblem("file", "expected {type: FeatureCollection, features: [...]}")],
        )
    return _result(admin.import_regions(app, specs, who.username, crs=system))


@router.post("/admin/departments")
def import_departments(body: list[dict[str, Any]], app: AppDep, who: Admin) -> dict[str, Any]:
    return _result(admin.import_departments(app, body, who.username))


@router.post("/admin/taxonomy")
def import_taxonomy(body: dict[str, Any], app: AppDep, who: Admin) -> dict[str, Any]:
    return _result(admin.import_taxonomy(app, parse_taxonomy(body), who.username))


class RulesIn(BaseModel):
    version: str = Field(min_length=1, max_length=64)
    effective_from: datetime
    rules: list[dict[str, Any]]


@router.post("/admin/rules")
def import_rules(body: RulesIn, app: AppDep, who: Admin) -> dict[str, Any]:
    if body.effective_from.tzinfo is None:
        raise ValidationFailed("effective_from needs a time zone", field="effective_from")
    return _result(
        admin.import_rules(app, body.rules, body.version, body.effective_from, who.username)
    )


@router.post("/admin/users")
def import_users(body: list[dict[str, Any]], app: AppDep, who: Admin) -> dict[str, Any]:
    return _result(admin.import_users(app, body, who.username))


class UserPatch(BaseModel):
    """Only the fields sent are changed; ``scope``/``department`` null clears them."""

    model_config = ConfigDict(extra="forbid")
    role: Role | None = None
    scope: str | None = Field(None, pattern=r"^\d{6,14}$", description="region code; null = city")
    department: str | None = Field(None, max_length=40, description="department code")
    active: bool | None = None
    display_name: str | None = Field(None, min_length=1, max_length=100)
    password: str | None = Field(None, min_length=8, max_length=200)


@router.get("/admin/users")
def list_users(app: AppDep, _: AdminOrAuditor, role: Role | None = None) -> list[dict[str, Any]]:
    """Users without their secrets, optionally of one role."""
    return admin.list_users(app, role)


@router.patch("/admin/users/{username}")
def edit_user(username: str, body: UserPatch, app: AppDep, who: Admin) -> dict[str, Any]:
    """The last active admin cannot be demoted or deactivated (409)."""
    changes = body.model_dump(mode="json", exclude_unset=True)
    for field in ("role", "active", "display_name", "password"):
        if field in changes and changes[field] is None:
            raise ValidationFailed(f"{field} cannot be null", field=field)
    return admin.edit_user(app, username, changes, who.username)


class CategoryPatch(BaseModel):
    """Only the fields sent are changed; ``time_limits`` is merged stage by stage."""

    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(None, min_length=1, max_length=50)
    urgency: Urgency | None = None
    filing_condition: str | None = Field(None, min_length=1, max_length=2000)
    closing_condition: str | None = Field(None, min_length=1, max_length=2000)
    time_limits: dict[str, str | None] | None = Field(
        None, description='e.g. {"accept": "2wh", "handle": "1wd"}; urgent ones use "h"'
    )
    active: bool | None = None


@router.patch("/admin/categories/{key}")
def edit_category(key: str, body: CategoryPatch, app: AppDep, who: Admin) -> dict[str, Any]:
    return admin.edit_category(
        app, key, body.model_dump(mode="json", exclude_unset=True), who.username
    )


@router.post("/admin/holidays")
def load_holidays(body: dict[str, Any], app: AppDep, who: Admin) -> dict[str, Any]:
    """Load a year's official holiday schedule (国务院办公厅节假日安排) as data."""
    schedule = parse_year_schedule(body, source=f"admin {who.username} via API")
    return _result(admin.load_holidays(app, schedule, who.username))


class ApiKeyIn(BaseModel):
    name: str = Field(min_length=1, max_length=100)
    channels: list[Channel] = Field(min_length=1)


@router.post("/admin/api-keys", status_code=201)
def new_api_key(body: ApiKeyIn, app: AppDep, who: Admin) -> dict[str, Any]:
    """The key is shown once; only its hash is stored."""
    return {"name": body.name, "key": create_api_key(app, body.name, body.channels)}


@router.get("/admin/audit")
def audit_log(
    app: AppDep,
    who: AdminOrAuditor,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[dict[str, Any]]:
    with app.reads() as s:
        rows = s.scalars(select(AuditRow).order_by(AuditRow.id.desc()).limit(limit)).all()
        return [
            {
                "at": r.at.isoformat(),
                "actor": r.actor,
                "action": r.action,
                "target": r.target,
                "detail": r.detail,
            }
            for r in rows
        ]


@router.get("/categories")
def categories(app: AppDep, _: PrincipalDep) -> list[dict[str, Any]]:
    with app.reads() as s:
        rows = s.scalars(select(CategoryRow).where(CategoryRow.active).order_by(CategoryRow.key))
        return [admin.category_view(c) for c in rows]


@router.get("/departments")
def departments(app: AppDep, _: PrincipalDep) -> list[dict[str, Any]]:
    with app.reads() as s:
        return [
            {
                "id": d.id,
                "code": d.code,
                "name": d.name,
                "level": d.level,
                "region_code": d.region_code,
            }
            for d in s.scalars(select(DepartmentRow).order_by(DepartmentRow.id))
        ]


@router.get("/departments/{department_id}")
def department(department_id: int, app: AppDep, _: Staff) -> dict[str, Any]:
    """A department and its active members (username, display name, role)."""
    return admin.department_detail(app, department_id)


@router.get("/regions")
def regions(
    app: AppDep,
    _: PrincipalDep,
    parent: Annotated[str | None, Query(pattern=r"^\d{6,14}$")] = None,
    geometry: bool = False,
) -> list[dict[str, Any]]:
    """Children of a region (the city's districts when no parent is given)."""
    with app.reads() as s:
        q = select(RegionRow).order_by(RegionRow.code)
        q = (
            q.where(RegionRow.parent_code == parent)
            if parent
            else q.where(RegionRow.level == "district")
        )
        return [
            {
                "code": r.code,
                "name": r.name,
                "level": r.level,
                "parent": r.parent_code,
                **({"geometry": r.geometry} if geometry else {}),
            }
            for r in s.scalars(q)
        ]


class RuleTestIn(BaseModel):
    category: str = Field(pattern=r"^[CE]\d{4}$")
    area: str = Field(pattern=r"^\d{9,14}$")
    at: datetime | None = None


@router.post("/rules/which")
def which_rule(body: RuleTestIn, app: AppDep, _: PrincipalDep) -> dict[str, Any]:
    """ "Which rule applies here?" — the responsibility list's answer, with its reason."""
    at = body.at or app.clock()
    if at.tzinfo is None:
        raise ValidationFailed("at needs a time zone", field="at")
    ruleset = app.reference.ruleset_at(at)
    if ruleset is None:
        return {"found": False, "reason": "no responsibility list in force"}
    found = ruleset.resolve(body.category, body.area, at.astimezone(app.settings.tz).time())
    if found is None:
        return {
            "found": False,
            "ruleset": ruleset.version,
            "reason": "no rule covers this category here / 无适用规则",
        }
    return {
        "found": True,
        "ruleset": ruleset.version,
        "department": found.department,
        "rule_id": found.rule.id,
        "explanation": found.explanation,
    }


@router.get("/rules")
def rules_in_force(
    app: AppDep, _: Staff, version: Annotated[str | None, Query(max_length=64)] = None
) -> dict[str, Any]:
    """The responsibility list in force now, or ``?version=``; its rules re-import as they are."""
    return admin.ruleset_view(app, version)


@router.get("/rules/versions")
def rule_versions(app: AppDep, _: Staff) -> list[dict[str, Any]]:
    """Published versions, newest effective date first: in_force, scheduled or superseded."""
    return admin.rule_versions(app)
