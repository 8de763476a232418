"""Screenshots of every screen for docs/screenshots: ``python -m tests.browser.screenshots``.

Builds the demo city with 30 days of simulated history (a few minutes), serves it, signs in
as the commander and shoots each registered page at its own viewport. Pages' names on the
command line limit it to those.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from playwright.sync_api import BrowserContext, sync_playwright

from cityops.bootstrap import bootstrap
from cityops.demo.load import load_demo
from cityops.entrypoints.web.pages import PAGES
from tests.browser.server import (
    CHROMIUM,
    CHROMIUM_ARGS,
    LiveServer,
    add_history,
    city_context,
    settings,
    sign_in,
)

OUT = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
READY = {"screen": "#screen[data-ready='1']"}  # a page's "fully drawn" selector, if it has one


def shoot(ctx: BrowserContext, url: str, ready: str | None, target: Path) -> None:
    """Open ``url`` in a new tab of ``ctx``, wait until drawn, write ``target``.png, close."""
    tab = ctx.new_page()
    tab.goto(url)
    if ready:
        tab.wait_for_selector(ready, state="attached", timeout=30_000)
    tab.wait_for_timeout(2500)  # animations settle
    target.parent.mkdir(parents=True, exist_ok=True)
    tab.screenshot(path=str(target.with_suffix(".png")))
    print("wrote", target.with_suffix(".png"))
    ctx.close()


def shoot_signed_in(server: LiveServer, shots: list[tuple[str, str, str, tuple[int, int]]],
                    out: Path = OUT) -> None:  # fmt: skip
    """Each (name, user, path, (width, height)): the page signed in as that user, once the
    console or the big screen is drawn, written to ``out``/name.png."""
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        for name, user, path, (width, height) in shots:
            ctx = city_context(browser, viewport={"width": width, "height": height})
            sign_in(ctx, server.token(user), user)
            ready = "#screen[data-ready='1']" if path.startswith("/screen") else \
                "#console[data-ready='1']"  # fmt: skip
            shoot(ctx, server.url + path, ready, out / name)
        browser.close()


def main(names: list[str]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        app = bootstrap(settings(Path(tmp) / "cityops.db"))
        load_demo(app)
        print("simulated reports:", add_history(app, days=30, per_day=40))
        server = LiveServer.start(app)
        token = server.token("commander")
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
                for page in PAGES:
                    if names and page.name not in names:
                        continue
                    width, height = page.viewport
                    ctx = browser.new_context(viewport={"width": width, "height": height})
                    if page.staff:
                        sign_in(ctx, token, "commander")
                    shoot(ctx, server.url + page.path, READY.get(page.name), OUT / page.name)
                browser.close()
        finally:
            server.stop()
            app.dispose()


if __name__ == "__main__":
    main(sys.argv[1:])
