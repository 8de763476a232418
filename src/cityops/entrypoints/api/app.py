"""The FastAPI app factory."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from sqlalchemy import text

from cityops.bootstrap import App
from cityops.entrypoints.api import errors
from cityops.entrypoints.api.routers import admin, auth, cases, evaluation, intake, ops


def create_api(app: App) -> FastAPI:
    api = FastAPI(
        title="CityOps 一网统管 API",
        version="0.1.0",
        description="Unified city operations: reports, cases, dispatch, evaluation.",
    )
    api.state.cityops = app
    errors.install(api)
    for module in (auth, intake, cases, admin, evaluation, ops):
        api.include_router(module.router)

    @api.get("/healthz", tags=["ops"])
    def healthz() -> dict[str, Any]:
        try:
            with app.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            db = "ok"
        except Exception as exc:  # report, don't raise: this is the probe
            db = f"error: {type(exc).__name__}"
        snap_ok = db == "ok"
        return {
            "status": "ok" if snap_ok else "degraded",
            "database": db,
            "dialect": app.engine.dialect.name,
            "version": "0.1.0",
        }

    return api
