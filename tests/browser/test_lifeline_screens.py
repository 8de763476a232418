"""The lifeline screens in a real browser (issue 5 §6): alarm list → detail → acknowledge →
clear; the dead-letter browser shows a bad payload's reason and bytes; the big screen draws the
lifeline layer and its counts and follows a new alarm live.

``python -m tests.browser.test_lifeline_screens`` writes docs/screenshots/lifeline-*.png from a
demo city with an hour of simulated sensor traffic (incidents included).
"""

from __future__ import annotations

import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from cityops.bootstrap import bootstrap
from tests.browser.conftest import Console, open_console, signed_in
from tests.browser.server import LiveServer, own_server, settings

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]
SENML = {"Content-Type": "application/senml+json"}


@pytest.fixture(scope="module")
def lifeline_server(sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[
    LiveServer
]:  # fmt: skip
    with own_server(sqlite_template, tmp_path_factory.mktemp("lifeline")) as server:
        yield server


def _post(server: LiveServer, path: str, body: Any, **headers: str) -> httpx.Response:
    return server.request("admin", "POST", path, content=orjson.dumps(body), headers=headers)


def raise_red_gas_alarm(server: LiveServer, device: str, background: bool = True) -> dict[
    str, Any
]:  # fmt: skip
    """Methane in a well: a normal background (unless the well has one), then two readings over
    25 %LEL → 红."""
    now = time.time()
    values = [1.0, 1.2, 0.9, 1.1, 1.0, 1.3, 1.1, 1.0] if background else []
    values += [30.0, 31.0]
    step = 300 if background else 30
    for i, v in enumerate(values):
        at = now - (len(values) - 1 - i) * step - 1
        pack = [{"bn": f"{device}:", "bt": at, "n": "ch4", "u": "%LEL", "v": v}]
        r = _post(server, "/api/v1/telemetry/readings", pack, **SENML)
        assert r.status_code == 200 and r.json()["accepted"] == 1, r.text
    alarms = server.call("commander", "GET", "/api/v1/lifeline/alarms?state=open&type=gas_leak")
    mine = [a for a in alarms["alarms"] if (a["facts"] or {}).get("device") == device]
    assert mine and mine[0]["level"] == 4, alarms
    return dict(mine[0])


def test_alarm_list_detail_acknowledge_and_clear(
    context: Any, lifeline_server: LiveServer, console: Console
) -> None:
    alarm = raise_red_gas_alarm(lifeline_server, "SJ-CH4-0001")
    page = open_console(context, lifeline_server, console, "commander", "#/lifeline-alarms")
    assert page.locator(".c-nav a[data-view='lifeline-alarms']").count() == 1
    row = page.locator(f"#lf-alarms tr[data-id='{alarm['id']}']")
    row.wait_for()
    assert "可燃气体泄漏" in row.inner_text() and row.get_attribute("data-state") == "active"
    assert int(page.locator("#lf-level-counts [data-level='4']").get_attribute("data-count")) >= 1
    assert row.locator(".clock").get_attribute("data-colour") in ("green", "yellow", "red")
    row.click()
    page.wait_for_selector(f".lf-alarm[data-id='{alarm['id']}']")
    chart = page.locator("#lf-series-chart canvas").first
    chart.wait_for()
    box = chart.bounding_box()
    assert box and box["width"] > 300 and box["height"] > 150
    assert int(page.locator("#lf-series-chart").get_attribute("data-points")) >= 10
    link = page.locator("#lf-case-link")
    assert link.get_attribute("href") == f"#/case/{alarm['case_id']}"
    assert page.locator(".lf-steps li").count() > 0  # 红 gas: the emergency plan's steps

    page.click("#lf-acknowledge")
    page.fill(".lf-action textarea", "已通知燃气集团抢修")
    page.click(".lf-action button[type=submit]")
    page.wait_for_selector(".lf-alarm[data-state='acknowledged']")
    assert page.locator("#lf-acknowledge").count() == 0
    page.click("#lf-clear")
    page.click(".lf-action button[type=submit]")  # a clear needs a reason
    assert "请填写解除原因" in page.locator(".lf-action .warn").inner_text()
    page.fill(".lf-action textarea", "现场检测正常，确认误报")
    page.click(".lf-action button[type=submit]")
    page.wait_for_selector(".lf-alarm[data-state='cleared']")
    log = page.locator(".lf-log").inner_text()
    assert "已确认" in log and "已解除" in log and "现场检测正常" in log
    detail = lifeline_server.call("commander", "GET", f"/api/v1/lifeline/alarms/{alarm['id']}")
    assert detail["state"] == "cleared" and detail["cleared_how"] == "manual"
    page.goto(f"{lifeline_server.url}/console#/lifeline-alarms?state=cleared")
    page.locator(f"#lf-alarms tr[data-id='{alarm['id']}'][data-state='cleared']").wait_for()
    assert console.errors == []


def test_a_coupled_alarm_shows_the_series_behind_it(
    context: Any, lifeline_server: LiveServer, console: Console
) -> None:
    """Gas in a well and a pressure drop on the pipe beside it: the coupled 红 names no one
    series, so its page draws both conditions' readings."""
    now, pipe, well = time.time(), "SJ-GPT-0004", "SJ-CH4-0007"
    readings = [(pipe, "pressure", "MPa", 0.30), (well, "ch4", "%LEL", 1.0)] * 8 + [
        (well, "ch4", "%LEL", 6.0), (pipe, "pressure", "MPa", 0.30),
        (well, "ch4", "%LEL", 6.5), (pipe, "pressure", "MPa", 0.22),
        (well, "ch4", "%LEL", 6.5), (pipe, "pressure", "MPa", 0.21)]  # fmt: skip
    for i, (device, metric, unit, v) in enumerate(readings):
        at = now - (len(readings) - i) * 30
        pack = [{"bn": f"{device}:", "bt": at, "n": metric, "u": unit, "v": v}]
        r = _post(lifeline_server, "/api/v1/telemetry/readings", pack, **SENML)
        assert r.status_code == 200, r.text
    alarms = lifeline_server.call("commander", "GET",
                                  "/api/v1/lifeline/alarms?state=open&type=gas_leak_coupled")
    [coupled] = [a for a in alarms["alarms"] if a["asset"]["code"] == "SJ-GP-0004"]
    page = open_console(context, lifeline_server, console, "commander",
                        f"#/lifeline-alarm/{coupled['id']}")  # fmt: skip
    page.wait_for_selector(f".lf-alarm[data-id='{coupled['id']}']")
    page.locator(".lf-related canvas").first.wait_for()
    labels = page.locator(".lf-related small").all_inner_texts()
    assert any(pipe in x and "压力" in x and "MPa" in x for x in labels)
    assert any(well in x and "可燃气体" in x and "%LEL" in x for x in labels)


def test_the_case_an_alarm_opened_carries_its_emergency_plan(
    context: Any, lifeline_server: LiveServer, console: Console
) -> None:
    alarm = raise_red_gas_alarm(lifeline_server, "SJ-CH4-0002")
    page = open_console(context, lifeline_server, console, "dispatcher",
                        f"#/case/{alarm['case_id']}")  # fmt: skip
    card = page.locator("#case-lifeline")
    card.wait_for()
    assert card.locator(f"a[href='#/lifeline-alarm/{alarm['id']}']").count() == 1
    plan = card.locator(".lf-plan")
    assert "燃气泄漏一级（红色）应急处置预案" in plan.locator("h3").inner_text()
    assert "0/6" in plan.locator(".lf-plan__progress").inner_text()
    assert "申江燃气集团调度中心" in plan.locator(".lf-plan__contacts").inner_text()
    assert plan.locator(".lf-plan__contacts a[href^='tel:']").count() >= 3
    assert "燃气抢修车" in plan.locator(".lf-plan__resources").inner_text()
    plan.locator(".lf-steps li[data-step='1'] button").click()
    page.locator("#case-lifeline .lf-steps li[data-step='1'].done").wait_for()
    assert "1/6" in page.locator("#case-lifeline .lf-plan__progress").inner_text()
    steps = lifeline_server.call("dispatcher", "GET", f"/api/v1/cases/{alarm['case_id']}")
    assert steps["lifeline"]["plan"]["steps"][0]["done_by"] == "dispatcher"
    assert console.errors == []


def test_case_and_device_health_speak_the_ui_language(
    context: Any, lifeline_server: LiveServer, console: Console
) -> None:
    """Assets by name and code, metrics by name with units as people write them (%LEL, not
    UCUM's %{LEL}), the platform as 系统 / System and the lifeline log entries translated."""
    device = "SJ-CH4-0006"
    alarm = raise_red_gas_alarm(lifeline_server, device)
    lifeline_server.call("commander", "POST", f"/api/v1/lifeline/alarms/{alarm['id']}/clear",
                         json={"note": "现场复测正常"})  # fmt: skip
    case = lifeline_server.call("dispatcher", "GET", f"/api/v1/cases/{alarm['case_id']}")
    asset = case["lifeline"]["alarms"][0]["asset"]
    expected = {
        "zh-CN": ("可燃气体", "系统", {"启动应急预案", "告警解除"}),
        "en": ("Combustible gas", "System", {"Emergency plan", "Alarm cleared"}),
    }
    for lang, (gas, platform, log_labels) in expected.items():
        context.add_init_script(f"localStorage.setItem('cityops.lang', '{lang}')")
        page = open_console(context, lifeline_server, console, "dispatcher",
                            f"#/case/{alarm['case_id']}")  # fmt: skip
        card = page.locator("#case-lifeline")
        card.wait_for()
        text = card.locator(".lf-case__alarms").inner_text()
        assert asset["name"] in text and asset["code"] in text and "asset:" not in text
        assert gas in text and "%LEL" in text and "{" not in text
        actors = page.locator(".timeline .tl__who").all_inner_texts()
        assert any(a.startswith(platform) for a in actors)
        assert not any("system" in a for a in actors), actors
        labels = set(page.locator(".timeline .tl__head b").all_inner_texts())
        assert log_labels <= labels, labels
        page.goto(f"{lifeline_server.url}/console#/lifeline-devices?q={device}")
        row = page.locator(f"#lf-devices tr[data-code='{device}']")
        row.wait_for()
        values = row.locator(".lf-values").inner_text()
        assert gas in values and "%LEL" in values and "ch4" not in values and "{" not in values
        page.close()
    assert console.errors == []


def test_dead_letter_browser_shows_the_reason_and_the_bytes(
    context: Any, lifeline_server: LiveServer, console: Console
) -> None:
    pack = [{"bn": "GHOST-9:", "bt": time.time() - 30, "n": "ch4", "v": 3.5}]
    r = _post(lifeline_server, "/api/v1/telemetry/readings", pack, **SENML)
    assert r.status_code == 422, r.text
    binary = lifeline_server.request("admin", "POST", "/api/v1/telemetry/readings",
                                     content=b"\xff<b>\x00", headers=SENML)  # fmt: skip
    assert binary.status_code == 422
    page = open_console(context, lifeline_server, console, "admin", "#/lifeline-deadletters")
    ghost = page.locator("#lf-deadletters tr[data-reason='unknown_device']").first
    ghost.wait_for()
    assert "未知设备" in ghost.inner_text() and "GHOST-9" in ghost.inner_text()
    ghost.locator(".lf-raw-toggle").click()
    raw = page.locator(".lf-raw-row:not([hidden]) .lf-raw").first
    assert '"bn": "GHOST-9:"' in raw.inner_text()
    bad = page.locator("#lf-deadletters tr[data-reason='malformed_json']").first
    bad.locator(".lf-raw-toggle").click()
    hexdump = page.locator(".lf-raw[data-encoding='hex']")
    assert "ff 3c 62 3e 00" in hexdump.inner_text()  # not UTF-8: shown as hex, never as markup
    assert page.locator(".lf-raw b").count() == 0
    page.select_option("select[name=reason]", "unknown_device")
    page.wait_for_function("location.hash.includes('reason=unknown_device')")
    page.locator("#lf-deadletters").wait_for()
    reasons = page.locator("#lf-deadletters tbody tr:not(.lf-raw-row)").evaluate_all(
        "rows => rows.map(r => r.dataset.reason)")  # fmt: skip
    assert reasons and set(reasons) == {"unknown_device"}
    assert console.errors == []


def test_device_health_lists_offline_devices(
    context: Any, lifeline_server: LiveServer, console: Console
) -> None:
    page = open_console(context, lifeline_server, console, "commander",
                    "#/lifeline-devices?status=never")  # fmt: skip
    rows = page.locator("#lf-devices tbody tr")
    rows.first.wait_for()
    statuses = rows.evaluate_all("rows => rows.map(r => r.dataset.status)")
    assert statuses and set(statuses) == {"never"}
    page.click("#lf-device-tabs [data-status='all']")
    page.wait_for_function("!location.hash.includes('status=')")
    page.locator("#lf-devices tbody tr").first.wait_for()
    assert console.errors == []


def test_big_screen_lifeline_layer_counts_and_a_live_alarm(
    context: Any, lifeline_server: LiveServer, console: Console
) -> None:
    page = signed_in(context, lifeline_server, "commander", console)
    page.goto(f"{lifeline_server.url}/screen")
    page.wait_for_selector("#screen[data-ready='1']", state="attached")
    page.wait_for_selector("#live-status[data-state='live']")
    layer = lifeline_server.call("commander", "GET", "/api/v1/screen/lifeline/assets")
    assert int(page.locator("#map").get_attribute("data-lifeline-assets")) == len(
        layer["features"])  # fmt: skip
    assert page.locator("#lifeline-panel").is_visible()
    red = page.locator("#lifeline-panel [data-level='4']")
    before = int(red.get_attribute("data-count"))
    box = page.locator("#lifeline-types canvas").first.bounding_box()
    assert box and box["width"] > 150
    raise_red_gas_alarm(lifeline_server, "SJ-CH4-0003")
    page.wait_for_function(  # pushed by the live stream, no reload
        "n => Number(document.querySelector(\"#lifeline-panel [data-level='4']\")"
        ".dataset.count) > n",
        arg=before,
    )
    page.locator("#feed li.feed__item--lifeline").first.wait_for()
    assert int(page.locator("#map").get_attribute("data-lifeline-alarms")) >= 1
    page.click(".layer-toggle[data-layer='lifeline']")
    assert page.locator("#lifeline-panel").is_hidden()
    assert page.locator("#map").get_attribute("data-lifeline") == "off"
    page.click(".layer-toggle[data-layer='lifeline']")
    assert page.locator("#lifeline-panel").is_visible()
    assert console.errors == []


# -- screenshots ---------------------------------------------------------------------------------


def screenshots() -> None:
    """docs/screenshots/lifeline-*.png: a demo city with an hour of sensor traffic and its
    incidents (alarms and their cases), a few dead letters, the big screen and four views."""
    from cityops.demo.load import load_demo
    from cityops.entrypoints.lifeline_workers import demo_backfill
    from tests.browser.screenshots import shoot_signed_in
    from tests.browser.server import add_history

    with tempfile.TemporaryDirectory() as tmp:
        app = bootstrap(settings(Path(tmp) / "cityops.db"))
        load_demo(app)
        print("simulated reports:", add_history(app, days=2, per_day=40))
        print("sensor points:", demo_backfill(app, timedelta(hours=2)))
        server = LiveServer.start(app)
        try:
            raise_red_gas_alarm(server, "SJ-CH4-0005", background=False)
            screen = server.call("commander", "GET", "/api/v1/screen/lifeline")
            print("lifeline:", screen["by_level"])
            bad = (
                [{"bn": "GW9-PT-0001:", "n": "pressure", "u": "MPa", "v": 0.3}],
                [{"bn": "SJ-GPT-0002:", "n": "pressure", "u": "ppm", "v": 3}],
                b"\xff\x00",
            )
            for body in bad:  # an unknown device, a wrong unit, bytes that are not JSON
                for _ in range(2):
                    content = body if isinstance(body, bytes) else orjson.dumps(body)
                    server.request("admin", "POST", "/api/v1/telemetry/readings",
                                   content=content, headers=SENML)  # fmt: skip
            alarms = server.call("commander", "GET", "/api/v1/lifeline/alarms?state=open&level=3")
            busy = next((a["id"] for a in alarms["alarms"] if a["case_id"]),
                        alarms["alarms"][0]["id"])  # fmt: skip
            shots = [
                ("lifeline-alarms", "commander", "/console#/lifeline-alarms", (1440, 900)),
                ("lifeline-alarm", "commander", f"/console#/lifeline-alarm/{busy}", (1440, 900)),
                ("lifeline-deadletters", "admin", "/console#/lifeline-deadletters", (1440, 900)),
                ("lifeline-devices", "commander", "/console#/lifeline-devices?status=offline",
                 (1440, 900)),
                ("lifeline-screen", "commander", "/screen", (1920, 1080)),
            ]  # fmt: skip
            shoot_signed_in(server, shots)
        finally:
            server.stop()
            app.dispose()


if __name__ == "__main__":
    screenshots()
    sys.exit(0)
