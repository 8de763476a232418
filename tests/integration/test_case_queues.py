"""The console's queue filters on GET /api/v1/cases: pending 延期, 回退 and 督办, each in one
request, on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest

from cityops.bootstrap import App
from tests.helpers import Api


def _dispatched(api: Api, source: str) -> tuple[int, str]:
    case_id = api.citizen_report(source).json()["case_id"]
    for who, action in [("acceptor", "accept"), ("inspector01", "verify"),
                        ("acceptor", "open"), ("dispatcher", "dispatch")]:  # fmt: skip
        r = api.act(who, case_id, action)
        assert r.status_code == 200, (action, r.text)
    return case_id, api.handler_for(case_id)


def _ok(r: Any) -> Any:
    assert r.status_code == 200, r.text
    return r.json()


def _ids(api: Api, who: str, **params: Any) -> set[int]:
    page = _ok(api.get(who, "/api/v1/cases", params={"limit": 500, **params}))
    assert page["total"] == len(page["items"])
    return {c["id"] for c in page["items"]}


def test_pending_extension_returned_and_supervised_filters(app: App) -> None:
    api = Api(app)
    waiting, handler = _dispatched(api, "queue-ext-waiting")
    _ok(api.act(handler, waiting, "request_extension", note="需协调", extension="2wd"))
    settled, handler = _dispatched(api, "queue-ext-settled")
    _ok(api.act(handler, settled, "request_extension", note="需协调", extension="1wd"))
    _ok(api.act("leader", settled, "approve_extension"))
    returned, handler = _dispatched(api, "queue-returned")
    _ok(api.act(handler, returned, "return", note="不属于本单位"))
    redone, handler = _dispatched(api, "queue-redispatched")
    _ok(api.act(handler, redone, "return", note="不属于本单位"))
    _ok(api.act("dispatcher", redone, "dispatch"))
    pressed, _ = _dispatched(api, "queue-supervised")
    _ok(api.act("commander", pressed, "supervise", note="请加快处置"))
    ours = {waiting, settled, returned, redone, pressed}

    assert _ids(api, "leader", extension_pending=True) & ours == {waiting}
    assert _ids(api, "leader", extension_pending=False) & ours == ours - {waiting}
    assert _ids(api, "leader", state="opened", returned=True) & ours == {returned}
    assert _ids(api, "leader", returned=False) & ours == ours - {returned}
    assert _ids(api, "commander", supervised=True) & ours == {pressed}
    assert _ids(api, "commander", supervised=False) & ours == ours - {pressed}
    # The filters combine with the others and with the caller's scope.
    assert _ids(api, "leader", extension_pending=True, state="handling") & ours == set()
    assert _ids(api, "inspector01", supervised=True) <= _ids(api, "inspector01")


@pytest.mark.parametrize("param", ["extension_pending", "returned", "supervised"])
def test_a_filter_that_is_no_boolean_is_refused(app: App, param: str) -> None:
    r = Api(app).get("leader", "/api/v1/cases", params={param: "maybe"})
    assert r.status_code == 422
    assert r.json()["error"]["code"]
