"""The city's structure: regions (with the grid check) and departments."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Any

import shapely
from shapely.geometry import shape
from sqlalchemy import select
from sqlalchemy.orm import Session

from cityops.adapters.db.models import DepartmentRow, RegionRow, UserRow
from cityops.bootstrap import App
from cityops.domain.coords import CRS
from cityops.domain.errors import ImportProblem, ImportRejected, NotFound
from cityops.domain.gridcheck import check_grid, problems_to_import_rejected
from cityops.domain.layers import geometry_to_wgs84
from cityops.domain.model import DepartmentLevel, RegionLevel
from cityops.domain.regions import RegionSpec
from cityops.service.admin.common import ImportResult, audit, region_codes, upsert


def import_regions(
    app: App, specs: Sequence[RegionSpec], actor: str, *, crs: CRS | str = CRS.WGS84
) -> ImportResult:
    """Upsert validated regions (parents first, as ``parse_region_*`` returns them).

    Geometries in ``crs`` are converted to WGS-84 first; the grid cells are then checked with
    the stored ones (see :func:`_check_grid`).
    """
    system = CRS.parse(crs)
    specs = [
        replace(x, geometry=geometry_to_wgs84(x.geometry, system)) if x.geometry else x
        for x in specs
    ]
    now = app.clock()

    def fill(row: RegionRow, spec: RegionSpec) -> None:
        geom = json.loads(shapely.to_geojson(spec.geometry)) if spec.geometry else None
        bounds = spec.geometry.bounds if spec.geometry is not None else (None,) * 4
        row.name, row.level, row.parent_code = spec.name, spec.level.value, spec.parent_code
        row.geometry = geom
        row.min_lon, row.min_lat, row.max_lon, row.max_lat = bounds

    with app.sessions.begin() as s:
        _check_grid(s, specs)
        created, updated, _ = upsert(s, RegionRow, "code", ((x.code, x) for x in specs), fill)
        detail = {"created": created, "updated": updated, "crs": system.value}
        audit(s, actor, "import_regions", f"{len(specs)} regions", detail, now)
    app.reference.invalidate()
    return ImportResult("regions", created, updated)


def _check_grid(s: Session, specs: Sequence[RegionSpec]) -> None:
    """Refuse grid cells that are invalid, overlap a cell, or leave a gap, as the grid will be.

    The file's cells are checked together with the stored ones they do not replace, and only
    problems touching a cell of the file count: a partial file (one new community) is normal,
    and an old flaw elsewhere must not block every later import.
    """
    incoming = {x.code: x.geometry for x in specs if x.level is RegionLevel.GRID and x.geometry}
    if not incoming:
        return
    stored = s.execute(
        select(RegionRow.code, RegionRow.geometry).where(RegionRow.level == RegionLevel.GRID)
    )
    cells = {code: shape(geom) for code, geom in stored if geom and code not in incoming}
    cells.update(incoming)
    problems = [
        p
        for p in check_grid(cells.items())
        if incoming.keys() & {p.cell_code, p.other_code, *p.near}
    ]
    if problems:
        raise problems_to_import_rejected(problems, layer="regions")


def import_departments(app: App, items: Iterable[Mapping[str, Any]], actor: str) -> ImportResult:
    items = list(items)
    problems: list[ImportProblem] = []
    codes = region_codes(app)
    seen: set[str] = set()
    for i, d in enumerate(items):
        where = f"departments[{i}] {d.get('code', '?')}"
        if not d.get("code") or not d.get("name"):
            problems.append(ImportProblem(where, "code and name are required"))
        elif len(str(d["code"])) > 40 or len(str(d["name"])) > 100:
            problems.append(ImportProblem(where, "code ≤ 40 and name ≤ 100 characters"))
        if d.get("code") in seen:
            problems.append(ImportProblem(where, "duplicate code"))
        seen.add(str(d.get("code")))
        if d.get("level") not in DepartmentLevel.__members__.values():
            problems.append(ImportProblem(where, f"level must be one of {list(DepartmentLevel)}"))
        if d.get("region_code") and d["region_code"] not in codes:
            problems.append(ImportProblem(where, f"unknown region {d['region_code']}"))
    if problems:
        raise ImportRejected("departments rejected; nothing imported", problems)
    now = app.clock()

    def fill(row: DepartmentRow, d: Mapping[str, Any]) -> None:
        row.name, row.level = d["name"], d["level"]
        row.region_code, row.kinds = d.get("region_code"), list(d.get("kinds") or [])

    with app.sessions.begin() as s:
        created, updated, _ = upsert(
            s, DepartmentRow, "code", ((d["code"], d) for d in items), fill
        )
        audit(
            s,
            actor,
            "import_departments",
            f"{len(items)} departments",
            {"created": created, "updated": updated},
            now,
        )
    app.reference.invalidate()
    return ImportResult("departments", created, updated)


def department_detail(app: App, department_id: int) -> dict[str, Any]:
    """A department with its active members."""
    with app.reads() as s:
        d = s.get(DepartmentRow, department_id)
        if d is None:
            raise NotFound(
                f"unknown department {department_id} / 未知部门", department_id=department_id
            )
        members = s.scalars(
            select(UserRow)
            .where(UserRow.department_id == department_id, UserRow.active)
            .order_by(UserRow.username)
        )
        return {
            "id": d.id,
            "code": d.code,
            "name": d.name,
            "level": d.level,
            "region_code": d.region_code,
            "kinds": d.kinds,
            "members": [
                {"username": u.username, "display_name": u.display_name, "role": u.role}
                for u in members
            ],
        }
