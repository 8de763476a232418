"""实时推送: Server-Sent Events from the bus, scoped to the caller, with heartbeats.

Clients read it with ``fetch`` and the usual bearer header (static/js/live.js) rather than
``EventSource``, so no token ever travels in a URL or lands in an access log.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Header, Request
from fastapi.responses import StreamingResponse

from cityops.domain.errors import Forbidden
from cityops.entrypoints.api.deps import AppDep, PrincipalDep
from cityops.service.live import LiveClient, LiveHub

router = APIRouter(prefix="/api/v1/live", tags=["live 实时"])
RETRY_MS = 3000


def hub_of(request: Request) -> LiveHub:
    hub: LiveHub = request.app.state.live_hub
    return hub


def _frame(data: object, event: str | None = None, id_: str | None = None) -> str:
    head = (f"event: {event}\n" if event else "") + (f"id: {id_}\n" if id_ else "")
    return f"{head}data: {json.dumps(data, ensure_ascii=False, separators=(',', ':'))}\n\n"


@router.get("/stream", response_class=StreamingResponse)
async def stream(
    request: Request,
    app: AppDep,
    who: PrincipalDep,
    last_event_id: Annotated[str | None, Header(max_length=64)] = None,
) -> StreamingResponse:
    """Case events as they happen (``text/event-stream``): each ``data`` is
    ``{name, at, payload, case}``; ``event: reset`` means "refetch, you missed some";
    ``event: bye`` ends a stream after its lifetime (reconnect with ``Last-Event-ID``)."""
    if who.user_id is None:
        raise Forbidden("the live stream is for signed-in users / 实时推送仅限登录用户")
    hub, s = hub_of(request), app.settings
    client, reset = hub.connect(who, last_event_id, s.live_queue_size)
    body = _events(request, hub, client, reset, s.live_heartbeat_seconds, s.live_stream_seconds)
    headers = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
    return StreamingResponse(body, media_type="text/event-stream", headers=headers)


async def _events(
    request: Request, hub: LiveHub, client: LiveClient, reset: bool,
    heartbeat: float, lifetime: float,
) -> AsyncIterator[str]:  # fmt: skip
    loop = asyncio.get_running_loop()
    ends = loop.time() + lifetime
    try:
        yield f"retry: {RETRY_MS}\n" + _frame({"epoch": hub.epoch}, "hello")
        if reset:
            yield _frame({"reason": "missed"}, "reset")
        while not await request.is_disconnected():
            left = ends - loop.time()
            if left <= 0:
                yield _frame({}, "bye")
                return
            try:
                message = await asyncio.wait_for(client.queue.get(), min(heartbeat, left))
            except TimeoutError:
                yield ": ping\n\n"
                continue
            if message is None:  # fell too far behind: start over rather than buffer
                yield _frame({"reason": "slow"}, "reset")
                return
            yield _frame(message.body, id_=hub.message_id(message))
    finally:
        hub.disconnect(client)
