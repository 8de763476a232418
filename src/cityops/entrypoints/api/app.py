"""The FastAPI app factory."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.openapi.docs import (
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
)
from fastapi.responses import HTMLResponse, JSONResponse
from sqlalchemy import text

from cityops.bootstrap import App
from cityops.entrypoints import web
from cityops.entrypoints.api import errors
from cityops.entrypoints.api.lifespan import lifespan
from cityops.entrypoints.api.routers import (
    admin,
    admin_console,
    auth,
    cases,
    evaluation,
    insight,
    intake,
    lifeline,
    live,
    media,
    models,
    onemap,
    open311,
    ops,
    portal,
    screen,
    telemetry,
    ui,
    video,
)
from cityops.entrypoints.web import vendor


def create_api(app: App) -> FastAPI:
    api = FastAPI(
        title="CityOps 一网统管 API",
        version="0.1.0",
        description="Unified city operations: reports, cases, dispatch, evaluation.",
        lifespan=lifespan(app),  # the lifeline alarm tick (entrypoints/api/lifespan.py)
        docs_url=None,  # FastAPI's own /docs and /redoc load from a CDN: ours is below
        redoc_url=None,  # one API page is enough (ReDoc's bundle would add ~84 MB of npm)
    )
    api.state.cityops = app
    errors.install(api)
    # insight before cases: its /cases/nearby must match before /cases/{case_id}.
    for module in (auth, intake, insight, cases, admin, evaluation, ops, open311, video, media,
                   models):
        api.include_router(module.router)
    api.include_router(admin_console.router)  # the console's management views
    api.include_router(onemap.router)  # grid layers, locate in every layer
    api.include_router(telemetry.router)  # city lifeline (docs/lifeline.md)
    api.include_router(lifeline.router)  # lifeline alarms, rules, plans (docs/lifeline.md)
    api.include_router(portal.router)  # the citizen portal's public API (/citizen)
    for module in (ui, screen, live):  # the screens' data (docs/web.md)
        api.include_router(module.router)
    web.install(api, app)  # pages, /static, /vendor and the live stream's hub
    _install_docs(api, app)

    @api.get("/healthz", tags=["ops"], response_model=None)
    def healthz() -> JSONResponse:
        try:
            with app.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            db = "ok"
        except Exception as exc:  # report, don't raise: this is the probe
            db = f"error: {type(exc).__name__}"
        healthy = db == "ok"
        body = {
            "status": "ok" if healthy else "degraded",
            "database": db,
            "dialect": app.engine.dialect.name,
            "version": "0.1.0",
        }
        return JSONResponse(body, status_code=200 if healthy else 503)

    return api


_OAUTH2_REDIRECT = "/docs/oauth2-redirect"


def _install_docs(api: FastAPI, app: App) -> None:
    """/docs (Swagger UI) from the npm package under /vendor: an intranet has no CDN."""
    title = api.title
    openapi_url = api.openapi_url or "/openapi.json"

    @api.get("/docs", include_in_schema=False)
    def swagger_ui() -> HTMLResponse:
        root = vendor.vendor_dir(app)
        return get_swagger_ui_html(
            openapi_url=openapi_url, title=f"{title} - Swagger UI",
            swagger_js_url=vendor.url(root, "swagger-ui-dist", "swagger-ui-bundle.js"),
            swagger_css_url=vendor.url(root, "swagger-ui-dist", "swagger-ui.css"),
            swagger_favicon_url=vendor.url(root, "swagger-ui-dist", "favicon-32x32.png"),
            oauth2_redirect_url=_OAUTH2_REDIRECT,
            # The validator badge asks validator.swagger.io about any host but localhost.
            swagger_ui_parameters={"validatorUrl": None},
        )  # fmt: skip

    @api.get(_OAUTH2_REDIRECT, include_in_schema=False)
    def swagger_ui_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()
