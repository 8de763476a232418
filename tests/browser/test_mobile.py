"""移动巡查 (/m) on a phone: report with photo and GPS, and the offline outbox.

The inspector reports online (a case is created); then the phone goes offline, the inspector
reports again and passes a check — both wait in the outbox, also across a reload (the service
worker opens the app) — and back online both are sent exactly once.
"""

from __future__ import annotations

import io
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, ImageDraw
from sqlalchemy import func, select

from cityops.adapters.db.models import CaseEventRow, CaseRow, ReportRow
from tests.browser.conftest import Console
from tests.browser.server import LiveServer, city_context, own_server, sign_in
from tests.browser.test_lifeline_screens import raise_red_gas_alarm
from tests.helpers import STREET_A, point_in, wait_until

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]
INSPECTOR = "inspector01"  # the inspector of STREET_A
PHONE: Any = {"width": 390, "height": 844}


def photo(path: Path, seed: int) -> Path:
    """A camera-sized JPEG (the page shrinks it before upload)."""
    img = Image.new("RGB", (2400, 1800), (90 + seed * 20 % 120, 120, 140))
    draw = ImageDraw.Draw(img)
    for i in range(0, 2400, 160):
        draw.rectangle([i, 900 + (i % 320), i + 80, 1800], fill=(200, 180 - i % 90, 60))
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=92)
    path.write_bytes(buf.getvalue())
    return path


def handled_case(server: LiveServer, key: str = "mobile-check") -> dict[str, Any]:
    """A case in STREET_A taken through to 处置完成, waiting for the inspector's 核查."""
    lon, lat, _ = point_in(STREET_A, seed=zlib.crc32(key.encode()))
    body = {"report_id": key, "category": "E0102", "description": "路边暴露垃圾",
            "location": {"lon": lon, "lat": lat}}  # fmt: skip
    case_id = server.call(INSPECTOR, "POST", "/api/v1/intake/inspector", json=body)["case_id"]
    depts = {d["id"]: d["code"] for d in server.call("admin", "GET", "/api/v1/departments")}
    steps = {"reported": ("acceptor", "accept"), "accepted": ("acceptor", "open"),
             "opened": ("dispatcher", "dispatch")}  # fmt: skip
    for _ in range(8):
        case = server.call("admin", "GET", f"/api/v1/cases/{case_id}")
        if case["state"] == "handled":
            return dict(case)
        handler = f"handler-{depts.get(case['department_id'])}"
        steps |= {"dispatched": (handler, "start"), "handling": (handler, "complete")}
        user, action = steps[case["state"]]
        server.call(user, "POST", f"/api/v1/cases/{case_id}/actions/{action}",
                    json={"note": "已清理完毕"})  # fmt: skip
    raise AssertionError(f"case {case_id} did not reach handled")


@pytest.fixture
def phone(browser: Any, live_server: LiveServer, console: Console) -> Any:
    lon, lat, _ = point_in(STREET_A, seed=11)
    ctx = city_context(browser, viewport=PHONE, is_mobile=True, has_touch=True,
                       geolocation={"longitude": lon, "latitude": lat},
                       permissions=["geolocation"])  # fmt: skip
    ctx.set_default_timeout(20_000)
    sign_in(ctx, live_server.token(INSPECTOR), INSPECTOR, keep=True)
    page = ctx.new_page()
    console.attach(page)
    refused: list[str] = []  # which request a "Failed to load resource" was about
    page.on(
        "response", lambda r: refused.extend([f"{r.status} {r.url}"] if r.status >= 400 else [])
    )
    page.refused = refused
    yield ctx, page
    ctx.close()


def _report(page: Any, jpeg: Path, description: str) -> None:
    page.click("[data-tab='report']")
    page.click("#r-category")
    page.fill("#cat-search", "E0102")
    page.keyboard.press("Enter")
    page.wait_for_selector("#r-category[data-key='E0102']")
    page.set_input_files("#r-photo", str(jpeg))
    page.wait_for_selector("#r-photos .m-photo img")
    page.wait_for_selector("#r-place[data-source='gps']")
    page.fill("#r-description", description)
    page.click("#r-submit")
    page.wait_for_url("**/m#outbox")


def _count(server: LiveServer, stmt: Any) -> int:
    with server.app.reads() as s:
        return int(s.scalar(stmt) or 0)


