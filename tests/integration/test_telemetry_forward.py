"""HTTP forwarding (CITYOPS_TELEMETRY_HTTP_FORWARD) against the real Mosquitto at
127.0.0.1:1883: an API that checks what is posted to it and hands the good points to the
`cityops mqtt` worker through the broker, so one engine — the worker's — sees every reading.

Two Apps on one SQLite file stand for the two processes; each test has its own topic prefix
and client ids (sessions expire a minute after the test)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError
from sqlalchemy import func, select

from cityops.adapters.db.alarm_models import AlarmRow
from cityops.adapters.db.lifeline_models import DeadLetterRow, ReadingRow
from cityops.adapters.mqtt import mqtt_config
from cityops.bootstrap import App, bootstrap
from cityops.config import Settings
from cityops.entrypoints.api.app import create_api
from cityops.entrypoints.lifeline_workers import (
    lifeline_services,
    start_consumer,
    stop_consumer,
)
from cityops.service.telemetry import telemetry
from tests.conftest import Clock, require_mosquitto
from tests.helpers import Api, alarm_engine, free_port, wait_until

HOST, PORT = "127.0.0.1", 1883
WELL = "SJ-CH4-0001"  # methane in a well, %{LEL}: 红 at 25 (a second high reading confirms)
READINGS = "/api/v1/telemetry/readings"
SENML = {"Content-Type": "application/senml+json"}


def _forwarding(app: App, url: str = f"mqtt://{HOST}:{PORT}") -> None:
    """Make ``app`` an API in forward mode on its own topic prefix (ticking would be asked
    for: it must not happen)."""
    tag = uuid.uuid4().hex[:10]
    app.settings = app.settings.model_copy(update={
        "mqtt_url": url, "mqtt_topic_prefix": f"cityops-test/{tag}/telemetry",
        "mqtt_client_id": f"cityops-test-{tag}", "mqtt_session_expiry_s": 60,
        "telemetry_http_forward": True, "lifeline_tick": True,
    })  # fmt: skip


@pytest.fixture
def api(sqlite_app: App) -> App:
    require_mosquitto()
    _forwarding(sqlite_app)
    return sqlite_app


@pytest.fixture
def mqtt_worker(api: App, clock: Clock) -> Iterator[App]:
    """The `cityops mqtt` worker on the API's database, consuming the API's prefix."""
    worker = bootstrap(api.settings, clock=clock)
    telemetry(worker).as_mqtt_worker()
    consumer = start_consumer(worker, mqtt_config(worker.settings))
    assert consumer.subscribed.wait(10), consumer.stats.errors
    yield worker
    stop_consumer(worker, consumer)
    telemetry(worker).close()
    worker.dispose()


def _gateway(app: App) -> dict[str, str]:
    key = Api(app).post("admin", "/api/v1/telemetry/gateways",
                        json={"code": "gw-well", "name": "井下网关"})  # fmt: skip
    assert key.status_code == 201, key.text
    return {"X-API-Key": key.json()["key"], **SENML}


def _ch4(app: App, value: float) -> bytes:
    now = app.clock().timestamp()
    return orjson.dumps([{"bn": f"{WELL}:", "n": "ch4", "u": "%LEL", "v": value, "t": now}])


def _count(app: App, row: Any) -> int:
    with app.reads() as s:
        return s.scalar(select(func.count()).select_from(row)) or 0


def _dead_letters(app: App) -> list[DeadLetterRow]:
    with app.reads() as s:
        return list(s.scalars(select(DeadLetterRow).order_by(DeadLetterRow.id)))


def test_readings_posted_to_the_api_are_ingested_and_judged_by_the_worker(
    api: App, mqtt_worker: App, clock: Clock
) -> None:
    headers, stored = _gateway(api), _count(api, ReadingRow)
    with TestClient(create_api(api)) as client:  # the lifespan runs: forward mode, no tick
        for v in (1.0, 1.2, 0.9, 1.1, 1.0, 1.3, 1.1, 1.0, 30.0, 31.0):  # background, then gas
            r = client.post(READINGS, content=_ch4(api, v), headers=headers)
            assert r.status_code == 202, r.text
            assert r.json()["forwarded"] == 1 and r.json()["duplicates"] is None
            clock.advance(minutes=5)
        wait_until(lambda: _count(api, AlarmRow) == 1)
        assert _count(api, ReadingRow) == stored + 10
        with api.reads() as s:
            alarm = s.scalars(select(AlarmRow)).one()
        assert (alarm.alarm_type, alarm.level, alarm.facts["device"]) == ("gas_leak", 4, WELL)
        # The API's engine saw nothing and never ticked, though CITYOPS_LIFELINE_TICK=true.
        engine = alarm_engine(api)
        assert engine.points == 0 and engine._ticker is None
        assert telemetry(api)._pipeline is None
        assert alarm_engine(mqtt_worker).points == 10


def test_bad_parts_are_dead_lettered_once_by_the_api_and_the_rest_forwarded(
    api: App, mqtt_worker: App, clock: Clock
) -> None:
    headers, stored = _gateway(api), _count(api, ReadingRow)
    now = api.clock().timestamp()
    batch = {"messages": [
        [{"bn": f"{WELL}:", "n": "ch4", "u": "%LEL", "v": 1.0, "t": now},
         {"n": "bogus", "v": 1, "t": now}, {"n": "ch4", "u": "MPa", "v": 1, "t": now}],
        [{"bn": "GHOST-1:", "n": "ch4", "v": 1.0, "t": now}],
        [{"n": 5, "v": 1.0}],
    ]}  # fmt: skip
    with TestClient(create_api(api)) as client:
        r = client.post(READINGS, params={"batch": "true"}, content=orjson.dumps(batch),
                        headers=headers)  # fmt: skip
        assert r.status_code == 202, r.text
        body = r.json()
        assert (body["forwarded"], body["rejected"], body["dead_letters"]) == (1, 3, 3)
        assert [m["reason"] for m in body["messages"]] == [
            "unknown_metric", "unknown_device", "malformed_senml"]  # fmt: skip
        assert [m["forwarded"] for m in body["messages"]] == [1, 0, 0]
        # Nothing usable at all: 422 as without forwarding, and the dead letter kept.
        ghost = client.post(READINGS, content=orjson.dumps(batch["messages"][1]),
                            headers=headers)  # fmt: skip
        assert ghost.status_code == 422
        assert ghost.json()["error"]["details"]["dead_letters"] == 1
    wait_until(lambda: _count(api, ReadingRow) == stored + 1)
    telemetry(mqtt_worker).pipeline().drain()
    letters = _dead_letters(api)
    assert [(d.reason, d.source) for d in letters] == [
        ("unknown_metric", "http:gw-well"), ("unknown_device", "http:gw-well"),
        ("malformed_senml", "http:gw-well"), ("unknown_device", "http:gw-well")]  # fmt: skip
    assert letters[0].points_rejected == 2 and letters[0].message.count("record") == 2
    assert letters[0].id == body["messages"][0]["dead_letter_id"]


def test_a_broker_that_does_not_take_them_answers_503_and_nothing_is_written(
    api: App, clock: Clock
) -> None:
    headers = _gateway(api)
    stored, letters = _count(api, ReadingRow), _count(api, DeadLetterRow)
    now = api.clock().timestamp()
    batch = orjson.dumps({"messages": [
        [{"bn": f"{WELL}:", "n": "ch4", "u": "%LEL", "v": 1.0, "t": now}],
        [{"bn": "GHOST-1:", "n": "ch4", "v": 1.0, "t": now}]]})  # fmt: skip
    # Broker up, but no worker's session subscribes the prefix: nobody would get them.
    with TestClient(create_api(api)) as client:
        r = client.post(READINGS, params={"batch": "true"}, content=batch, headers=headers)
    assert r.status_code == 503, r.text
    assert r.json()["error"]["code"] == "telemetry_forward_unavailable"
    assert "No matching subscribers" in r.json()["error"]["message"]
    # No broker at all.
    _forwarding(api, f"mqtt://127.0.0.1:{free_port()}")
    with TestClient(create_api(api)) as client:
        r = client.post(READINGS, params={"batch": "true"}, content=batch, headers=headers)
    assert r.status_code == 503 and r.headers["Retry-After"] == "5"
    assert r.json()["error"]["details"] == {"retry_after": 5}
    assert (_count(api, ReadingRow), _count(api, DeadLetterRow)) == (stored, letters)


def test_serve_in_forward_mode_starts_no_consumer(api: App) -> None:
    with lifeline_services(api, simulate=False):
        assert telemetry(api)._pipeline is None


def test_forwarding_without_a_broker_is_refused_at_start_up() -> None:
    with pytest.raises(ValidationError, match="needs CITYOPS_MQTT_URL"):
        Settings(telemetry_http_forward=True, mqtt_url=None)
    assert Settings(telemetry_http_forward=True, mqtt_url="mqtt://b:1883").telemetry_http_forward


def test_a_replayed_dead_letter_is_forwarded_to_the_worker_too(
    api: App, mqtt_worker: App
) -> None:
    """Bare metric names and no ?device=: a dead letter; replayed naming the device, its
    point goes to the worker's engine like any posted reading, not to the API's."""
    headers, stored = _gateway(api), _count(api, ReadingRow)
    bare = orjson.dumps([{"n": "ch4", "u": "%LEL", "v": 1.0, "t": api.clock().timestamp()}])
    with TestClient(create_api(api)) as client:
        r = client.post(READINGS, content=bare, headers=headers)
        assert r.status_code == 422, r.text
        letter = r.json()["error"]["details"]["messages"][0]["dead_letter_id"]
        replayed = Api(api).post("admin", f"/api/v1/telemetry/dead-letters/{letter}/replay",
                                 json={"device": WELL})  # fmt: skip
    assert replayed.status_code == 200, replayed.text
    assert replayed.json()["accepted"] == 1 and replayed.json()["resolved"] == [letter]
    assert "forwarded to the ingesting worker" in replayed.json()["note"]
    wait_until(lambda: _count(api, ReadingRow) == stored + 1)
    wait_until(lambda: alarm_engine(mqtt_worker).points == 1)  # judged after the commit
    assert alarm_engine(api).points == 0


def test_posts_while_the_worker_restarts_wait_in_its_session(api: App, clock: Clock) -> None:
    """The broker counts the worker's persistent session as a subscriber while it is away:
    posts are taken (202) and stored when the worker is back, none lost."""
    headers, stored = _gateway(api), _count(api, ReadingRow)
    worker = bootstrap(api.settings, clock=clock)
    consumer = start_consumer(worker, mqtt_config(worker.settings))
    assert consumer.subscribed.wait(10), consumer.stats.errors
    stop_consumer(worker, consumer)  # away: the session stays (expiry 60 s)
    with TestClient(create_api(api)) as client:
        for v in (1.0, 1.1, 0.9):
            r = client.post(READINGS, content=_ch4(api, v), headers=headers)
            assert r.status_code == 202, r.text
            clock.advance(minutes=5)
    assert _count(api, ReadingRow) == stored  # nobody ingests meanwhile
    consumer = start_consumer(worker, mqtt_config(worker.settings))
    try:
        wait_until(lambda: _count(api, ReadingRow) == stored + 3)
    finally:
        stop_consumer(worker, consumer)
        telemetry(worker).close()
        worker.dispose()
