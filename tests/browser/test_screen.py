"""指挥大屏 in a real browser: map polygons and charts render, and a new case shows up live."""

from __future__ import annotations

import zlib
from datetime import datetime, timedelta
from typing import Any

import pytest

from cityops.service.bus import Event
from tests.browser.conftest import Console, signed_in
from tests.browser.server import LiveServer
from tests.helpers import STREET_A, point_in

# One worker runs them all, so the session has one server and one browser (make test).
pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]
CHARTS = ("#chart-channels", "#chart-categories", "#chart-24h", "#chart-30d")


def _open_screen(context: Any, live_server: LiveServer, console: Console) -> Any:
    page = signed_in(context, live_server, "commander", console)
    page.goto(f"{live_server.url}/screen")
    page.wait_for_selector("#screen[data-ready='1']", state="attached")
    return page


def _kpi(page: Any, name: str) -> int:
    text = page.locator(f"[data-kpi='{name}'] .kpi__value").inner_text()
    return int(text.replace(",", ""))


def _report(live_server: LiveServer, source: str) -> dict[str, Any]:
    lon, lat, _ = point_in(STREET_A, seed=zlib.crc32(source.encode()))
    body = {"client_request_id": source, "category": "E0102", "description": "小区门口暴露垃圾",
            "location": {"lon": lon, "lat": lat}}  # fmt: skip
    return dict(live_server.call("citizen", "POST", "/api/v1/intake/citizen", json=body))


def test_screen_renders_map_and_charts_without_console_errors(
    context: Any, live_server: LiveServer, console: Console
) -> None:
    page = _open_screen(context, live_server, console)
    assert int(page.locator("#map").get_attribute("data-cells")) == 600  # every grid cell
    # grid cells + street and district outlines, drawn as SVG paths on a plain background
    assert page.locator("#map .leaflet-overlay-pane path").count() >= 600 + 12 + 3
    assert page.locator("#map .leaflet-tile").count() == 0  # no tile URL configured
    assert int(page.locator("#map").get_attribute("data-markers")) > 0  # open cases
    for selector in CHARTS:
        box = page.locator(f"{selector} canvas").first.bounding_box()
        assert box and box["width"] > 200 and box["height"] > 100, selector
    overview = live_server.call("commander", "GET", "/api/v1/screen/overview")
    page.wait_for_function(  # the count-up animation settles on the server's figure
        "n => document.querySelector(\"[data-kpi='reported'] .kpi__value\").textContent == n",
        arg=str(overview["today"]["reported"]),
    )
    page.locator("#ranking tr").first.wait_for()  # the ranking arrives after the rest
    assert page.locator("#hot-grids li").count() > 0
    assert page.locator("#feed li").count() > 0
    page.wait_for_selector("#live-status[data-state='live']")
    assert console.errors == []


def test_screen_updates_when_a_new_case_arrives(
    context: Any, live_server: LiveServer, console: Console
) -> None:
    page = _open_screen(context, live_server, console)
    page.wait_for_selector("#live-status[data-state='live']")
    page.wait_for_timeout(900)  # let the opening count-up finish
    before = _kpi(page, "reported")
    markers = int(page.locator("#map").get_attribute("data-markers"))
    case = _report(live_server, "browser-live-1")
    item = page.locator(f"#feed li[data-case='{case['case_no']}']").first
    item.wait_for()  # pushed by the live stream, no reload
    assert ("并案上报" if case["merged"] else "新上报") in item.inner_text()
    page.wait_for_function(
        "n => document.querySelector(\"[data-kpi='reported'] .kpi__value\").textContent == n",
        arg=str(before + 1),
    )
    new_marker = 0 if case["merged"] else 1  # a repeat report joins its case (并案)
    assert int(page.locator("#map").get_attribute("data-markers")) == markers + new_marker
    assert console.errors == []


