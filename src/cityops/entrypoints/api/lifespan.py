"""What runs beside the API while it serves: the lifeline alarm tick (no-data rules, coupled
windows, automatic clears and retries of unopened cases need it even when no reading comes)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

from fastapi import FastAPI

from cityops.bootstrap import App


def lifespan(app: App) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    @asynccontextmanager
    async def run(_: FastAPI) -> AsyncIterator[None]:
        engine = None
        if app.settings.lifeline_alarms:
            from cityops.service.telemetry import telemetry

            engine = telemetry(app).alarms
        if engine is not None:
            engine.start_ticker()
        try:
            yield
        finally:
            if engine is not None:  # stop the tick (joins it) and snapshot the rule state
                await asyncio.to_thread(engine.close)

    return run
