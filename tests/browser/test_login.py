"""The login shared by the staff screens."""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser.conftest import Console
from tests.browser.server import LiveServer

# One worker runs them all, so the session has one server and one browser (make test).
pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]


def test_a_staff_screen_sends_a_stranger_to_login_and_back(
    context: Any, live_server: LiveServer, console: Console
) -> None:
    page = context.new_page()
    console.attach(page)
    page.goto(f"{live_server.url}/screen")
    page.wait_for_url("**/login?next=%2Fscreen")
    page.fill("#username", "commander")
    page.fill("#password", "wrong-password")
    page.click("#login-submit")
    page.locator("#login-error").filter(has_text="密码").wait_for()
    page.fill("#password", "cityops-demo")
    page.click("#login-submit")
    page.wait_for_url("**/screen")
    page.wait_for_selector("#screen[data-ready='1']", state="attached")
    # a failed login is a 401 the page expected; nothing else may have gone wrong
    assert [e for e in console.errors if "401" not in e] == []


def test_an_expired_session_signs_in_again_without_leaving_the_page(
    context: Any, live_server: LiveServer, console: Console
) -> None:
    # A token the server refuses, as after it expired (set once: the re-login replaces it).
    context.add_init_script(
        "if (!sessionStorage.getItem('seeded')) {"
        " sessionStorage.setItem('seeded', '1');"
        " localStorage.setItem('cityops.token', 'expired');"
        " localStorage.setItem('cityops.user', JSON.stringify({username: 'commander'})); }"
    )
    page = context.new_page()
    console.attach(page)
    page.goto(f"{live_server.url}/screen")
    page.evaluate("window.__sameDocument = true")
    dialog = page.locator("dialog.dialog[open]")
    dialog.wait_for()
    assert dialog.locator("input[name=username]").input_value() == "commander"
    dialog.locator("input[name=password]").fill("cityops-demo")
    dialog.get_by_role("button", name="登录").click()
    page.wait_for_selector("#screen[data-ready='1']", state="attached")
    assert page.evaluate("window.__sameDocument") is True  # the same page, retried in place
    assert page.locator("dialog.dialog[open]").count() == 0
    assert [e for e in console.errors if "401" not in e] == []
