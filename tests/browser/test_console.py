"""业务工作台 (/console) in a real browser: work queues, quick actions, case detail, the action
forms' drafts and the classification triage, against the demo server.

``python -m tests.browser.test_console`` writes the console's screenshots to docs/screenshots.
"""

from __future__ import annotations

import sys
import tempfile
import zlib
from pathlib import Path
from typing import Any

import pytest

from cityops.adapters.db.models import CaseRow
from cityops.demo.city import DEMO_PASSWORD
from tests.browser.conftest import Console, open_console
from tests.browser.server import LiveServer
from tests.helpers import STREET_A, STREET_B, point_in

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]


def _report(
    server: LiveServer, source: str, category: str = "E0102", street: str = STREET_A
) -> int:
    """A new citizen report far from the others (a new case, not a 并案)."""
    lon, lat, _ = point_in(street, seed=zlib.crc32(source.encode()))
    body = {
        "client_request_id": source,
        "category": category,
        "description": f"测试 {source}",
        "location": {"lon": lon, "lat": lat},
    }
    out = server.call("citizen", "POST", "/api/v1/intake/citizen", json=body)
    assert out["created"] and not out["merged"], out
    return int(out["case_id"])


def _opened(server: LiveServer, source: str) -> int:
    """A case waiting for dispatch: reported → accepted → verified → opened."""
    case_id = _report(server, source, "E0103", STREET_B)
    for user, action in (("acceptor", "accept"), ("leader", "verify"), ("acceptor", "open")):
        server.call(user, "POST", f"/api/v1/cases/{case_id}/actions/{action}", json={})
    return case_id


def _unclassified(server: LiveServer, source: str) -> int:
    """A 12345 order without a category, with the machine's top-3 written on it (the demo runs
    without a classifier model, so the test puts the suggestions there itself)."""
    lon, lat, _ = point_in(STREET_A, seed=zlib.crc32(source.encode()))
    order = {
        "work_order_no": source,
        "appeal_type": "投诉",
        "content": f"绿地垃圾杂物 {source}",
        "location": {"lon": lon, "lat": lat},
    }
    out = server.call("acceptor", "POST", "/api/v1/intake/hotline", json=order)
    case_id = int(out["case_id"])
    snap = server.app.reference.get()
    top = [("E0103", 0.46), ("E0102", 0.31), ("E0204", 0.12)]
    with server.app.sessions.begin() as s:
        row = s.get(CaseRow, case_id)
        assert row is not None and row.triage == "classify", row and row.triage
        row.classification = {
            **(row.classification or {}),
            "model": "test",
            "auto": False,
            "confidence": 0.46,
            "suggestions": [
                {"category": k, "name": snap.categories[k].name, "confidence": c} for k, c in top
            ],
            "explanation": [{"term": "垃圾", "weight": 1.1}, {"term": "绿地", "weight": 0.6}],
            "reason": "置信度 0.46 低于 0.60，转人工分类 / confidence below 0.60: a person chooses",
        }
    return case_id


def test_acceptor_accepts_a_case_and_the_queue_updates(
    context: Any, live_server: LiveServer, console: Console
) -> None:
    page = open_console(context, live_server, console, "acceptor", "#/queue/reported")
    page.wait_for_selector(".queue[data-loaded]", state="attached")
    case_id = _report(live_server, "console-accept-1")  # arrives while the queue is open
    row = page.locator(f".c-table tr[data-id='{case_id}']")
    row.wait_for()  # pushed by the live stream, no reload
    shown = "n => document.querySelector(\".tab[data-tab='reported'] .count\").dataset.count == n"
    before = live_server.call(
        "acceptor", "GET", "/api/v1/cases", params={"state": "reported", "limit": 1}
    )["total"]
    page.wait_for_function(shown, arg=str(before))
    assert row.locator(".clock").get_attribute("data-colour") in {"green", "yellow", "red"}
    row.locator("button[data-quick='accept']").dblclick()  # a double click acts once
    page.locator(".c-toast--ok").first.wait_for()
    row.wait_for(state="detached")
    page.wait_for_function(shown, arg=str(before - 1))
    detail = live_server.call("acceptor", "GET", f"/api/v1/cases/{case_id}")
    assert detail["state"] == "accepted"
    assert [e["action"] for e in detail["timeline"]].count("accept") == 1
    assert console.errors == []


