"""Rule-state snapshots have owners (docs/lifeline.md "Rules"): an API that took one reading
over HTTP beside a `cityops mqtt` worker snapshots on its way out, after the worker — and the
restarted worker still gets its own state back (a duration rule's counter), not the API's;
a worker without a snapshot of its own starts from the newest of any; pruning keeps the last
few per owner. Two Apps on one database stand for the two processes."""

from __future__ import annotations

from datetime import timedelta

import orjson
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from cityops.adapters.db.alarm_models import AlarmRow, RuleStateRow
from cityops.bootstrap import App, bootstrap
from cityops.entrypoints.api.app import create_api
from cityops.service.lifeline.engine import KEEP_SNAPSHOTS
from cityops.service.telemetry import telemetry
from tests.conftest import Clock
from tests.helpers import Api, alarm_engine, send_reading

GAS = "SJ-GPT-0001"  # gas pipe pressure, MPa: under 0.18 held 120 s is 黄 (gas-pressure-low)
WELL = "SJ-CH4-0001"  # methane in a well, %{LEL}
WATER = "SJ-WP-0001"  # a water main's pressure, MPa (about 0.35)
WORKER = "mqtt:cityops-ingest"  # the default CITYOPS_MQTT_CLIENT_ID


def _pack(app: App, device: str, metric: str, value: float, unit: str) -> bytes:
    now = app.clock().timestamp()
    return orjson.dumps([{"bn": f"{device}:", "n": metric, "u": unit, "v": value, "t": now}])


def _low(app: App) -> None:
    """The pipe under pressure (0.16 MPa: 黄 once held 120 s)."""
    send_reading(app, GAS, "pressure", 0.16, "MPa")


def _under_pressure(app: App) -> list[int]:
    with app.reads() as s:
        return list(s.scalars(select(AlarmRow.level)
                              .where(AlarmRow.alarm_type == "gas_pressure_low")))  # fmt: skip


def _owners(app: App) -> list[str]:
    with app.reads() as s:
        return list(s.scalars(select(RuleStateRow.taken_by).order_by(RuleStateRow.id)))


def test_a_restarted_worker_restores_its_own_state_not_the_apis_newer_one(
    app: App, worker: App, clock: Clock
) -> None:
    headers = Api(app).headers("admin", **{"Content-Type": "application/senml+json"})
    with TestClient(create_api(app)) as client:  # the API serves beside the worker …
        r = client.post("/api/v1/telemetry/readings", headers=headers,
                        content=_pack(app, WELL, "ch4", 1.0, "%LEL"))  # fmt: skip
        assert r.status_code == 200 and r.json()["accepted"] == 1, r.text
        _low(worker)  # … which ingests the stream: the pipe is low, 60 s of the 120 held
        clock.advance(minutes=1)
        _low(worker)
        telemetry(worker).close()  # the worker stops first: its snapshot
    assert _owners(app) == [WORKER, "serve"]  # the API's, from one reading, is the newest
    assert _under_pressure(app) == []

    clock.advance(minutes=1)
    restarted = bootstrap(app.settings, clock=clock)
    telemetry(restarted).as_mqtt_worker()
    try:
        _low(restarted)  # held 120 s across the restart: the counter came back
        assert _under_pressure(app) == [2]
    finally:
        telemetry(restarted).close()
        restarted.dispose()


def test_a_worker_without_a_snapshot_of_its_own_starts_from_the_newest_of_any(
    app: App, worker: App, clock: Clock
) -> None:
    _low(app)  # `serve --simulate` ingested until the deployment moved to a worker
    clock.advance(minutes=1)
    _low(app)
    telemetry(app).close()
    assert _owners(app) == ["serve"]
    clock.advance(minutes=1)
    _low(worker)
    assert _under_pressure(app) == [2]
    telemetry(worker).close()
    assert _owners(app) == ["serve", WORKER]  # from now on the worker restores its own


def test_pruning_keeps_the_last_snapshots_of_each_owner(
    app: App, worker: App, clock: Clock
) -> None:
    _low(app)
    alarm_engine(app).save_state()
    clock.advance(minutes=1)
    _low(worker)
    taken: list[int] = []
    for _ in range(KEEP_SNAPSHOTS + 2):  # the worker's own pruning never takes the API's row
        clock.advance(minutes=1)
        alarm_engine(worker).save_state()
        with app.reads() as s:
            taken.append(s.scalars(select(func.max(RuleStateRow.id))).one())
    with app.reads() as s:
        rows = s.execute(select(RuleStateRow.id, RuleStateRow.taken_by)
                         .order_by(RuleStateRow.id)).all()  # fmt: skip
    assert [r.taken_by for r in rows] == ["serve"] + [WORKER] * KEEP_SNAPSHOTS
    assert [r.id for r in rows[1:]] == taken[-KEEP_SNAPSHOTS:]  # the newest


def test_the_demo_loader_leaves_the_server_a_warm_start(app: App, clock: Clock) -> None:
    """`cityops demo` backfills the sensors' last half hour; the server started next restores
    that rule state, so a glitch among its first readings is cleaned, not an alarm."""
    from cityops.entrypoints.lifeline_workers import demo_backfill

    assert demo_backfill(app, timedelta(minutes=30)) > 0
    assert "serve" in _owners(app)
    server = bootstrap(app.settings, clock=clock)  # the next process: `cityops serve`
    try:
        clock.advance(seconds=30)
        send_reading(server, WATER, "pressure", 0.0014, "MPa")  # a lone glitch (0.35 around)
        with server.reads() as s:
            raised = s.scalars(select(AlarmRow.alarm_type).where(
                AlarmRow.first_seen >= clock.now - timedelta(seconds=1))).all()  # fmt: skip
        assert raised == []
        assert alarm_engine(server).spikes == 1
    finally:
        telemetry(server).close()
        server.dispose()