def test_reports_and_actions_survive_going_offline_and_are_sent_once(
    phone: Any, live_server: LiveServer, console: Console, tmp_path: Path
) -> None:
    ctx, page = phone
    me = live_server.call(INSPECTOR, "GET", "/api/v1/auth/me")
    assert me["scope_code"] == STREET_A
    check = handled_case(live_server)
    page.goto(f"{live_server.url}/m")
    page.wait_for_selector("#m-app[data-ready='1']")
    page.wait_for_function("() => navigator.serviceWorker.controller !== null")
    task = page.locator(f".m-task[data-case='{check['id']}']")
    task.wait_for()
    assert task.get_attribute("data-kind") == "check"
    assert task.get_attribute("data-colour") in ("green", "yellow", "red")

    # Online: the report goes straight through and a case is created.
    _report(page, photo(tmp_path / "a.jpg", 1), "人行道上有大件垃圾堆放")
    page.wait_for_selector(".m-sentlog .m-sent")
    first = page.locator(".m-sentlog .m-sent").first.get_attribute("data-id")
    assert page.locator("#outbox-list").count() == 0
    reports = select(ReportRow).where(ReportRow.source_id == f"{INSPECTOR}:{first}")
    with live_server.app.reads() as s:
        [row] = s.scalars(reports).all()
        case = s.get(CaseRow, row.case_id)
        assert case is not None and case.category == "E0102"
        submit = select(CaseEventRow.media).where(
            CaseEventRow.case_id == case.id, CaseEventRow.action == "submit"
        )
        media = s.scalar(submit)
        assert media and media[0].startswith("media://")  # the photo, uploaded first

    # Offline: a report and a 核查通过 wait in the outbox.
    ctx.set_offline(True)
    page.wait_for_selector("#m-net[data-state='offline']")
    _report(page, photo(tmp_path / "b.jpg", 2), "消防通道被杂物堵塞")
    page.click("[data-tab='tasks']")
    page.click(f".m-task[data-case='{check['id']}']")
    page.click("#case-actions button[data-action='check_pass']")
    page.fill("#a-note", "现场已清理干净")
    page.click("#a-submit")
    page.wait_for_url("**/m#tasks")
    page.wait_for_selector(f".m-task[data-case='{check['id']}'] .m-chip--wait")
    page.click("[data-tab='outbox']")
    waiting = page.locator("#outbox-list .m-out[data-state='waiting']")
    waiting.nth(1).wait_for()
    ids = [waiting.nth(i).get_attribute("data-id") for i in range(2)]

    page.reload()  # the service worker opens the app with no network; the queue is still there
    page.wait_for_selector("#m-app[data-ready='1']")
    assert page.locator("#m-app").get_attribute("data-view") == "outbox"
    waiting.nth(1).wait_for()
    assert sorted(waiting.nth(i).get_attribute("data-id") for i in range(2)) == sorted(ids)
    assert page.locator("#m-badge").inner_text() == "2"

    # Back online: both are sent, once.
    ctx.set_offline(False)
    page.wait_for_selector("#outbox-list", state="detached")
    page.wait_for_function("() => document.querySelectorAll('.m-sentlog .m-sent').length === 3")
    assert page.locator("#m-badge").inner_text() == ""
    sources = [f"{INSPECTOR}:{i}" for i in ids]  # one is the report's, one the action's
    with live_server.app.reads() as s:
        rows = s.scalars(select(ReportRow).where(ReportRow.source_id.in_(sources))).all()
    assert len(rows) == 1  # the offline report made one report and one case
    passes = (
        select(func.count())
        .select_from(CaseEventRow)
        .where(CaseEventRow.case_id == check["id"], CaseEventRow.action == "check_pass")
    )
    assert _count(live_server, passes) == 1
    assert live_server.call("admin", "GET", f"/api/v1/cases/{check['id']}")["state"] == "checked"
    page.wait_for_timeout(6000)  # a retry tick later, still nothing sent twice
    assert _count(live_server, passes) == 1
    assert console.errors == [], (console.errors, page.refused)


def test_an_action_the_api_refuses_is_marked_failed_with_its_reason(
    phone: Any, live_server: LiveServer, console: Console
) -> None:
    _, page = phone
    check = handled_case(live_server, "mobile-refused")
    page.goto(f"{live_server.url}/m#case/{check['id']}")
    page.wait_for_selector("#case-actions button[data-action='check_fail']")
    # Meanwhile the shift leader passes the check: the inspector's 返工 is now illegal.
    live_server.call("leader", "POST", f"/api/v1/cases/{check['id']}/actions/check_pass", json={})
    page.click("#case-actions button[data-action='check_fail']")
    page.click("#a-submit")  # a note is required: nothing is queued without it
    assert page.locator(".m-action-form .form-error").inner_text() == "请填写说明"
    page.fill("#a-note", "井盖仍未复位")
    page.click("#a-submit")
    page.click("[data-tab='outbox']")
    failed = page.locator("#outbox-list .m-out[data-state='failed']")
    failed.wait_for()
    reason = failed.locator(".m-out__error").inner_text()
    assert reason and " / " not in reason  # the API's message, in the user's language
    assert live_server.call("admin", "GET", f"/api/v1/cases/{check['id']}")["state"] == "checked"
    failed.locator("button", has_text="删除").click()
    page.locator("dialog.m-sheet .m-btn-danger").click()
    page.wait_for_selector("#outbox-list", state="detached")
    assert [e for e in console.errors if "409" not in e] == []


