"""Imports for the one map (一张图): gazetteer (地名地址库) and components (部件); audited,
all-or-nothing."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import delete, insert

from cityops.adapters.db.models import ComponentRow, GazetteerRow
from cityops.bootstrap import App
from cityops.domain.components import STATUSES, component_code_problems
from cityops.domain.errors import ImportProblem, ImportRejected
from cityops.service.admin import ImportResult, audit, upsert_values

GAZETTEER_KINDS = ("road", "poi", "address")


def _gazetteer_problems(i: int, e: Mapping[str, Any]) -> list[ImportProblem]:
    where = f"entries[{i}] {e.get('name', '?')}"
    reasons = []
    if e.get("kind") not in GAZETTEER_KINDS:
        reasons.append(f"kind must be one of {list(GAZETTEER_KINDS)}")
    if not str(e.get("name") or "").strip() or len(str(e.get("name"))) > 100:
        reasons.append("name is required (≤ 100 characters)")
    try:
        lon, lat = float(e["lon"]), float(e["lat"])
        if not (-180 <= lon <= 180 and -90 <= lat <= 90):
            reasons.append("lon/lat out of range")
    except (KeyError, TypeError, ValueError):
        reasons.append("lon and lat are required numbers (WGS-84)")
    if e.get("kind") == "address" and (not e.get("road") or e.get("number") is None):
        reasons.append("a door-plate address needs its road and number")
    if e.get("geometry") is not None:
        try:
            _line(e["geometry"])
        except (TypeError, ValueError, KeyError):
            reasons.append("geometry must be a GeoJSON LineString or a list of [lon, lat]")
    return [ImportProblem(where, r) for r in reasons]


def _line(raw: Any) -> dict[str, Any] | None:
    """A road's centre line as a GeoJSON LineString (a bare list of points is accepted)."""
    if raw is None:
        return None
    coords = raw["coordinates"] if isinstance(raw, Mapping) else raw
    if isinstance(raw, Mapping) and raw.get("type") != "LineString":
        raise ValueError("not a LineString")
    points = [[float(p[0]), float(p[1])] for p in coords]
    if len(points) < 2:
        raise ValueError("a line needs two points")
    return {"type": "LineString", "coordinates": points}


def import_gazetteer(
    app: App, entries: Iterable[Mapping[str, Any]], actor: str, *, replace: bool = True
) -> ImportResult:
    """Load roads, places and door plates (WGS-84); ``replace`` swaps the whole gazetteer."""
    items = list(entries)
    problems = [p for i, e in enumerate(items) for p in _gazetteer_problems(i, e)]
    if problems:
        raise ImportRejected("gazetteer rejected; nothing imported", problems)
    snap = app.reference.get()
    now = app.clock()
    with app.sessions.begin() as s:
        if replace:
            s.execute(delete(GazetteerRow))
        s.execute(
            insert(GazetteerRow),
            [
                {
                    "kind": e["kind"], "name": str(e["name"]).strip(),
                    "district": e.get("district"), "street": e.get("street"),
                    "road": e.get("road"),
                    "number": int(e["number"]) if e.get("number") is not None else None,
                    "lon": float(e["lon"]), "lat": float(e["lat"]),
                    "geometry": _line(e.get("geometry")),
                    "grid_code": e.get("grid_code") or snap.locator.locate(
                        float(e["lon"]), float(e["lat"])
                    ),
                }
                for e in items
            ],
        )
        audit(s, actor, "import_gazetteer", f"{len(items)} entries",
              {"replace": replace, "entries": len(items)}, now)  # fmt: skip
    app.reference.invalidate()
    return ImportResult("gazetteer", len(items))


def import_components(
    app: App, items: Iterable[Mapping[str, Any]], actor: str
) -> ImportResult:
    """Upsert 部件 by code; every code, category, owner and place is checked first."""
    rows = list(items)
    snap = app.reference.get()
    districts = {code for code in snap.region_names if len(code) == 6}
    problems: list[ImportProblem] = []
    seen: set[str] = set()
    for i, c in enumerate(rows):
        code, category = str(c.get("code") or ""), str(c.get("category") or "")
        where = f"components[{i}] {code or '?'}"
        reasons = component_code_problems(code, category, districts)
        if code in seen:
            reasons.append("duplicate code in the file")
        seen.add(code)
        info = snap.categories.get(category)
        if info is None or info.kind != "component":
            reasons.append(f"{category or '(none)'} is not a 部件 category")
        if c.get("owner") and c["owner"] not in snap.departments_by_code:
            reasons.append(f"unknown owner department {c['owner']}")
        if c.get("status", "normal") not in STATUSES:
            reasons.append(f"status must be one of {list(STATUSES)}")
        try:
            lon, lat = float(c["lon"]), float(c["lat"])
            if snap.locator.locate(lon, lat) is None:
                reasons.append("the component stands outside the city's grid")
        except (KeyError, TypeError, ValueError):
            reasons.append("lon and lat are required numbers (WGS-84)")
        problems += [ImportProblem(where, r) for r in reasons]
    if problems:
        raise ImportRejected("components rejected; nothing imported", problems)
    now = app.clock()
    values = []
    for c in rows:
        owner = snap.departments_by_code.get(c.get("owner") or "")
        lon, lat = float(c["lon"]), float(c["lat"])
        values.append({
            "code": c["code"], "category": c["category"],
            "name": c.get("name") or snap.categories[c["category"]].name,
            "lon": lon, "lat": lat, "grid_code": snap.locator.locate(lon, lat),
            "owner_department_id": owner.id if owner else None,
            "status": c.get("status", "normal"), "address": c.get("address"),
        })  # fmt: skip
    with app.sessions.begin() as s:
        created, updated = upsert_values(s, ComponentRow, values)
        audit(s, actor, "import_components", f"{len(rows)} components",
              {"created": created, "updated": updated}, now)  # fmt: skip
    app.reference.invalidate()
    return ImportResult("components", created, updated)
