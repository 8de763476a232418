"""Where the lifeline alarm tick runs (docs/lifeline.md "Where the tick runs"): in the
process whose engine sees the readings — with its pipeline, or in an API process from the
first reading posted to it — never in an API that only serves; and shutdown drains the
stream before the one rule-state snapshot."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient

from cityops.bootstrap import App
from cityops.entrypoints.api.app import create_api
from cityops.service.lifeline.engine import AlarmEngine
from cityops.service.telemetry import RawMessage, telemetry
from tests.conftest import Clock
from tests.helpers import Api, alarm_engine

WELL = "SJ-CH4-0001"  # methane in a well, %{LEL}


def _engine(app: App, **settings: Any) -> AlarmEngine:
    app.settings = app.settings.model_copy(update={"lifeline_tick_s": 0.05, **settings})
    return alarm_engine(app)


def _count_ticks(engine: AlarmEngine, monkeypatch: pytest.MonkeyPatch) -> threading.Event:
    ticked = threading.Event()
    tick: Callable[[], Any] = engine.tick

    def counted() -> Any:
        ticked.set()
        return tick()

    monkeypatch.setattr(engine, "tick", counted)
    return ticked


def _count_snapshots(engine: AlarmEngine, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The points the engine had seen at each rule-state snapshot."""
    seen: list[int] = []
    save = engine.save_state

    def counted() -> None:
        seen.append(engine.points)
        save()

    monkeypatch.setattr(engine, "save_state", counted)
    return seen


def _pack(app: App, value: float) -> bytes:
    now = app.clock().timestamp()
    return orjson.dumps([{"bn": f"{WELL}:", "n": "ch4", "u": "%LEL", "v": value, "t": now}])


def test_an_api_that_takes_no_readings_does_not_tick(
    sqlite_app: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = _engine(sqlite_app)
    saved = _count_snapshots(engine, monkeypatch)
    with TestClient(create_api(sqlite_app)) as client:  # beside a `cityops mqtt` worker
        assert client.get("/healthz").status_code == 200
        assert engine._ticker is None  # its state would be stale: false no-data, wrong clears
    telemetry(sqlite_app).close()
    assert saved == []  # nothing seen here, so no snapshot overwrites the worker's


def test_readings_posted_to_the_api_make_it_tick_and_its_shutdown_snapshots_once(
    sqlite_app: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = _engine(sqlite_app)
    ticked = _count_ticks(engine, monkeypatch)
    saved = _count_snapshots(engine, monkeypatch)
    headers = Api(sqlite_app).headers("admin", **{"Content-Type": "application/senml+json"})
    with TestClient(create_api(sqlite_app)) as client:
        assert engine._ticker is None
        r = client.post("/api/v1/telemetry/readings", content=_pack(sqlite_app, 1.0),
                        headers=headers)  # fmt: skip
        assert r.status_code == 200 and r.json()["accepted"] == 1, r.text
        assert ticked.wait(10), "the tick never ran"
        ticker = engine._ticker
        assert ticker is not None and ticker.is_alive()
    assert engine._ticker is None and not ticker.is_alive()  # joined on shutdown
    assert saved == [1]
    telemetry(sqlite_app).close()  # what `serve` does after the API stopped: nothing new
    assert saved == [1]


def test_with_a_pipeline_shutdown_drains_it_before_the_one_snapshot(
    sqlite_app: App, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = _engine(sqlite_app)
    saved = _count_snapshots(engine, monkeypatch)
    tel = telemetry(sqlite_app)
    pipeline = tel.pipeline()  # `serve --simulate` or with CITYOPS_MQTT_URL: this process ingests
    with TestClient(create_api(sqlite_app)) as client:
        assert client.get("/healthz").status_code == 200
        assert pipeline.submit(RawMessage("test", _pack(sqlite_app, 1.0), 0.0, "application/"
                                          "senml+json"))  # fmt: skip
    assert saved == []  # the API's end is not the stream's
    clock.advance(minutes=1)  # the consumer still holds a message when the API has stopped
    assert pipeline.submit(RawMessage("test", _pack(sqlite_app, 1.1), 0.0,
                                      "application/senml+json"))  # fmt: skip
    tel.close()  # stop taking → drain → snapshot once
    assert saved == [2]


def test_the_tick_starts_with_this_process_pipeline_and_outlives_the_api(
    sqlite_app: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = _engine(sqlite_app)
    ticked = _count_ticks(engine, monkeypatch)
    tel = telemetry(sqlite_app)
    tel.pipeline()  # `cityops mqtt`, or `serve` with a simulator or a broker
    ticker = engine._ticker
    assert ticker is not None and ticker.is_alive()
    assert ticked.wait(10), "the tick never ran"
    with TestClient(create_api(sqlite_app)) as client:
        assert client.get("/healthz").status_code == 200
    assert engine._ticker is ticker and ticker.is_alive()  # the pipeline still ingests
    tel.close()
    assert engine._ticker is None and not ticker.is_alive()


def test_no_tick_when_alarms_are_switched_off(sqlite_app: App) -> None:
    sqlite_app.settings = sqlite_app.settings.model_copy(update={"lifeline_alarms": False})
    with TestClient(create_api(sqlite_app)) as client:
        assert client.get("/healthz").status_code == 200
        assert telemetry(sqlite_app).alarms is None  # nothing to tick, nothing started


@pytest.mark.parametrize("forced", [True, False])
def test_cityops_lifeline_tick_overrides_where_the_readings_arrive(
    sqlite_app: App, forced: bool
) -> None:
    engine = _engine(sqlite_app, lifeline_tick=forced)
    headers = Api(sqlite_app).headers("admin", **{"Content-Type": "application/senml+json"})
    with TestClient(create_api(sqlite_app)) as client:
        assert (engine._ticker is not None) is forced  # true: from the start, before readings
        r = client.post("/api/v1/telemetry/readings", content=_pack(sqlite_app, 1.0),
                        headers=headers)  # fmt: skip
        assert r.status_code == 200, r.text
        assert (engine._ticker is not None) is forced  # false: not even with readings
    assert engine._ticker is None
