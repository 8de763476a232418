"""Operations: run the deadline sweeper; see which years the calendar knows."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends

from cityops.domain.model import Role
from cityops.entrypoints.api.deps import AppDep, PrincipalDep, require
from cityops.service.principal import Principal
from cityops.service.sweeper import sweep

router = APIRouter(prefix="/api/v1", tags=["ops"])


@router.post("/sweep")
def run_sweep(
    app: AppDep,
    _: Annotated[Principal, Depends(require(Role.ADMIN, Role.SHIFT_LEADER))],
) -> dict[str, int]:
    result = sweep(app)
    return {"marked_overdue": result.marked_overdue, "escalated": result.escalated}


@router.get("/calendar")
def calendar(app: AppDep, _: PrincipalDep) -> dict[str, Any]:
    cal = app.reference.get().calendar
    years = sorted(cal.schedules)
    return {
        "years": [{"year": y, "source": cal.schedules[y].source} for y in years],
        "working_day": str(cal.working_day),
        "timezone": app.settings.timezone,
    }
