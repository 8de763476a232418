"""The API's lifespan runs the lifeline alarm tick while it serves and stops it on shutdown."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from cityops.bootstrap import App
from cityops.entrypoints.api.app import create_api
from cityops.service.telemetry import telemetry


def test_the_alarm_tick_runs_while_serving_and_stops_after(
    sqlite_app: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    sqlite_app.settings = sqlite_app.settings.model_copy(update={"lifeline_tick_s": 0.05})
    engine = telemetry(sqlite_app).alarms
    assert engine is not None
    ticked = threading.Event()
    tick: Callable[[], Any] = engine.tick

    def counted() -> Any:
        ticked.set()
        return tick()

    monkeypatch.setattr(engine, "tick", counted)
    saved: list[bool] = []
    save = engine.save_state
    monkeypatch.setattr(engine, "save_state", lambda: saved.append(True) or save())
    with TestClient(create_api(sqlite_app)) as client:
        assert client.get("/healthz").status_code == 200
        assert ticked.wait(10), "the tick never ran"
        ticker = engine._ticker
        assert ticker is not None and ticker.is_alive()
    assert engine._ticker is None and not ticker.is_alive()  # joined on shutdown
    assert saved  # the rule state was snapshotted on the way out


def test_no_tick_when_alarms_are_switched_off(sqlite_app: App) -> None:
    sqlite_app.settings = sqlite_app.settings.model_copy(update={"lifeline_alarms": False})
    with TestClient(create_api(sqlite_app)) as client:
        assert client.get("/healthz").status_code == 200
        assert telemetry(sqlite_app).alarms is None  # nothing to tick, nothing started
