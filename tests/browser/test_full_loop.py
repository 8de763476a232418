"""The whole loop through the screens: a citizen reports on /citizen → 受理 (console) → 核实
(inspector on /m) → 立案 (console) → 派遣 (console) → 签收 and 处置完成 with a photo (handler on
/m) → 核查 (inspector on /m) → 结案 (console) → the citizen follows the case and rates it.

Every step is a click in the page of the person who takes it, each in a browser context of its
own; the API is only read, to know the case's id, its handler and that each step landed.
Writes docs/screenshots/mobile-handle.png (the handler's 处置完成 form with its result photo).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from cityops.adapters.db.models import CaseEventRow
from tests.browser.conftest import VIEWPORT, Console, signed_in
from tests.browser.server import LiveServer, city_context, doc_shot
from tests.browser.test_citizen import PHONE, Phone, case_id, open_portal, phone
from tests.browser.test_mobile import photo as camera_photo
from tests.helpers import STREET_A, point_in
from tests.photos import photo

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]
__all__ = ["phone"]  # the fixture, imported so that pytest finds it here
INSPECTOR = "inspector01"  # the grid inspector of STREET_A
Staff = Callable[[str, str], Any]  # (username, path) → a signed-in page


@pytest.fixture
def staff(browser: Any, live_server: LiveServer, console: Console) -> Iterator[Staff]:
    """A signed-in page per person: the console on a desktop, /m on a phone."""
    contexts: list[Any] = []

    def open_as(username: str, path: str) -> Any:
        on_phone = path.startswith("/m")
        ctx = city_context(browser, phone=on_phone, viewport=PHONE if on_phone else VIEWPORT)
        ctx.set_default_timeout(20_000)
        contexts.append(ctx)
        page = signed_in(ctx, live_server, username, console)
        page.goto(f"{live_server.url}{path}")
        return page

    yield open_as
    for ctx in contexts:
        ctx.close()


def read_case(server: LiveServer, cid: int) -> dict[str, Any]:
    return dict(server.call("leader", "GET", f"/api/v1/cases/{cid}"))


def console_queue(page: Any, tab: str, cid: int) -> Any:
    """The console's queue ``tab``, newest first, and the case's row in it."""
    page.evaluate(f"location.hash = '#/queue/{tab}?sort=newest'")
    page.wait_for_selector(f".queue[data-queue='{tab}'][data-loaded]", state="attached")
    row = page.locator(f".c-table tr[data-id='{cid}']")
    row.wait_for()
    return row


def quick(page: Any, row: Any, action: str) -> None:
    """One-click step from a queue row; the row leaves the queue once the API took it."""
    with page.expect_response(lambda r: f"/actions/{action}" in r.url and r.ok):
        row.locator(f"button[data-quick='{action}']").click()
    page.locator(".c-toast--ok").first.wait_for()
    row.wait_for(state="detached")


def mobile_step(page: Any, cid: int, kind: str, action: str, fill: Callable[[], None]) -> None:
    """On /m: the task of kind ``kind`` → its action form → confirm; the outbox sends it."""
    page.evaluate("location.hash = '#tasks'")
    page.locator("#m-refresh").click()
    task = page.locator(f".m-task[data-case='{cid}'][data-kind='{kind}']")
    task.click()
    page.locator(f"#case-actions button[data-action='{action}']").click()
    fill()
    with page.expect_response(lambda r: f"/actions/{action}" in r.url and r.ok):
        page.click("#a-submit")
    page.wait_for_url("**/m#tasks")


def test_citizen_report_to_rating_through_every_screen(
    phone: Phone, staff: Staff, live_server: LiveServer, console: Console, tmp_path: Path
) -> None:
    citizen = phone(point_in(STREET_A, seed=31337))

    # 1. The citizen reports on the portal: category, my location, a photo, words.
    open_portal(citizen, live_server)
    citizen.click(".cz-cat[data-code='E0102']")
    citizen.click("#use-location")
    citizen.locator("#pin-where", has_text="：").wait_for()
    citizen.wait_for_selector("#metoo h3, #metoo .cz-metoo__none")
    citizen.click("#to-step-3")
    before = tmp_path / "before.jpg"
    before.write_bytes(photo())
    citizen.set_input_files("#photo-input", str(before))
    citizen.wait_for_selector(".cz-photo img")
    citizen.fill("#description", f"全流程测试 {uuid.uuid4().hex[:6]}：绿地旁垃圾堆放多日")
    citizen.click("#submit")
    citizen.wait_for_selector("#step-done:not([hidden])")
    case_no, code = citizen.inner_text("#done-no"), citizen.inner_text("#done-code")
    cid = case_id(live_server, case_no)

    # 2. The acceptor takes it from 待受理 with one click.
    acceptor = staff("acceptor", "/console#/queue")
    acceptor.wait_for_selector("#console[data-ready='1']", state="attached")
    quick(acceptor, console_queue(acceptor, "reported", cid), "accept")
    assert read_case(live_server, cid)["state"] == "accepted"

    # 3. The grid inspector verifies it on the spot, on the phone.
    inspector = staff(INSPECTOR, "/m#tasks")
    inspector.wait_for_selector("#m-app[data-ready='1']")
    mobile_step(inspector, cid, "verify", "verify", lambda: None)
    assert read_case(live_server, cid)["state"] == "verified"

    # 4. The acceptor opens the case (立案) from its detail, through the action form.
    console_queue(acceptor, "verified", cid).click()
    acceptor.wait_for_selector(f".case[data-case-id='{cid}'][data-state='verified'] #action-bar")
    acceptor.locator("#action-bar button[data-action='open']").click()
    with acceptor.expect_response(lambda r: "/actions/open" in r.url and r.ok):
        acceptor.locator(".action-form[data-action='open'] button[type='submit']").click()
    acceptor.wait_for_selector(f".case[data-case-id='{cid}'][data-state='opened']")

    # 5. The dispatcher sends it to the department the responsibility list proposes.
    dispatcher = staff("dispatcher", "/console#/queue")
    dispatcher.wait_for_selector("#console[data-ready='1']", state="attached")
    row = console_queue(dispatcher, "toDispatch", cid)
    proposed = read_case(live_server, cid)["routing"]
    assert proposed["department_name"] in row.locator(".quick-dispatch").inner_text()
    quick(dispatcher, row, "dispatch")
    dispatched = read_case(live_server, cid)
    assert dispatched["state"] == "dispatched"
    assert dispatched["department_id"] == proposed["department_id"]

    # 6. The department's handler signs for it and reports it done with a photo, on the phone.
    handler = staff(live_server.handler_for(cid), "/m#tasks")
    handler.wait_for_selector("#m-app[data-ready='1']")
    mobile_step(handler, cid, "start", "start", lambda: None)
    after = camera_photo(tmp_path / "after.jpg", seed=3)

    def result() -> None:
        handler.fill("#a-note", "已清运并冲洗地面")
        handler.set_input_files("#a-photo", str(after))
        handler.wait_for_selector(".m-action-form .m-photo img")
        assert handler.locator("#case-actions").is_hidden()  # the form replaces the buttons
        handler.wait_for_selector("#m-toast.show", state="hidden")
        doc_shot(handler, "mobile-handle")

    mobile_step(handler, cid, "handle", "complete", result)
    assert read_case(live_server, cid)["state"] == "handled"

    # 7. The inspector checks the result on the spot.
    mobile_step(inspector, cid, "check", "check_pass", lambda: None)
    assert read_case(live_server, cid)["state"] == "checked"

    # 8. The acceptor closes it (结案) from 待结案.
    quick(acceptor, console_queue(acceptor, "checked", cid), "close")

    # 9. The citizen comes back with the tracking link, sees it closed and rates it.
    citizen.goto(f"{live_server.url}/citizen#track/{case_no}/{code}")
    citizen.wait_for_selector(".cz-rate__form")
    assert "处理完成" in citizen.inner_text(".cz-timeline")
    citizen.click(".cz-star[data-n='5']")
    citizen.click("#rate-submit")
    citizen.wait_for_selector(".cz-thanks")

    with live_server.app.reads() as s:
        events = list(s.scalars(select(CaseEventRow).where(CaseEventRow.case_id == cid)
                                .order_by(CaseEventRow.seq)))  # fmt: skip
    steps = [(e.action, e.actor_role) for e in events if e.action != "overdue"]
    assert steps == [
        ("submit", "system"), ("accept", "acceptor"), ("verify", "inspector"),
        ("open", "acceptor"), ("dispatch", "dispatcher"), ("start", "handler"),
        ("complete", "handler"), ("check_pass", "inspector"), ("close", "acceptor"),
        ("rate", "acceptor"),
    ]  # fmt: skip
    done = next(e for e in events if e.action == "complete")
    assert done.note == "已清运并冲洗地面" and done.media and done.media[0].startswith("media://")
    assert events[-1].data["rating"] == 5 and events[-1].data["via"] == "citizen_portal"
    assert console.errors == []
