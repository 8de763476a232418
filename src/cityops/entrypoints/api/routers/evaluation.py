"""综合评价: metrics and composite score with their formulas; CSV export."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response

from cityops.domain.errors import ValidationFailed
from cityops.domain.evaluation_formulas import Dimension
from cityops.domain.model import Role
from cityops.entrypoints.api.deps import AppDep, require
from cityops.service.evaluation import parse_weights, run_evaluation
from cityops.service.principal import Principal

router = APIRouter(prefix="/api/v1/evaluation", tags=["evaluation 考核"])
Reader = Annotated[
    Principal,
    Depends(require(Role.ADMIN, Role.COMMANDER, Role.SHIFT_LEADER, Role.AUDITOR)),
]


@router.get("", response_model=None)
def evaluation(
    app: AppDep,
    _: Reader,
    start: Annotated[datetime, Query(alias="from")],
    end: Annotated[datetime, Query(alias="to")],
    dimension: Dimension = Dimension.DEPARTMENT,
    weights: Annotated[str | None, Query(max_length=300)] = None,
    format: Annotated[str, Query(pattern="^(json|csv)$")] = "json",
) -> dict[str, Any] | Response:
    if start.tzinfo is None or end.tzinfo is None:
        raise ValidationFailed("from/to need a time zone, e.g. 2026-11-01T00:00:00+08:00")
    result = run_evaluation(app, dimension, start, end, parse_weights(weights))
    if format == "csv":
        return Response(
            "\ufeff" + result.csv(),  # BOM so spreadsheet programs read the Chinese headers
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="evaluation-{dimension}.csv"'},
        )
    return result.as_dict()
