"""市民随手拍 (/citizen) on a phone: report with a photo, "me too", track, rate once."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from cityops.adapters.db.models import CaseRow
from tests.browser.conftest import Console
from tests.browser.server import LiveServer, city_context, doc_shot
from tests.helpers import STREET_A, STREET_B, point_in
from tests.photos import photo

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]
PHONE = {"width": 390, "height": 844}
Phone = Callable[[tuple[float, float, str]], Any]


@pytest.fixture
def phone(browser: Any, live_server: LiveServer, console: Console) -> Iterator[Phone]:
    """A phone-sized page with its location granted at a point of the demo city."""
    contexts: list[Any] = []

    def open_page(point: tuple[float, float, str]) -> Any:
        lon, lat, _ = point
        ctx = city_context(browser, phone=True, viewport=PHONE, permissions=["geolocation"],
                           geolocation={"latitude": lat, "longitude": lon})  # fmt: skip
        ctx.set_default_timeout(15_000)
        contexts.append(ctx)
        page = ctx.new_page()
        console.attach(page)
        return page

    yield open_page
    for ctx in contexts:
        ctx.close()


def portal_report(server: LiveServer, point: tuple[float, float, str], category: str,
                  description: str) -> dict[str, Any]:  # fmt: skip
    body = {"category": category, "description": description, "lon": point[0], "lat": point[1]}
    return dict(server.call(None, "POST", "/api/v1/portal/reports", json=body,
                            headers={"Idempotency-Key": uuid.uuid4().hex}))  # fmt: skip


def case_id(server: LiveServer, case_no: str) -> int:
    with server.app.reads() as s:
        found = s.scalar(select(CaseRow.id).where(CaseRow.case_no == case_no))
    assert found is not None
    return found


def staff_act(server: LiveServer, who: str, cid: int, action: str, **body: Any) -> dict[str, Any]:
    return dict(server.call(who, "POST", f"/api/v1/cases/{cid}/actions/{action}", json=body,
                            headers={"Idempotency-Key": uuid.uuid4().hex}))  # fmt: skip


def drive_to_closed(server: LiveServer, cid: int) -> None:
    for who, action in (("acceptor", "accept"), ("inspector01", "verify"),
                        ("acceptor", "open"), ("dispatcher", "dispatch")):  # fmt: skip
        staff_act(server, who, cid, action)
    handler = server.handler_for(cid)
    staff_act(server, handler, cid, "start")
    staff_act(server, handler, cid, "complete", note="已清理完毕")
    staff_act(server, "inspector01", cid, "check_pass")
    staff_act(server, "acceptor", cid, "close", note="已办结，感谢反映")


def open_portal(page: Any, server: LiveServer, hash_: str = "") -> None:
    page.goto(f"{server.url}/citizen{hash_}")
    page.wait_for_selector("body[data-ready='1']", state="attached")


def choose_category_and_locate(page: Any, category: str) -> None:
    page.click(f".cz-cat[data-code='{category}']")
    page.wait_for_selector("#step-2:not([hidden])")
    page.click("#use-location")
    page.locator("#pin-where", has_text="：").wait_for()
    page.wait_for_selector("#metoo h3, #metoo .cz-metoo__none")


def test_report_with_photo_gets_a_case_number_and_keeps_the_draft(
    phone: Phone, live_server: LiveServer, console: Console, tmp_path: Path
) -> None:
    page = phone(point_in(STREET_B, seed=4242))
    open_portal(page, live_server)
    groups = live_server.call(None, "GET", "/api/v1/portal/categories")
    name = next(i["name"] for g in groups for i in g["items"] if i["code"] == "E0103")
    page.fill("#cat-search", name)
    assert page.locator(".cz-cat").count() >= 1
    choose_category_and_locate(page, "E0103")
    page.click("#to-step-3")
    picture = tmp_path / "scene.jpg"
    picture.write_bytes(photo())
    page.set_input_files("#photo-input", str(picture))
    page.wait_for_selector(".cz-photo img")
    page.fill("#description", "人行道上堆放大量装修垃圾，行人只能走机动车道")
    page.fill("#phone", "13900001111")
    page.reload()  # the draft survives: step, photo, words
    page.wait_for_selector("body[data-ready='1']", state="attached")
    assert page.input_value("#description").startswith("人行道上堆放")
    assert page.locator(".cz-photo img").count() == 1
    page.click("#submit")
    page.wait_for_selector("#step-done:not([hidden])")
    case_no = page.inner_text("#done-no")
    code = page.inner_text("#done-code")
    assert case_no and len(code) == 12
    with live_server.app.reads() as s:
        case = s.scalars(select(CaseRow).where(CaseRow.case_no == case_no)).one()
        assert case.category == "E0103" and case.reporter_phone == "13900001111"
    page.click("#done-track")
    page.wait_for_selector(".cz-case")
    assert case_no in page.inner_text(".cz-case__no")
    assert "问题已反映" in page.inner_text(".cz-timeline")
    assert console.errors == []


def test_me_too_shows_the_open_case_nearby_and_joins_it(
    phone: Phone, live_server: LiveServer, console: Console
) -> None:
    point = point_in(STREET_A, seed=777)
    words = "小区东门垃圾桶满溢，垃圾散落一地"
    existing = portal_report(live_server, point, "E0102", words)
    page = phone(point)
    open_portal(page, live_server)
    choose_category_and_locate(page, "E0102")
    item = page.locator(f".cz-metoo__item[data-case-no='{existing['case_no']}']")
    item.wait_for()
    assert "附近已有" in page.inner_text("#metoo h3")
    doc_shot(page, "citizen-report", full_page=True)
    item.locator(".cz-join").click()
    page.wait_for_selector("#joining:not([hidden])")
    page.fill("#description", words)
    page.click("#submit")
    page.wait_for_selector("#step-done:not([hidden])")
    assert page.inner_text("#done-no") == existing["case_no"]
    assert "并入" in page.inner_text("#done-title")
    assert console.errors == []


def test_track_and_rate_exactly_once(
    phone: Phone, live_server: LiveServer, console: Console
) -> None:
    point = point_in(STREET_A, seed=9001)
    out = portal_report(live_server, point, "E0102", "公交站旁垃圾桶破损，垃圾外溢")
    no, code = out["case_no"], out["tracking_code"]
    page = phone(point)
    open_portal(page, live_server, "#track")
    page.fill("#track-no", no)
    page.click("#track-submit")  # the number alone: public steps, no rating
    page.wait_for_selector(".cz-case")
    assert "问题已反映" in page.inner_text(".cz-timeline")
    assert page.locator(".cz-rate").count() == 0
    drive_to_closed(live_server, case_id(live_server, no))
    open_portal(page, live_server, f"#track/{no}/{code}")
    page.wait_for_selector(".cz-rate__form")
    timeline = page.inner_text(".cz-timeline")
    assert "已办结" in timeline and "已派给承办单位" in timeline
    stale = phone(point)  # a second tab, opened before the first rating
    open_portal(stale, live_server, f"#track/{no}/{code}")
    stale.wait_for_selector(".cz-rate__form")
    page.click(".cz-star[data-n='4']")
    page.fill("#rate-comment", "处理及时，谢谢")
    page.click("#rate-submit")
    page.wait_for_selector(".cz-thanks")
    assert page.locator(".cz-rate span.cz-star.is-on").count() == 4
    doc_shot(page, "citizen-track", full_page=True)
    stale.click(".cz-star[data-n='1']")
    stale.click("#rate-submit")
    stale.locator("#rate-error", has_text="已评价").wait_for()
    with live_server.app.reads() as s:
        case = s.get(CaseRow, case_id(live_server, no))
        assert case is not None and case.rating == 4
    assert [e for e in console.errors if "409" not in e] == []
