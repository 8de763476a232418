"""The console's queues that the list API filters: 延期审批 and 回退待派 for the shift leader,
督办 for the commander — each read with one request per refresh, no case detail."""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser.conftest import Console, open_console
from tests.browser.server import LiveServer
from tests.browser.test_console import _opened

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]


def _dispatched(server: LiveServer, source: str) -> tuple[int, str]:
    case_id = _opened(server, source)
    server.call("dispatcher", "POST", f"/api/v1/cases/{case_id}/actions/dispatch", json={})
    return case_id, server.handler_for(case_id)


def _queue(page: Any, tab: str) -> tuple[Any, list[str]]:
    """Open a queue tab; the case list requests it made (and no case detail)."""
    lists: list[str] = []
    page.on("request", lambda r: "/api/v1/cases" in r.url and lists.append(r.url))
    page.evaluate(f"location.hash = '#/queue/{tab}?sort=newest'")
    page.wait_for_selector(f".queue[data-queue='{tab}'][data-loaded]", state="attached")
    return page.locator(".c-table"), lists


@pytest.mark.parametrize(
    ("user", "tab", "flag"),
    [("leader", "extension", "extension_pending=true"), ("leader", "returned", "returned=true"),
     ("commander", "supervised", "supervised=true")],
)  # fmt: skip
def test_a_filtered_queue_shows_its_cases_from_one_list_request(
    context: Any, live_server: LiveServer, console: Console, user: str, tab: str, flag: str
) -> None:
    case_id, handler = _dispatched(live_server, f"console-queue-{tab}")
    act = f"/api/v1/cases/{case_id}/actions"
    if tab == "extension":
        body = {"note": "需协调占道审批", "extension": "2wd"}
        live_server.call(handler, "POST", f"{act}/request_extension", json=body)
    elif tab == "returned":
        live_server.call(handler, "POST", f"{act}/return", json={"note": "不属于本单位"})
    else:
        live_server.call("commander", "POST", f"{act}/supervise", json={"note": "请加快处置"})
    page = open_console(context, live_server, console, user, "#/queue")
    table, requests = _queue(page, tab)
    table.locator(f"tr[data-id='{case_id}']").wait_for()
    count = page.locator(f".tab[data-tab='{tab}'] .count")
    page.wait_for_function("el => el.dataset.count !== ''", arg=count.element_handle())
    assert int(count.get_attribute("data-count") or 0) >= 1
    assert any(flag in url for url in requests)
    assert not [u for u in requests if "/api/v1/cases/" in u]  # no per-case detail reads
    assert console.errors == []