def test_screen_switches_to_english_in_place(
    context: Any, live_server: LiveServer, console: Console
) -> None:
    page = _open_screen(context, live_server, console)
    page.evaluate("window.__sameDocument = true")
    page.get_by_role("button", name="English").click()
    # A function, not an expression: polling an expression needs eval, which the CSP forbids.
    page.wait_for_function("() => document.documentElement.lang === 'en'")
    assert page.locator(".screen-title h1").inner_text().endswith("City Operations Centre")
    assert page.locator("[data-kpi='reported'] .kpi__label").inner_text() == "Reports"
    assert page.evaluate("window.__sameDocument") is True  # no reload: nothing typed is lost
    assert page.evaluate("localStorage.getItem('cityops.lang')") == "en"
    page.reload()
    page.wait_for_selector("#screen[data-ready='1']", state="attached")
    assert page.locator("[data-kpi='reported'] .kpi__label").inner_text() == "Reports"
    assert console.errors == []


# What fits at 1920×1080: the title on one line inside its banner, every ranking row inside
# its panel (both measured in the page's own pixels, before the fit-to-window scale).
_LAYOUT = """() => {
  const h1 = document.querySelector('.screen-title h1');
  const panel = document.querySelector('.panel--ranking').getBoundingClientRect();
  const rows = [...document.querySelectorAll('#ranking tr')].map((r) => r.getBoundingClientRect());
  const heads = [...document.querySelectorAll('.ranking th')];
  return {
    titleLines: Math.round(
      h1.getBoundingClientRect().height / parseFloat(getComputedStyle(h1).lineHeight)),
    titleCut: h1.scrollWidth > h1.clientWidth,
    rows: rows.length,
    rowsInside: rows.every((r) => r.bottom <= panel.bottom - 1),
    headsOneLine: heads.every((th) => th.scrollWidth <= th.clientWidth),
  };
}"""


@pytest.mark.parametrize("lang", ["zh-CN", "en"])
def test_screen_title_and_ranking_fit_at_1920_by_1080(
    context: Any, live_server: LiveServer, console: Console, lang: str
) -> None:
    context.add_init_script(f"localStorage.setItem('cityops.lang', '{lang}')")
    page = _open_screen(context, live_server, console)
    ranked = len(live_server.call("commander", "GET", "/api/v1/screen/ranking")["rows"])
    page.wait_for_function("n => document.querySelectorAll('#ranking tr').length === n",
                           arg=min(ranked, 7))  # fmt: skip
    layout = page.evaluate(_LAYOUT)
    assert layout == {"titleLines": 1, "titleCut": False, "rows": min(ranked, 7),
                      "rowsInside": True, "headsOneLine": True}  # fmt: skip
    assert console.errors == []


def test_screen_feed_is_newest_first_whatever_the_arrival_order(
    context: Any, live_server: LiveServer, console: Console
) -> None:
    page = _open_screen(context, live_server, console)
    page.wait_for_selector("#live-status[data-state='live']")
    case = _report(live_server, "browser-feed-order")
    page.locator(f"#feed li[data-case='{case['case_no']}']").first.wait_for()
    now = live_server.app.clock()
    # A newer event, then one from a minute before it that arrives later (a slow batch).
    for name, at in (("CaseSupervised", now), ("CaseEscalated", now - timedelta(minutes=1))):
        live_server.app.bus.publish(Event(name, at, {"case_id": case["case_id"]}))
    mine = f"#feed li[data-case='{case['case_no']}']"
    page.locator(f"{mine}[data-event='CaseEscalated']").wait_for()
    times = page.eval_on_selector_all("#feed time", "ts => ts.map((t) => t.dateTime)")
    stamps = [datetime.fromisoformat(t) for t in times]
    assert stamps == sorted(stamps, reverse=True)
    events = page.eval_on_selector_all(mine, "ls => ls.map((l) => l.dataset.event)")
    assert events.index("CaseSupervised") < events.index("CaseEscalated"), events
    assert console.errors == []
