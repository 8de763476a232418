"""Administration: the city's structure, taxonomy, responsibility list, users, calendar."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field
from sqlalchemy import select

from cityops.adapters.db.models import AuditRow, CategoryRow, DepartmentRow, RegionRow
from cityops.domain.calendar import parse_year_schedule
from cityops.domain.errors import ValidationFailed
from cityops.domain.model import Channel, Role
from cityops.domain.regions import parse_region_features
from cityops.domain.taxonomy import parse_taxonomy
from cityops.entrypoints.api.deps import AppDep, PrincipalDep, require
from cityops.service import admin
from cityops.service.auth import create_api_key
from cityops.service.principal import Principal

router = APIRouter(prefix="/api/v1", tags=["admin 管理"])
Admin = Annotated[Principal, Depends(require(Role.ADMIN))]


def _result(r: admin.ImportResult) -> dict[str, Any]:
    return {"kind": r.kind, "created": r.created, "updated": r.updated}


@router.post("/admin/regions")
def import_regions(body: dict[str, Any], app: AppDep, who: Admin) -> dict[str, Any]:
    """GeoJSON FeatureCollection; all-or-nothing."""
    specs = parse_region_features(body, admin.region_codes(app))
    return _result(admin.import_regions(app, specs, who.username))


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
    who: Annotated[Principal, Depends(require(Role.ADMIN, Role.AUDITOR))],
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
        return [
            {
                "key": c.key,
                "kind": c.kind,
                "major": c.major_name,
                "name": c.name,
                "urgency": c.urgency,
                "filing_condition": c.filing_condition,
                "closing_condition": c.closing_condition,
                "time_limits": c.time_limits,
            }
            for c in rows
        ]


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
