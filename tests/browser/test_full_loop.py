"""The whole loop: a citizen reports → 受理 → 核实 → 立案 → 派遣 → 处置 (with a photo) → 核查 → 结案
→ the citizen rates it.

The citizen's steps drive the portal (/citizen) in a phone-sized browser. The staff steps go
through the API for now (the Api-style calls below, with the demo users' tokens).
TODO: when the console (/console) and the mobile app for inspectors and handlers land, move
the staff steps onto those pages: accept/open/dispatch/close in the console, verify/check in
the inspector's app, start/complete with the photo in the handler's app.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from cityops.adapters.db.models import CaseEventRow
from tests.browser.conftest import Console
from tests.browser.server import LiveServer
from tests.browser.test_citizen import Phone, case_id, handler_for, open_portal, phone, staff_act
from tests.helpers import STREET_A, point_in
from tests.photos import photo

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]
__all__ = ["phone"]  # the fixture, imported so that pytest finds it here


def upload(server: LiveServer, who: str) -> str:
    r = httpx.post(f"{server.url}/api/v1/media",
                   files={"file": ("done.jpg", photo(size=(800, 600)), "image/jpeg")},
                   headers={"Authorization": f"Bearer {server.token(who)}"})  # fmt: skip
    assert r.status_code == 201, r.text
    return str(r.json()[0]["ref"])


def test_citizen_report_to_rating(
    phone: Phone, live_server: LiveServer, console: Console, tmp_path: Path
) -> None:
    point = point_in(STREET_A, seed=31337)
    page = phone(point)

    # 1. The citizen reports on the portal: category, my location, a photo, words.
    open_portal(page, live_server)
    page.click(".cz-cat[data-code='E0102']")
    page.click("#use-location")
    page.locator("#pin-where", has_text="：").wait_for()
    page.wait_for_selector("#metoo h3, #metoo .cz-metoo__none")
    page.click("#to-step-3")
    picture = tmp_path / "before.jpg"
    picture.write_bytes(photo())
    page.set_input_files("#photo-input", str(picture))
    page.wait_for_selector(".cz-photo img")
    page.fill("#description", f"全流程测试 {uuid.uuid4().hex[:6]}：绿地旁垃圾堆放多日")
    page.click("#submit")
    page.wait_for_selector("#step-done:not([hidden])")
    case_no, code = page.inner_text("#done-no"), page.inner_text("#done-code")
    cid = case_id(live_server, case_no)

    # 2. Staff steps through the API (→ console / mobile pages once they exist).
    staff_act(live_server, "acceptor", cid, "accept")
    staff_act(live_server, "inspector01", cid, "verify")
    staff_act(live_server, "acceptor", cid, "open")
    staff_act(live_server, "dispatcher", cid, "dispatch")
    handler = handler_for(live_server, cid)
    staff_act(live_server, handler, cid, "start")
    staff_act(live_server, handler, cid, "complete", note="已清运并冲洗地面",
              media=[upload(live_server, handler)])  # fmt: skip
    staff_act(live_server, "inspector01", cid, "check_pass")
    staff_act(live_server, "acceptor", cid, "close")

    # 3. The citizen follows the case and rates it.
    page.click("#done-track")
    page.wait_for_selector(".cz-rate__form")
    assert "处理完成" in page.inner_text(".cz-timeline")
    page.click(".cz-star[data-n='5']")
    page.click("#rate-submit")
    page.wait_for_selector(".cz-thanks")

    events: list[Any]
    with live_server.app.reads() as s:
        events = list(s.scalars(select(CaseEventRow).where(CaseEventRow.case_id == cid)
                                .order_by(CaseEventRow.seq)))  # fmt: skip
    actions = [e.action for e in events]
    assert actions[-1] == "rate" and events[-1].data["rating"] == 5
    assert actions.index("close") < actions.index("rate")
    assert next(e for e in events if e.action == "complete").media
    assert code and console.errors == []