def test_dispatcher_dispatches_to_the_suggested_department(
    context: Any, live_server: LiveServer, console: Console
) -> None:
    case_id = _opened(live_server, "console-dispatch-1")
    routing = live_server.call("dispatcher", "GET", f"/api/v1/cases/{case_id}")["routing"]
    assert routing and routing["department_id"]
    page = open_console(context, live_server, console, "dispatcher", "#/queue/toDispatch")
    row = page.locator(f".c-table tr[data-id='{case_id}']")
    row.wait_for()
    assert routing["department_name"] in row.locator(".quick-dispatch").inner_text()
    row.locator("button[data-quick='dispatch']").click()
    toast = page.locator(".c-toast--ok").first
    toast.wait_for()
    assert "派遣" in toast.inner_text()
    row.wait_for(state="detached")
    detail = live_server.call("dispatcher", "GET", f"/api/v1/cases/{case_id}")
    assert detail["state"] == "dispatched"
    assert detail["department_id"] == routing["department_id"]
    assert console.errors == []


def test_classify_triage_choosing_a_suggestion_takes_the_case_off_the_queue(
    context: Any, live_server: LiveServer, console: Console
) -> None:
    case_id = _unclassified(live_server, "console-classify-1")
    page = open_console(
        context, live_server, console, "acceptor", f"#/triage/classify?case={case_id}"
    )
    item = page.locator(f"#triage-list li[data-id='{case_id}']")
    item.wait_for()
    pick = page.locator("#triage-work .sugg-pick[data-category='E0103']")
    pick.wait_for()
    assert "46" in pick.inner_text()  # the confidence
    assert "垃圾" in page.locator("#triage-work .terms").inner_text()  # the words behind it
    pick.click()
    page.locator(".c-toast--ok").first.wait_for()
    item.wait_for(state="detached")
    detail = live_server.call("acceptor", "GET", f"/api/v1/cases/{case_id}")
    assert detail["category"] == "E0103"
    assert detail["triage"] is None
    assert console.errors == []


def test_locate_triage_a_click_on_the_map_sets_the_location(
    context: Any, live_server: LiveServer, console: Console
) -> None:
    order = {
        "work_order_no": "console-locate-1",
        "appeal_type": "投诉",
        "content": "小区门口路灯不亮",
        "category": "C0301",
        "location": {"address": "幸福路某小区门口"},  # no point: a person finds the place
    }
    case_id = live_server.call("acceptor", "POST", "/api/v1/intake/hotline", json=order)["case_id"]
    page = open_console(
        context, live_server, console, "acceptor", f"#/triage/locate?case={case_id}"
    )
    item = page.locator(f"#triage-list li[data-id='{case_id}']")
    item.wait_for()
    page.wait_for_selector("#triage-map[data-ready='1']")
    page.locator("#triage-map").click()  # the middle of the city
    page.wait_for_selector("#triage-work .locate-result[data-grid]:not([data-grid=''])")
    grid = page.locator("#triage-work .locate-result").get_attribute("data-grid")
    page.locator("#set-location").click()
    page.locator(".c-toast--ok").first.wait_for()
    item.wait_for(state="detached")
    detail = live_server.call("acceptor", "GET", f"/api/v1/cases/{case_id}")
    assert detail["grid_code"] == grid
    assert detail["lon"] is not None and detail["triage"] is None
    assert console.errors == []


def test_action_form_keeps_the_typed_note_across_reload_and_relogin(
    context: Any, live_server: LiveServer, console: Console
) -> None:
    case_id = _report(live_server, "console-draft-1")
    page = context.new_page()  # signed in through /login, so the token can expire for real
    console.attach(page)
    page.goto(f"{live_server.url}/login?next=/console%23/case/{case_id}")
    page.fill("#username", "acceptor")
    page.fill("#password", DEMO_PASSWORD)
    page.click("#login-submit")
    page.locator("#action-bar button[data-action='invalidate']").click()
    note = page.locator(".action-form[data-action='invalidate'] textarea[name='note']")
    note.fill("来电人撤回诉求，")
    page.reload()
    page.locator("#action-bar button[data-action='invalidate']").click()
    assert note.input_value() == "来电人撤回诉求，"
    note.type("经核实已自行解决")
    page.evaluate("localStorage.setItem('cityops.token', 'expired')")  # the session ends
    page.reload()
    dialog = page.locator("dialog.dialog form.relogin")
    dialog.wait_for()
    dialog.locator("input[name='password']").fill(DEMO_PASSWORD)
    dialog.locator("button[type='submit']").click()
    page.locator("#action-bar button[data-action='invalidate']").click()
    assert note.input_value() == "来电人撤回诉求，经核实已自行解决"
    page.locator(".action-form button[type='submit']").click()
    page.locator(".c-toast--ok").first.wait_for()
    page.wait_for_selector(".case[data-state='invalid']")
    typed = "来电人撤回诉求，经核实已自行解决"
    assert page.locator(".tl--invalidate .tl__note").inner_text() == typed
    draft = f"localStorage.getItem('cityops.console.draft.{case_id}.invalidate')"
    assert page.evaluate(draft) is None
    # the expired token's 401 is what the page expected; nothing else may have gone wrong
    assert [e for e in console.errors if "401" not in e] == []


