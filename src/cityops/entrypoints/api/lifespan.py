"""What the API's lifespan does for telemetry: it marks when this process takes readings over
HTTP, which is what decides whether the lifeline alarm tick (no-data rules, coupled windows,
automatic clears, retries of unopened cases) runs here.

The tick runs in the process whose engine sees the readings, once per deployment
(docs/lifeline.md "Where the tick runs"): an API beside a pipeline of its own (``serve
--simulate``, ``serve`` with CITYOPS_MQTT_URL) ticks with that pipeline; with an ingest
child, the child ticks; an API without either ticks from the first reading posted to it
(POST /api/v1/telemetry/readings) — one that takes none, beside a ``cityops mqtt`` worker,
never does. On the way out the API stops the tick only when HTTP was its whole stream;
otherwise ``serve`` stops its transports, drains the pipeline and snapshots once after.

With CITYOPS_TELEMETRY_HTTP_FORWARD the API ingests nothing — it hands what is posted to it
to the ``cityops mqtt`` worker through the broker — so it never ticks (whatever
CITYOPS_LIFELINE_TICK says) and on the way out only closes its connection to the broker.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

from fastapi import FastAPI

from cityops.bootstrap import App


def lifespan(app: App) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    @asynccontextmanager
    async def run(_: FastAPI) -> AsyncIterator[None]:
        from cityops.service.telemetry import telemetry

        tel, forward = None, app.settings.telemetry_http_forward
        if app.settings.lifeline_alarms and not forward:
            tel = telemetry(app)
            tel.open_http()
        try:
            yield
        finally:
            if tel is not None:  # may join the tick and snapshot: off the event loop
                await asyncio.to_thread(tel.close_http)
            if forward:  # the connection made by the first forwarded request, if any
                await asyncio.to_thread(telemetry(app).close_forwarder)

    return run
