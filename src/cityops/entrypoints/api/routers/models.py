"""The report classifier's model versions: list, train from the case log, activate."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field

from cityops.domain.model import Role
from cityops.entrypoints.api.deps import AppDep, require
from cityops.service import training
from cityops.service.principal import Principal

router = APIRouter(prefix="/api/v1/admin/models", tags=["admin 管理"])
Admin = Annotated[Principal, Depends(require(Role.ADMIN))]
AdminOrAuditor = Annotated[Principal, Depends(require(Role.ADMIN, Role.AUDITOR))]


class TrainBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    min_per_class: int = Field(3, ge=2, le=1000)
    activate: bool = True
    version: str | None = Field(None, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


@router.get("")
def list_models(app: AppDep, _: AdminOrAuditor) -> dict[str, Any]:
    """Stored versions (newest first) with their held-out metrics; which one is active."""
    return training.versions(app)


@router.post("/train", status_code=201)
def train(body: TrainBody, app: AppDep, who: Admin) -> dict[str, Any]:
    """Train a new version from the closed cases (takes seconds on a large log)."""
    r = training.train(app, actor=who.username, min_per_class=body.min_per_class,
                       activate=body.activate, version=body.version)  # fmt: skip
    return {"version": r.version, "active": r.active, "metrics": r.metrics, "n_cases": r.n_cases,
            "labels": r.labels, "left_out": r.left_out}  # fmt: skip


@router.post("/{version}/activate")
def activate(version: str, app: AppDep, who: Admin) -> dict[str, Any]:
    """Serve this version from now on (the running server picks it up within a second)."""
    return training.activate(app, version, who.username)
