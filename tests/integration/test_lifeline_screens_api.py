"""What the lifeline screens read (issue 5 §6): the big screen's lifeline figures and asset
layer, alarm events on the live stream scoped like the assets, the alarm detail's linked case
and plan, device health, and the dead-letter browser's grouping, replay and bulk resolve."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import select

from cityops.adapters.db.lifeline_models import DeadLetterRow
from cityops.bootstrap import App
from cityops.service.bus import Event
from cityops.service.live import LiveHub
from cityops.service.principal import Principal
from cityops.service.telemetry import RawMessage, telemetry
from tests.conftest import Clock
from tests.helpers import Api, alarm_engine, send_reading

WELL = "SJ-CH4-0001"  # methane in a well beside the first gas pipe, %{LEL}, every 300 s
GAS = "SJ-GPT-0001"  # that pipe's pressure, MPa every 60 s
SENML = "application/senml+json"


def _ingest(app: App, payload: Any, source: str = "test", device: str | None = None) -> Any:
    raw = payload if isinstance(payload, bytes) else orjson.dumps(payload)
    message = RawMessage(source, raw, app.clock().timestamp(), SENML, device)
    return telemetry(app).ingest([message]).messages[0]


def _ch4(app: App, value: float) -> None:
    pack = [{"bn": f"{WELL}:", "n": "ch4", "u": "%LEL", "v": value, "t": app.clock().timestamp()}]
    assert _ingest(app, pack).accepted == 1


def _red_gas_alarm(app: App, clock: Clock) -> None:
    """A normal background, then two readings over 25 %LEL: a red gas_leak alarm and its case."""
    for v in (1.0, 1.2, 0.9, 1.1, 1.0, 1.3, 1.1, 1.0, 30.0):
        _ch4(app, v)
        clock.advance(minutes=5)
    _ch4(app, 31.0)


def test_screen_figures_layer_detail_and_live_events(app: App, clock: Clock) -> None:
    api = Api(app)
    events: list[Event] = []
    app.bus.subscribe("*", lambda e: events.append(e) if e.name.startswith("Lifeline") else None)
    empty = api.get("commander", "/api/v1/screen/lifeline").json()
    assert empty["open"] == 0 and empty["by_level"] == {"1": 0, "2": 0, "3": 0, "4": 0}
    _red_gas_alarm(app, clock)
    summary = api.get("commander", "/api/v1/screen/lifeline").json()
    assert summary["open"] == 1 and summary["by_level"]["4"] == 1
    assert summary["by_type"]["gas_leak"]["4"] == 1 and summary["by_state"]["active"] == 1
    assert summary["raised_24h"] == 1 and summary["cleared_24h"] == 0
    [(asset, worst)] = summary["assets"].items()
    assert worst["level"] == 4 and worst["types"] == ["gas_leak"]
    layer = api.get("commander", "/api/v1/screen/lifeline/assets").json()
    kinds = {f["geometry"]["type"] for f in layer["features"]}
    assert {"LineString", "Point"} <= kinds
    assert asset in {f["properties"]["code"] for f in layer["features"]}
    wells = api.get("commander", "/api/v1/screen/lifeline/assets?kind=sewer_well").json()
    assert wells["features"] and {f["properties"]["kind"] for f in wells["features"]} == {
        "sewer_well"}  # fmt: skip
    unknown = api.get("commander", "/api/v1/screen/lifeline/assets?kind=volcano")
    assert unknown.status_code == 422 and "sewer_well" in unknown.text
    assert api.get("handler-roads", "/api/v1/screen/lifeline").status_code == 403

    # The alarm's events on the bus, with what the hub needs to scope them.
    [raised] = [e for e in events if e.name == "LifelineAlarmRaised"]
    assert raised.payload["asset"] == asset and raised.payload["level"] == 4
    assert raised.payload["department_id"] is not None
    listed = api.get("commander", "/api/v1/lifeline/alarms?state=open").json()
    assert listed["total"] == 1
    assert listed["open_by_level"] == {"1": 0, "2": 0, "3": 0, "4": 1}  # the console's tally
    filtered = api.get("commander", "/api/v1/lifeline/alarms?state=cleared").json()
    assert filtered["total"] == 0 and filtered["open_by_level"]["4"] == 1  # whatever the filter
    alarm_id = listed["alarms"][0]["id"]
    detail = api.get("commander", f"/api/v1/lifeline/alarms/{alarm_id}").json()
    assert detail["case"]["id"] == detail["case_id"] and detail["case"]["case_no"]
    assert detail["case"]["plan"]["steps"][0]["no"] == 1
    assert [p["value"] for p in detail["series"]["points"]][-2:] == [30.0, 31.0]
    r = api.post("commander", f"/api/v1/lifeline/alarms/{alarm_id}/acknowledge", json={})
    assert r.status_code == 200
    assert events[-1].name == "LifelineAlarmAcknowledged"

    hub = LiveHub(app)
    [message] = hub.messages([events[-1]])
    assert message.body["payload"]["alarm_id"] == alarm_id
    assert "grid_code" in message.body["payload"] and message.body["case"] is None
    owner = int(raised.payload["department_id"])
    as_owner = Principal(1, "h", _role("handler"), department_ids=frozenset({owner}))
    as_other = Principal(2, "o", _role("handler"), department_ids=frozenset({owner + 1000}))
    as_citizen = Principal(3, "c", _role("citizen"))
    assert message.admits(as_owner) and not message.admits(as_other)
    assert not message.admits(as_citizen)


def _role(name: str) -> Any:
    from cityops.domain.model import Role

    return Role(name)


DEVICES = {"devices": [{"code": "T-BAT-1", "asset": "SJ-WL-0001", "name": "带电池的甲烷探头",
                        "metrics": [{"name": "ch4", "unit": "%LEL", "interval_s": 60},
                                    {"name": "battery", "unit": "%", "interval_s": 3600}]}]}


def test_device_health_counts_filters_and_battery(app: App, clock: Clock) -> None:
    api = Api(app)
    before = api.get("commander", "/api/v1/telemetry/device-health?limit=1").json()
    assert before["total"] == sum(before["counts"].values()) > 0
    assets = api.get("admin", "/api/v1/telemetry/assets?kind=sewer_well&limit=1").json()
    DEVICES["devices"][0]["asset"] = assets["items"][0]["code"]
    assert api.post("admin", "/api/v1/telemetry/devices/import", json=DEVICES).status_code == 200
    now = app.clock().timestamp()
    pack = [{"bn": "T-BAT-1:", "bt": now, "n": "ch4", "u": "%LEL", "v": 1.5},
            {"n": "battery", "u": "%", "v": 87}]  # fmt: skip
    assert _ingest(app, pack).accepted == 2
    one = api.get("commander", "/api/v1/telemetry/device-health?q=T-BAT").json()
    [item] = one["items"]
    assert item["status"] == "online" and item["battery"]["value"] == 87
    assert {m["metric"] for m in item["metrics"]} == {"ch4", "battery"}
    clock.advance(minutes=4)  # three intervals of the 60-second metric are over
    offline = api.get("commander", "/api/v1/telemetry/device-health?status=offline").json()
    assert "T-BAT-1" in {d["code"] for d in offline["items"]}
    assert all(d["status"] == "offline" for d in offline["items"])
    assert offline["total"] == offline["counts"]["offline"]
    found = next(d for d in offline["items"] if d["code"] == "T-BAT-1")
    assert found["silent_s"] == 240
    bad = api.get("commander", "/api/v1/telemetry/device-health?status=asleep")
    assert bad.status_code == 422
    assert api.get("citizen", "/api/v1/telemetry/device-health").status_code == 403


def test_dead_letters_grouped_replayed_after_the_fix_and_resolved_together(app: App) -> None:
    api = Api(app)
    now = app.clock().timestamp()
    unknown = [{"bn": "T-NEW-1:", "bt": now - 60, "n": "ch4", "u": "%LEL", "v": 2.5}]
    for _ in range(3):  # a device nobody imported yet repeats itself
        assert _ingest(app, unknown, "mqtt:cityops/v1/telemetry/gw-1/T-NEW-1").reason == \
            "unknown_device"  # fmt: skip
    assert _ingest(app, b"\xff\xfe\x00", "http:gw-1").reason is not None
    groups = api.get("leader", "/api/v1/telemetry/dead-letters?group=true").json()
    assert groups["total"] == 2
    newest, repeated = groups["items"]
    assert repeated["count"] == 3 and repeated["device"] == "T-NEW-1"
    assert repeated["reason"] == "unknown_device" and repeated["raw_bytes"] > 0
    assert newest["count"] == 1
    detail = api.get("leader", f"/api/v1/telemetry/dead-letters/{repeated['id']}").json()
    assert len(detail["identical_ids"]) == 3 and detail["id"] in detail["identical_ids"]
    assert api.post("leader", f"/api/v1/telemetry/dead-letters/{repeated['id']}/replay",
                    json={}).status_code == 403  # fmt: skip

    # Replayed before the fix: resolved, and kept again as a new dead letter that says why.
    again = api.post("admin", f"/api/v1/telemetry/dead-letters/{repeated['id']}/replay",
                     json={}).json()  # fmt: skip
    assert again["reason"] == "unknown_device" and again["dead_letter_id"]
    assert len(again["resolved"]) == 3 and f"dead letter {again['dead_letter_id']}" in \
        again["note"]  # fmt: skip
    regrouped = api.get("leader", "/api/v1/telemetry/dead-letters?group=true&reason="
                        "unknown_device").json()  # fmt: skip
    assert [g["count"] for g in regrouped["items"]] == [1]

    # The device is imported: the replay stores the reading; a second replay is refused.
    assets = api.get("admin", "/api/v1/telemetry/assets?kind=sewer_well&limit=1").json()
    device = {"code": "T-NEW-1", "asset": assets["items"][0]["code"], "name": "新甲烷探头",
              "metrics": [{"name": "ch4", "unit": "%LEL", "interval_s": 300}]}  # fmt: skip
    assert api.post("admin", "/api/v1/telemetry/devices/import",
                    json=[device]).status_code == 200  # fmt: skip
    fixed = api.post("admin", f"/api/v1/telemetry/dead-letters/{again['dead_letter_id']}/replay",
                     json={}).json()  # fmt: skip
    assert fixed["accepted"] == 1 and fixed["dead_letter_id"] is None
    done = api.post("admin", f"/api/v1/telemetry/dead-letters/{again['dead_letter_id']}/replay",
                    json={})  # fmt: skip
    assert done.status_code == 409
    latest = api.get("commander", "/api/v1/telemetry/latest?device=T-NEW-1").json()
    assert latest[0]["metrics"]["ch4"]["value"] == 2.5
    assert api.get("leader", "/api/v1/telemetry/dead-letters?group=true&before_id=5"
                   ).status_code == 422  # fmt: skip


def test_resolving_with_identical_resolves_the_twins_only(app: App) -> None:
    api = Api(app)
    for payload in ([{"n": "x"}], [{"n": "x"}], [{"n": "y"}]):  # malformed SenML (no value)
        assert _ingest(app, payload, "http:gw-2").reason == "malformed_senml"
    with app.reads() as s:
        ids = list(s.scalars(select(DeadLetterRow.id).order_by(DeadLetterRow.id)))
    r = api.post("admin", f"/api/v1/telemetry/dead-letters/{ids[0]}/resolve",
                 json={"note": "firmware 2.1", "identical": True})  # fmt: skip
    assert r.json() == {"resolved": ids[:2]}
    left = api.get("leader", "/api/v1/telemetry/dead-letters").json()
    assert [d["id"] for d in left["items"]] == [ids[2]]
    assert api.post("admin", "/api/v1/telemetry/dead-letters/999999/replay",
                    json={}).status_code == 404  # fmt: skip


def test_a_malformed_plan_set_is_refused_with_every_problem_named(app: App) -> None:
    api = Api(app)
    before = api.get("admin", "/api/v1/lifeline/plans").json()
    bad = {"plans": [
        {"code": ["x"], "name": "甲", "min_level": 4, "steps": ["a"]},
        {"code": "ok-1", "name": "乙", "min_level": 4, "steps": ["a"], "asset_kinds": 5},
    ]}  # fmt: skip
    r = api._send("PUT", "admin", "/api/v1/lifeline/plans", json=bad)
    assert r.status_code == 422, r.text
    reasons = [p["reason"] for p in r.json()["error"]["details"]["problems"]]
    assert any("code" in x for x in reasons) and any("asset_kinds" in x for x in reasons)
    empty = api._send("PUT", "admin", "/api/v1/lifeline/plans", json={"plans": []})
    assert empty.status_code == 422 and "plan_level" in empty.text
    assert api.get("admin", "/api/v1/lifeline/plans").json() == before


def test_rules_are_not_replaced_while_alarms_are_switched_off(sqlite_app: App) -> None:
    sqlite_app.settings.lifeline_alarms = False
    api = Api(sqlite_app)
    versions = api.get("admin", "/api/v1/lifeline/rules/versions").json()
    r = api._send("PUT", "admin", "/api/v1/lifeline/rules", content=b"{}",
                  headers={**api.headers("admin"), "Content-Type": "application/json"})  # fmt: skip
    assert r.status_code == 409, r.text
    assert api.get("admin", "/api/v1/lifeline/rules/versions").json() == versions


def test_an_alarm_without_a_series_of_its_own_shows_the_series_behind_it(
    app: App, clock: Clock
) -> None:
    """The coupled 红 (gas in the well + a pressure drop on the pipe beside it) names no one
    series: its page shows both conditions' series; a device's no-data alarm, its metrics."""
    api = Api(app)
    for _ in range(8):
        send_reading(app, GAS, "pressure", 0.30, "MPa")
        send_reading(app, WELL, "ch4", 1.0, "%LEL")
        clock.advance(minutes=1)
    for ch4, pressure in ((6.0, 0.30), (6.5, 0.22), (6.5, 0.21)):
        send_reading(app, WELL, "ch4", ch4, "%LEL")
        send_reading(app, GAS, "pressure", pressure, "MPa")
        clock.advance(minutes=1)
    alarms = api.get("commander", "/api/v1/lifeline/alarms?state=open").json()["alarms"]
    coupled = next(a for a in alarms if a["type"] == "gas_leak_coupled")
    detail = api.get("commander", f"/api/v1/lifeline/alarms/{coupled['id']}").json()
    assert detail.get("series") is None
    shown = {(s["device"], s["metric"]) for s in detail["related_series"]}
    assert {(GAS, "pressure"), (WELL, "ch4")} <= shown
    assert all(s["points"] for s in detail["related_series"] if s["device"] in (GAS, WELL))
    # The pipe's owner opens its alarm too, with what it may see: not the other owner's well.
    mine = api.get("handler-gas", f"/api/v1/lifeline/alarms/{coupled['id']}")
    assert mine.status_code == 200, mine.text
    assert {(s["device"], s["metric"]) for s in mine.json()["related_series"]} == {
        (GAS, "pressure")}  # fmt: skip
    coupled_case = detail["case_id"]
    assert coupled_case is not None
    own = next(a for a in alarms if a["type"] == "gas_leak")
    single = api.get("commander", f"/api/v1/lifeline/alarms/{own['id']}").json()
    assert single["series"]["device"] == WELL and single["related_series"] == []
    # Then the pipe's sensor falls silent: its no-data alarm shows what it sent until then.
    clock.advance(minutes=10)
    send_reading(app, WELL, "ch4", 1.0, "%LEL")
    alarm_engine(app).tick()
    alarms = api.get("commander", "/api/v1/lifeline/alarms?state=open").json()["alarms"]
    silent = next(a for a in alarms if a["type"] == "offline" and a["subject"] == f"device:{GAS}")
    detail = api.get("commander", f"/api/v1/lifeline/alarms/{silent['id']}").json()
    # Dated when the silence passed 3 intervals (the last reading 11 min ago + 3 min), not
    # when this tick noticed it.
    silent_since = app.clock() - timedelta(minutes=11) + timedelta(minutes=3)
    assert datetime.fromisoformat(silent["first_seen"]) == silent_since
    [pressure] = detail["related_series"]
    assert (pressure["device"], pressure["metric"]) == (GAS, "pressure")
    assert [p["value"] for p in pressure["points"]][-1] == 0.21
    # The well's own gas alarm joined the pipe's case (the tick's sweep): the gas company's
    # handler, who may not see the well, opens it from the case, with its readings.
    well_alarm = api.get("commander", f"/api/v1/lifeline/alarms/{own['id']}").json()
    assert well_alarm["case_id"] == coupled_case
    theirs = api.get("handler-gas", f"/api/v1/lifeline/alarms/{own['id']}")
    assert theirs.status_code == 200, theirs.text
    assert theirs.json()["series"]["device"] == WELL and theirs.json()["series"]["points"]
    other = api.get("handler-water", f"/api/v1/lifeline/alarms/{own['id']}")
    assert other.status_code == (200 if _owner_is(app, WELL, "water") else 404)


def _owner_is(app: App, device: str, department: str) -> bool:
    """Whether ``device``'s asset belongs to the department ``department``."""
    from cityops.adapters.db.lifeline_models import LifelineAssetRow, LifelineDeviceRow
    from cityops.adapters.db.models import DepartmentRow

    with app.reads() as s:
        code = s.scalar(select(DepartmentRow.code)
                        .join(LifelineAssetRow, LifelineAssetRow.owner_department_id ==
                              DepartmentRow.id)
                        .join(LifelineDeviceRow, LifelineDeviceRow.asset_id ==
                              LifelineAssetRow.id)
                        .where(LifelineDeviceRow.code == device))  # fmt: skip
    return code == department
