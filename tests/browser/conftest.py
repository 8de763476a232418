"""Browser tests: one demo server and one Debian chromium per test session (per xdist worker)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from cityops.bootstrap import bootstrap
from tests.browser.server import (
    CHROMIUM,
    CHROMIUM_ARGS,
    LiveServer,
    add_history,
    city_context,
    settings,
    sign_in,
)
from tests.conftest import REQUIRE_SERVICES

VIEWPORT = {"width": 1920, "height": 1080}


def _unavailable(message: str) -> None:
    if REQUIRE_SERVICES:
        pytest.fail(f"CITYOPS_REQUIRE_SERVICES=1 but {message}")
    pytest.skip(message)


@pytest.fixture(scope="session")
def live_server(sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[
    LiveServer
]:  # fmt: skip
    """The demo city with half a day of simulated history, served on a free port.

    Short heartbeats and stream lifetimes, so the tests see both (and the page reconnects).
    """
    db = tmp_path_factory.mktemp("live") / "cityops.db"
    shutil.copy(sqlite_template, db)
    app = bootstrap(settings(db, live_heartbeat_seconds=1, live_stream_seconds=20))
    add_history(app, days=0.5, per_day=48)
    server = LiveServer.start(app)
    yield server
    server.stop()
    app.dispose()


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        _unavailable(
            f"{CHROMIUM} is not installed (`apt-get install chromium`; `make test` does it as "
            "root); skipping the browser tests"
        )
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        _unavailable(f"playwright is not installed ({exc}); pip install -e '.[dev]'")
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@dataclass
class Console:
    """What the page said: console errors and uncaught exceptions fail a test."""

    errors: list[str] = field(default_factory=list)

    def attach(self, page: Any) -> None:
        page.on("console", lambda m: m.type == "error" and self.errors.append(m.text))
        page.on("pageerror", lambda e: self.errors.append(f"uncaught: {e}"))


@pytest.fixture
def console() -> Console:
    return Console()


@pytest.fixture
def context(browser: Any) -> Iterator[Any]:
    ctx = city_context(browser, viewport=VIEWPORT)
    ctx.set_default_timeout(15_000)
    yield ctx
    ctx.close()


def signed_in(context: Any, server: LiveServer, username: str, console: Console) -> Any:
    """A page whose localStorage already holds ``username``'s token (as after the login)."""
    sign_in(context, server.token(username), username)
    page = context.new_page()
    console.attach(page)
    return page


def open_console(context: Any, server: LiveServer, console: Console, username: str,
                 hash_: str) -> Any:  # fmt: skip
    """``username``'s console at ``hash_`` (e.g. ``#/queue/reported``), once its shell is up."""
    page = signed_in(context, server, username, console)
    page.goto(f"{server.url}/console{hash_}")
    page.wait_for_selector("#console[data-ready='1']", state="attached")
    return page
