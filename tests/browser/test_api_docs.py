"""/docs renders in a browser that can reach nothing but this server (an intranet)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser.conftest import Console
from tests.browser.server import LiveServer

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]


def _offline_page(context: Any, live_server: LiveServer, console: Console) -> tuple[Any, list[str]]:
    """A page whose requests to anywhere but the server are refused and recorded (requests its
    Content-Security-Policy stops never get this far)."""
    elsewhere: list[str] = []

    def only_here(route: Any) -> None:
        if route.request.url.startswith(live_server.url):
            route.continue_()
        else:
            elsewhere.append(route.request.url)
            route.abort()

    context.route("**/*", only_here)
    page = context.new_page()
    console.attach(page)
    return page, elsewhere


def test_swagger_ui_lists_the_operations_offline(
    context: Any, live_server: LiveServer, console: Console
) -> None:
    page, elsewhere = _offline_page(context, live_server, console)
    page.goto(f"{live_server.url}/docs")
    page.locator(".opblock").first.wait_for()
    assert page.locator(".opblock").count() >= 50  # every route of the API, grouped by tag
    assert page.locator(".opblock-summary-path[data-path='/api/v1/cases/{case_id}']").count() >= 1
    assert elsewhere == [] and console.errors == []