@pytest.mark.parametrize(
    "username", ["acceptor", "dispatcher", "leader", "commander", "handler-roads", "admin"]
)
def test_every_work_view_renders_without_console_errors(
    context: Any, live_server: LiveServer, console: Console, username: str
) -> None:
    mine = live_server.call(username, "GET", "/api/v1/cases", params={"limit": 1})["items"]
    case_id = mine[0]["id"] if mine else 1  # not theirs: the view says so
    page = open_console(context, live_server, console, username, "#/queue")
    page.wait_for_selector(".queue[data-loaded]", state="attached")
    tabs = page.locator(".queue .tab")
    assert tabs.count() >= 2
    for hash_, ready in (
        (f"#/case/{case_id}", ".case #action-bar, .c-page .c-state--error"),
        ("#/cases", ".cases .results .c-table, .cases .results .c-state"),
        ("#/cases?q=zzzz-nothing", ".cases .c-state--empty"),
        ("#/nope", ".c-state--empty"),  # a view that does not exist says so
    ):
        page.evaluate(f"location.hash = {hash_!r}")
        page.wait_for_selector(ready)
    if username in {"acceptor", "dispatcher", "leader", "admin"}:
        for tab in ("classify", "locate", "suggested"):
            page.evaluate(f"location.hash = '#/triage/{tab}'")
            page.wait_for_selector(f".triage[data-tab='{tab}'] .tab.active .count[data-count]")
            page.wait_for_selector("#triage-work > *")
    page.locator("button[data-i18n='common.lang']").click()  # English, in place
    page.wait_for_function("() => document.documentElement.lang === 'en'")
    page.evaluate("location.hash = '#/queue'")
    page.wait_for_selector(".queue[data-loaded]", state="attached")
    assert page.locator(".page-head h1").inner_text().startswith("My work")
    page.locator("button[data-i18n='common.lang']").click()
    page.wait_for_function("() => document.documentElement.lang === 'zh-CN'")
    # a case that is not theirs is a 404 the view expected and explained
    assert [e for e in console.errors if mine or "404" not in e] == []


# -- screenshots --------------------------------------------------------------------------------


def screenshots() -> None:
    """docs/screenshots/console-{queue,case,triage}.png from a demo city with 30 days of history."""
    from cityops.bootstrap import bootstrap
    from cityops.demo.load import load_demo
    from tests.browser.screenshots import shoot_signed_in
    from tests.browser.server import add_history, settings

    with tempfile.TemporaryDirectory() as tmp:
        app = bootstrap(settings(Path(tmp) / "cityops.db"))
        load_demo(app)
        print("simulated reports:", add_history(app, days=30, per_day=40))
        server = LiveServer.start(app)
        try:
            triage = _unclassified(server, "shot-classify-1")
            _unclassified(server, "shot-classify-2")
            for n in range(5):  # a few cases waiting for the dispatcher
                try:
                    _opened(server, f"shot-dispatch-{n}")
                except AssertionError as exc:  # merged into a case of the history: skip it
                    print("skipped:", exc)
            handling = server.call(
                "leader", "GET", "/api/v1/cases", params={"state": "handling", "limit": 100}
            )["items"]
            busy = next(
                (
                    c["id"]
                    for c in handling
                    if server.call("leader", "GET", f"/api/v1/cases/{c['id']}")["extension"]
                ),
                handling[0]["id"],
            )
            shoot_signed_in(server, [
                ("console-queue", "dispatcher", "/console#/queue", (1440, 900)),
                ("console-case", "leader", f"/console#/case/{busy}", (1440, 900)),
                ("console-triage", "acceptor", f"/console#/triage/classify?case={triage}",
                 (1440, 900)),
            ])  # fmt: skip
        finally:
            server.stop()
            app.dispose()


if __name__ == "__main__":
    screenshots()
    sys.exit(0)
