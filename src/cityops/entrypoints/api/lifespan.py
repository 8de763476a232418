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
        tel = None
        if app.settings.lifeline_alarms:
            from cityops.service.telemetry import telemetry

            tel = telemetry(app)
            tel.open_http()
        try:
            yield
        finally:
            if tel is not None:  # may join the tick and snapshot: off the event loop
                await asyncio.to_thread(tel.close_http)

    return run
