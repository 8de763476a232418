"""Lifeline assets and devices: all-or-nothing imports (audited), lists and details.

Visibility follows the case rules: area roles see the assets in their region (by the grid
cell of the asset's representative point), a department's handlers see what it owns.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from shapely.geometry import shape
from sqlalchemy import ColumnElement, delete, false, func, or_, select, true
from sqlalchemy.orm import Session

from cityops.adapters.db.lifeline_models import (
    LatestRow,
    LifelineAdjacencyRow,
    LifelineAssetRow,
    LifelineDeviceRow,
    LifelineSeriesRow,
)
from cityops.bootstrap import App
from cityops.domain.errors import ImportProblem, ImportRejected, NotFound
from cityops.domain.lifeline.assets import ASSET_LABELS_ZH, AssetKind, AssetSpec, DeviceSpec
from cityops.domain.model import Role
from cityops.service.access import AREA_ROLES
from cityops.service.admin import ImportResult, audit
from cityops.service.principal import Principal
from cityops.service.telemetry import telemetry


def _anchor(geometry: dict[str, Any]) -> tuple[float, float]:
    """A point on the asset for maps and grid lookup: a line's midpoint, a polygon's inside."""
    g = shape(geometry)
    p = g.interpolate(0.5, normalized=True) if g.geom_type == "LineString" \
        else g.representative_point()  # fmt: skip
    return round(p.x, 7), round(p.y, 7)


def import_assets(
    app: App, specs: Sequence[AssetSpec], problems: list[ImportProblem], actor: str
) -> ImportResult:
    """Create or update assets by code; each listed ``adjacent`` replaces that asset's
    neighbours (both ways). One bad item rejects the file, naming every problem."""
    snap = app.reference.get()
    with app.reads() as s:
        stored = set(s.scalars(select(LifelineAssetRow.code)))
    in_file = {a.code for a in specs}
    for a in specs:
        where = f"asset {a.code}"
        if a.owner not in snap.departments_by_code:
            problems.append(ImportProblem(where, f"unknown owner department {a.owner!r}"))
        for other in a.adjacent:
            if other == a.code:
                problems.append(ImportProblem(where, "an asset is not adjacent to itself"))
            elif other not in in_file and other not in stored:
                problems.append(ImportProblem(where, f"adjacent asset {other} does not exist"))
    if problems:
        raise ImportRejected("assets rejected; nothing imported", problems)
    now = app.clock()
    with app.sessions.begin() as s:
        rows = {r.code: r for r in s.scalars(select(LifelineAssetRow))}
        created = 0
        for a in specs:
            row = rows.get(a.code)
            if row is None:
                row = rows[a.code] = LifelineAssetRow(code=a.code)
                s.add(row)
                created += 1
            lon, lat = _anchor(a.geometry)
            row.kind, row.name, row.geometry, row.attributes = a.kind.value, a.name, a.geometry, \
                dict(a.attributes)  # fmt: skip
            row.owner_department_id = snap.departments_by_code[a.owner].id
            row.lon, row.lat, row.updated_at = lon, lat, now
            row.grid_code = snap.locator.locate(lon, lat)
        s.flush()
        _replace_adjacency(s, specs, rows)
        audit(s, actor, "import_lifeline_assets", "lifeline_assets",
              {"created": created, "updated": len(specs) - created}, now)  # fmt: skip
    telemetry(app).invalidate()
    return ImportResult("lifeline_assets", created, len(specs) - created)


def _replace_adjacency(
    s: Session, specs: Sequence[AssetSpec], rows: dict[str, LifelineAssetRow]
) -> None:
    listed = [rows[a.code].id for a in specs if a.adjacent]
    if listed:
        s.execute(delete(LifelineAdjacencyRow).where(or_(
            LifelineAdjacencyRow.asset_id.in_(listed),
            LifelineAdjacencyRow.neighbour_id.in_(listed),
        )))  # fmt: skip
    pairs = {(rows[a.code].id, rows[b].id) for a in specs for b in a.adjacent}
    pairs |= {(b, a) for a, b in pairs}
    s.add_all(LifelineAdjacencyRow(asset_id=a, neighbour_id=b) for a, b in sorted(pairs))


def import_devices(
    app: App, specs: Sequence[DeviceSpec], problems: list[ImportProblem], actor: str
) -> ImportResult:
    """Create or update devices by code and their metrics by name. A metric that already
    holds readings keeps its unit (history would change meaning); metrics are never removed."""
    with app.reads() as s:
        assets = {code: id_ for code, id_ in s.execute(
            select(LifelineAssetRow.code, LifelineAssetRow.id))}  # fmt: skip
        stored_units = {
            (code, metric): unit
            for code, metric, unit in s.execute(
                select(LifelineDeviceRow.code, LifelineSeriesRow.metric, LifelineSeriesRow.unit)
                .join(LifelineSeriesRow, LifelineSeriesRow.device_id == LifelineDeviceRow.id)
                .join(LatestRow, LatestRow.series_id == LifelineSeriesRow.id)
            )
        }
    for d in specs:
        if d.asset not in assets:
            problems.append(ImportProblem(f"device {d.code}", f"unknown asset {d.asset!r}"))
        for m in d.metrics:
            old = stored_units.get((d.code, m.name))
            if old is not None and old != m.unit:
                problems.append(ImportProblem(
                    f"device {d.code}",
                    f"metric {m.name} already holds readings in {old}; add a new metric instead",
                ))  # fmt: skip
    if problems:
        raise ImportRejected("devices rejected; nothing imported", problems)
    now = app.clock()
    with app.sessions.begin() as s:
        rows = {r.code: r for r in s.scalars(select(LifelineDeviceRow))}
        created = 0
        for d in specs:
            row = rows.get(d.code)
            if row is None:
                row = rows[d.code] = LifelineDeviceRow(code=d.code)
                s.add(row)
                created += 1
            row.asset_id, row.name, row.kind, row.gateway = assets[d.asset], d.name, d.kind, \
                d.gateway  # fmt: skip
            row.lon, row.lat, row.active, row.updated_at = d.lon, d.lat, d.active, now
        s.flush()
        series = {(r.device_id, r.metric): r for r in s.scalars(select(LifelineSeriesRow))}
        for d in specs:
            for m in d.metrics:
                key = (rows[d.code].id, m.name)
                sr = series.get(key)
                if sr is None:
                    sr = series[key] = LifelineSeriesRow(device_id=key[0], metric=m.name)
                    s.add(sr)
                sr.unit, sr.interval_s, sr.scale, sr.offset = m.unit, m.interval_s, m.scale, \
                    m.offset  # fmt: skip
                sr.range_min, sr.range_max = m.range_min, m.range_max
        audit(s, actor, "import_lifeline_devices", "lifeline_devices",
              {"created": created, "updated": len(specs) - created}, now)  # fmt: skip
    telemetry(app).invalidate()
    return ImportResult("lifeline_devices", created, len(specs) - created)


# --- reads ----------------------------------------------------------------------------------


def visible_assets(principal: Principal) -> ColumnElement[bool]:
    if principal.role in AREA_ROLES:
        scope = principal.scope_code
        if scope is None:
            return true()
        if len(scope) == 6 and scope.endswith("00"):  # a city covers its districts
            return LifelineAssetRow.grid_code.startswith(scope[:4]) | \
                LifelineAssetRow.grid_code.is_(None)  # fmt: skip
        return LifelineAssetRow.grid_code.startswith(scope, autoescape=True)
    if principal.role is Role.HANDLER and principal.department_ids:
        return LifelineAssetRow.owner_department_id.in_(sorted(principal.department_ids))
    return false()


def asset_view(a: LifelineAssetRow, owner: str | None, devices: int) -> dict[str, Any]:
    return {"code": a.code, "kind": a.kind, "kind_label": ASSET_LABELS_ZH[AssetKind(a.kind)],
            "name": a.name, "owner": owner, "lon": a.lon, "lat": a.lat, "grid_code": a.grid_code,
            "devices": devices}  # fmt: skip


def list_assets(
    app: App, principal: Principal, *, kind: str | None = None, owner: str | None = None,
    area: str | None = None, limit: int = 500, offset: int = 0,
) -> dict[str, Any]:  # fmt: skip
    snap = app.reference.get()
    q = select(LifelineAssetRow).where(visible_assets(principal))
    if kind:
        q = q.where(LifelineAssetRow.kind == kind)
    if owner:
        dept = snap.departments_by_code.get(owner)
        q = q.where(LifelineAssetRow.owner_department_id == (dept.id if dept else -1))
    if area:
        q = q.where(LifelineAssetRow.grid_code.startswith(area, autoescape=True))
    with app.reads() as s:
        total = s.scalar(select(func.count()).select_from(q.subquery())) or 0
        rows = s.scalars(q.order_by(LifelineAssetRow.code).limit(limit).offset(offset)).all()
        counts = {asset_id: n for asset_id, n in s.execute(
            select(LifelineDeviceRow.asset_id, func.count())
            .where(LifelineDeviceRow.asset_id.in_([r.id for r in rows]))
            .group_by(LifelineDeviceRow.asset_id)
        )}  # fmt: skip
    depts = snap.departments_by_id
    return {"total": total, "items": [
        asset_view(r, depts[r.owner_department_id].code if r.owner_department_id in depts
                   else None, counts.get(r.id, 0)) for r in rows
    ]}  # fmt: skip


def asset_detail(app: App, principal: Principal, code: str) -> dict[str, Any]:
    snap = app.reference.get()
    with app.reads() as s:
        row = s.scalars(select(LifelineAssetRow).where(
            LifelineAssetRow.code == code, visible_assets(principal))).first()  # fmt: skip
        if row is None:
            raise NotFound(f"no lifeline asset {code} / 无此生命线设施", code=code)
        neighbours = s.scalars(
            select(LifelineAssetRow.code).join(
                LifelineAdjacencyRow, LifelineAdjacencyRow.neighbour_id == LifelineAssetRow.id)
            .where(LifelineAdjacencyRow.asset_id == row.id).order_by(LifelineAssetRow.code)
        ).all()  # fmt: skip
        devices = s.scalars(select(LifelineDeviceRow).where(LifelineDeviceRow.asset_id == row.id)
                            .order_by(LifelineDeviceRow.code)).all()  # fmt: skip
        metrics = _metrics(s, [d.id for d in devices])
    owner = snap.departments_by_id.get(row.owner_department_id)
    view = asset_view(row, owner.code if owner else None, len(devices))
    view |= {"owner_name": owner.name if owner else None, "geometry": row.geometry,
             "attributes": row.attributes, "adjacent": list(neighbours),
             "devices": [device_view(d, metrics.get(d.id, [])) for d in devices]}  # fmt: skip
    return view


def _metrics(s: Session, device_ids: list[int]) -> dict[int, list[dict[str, Any]]]:
    out: dict[int, list[dict[str, Any]]] = {}
    for r in s.scalars(select(LifelineSeriesRow).where(LifelineSeriesRow.device_id.in_(device_ids))
                       .order_by(LifelineSeriesRow.metric)):  # fmt: skip
        out.setdefault(r.device_id, []).append({
            "name": r.metric, "unit": r.unit, "interval_s": r.interval_s,
            "scale": r.scale, "offset": r.offset, "range_min": r.range_min,
            "range_max": r.range_max, "series_id": r.id,
        })  # fmt: skip
    return out


def device_view(d: LifelineDeviceRow, metrics: list[dict[str, Any]]) -> dict[str, Any]:
    return {"code": d.code, "name": d.name, "kind": d.kind, "lon": d.lon, "lat": d.lat,
            "gateway": d.gateway, "active": d.active, "metrics": metrics}  # fmt: skip


def device_detail(app: App, principal: Principal, code: str) -> dict[str, Any]:
    with app.reads() as s:
        found = s.execute(
            select(LifelineDeviceRow, LifelineAssetRow.code)
            .join(LifelineAssetRow, LifelineAssetRow.id == LifelineDeviceRow.asset_id)
            .where(LifelineDeviceRow.code == code, visible_assets(principal))
        ).first()
        if found is None:
            raise NotFound(f"no device {code} / 无此设备", code=code)
        device, asset_code = found
        metrics = _metrics(s, [device.id]).get(device.id, [])
    return device_view(device, metrics) | {"asset": asset_code}