@pytest.fixture(scope="module")
def alarm_server(sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[
    LiveServer
]:  # fmt: skip
    with own_server(sqlite_template, tmp_path_factory.mktemp("mobile-lifeline")) as server:
        yield server


def test_a_handler_works_a_red_gas_case_with_its_emergency_plan(
    browser: Any, alarm_server: LiveServer, console: Console
) -> None:
    server = alarm_server
    alarm = raise_red_gas_alarm(server, "SJ-CH4-0004")
    case_id = alarm["case_id"]
    handler = server.handler_for(case_id)
    server.call(handler, "POST", f"/api/v1/cases/{case_id}/actions/start", json={})
    steps = server.call(handler, "GET", f"/api/v1/cases/{case_id}")["lifeline"]["plan"]["steps"]
    ctx = city_context(browser, viewport=PHONE, is_mobile=True, has_touch=True)
    ctx.set_default_timeout(20_000)
    sign_in(ctx, server.token(handler), handler, keep=True)
    page = ctx.new_page()
    console.attach(page)
    page.goto(f"{server.url}/m#case/{case_id}")
    page.wait_for_selector("#m-app[data-ready='1']")
    page.wait_for_function("() => navigator.serviceWorker.controller !== null")

    # The emergency shows: 红 in the head, the alarm with its asset and reading, the place.
    card = page.locator("#case-lifeline")
    card.wait_for()
    assert page.locator(".m-case-head .m-level--4").inner_text() == "红色"
    row = card.locator(f".m-alarm[data-id='{alarm['id']}'][data-level='4']")
    asset = alarm["asset"]
    assert asset["code"] in row.inner_text() and asset["name"] in row.inner_text()
    assert "31 %LEL" in row.locator(".m-alarm__reading").inner_text()
    # 位置: the place of what the case is about (the gas pipe beside the well)
    about = server.call(handler, "GET", f"/api/v1/cases/{case_id}")["lifeline"]["incident"]
    assert about["kind"] == "gas_pipe" and about["name"] in page.locator(".m-facts").inner_text()
    body = page.locator("#case-body").inner_text()
    assert "null" not in body and "undefined" not in body  # no photos: nothing left over
    assert card.locator(".m-step").count() == len(steps)

    # Step 1 online, step 2 offline (waits in the outbox, sent once back online).
    card.locator(".m-step[data-step='1'] button").click()
    card.locator(".m-step[data-step='1'][data-state='done']").wait_for()
    ctx.set_offline(True)
    page.wait_for_selector("#m-net[data-state='offline']")
    card.locator(".m-step[data-step='2'] button").click()
    card.locator(".m-step[data-step='2'][data-state='queued']").wait_for()
    ctx.set_offline(False)
    card.locator(".m-step[data-step='2'][data-state='done']").wait_for()
    done = server.call("leader", "GET", f"/api/v1/cases/{case_id}")["lifeline"]["plan"]["steps"]
    assert [s["done_by"] for s in done[:2]] == [handler, handler]
    assert all(s["done_at"] is None for s in done[2:])

    # 处置完成 with steps open: they are listed, and a reason is asked for and kept.
    assert page.locator("#plan-open").get_attribute("data-open") == str(len(steps) - 2)
    page.click("#case-actions button[data-action='complete']")
    page.locator("#a-plan-open").wait_for()
    assert page.locator("#a-plan-open li").count() == len(steps) - 2
    page.fill("#a-note", "泄漏点已封堵，浓度回落")
    page.click("#a-submit")
    error = page.locator(".m-action-form .form-error").inner_text()
    assert error == "请先完成预案步骤，或填写未完成的原因"
    reason = "疏散与交通管制由公安现场负责"
    page.fill("#a-plan-note", reason)
    page.click("#a-submit")
    page.wait_for_url("**/m#tasks")

    def completed() -> bool:
        """the case is 处置完成"""
        return bool(server.call("leader", "GET", f"/api/v1/cases/{case_id}")["state"] == "handled")

    wait_until(completed)
    timeline = server.call("leader", "GET", f"/api/v1/cases/{case_id}")["timeline"]
    [event] = [e for e in timeline if e["action"] == "complete"]
    assert event["data"]["plan_note"] == reason
    page.click("[data-tab='outbox']")
    assert "null" not in page.locator("#outbox-body").inner_text()
    assert console.errors == []
    ctx.close()
