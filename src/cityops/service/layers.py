"""Grid layers beside the city-operations grid (多格合一: police, governance …).

A layer is imported whole from GeoJSON (any of China's coordinate systems, stored in WGS-84),
checked like the city's grid, and replaces the layer's previous cells in one transaction:
readers see the old layer or the new one, never a mix. Imports and deletions are audited.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import shapely
from sqlalchemy import delete, func, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from cityops.adapters.db.models import GridLayerRow, LayerCellRow
from cityops.bootstrap import App
from cityops.domain.errors import Conflict, NotFound, ValidationFailed
from cityops.domain.layers import LAYER_NAME_MAX, check_layer_code, parse_layer
from cityops.service.admin import audit


@dataclass(frozen=True, slots=True)
class LayerImported:
    code: str
    name: str
    crs: str  # the system the file was in
    cells: int
    replaced: int  # cells of the previous version, 0 for a new layer

    def as_dict(self) -> dict[str, Any]:
        return {"kind": "layer", "code": self.code, "name": self.name, "crs": self.crs,
                "cells": self.cells, "replaced": self.replaced}  # fmt: skip


def import_layer(
    app: App, code: str, feature_collection: Any, actor: str, *,
    name: str | None = None, crs: str | None = None,
) -> LayerImported:  # fmt: skip
    """Create or replace layer ``code`` from a FeatureCollection; all-or-nothing."""
    check_layer_code(code)
    if name is not None and not (name.strip() and len(name.strip()) <= LAYER_NAME_MAX):
        raise ValidationFailed(f"name must be 1–{LAYER_NAME_MAX} characters", field="name")
    parsed = parse_layer(feature_collection, crs)
    geometries = shapely.to_geojson([c.geometry for c in parsed.cells]).tolist()
    now = app.clock()
    try:
        with app.sessions.begin() as s:
            q = select(GridLayerRow).where(GridLayerRow.code == code).with_for_update()
            row = s.scalars(q).first()
            if row is None:
                row = GridLayerRow(code=code, name=code, created_at=now)
                s.add(row)
            row.name, row.source_crs = (name or "").strip() or row.name, parsed.crs.value
            s.flush()
            old = _cell_count(s, code)
            s.execute(delete(LayerCellRow).where(LayerCellRow.layer_code == code))
            s.execute(insert(LayerCellRow), [
                {"layer_code": code, "code": c.code, "name": c.name, "geometry": json.loads(g)}
                for c, g in zip(parsed.cells, geometries, strict=True)
            ])  # fmt: skip
            result = LayerImported(code, row.name, parsed.crs.value, len(parsed.cells), old)
            audit(s, actor, "import_layer", code, result.as_dict(), now)
    except IntegrityError as exc:  # the same new layer created by a concurrent import
        raise Conflict(f"layer {code} was created meanwhile; retry / 请重试", code=code) from exc
    app.reference.invalidate()
    return result


def _cell_count(s: Session, code: str) -> int:
    q = select(func.count()).select_from(LayerCellRow).where(LayerCellRow.layer_code == code)
    return int(s.scalar(q) or 0)


def list_layers(app: App) -> list[dict[str, Any]]:
    """Every stored layer with its number of cells."""
    q = (
        select(GridLayerRow, func.count(LayerCellRow.id))
        .outerjoin(LayerCellRow, LayerCellRow.layer_code == GridLayerRow.code)
        .group_by(GridLayerRow.id)
        .order_by(GridLayerRow.code)
    )
    with app.reads() as s:
        return [_view(row, n) for row, n in s.execute(q).all()]


def _view(row: GridLayerRow, cells: int) -> dict[str, Any]:
    return {"code": row.code, "name": row.name, "source_crs": row.source_crs,
            "created_at": row.created_at.isoformat(), "cells": cells}  # fmt: skip


def layer_geojson(app: App, code: str) -> dict[str, Any]:
    """The layer's cells as a WGS-84 FeatureCollection (``layer`` describes the layer)."""
    with app.reads() as s:
        row = s.scalars(select(GridLayerRow).where(GridLayerRow.code == code)).first()
        if row is None:
            raise NotFound(f"unknown grid layer {code} / 未知图层", layer=code)
        cells = s.scalars(
            select(LayerCellRow).where(LayerCellRow.layer_code == code).order_by(LayerCellRow.code)
        ).all()
        features = [
            {"type": "Feature", "id": c.code, "properties": {"code": c.code, "name": c.name},
             "geometry": c.geometry}
            for c in cells
        ]  # fmt: skip
        return {"type": "FeatureCollection", "layer": _view(row, len(cells)), "features": features}


def delete_layer(app: App, code: str, actor: str) -> dict[str, Any]:
    """Remove a layer and its cells; cases keep the cells they recorded."""
    now = app.clock()
    with app.sessions.begin() as s:
        row = s.scalars(
            select(GridLayerRow).where(GridLayerRow.code == code).with_for_update()
        ).first()
        if row is None:
            raise NotFound(f"unknown grid layer {code} / 未知图层", layer=code)
        cells = _cell_count(s, code)
        s.execute(delete(LayerCellRow).where(LayerCellRow.layer_code == code))
        s.delete(row)
        audit(s, actor, "delete_layer", code, {"cells": cells}, now)
    app.reference.invalidate()
    return {"code": code, "deleted_cells": cells}
