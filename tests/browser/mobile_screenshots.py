"""Screenshots of the mobile app: ``python -m tests.browser.mobile_screenshots``.

docs/screenshots/mobile-tasks.png, mobile-report.png and mobile-outbox.png, taken as the
inspector of the first street on a phone-sized page over the demo city with simulated history.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from playwright.sync_api import sync_playwright

from cityops.bootstrap import bootstrap
from cityops.demo.load import load_demo
from tests.browser.screenshots import OUT
from tests.browser.server import (
    CHROMIUM,
    CHROMIUM_ARGS,
    LiveServer,
    add_history,
    city_context,
    settings,
    sign_in,
)
from tests.browser.test_mobile import INSPECTOR, PHONE, handled_case, photo
from tests.helpers import STREET_A, point_in


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        app = bootstrap(settings(Path(tmp) / "cityops.db"))
        load_demo(app)
        print("simulated reports:", add_history(app, days=10, per_day=60))
        server = LiveServer.start(app)
        handled_case(server)
        to_verify(server, 3)
        lon, lat, _ = point_in(STREET_A, seed=11)
        token = server.token(INSPECTOR)
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
                ctx = city_context(browser, phone=True, viewport=PHONE,
                                   permissions=["geolocation"],
                                   geolocation={"longitude": lon, "latitude": lat})  # fmt: skip
                sign_in(ctx, token, INSPECTOR)
                tab = ctx.new_page()
                tab.goto(server.url + "/m")
                tab.wait_for_selector("#m-app[data-ready='1']")
                tab.wait_for_selector(".m-task")
                tab.wait_for_function("() => navigator.serviceWorker.controller !== null")
                tab.wait_for_timeout(800)
                OUT.mkdir(parents=True, exist_ok=True)
                tab.screenshot(path=str(OUT / "mobile-tasks.png"))
                # a report sent online, for the outbox's "recently sent"
                report(tab, photo(Path(tmp) / "a.jpg", 1), "人行道上有大件垃圾堆放，影响通行")
                tab.wait_for_selector(".m-sentlog .m-sent")
                # the form, filled in
                tab.click("[data-tab='report']")
                fill(tab, photo(Path(tmp) / "b.jpg", 2), "消防通道被杂物堵塞，需清理")
                tab.fill("#r-address", "申江路 88 号东侧")
                tab.locator("#r-address").blur()
                tab.evaluate("() => { document.querySelector('#m-main').scrollTop = 0; }")
                tab.wait_for_selector("#m-toast.show", state="hidden")
                tab.screenshot(path=str(OUT / "mobile-report.png"))
                # offline: two things wait in the outbox
                ctx.set_offline(True)
                tab.click("#r-submit")
                tab.wait_for_url("**/m#outbox")
                tab.click("[data-tab='tasks']")
                tab.locator(".m-task[data-kind='check']").first.click()
                tab.click("#case-actions button[data-action='check_pass']")
                tab.fill("#a-note", "现场已清理干净")
                tab.click("#a-submit")
                tab.wait_for_url("**/m#tasks")
                tab.click("[data-tab='outbox']")
                tab.wait_for_selector("#m-toast.show", state="hidden")
                tab.screenshot(path=str(OUT / "mobile-outbox.png"))
                print("wrote", *(OUT / f"mobile-{n}.png" for n in ("tasks", "report", "outbox")))
                ctx.close()
                browser.close()
        finally:
            server.stop()
            app.dispose()


def fill(tab: Any, jpeg: Path, text: str) -> None:
    tab.click("#r-category")
    tab.fill("#cat-search", "E0102")
    tab.keyboard.press("Enter")
    tab.set_input_files("#r-photo", str(jpeg))
    tab.wait_for_selector("#r-photos .m-photo img")
    tab.wait_for_selector("#r-place[data-source='gps']")
    tab.fill("#r-description", text)


def report(tab: Any, jpeg: Path, text: str) -> None:
    tab.click("[data-tab='report']")
    fill(tab, jpeg, text)
    tab.click("#r-submit")
    tab.wait_for_url("**/m#outbox")


def to_verify(server: LiveServer, n: int) -> None:
    """Citizens' reports in the inspector's street, accepted: 核实 tasks."""
    for i in range(n):
        lon, lat, _ = point_in(STREET_A, seed=100 + i * 7)
        body = {"client_request_id": f"shot-{i}", "category": ("E0102", "C0101", "E0201")[i % 3],
                "description": "市民反映", "location": {"lon": lon, "lat": lat}}  # fmt: skip
        case = server.call("citizen", "POST", "/api/v1/intake/citizen", json=body)
        if case["state"] == "reported":
            server.call("acceptor", "POST", f"/api/v1/cases/{case['case_id']}/actions/accept",
                        json={})  # fmt: skip


if __name__ == "__main__":
    main()
