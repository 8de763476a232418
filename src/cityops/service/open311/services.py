"""Open311 jurisdiction, service discovery, the service list and service definitions."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from cityops.adapters.db.models import AuditRow, CategoryRow, RegionRow
from cityops.bootstrap import App
from cityops.domain.errors import NotFound
from cityops.domain.model import RegionLevel
from cityops.service.open311.formats import SPECIFICATION, w3c

SPOT, COMPONENT = "spot", "component_code"  # the attributes' codes


def jurisdiction_id(app: App) -> str | None:
    """The loaded city's region code; None when no city region is loaded (any id is accepted)."""
    with app.reads() as s:
        stmt = select(RegionRow.code).where(RegionRow.level == RegionLevel.CITY.value)
        return s.scalars(stmt.order_by(RegionRow.code)).first()


def check_jurisdiction(app: App, given: str | None) -> None:
    if not given or not given.strip():
        return  # optional: this endpoint serves one jurisdiction
    expected = jurisdiction_id(app)
    if expected is not None and given.strip() != expected:
        raise NotFound(
            f"jurisdiction_id {given.strip()} not found; this endpoint serves {expected}",
            field="jurisdiction_id",
        )


def discovery(app: App, base_url: str) -> dict[str, Any]:
    with app.reads() as s:
        changed = s.scalar(
            select(AuditRow.at)
            .where(AuditRow.action.in_(["import_taxonomy", "edit_category"]))
            .order_by(AuditRow.at.desc())
            .limit(1)
        )
    changeset = w3c(changed, app.settings.tz) or "1970-01-01T00:00:00Z"
    return {
        "changeset": changeset,
        "contact": "城市运行管理中心 (city operations centre): ask the CityOps administrator",
        "key_service": "API keys are issued by a CityOps administrator (POST "
        '/api/v1/admin/api-keys with channels ["citizen"]); see docs/open311.md',
        "endpoints": [
            {
                "specification": SPECIFICATION,
                "url": f"{base_url.rstrip('/')}/open311/v2",
                "changeset": changeset,
                "type": "production",
                "formats": ["text/xml", "application/json"],
            }
        ],
    }


def attributes(kind: str) -> list[dict[str, Any]]:
    attrs: list[dict[str, Any]] = [{
        "variable": True, "code": SPOT, "datatype": "text", "required": False,
        "datatype_description": "至多 200 字 / at most 200 characters", "order": 1,
        "description": "具体位置描述（门牌号、参照物）/ The exact spot: door number, landmark",
        "values": [],
    }]  # fmt: skip
    if kind == "component":
        attrs.append({
            "variable": True, "code": COMPONENT, "datatype": "string", "required": False,
            "datatype_description": "16 位数字：6 位行政区划 + 2 位大类 + 2 位小类 + 6 位流水号 / "
            "16 digits: 6 area + 2 major class + 2 subclass + 6 serial", "order": 2,
            "description": "部件编码（见部件标牌）/ Component code, as on the asset's tag",
            "values": [],
        })  # fmt: skip
    return attrs


def services(app: App) -> list[dict[str, Any]]:
    with app.reads() as s:
        rows = s.scalars(
            select(CategoryRow).where(CategoryRow.active.is_(True)).order_by(CategoryRow.key)
        ).all()
    return [
        {
            "service_code": r.key,
            "service_name": r.name,
            "description": r.filing_condition or r.name,
            "metadata": bool(attributes(r.kind)),
            "type": "realtime",
            "keywords": ", ".join(str(k) for k in r.keywords or []),
            "group": r.major_name,
        }
        for r in rows
    ]


def category(app: App, code: str) -> CategoryRow:
    with app.reads() as s:
        row = s.get(CategoryRow, code)
    if row is None or not row.active:
        raise NotFound(f"service_code {code} not found", field="service_code")
    return row


def service_definition(app: App, code: str) -> dict[str, Any]:
    row = category(app, code)
    return {"service_code": row.key, "attributes": attributes(row.kind)}
