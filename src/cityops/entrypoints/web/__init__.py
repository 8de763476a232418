"""The browser screens: HTML pages, their static assets and the npm libraries (docs/web.md)."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import FastAPI
from fastapi.responses import HTMLResponse
from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from cityops.bootstrap import App
from cityops.entrypoints.web import mobile, vendor
from cityops.entrypoints.web.pages import PAGES, STATIC_DIR, Page, render
from cityops.service.live import LiveHub

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-cache",
}


class _Static(StaticFiles):
    """Our own scripts and styles: always revalidated (ETag → 304), so a deploy shows at once."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        response.headers["Cache-Control"] = "no-cache"
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response


def install(api: FastAPI, app: App) -> None:
    """Pages, /static, /vendor and the live hub (the SSE endpoint's source)."""
    api.state.live_hub = LiveHub(app)
    api.mount("/static", _Static(directory=STATIC_DIR), name="static")
    api.include_router(vendor.router)
    api.include_router(mobile.router)  # the mobile app's service worker and manifest
    for page in PAGES:
        api.add_api_route(page.path, _handler(page, app), methods=["GET", "HEAD"],
                          response_class=HTMLResponse, include_in_schema=False)  # fmt: skip


def _handler(page: Page, app: App) -> Callable[[], HTMLResponse]:
    def serve() -> HTMLResponse:
        doc, policy = render(page, app.settings, vendor.vendor_dir(app))
        headers = {**SECURITY_HEADERS, "Content-Security-Policy": policy}
        return HTMLResponse(doc, headers=headers)

    serve.__name__ = f"page_{page.name}"
    return serve
