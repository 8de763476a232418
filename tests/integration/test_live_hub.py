"""The live stream's hub: scoped delivery, a bounded queue per client, resuming after a gap."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

from cityops.bootstrap import App
from cityops.service.auth import principal_from_token
from cityops.service.bus import Event
from cityops.service.live import LiveClient, LiveHub
from cityops.service.principal import Principal
from tests.helpers import Api

WAIT = 10.0


def _who(api: Api, username: str) -> Principal:
    app: App = api.client.app.state.cityops  # type: ignore[attr-defined]
    return principal_from_token(app, api.token(username))


async def _next(client: LiveClient) -> dict[str, object]:
    message = await asyncio.wait_for(client.queue.get(), WAIT)
    assert message is not None
    return message.body


def _run(scenario: Callable[[], Coroutine[Any, Any, None]]) -> None:
    """asyncio.run in a thread of its own: Playwright (browser tests) may own this one's loop."""
    with ThreadPoolExecutor(1) as pool:
        pool.submit(lambda: asyncio.run(scenario())).result()


def _plain(hub: LiveHub, n: int) -> None:
    """n events about no case (seen by centre staff), delivered from another thread."""
    at = datetime.now(UTC)
    hub.deliver(hub.messages([Event("HistoryImported", at, {"created": i}) for i in range(n)]))


def test_case_events_reach_those_who_may_see_the_case(app: App) -> None:
    api = Api(app)
    hub = LiveHub(app)
    leader, citizen, handler = _who(api, "leader"), _who(api, "citizen"), _who(api, "handler-gas")

    async def scenario() -> None:
        watching = {name: hub.connect(p, None, 16)[0]
                    for name, p in (("leader", leader), ("citizen", citizen),
                                    ("handler", handler))}  # fmt: skip
        r = await asyncio.to_thread(api.citizen_report, "live-hub-1")  # a request's thread
        assert r.status_code == 201
        for name in ("leader", "citizen"):
            body = await _next(watching[name])
            assert body["name"] == "ReportSubmitted"
            case = body["case"]
            assert isinstance(case, dict) and case["case_no"] == r.json()["case_no"]
            assert not {"reporter_name", "reporter_phone"} & set(case)
        await asyncio.sleep(0.3)
        assert watching["handler"].queue.empty()  # not their department's case
        for client in watching.values():
            hub.disconnect(client)

    try:
        _run(scenario)
    finally:
        hub.stop()


def test_a_slow_client_is_dropped_not_buffered(app: App) -> None:
    api = Api(app)
    hub = LiveHub(app)

    async def scenario() -> None:
        client, _ = hub.connect(_who(api, "leader"), None, 8)
        await asyncio.to_thread(_plain, hub, 20)
        await asyncio.sleep(0.2)  # the offers run in this loop
        assert client.dropped
        assert client.queue.qsize() == 1 and client.queue.get_nowait() is None  # "reset"

    try:
        _run(scenario)
    finally:
        hub.stop()


def test_reconnecting_with_the_last_id_gets_what_was_missed_or_a_reset(app: App) -> None:
    api = Api(app)
    hub = LiveHub(app, backlog=5)
    leader = _who(api, "leader")

    async def scenario() -> None:
        client, reset = hub.connect(leader, None, 16)
        assert not reset
        await asyncio.to_thread(_plain, hub, 1)
        message = await asyncio.wait_for(client.queue.get(), WAIT)
        assert message is not None
        last = hub.message_id(message)
        hub.disconnect(client)

        await asyncio.to_thread(_plain, hub, 2)  # while it was away
        again, reset = hub.connect(leader, last, 16)
        assert not reset and again.queue.qsize() == 2
        hub.disconnect(again)

        await asyncio.to_thread(_plain, hub, 10)  # more than the hub keeps
        late, reset = hub.connect(leader, last, 16)
        assert reset and late.queue.empty()
        hub.disconnect(late)

        _, reset = hub.connect(leader, "0000-1", 16)  # another server's life
        assert reset

    try:
        _run(scenario)
    finally:
        hub.stop()
