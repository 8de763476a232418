"""“我也遇到了” (me too): open cases of a kind near a place, before somebody reports it again.

Anyone signed in may ask, citizens included, so the answer carries only public facts about a
case: its number, category, state, when it was reported, roughly where (4 decimals, about
10 m) and how many reports it already has. Never who reported it, never their words (the
description may name people or places that identify them); signed-in staff who may see
the case anyway also get its id and description (channel integrations do not).
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

from sqlalchemy import select

from cityops.adapters.db.models import CaseRow
from cityops.bootstrap import App
from cityops.domain.coords import M_PER_DEG_LAT, metres, to_wgs84
from cityops.domain.errors import ValidationFailed
from cityops.domain.model import STATE_LABELS_ZH, TERMINAL_STATES, CaseState, Role
from cityops.service.access import AREA_ROLES, can_see
from cityops.service.dedupe import DEFAULT_POLICY
from cityops.service.principal import Principal

DEFAULT_RADIUS_M = 200.0
MAX_RADIUS_M = 1000.0
MAX_RESULTS = 20
_CLOSED = [s.value for s in TERMINAL_STATES]


def _hint(count: int, reach: float) -> dict[str, str]:
    if count:
        return {
            "zh": f"附近已有 {count} 件同类问题正在处理。如果您要反映的是同一问题，直接提交即可："
            f"{reach:.0f} 米内的同一问题通常会自动并入已有案卷（并案），不会重复立案。",
            "en": f"{count} open case(s) of this kind nearby. If yours is the same problem, "
            f"just submit it: a report of the same problem within {reach:.0f} m is "
            "normally merged into the existing case (并案) instead of opening a new one.",
        }
    return {
        "zh": "附近暂无同类未结案件，欢迎上报。",
        "en": "No open case of this kind nearby: please report it.",
    }


def nearby_cases(
    app: App,
    principal: Principal,
    category: str,
    lon: float,
    lat: float,
    radius_m: float = DEFAULT_RADIUS_M,
    crs: str = "wgs84",
) -> dict[str, Any]:
    """Open cases of ``category`` within ``radius_m`` of the point, newest first."""
    snap = app.reference.get()
    info = snap.categories.get(category)
    if info is None or not info.active:
        raise ValidationFailed(f"unknown category {category} / 未知分类", field="category")
    if not (math.isfinite(lon) and math.isfinite(lat)):
        raise ValidationFailed("lon/lat must be numbers / 经纬度无效", field="location")
    if not 0 < radius_m <= MAX_RADIUS_M:
        raise ValidationFailed(f"radius must be 1–{MAX_RADIUS_M:.0f} m", field="radius")
    x, y = to_wgs84(lon, lat, crs)
    if snap.locator.locate(x, y) is None:
        raise ValidationFailed(
            f"location ({lon}, {lat}) is outside the city's grid / 位置不在本市网格内",
            field="location",
            reason="outside_jurisdiction",
        )
    dlat = radius_m / M_PER_DEG_LAT
    dlon = dlat / max(math.cos(math.radians(y)), 0.1)
    with app.reads() as s:
        rows = s.scalars(
            select(CaseRow)
            .where(
                CaseRow.category == category,
                CaseRow.state.not_in(_CLOSED),
                CaseRow.lon.between(x - dlon, x + dlon),
                CaseRow.lat.between(y - dlat, y + dlat),
            )
            .order_by(CaseRow.created_at.desc(), CaseRow.id.desc())
        ).all()
        found = [
            (c, d)
            for c in rows
            if c.lon is not None
            and c.lat is not None
            and (d := metres(x, y, c.lon, c.lat)) <= radius_m
        ][:MAX_RESULTS]
        # Channel integrations (API keys, role "system") pass answers on to the public.
        staff = principal.role in AREA_ROLES and principal.role is not Role.SYSTEM
        items = [_public(c, d, info.name, staff and can_see(c, principal, set())) for c, d in found]
    reach = DEFAULT_POLICY.distance_for(category)
    return {
        "category": category,
        "category_name": info.name,
        "center": {"lon": round(x, 4), "lat": round(y, 4), "crs": "wgs84"},
        "radius_m": radius_m,
        "count": len(items),
        "items": items,
        "me_too_hint": _hint(len(items), reach),
        "merge_reach_m": reach,
    }


def _public(case: CaseRow, distance: float, category_name: str, staff: bool) -> dict[str, Any]:
    assert case.lon is not None and case.lat is not None
    created: datetime = case.created_at
    out: dict[str, Any] = {
        "case_no": case.case_no,
        "category": case.category,
        "category_name": category_name,
        "state": case.state,
        "state_label": STATE_LABELS_ZH[CaseState(case.state)],
        "created_at": created.isoformat(),
        "distance_m": round(distance),
        "lon": round(case.lon, 4),
        "lat": round(case.lat, 4),
        "report_count": case.report_count,
    }
    if staff:
        out.update(id=case.id, description=case.description)
    return out
