"""The telemetry API: imports, gateway keys, the readings endpoint, queries and errors."""

from __future__ import annotations

import json

import orjson

from cityops.bootstrap import App
from tests.helpers import Api

GAS = "SJ-GPT-0001"
ASSETS_CSV = """code,kind,name,owner,wkt,adjacent,material
T-GP-1,gas_pipe,测试燃气管,gas,"LINESTRING (121.45 31.2, 121.46 31.2)",T-WL-1,PE
T-WL-1,sewer_well,测试污水井,water,"POINT (121.455 31.2001)",,
"""
DEVICES_CSV = """device,asset,name,metric,unit,interval_s,scale,offset,range_min,range_max
T-CH4-1,T-WL-1,测试甲烷,ch4,%LEL,60,1,0,0,100
T-CH4-1,T-WL-1,测试甲烷,temp,Cel,60,,,,
"""


def test_imports_are_all_or_nothing_and_name_every_problem(app: App) -> None:
    api = Api(app)
    bad = ASSETS_CSV + "T-X,volcano,火山,nobody,,T-GHOST,\n"
    r = api.post("admin", "/api/v1/telemetry/assets/import", content=bad.encode(),
                 headers={"Content-Type": "text/csv"})  # fmt: skip
    assert r.status_code == 422, r.text
    problems = r.json()["error"]["details"]["problems"]
    reasons = " | ".join(p["reason"] for p in problems)
    assert "kind must be one of" in reasons and "wkt" in reasons
    assert api.get("admin", "/api/v1/telemetry/assets/T-GP-1").status_code == 404  # nothing
    ok = api.post("admin", "/api/v1/telemetry/assets/import", content=ASSETS_CSV.encode(),
                  headers={"Content-Type": "text/csv"})  # fmt: skip
    assert ok.json() == {"kind": "lifeline_assets", "created": 2, "updated": 0}
    devices = api.post("admin", "/api/v1/telemetry/devices/import", content=DEVICES_CSV.encode(),
                       headers={"Content-Type": "text/csv"})  # fmt: skip
    assert devices.status_code == 200, devices.text
    detail = api.get("commander", "/api/v1/telemetry/assets/T-GP-1").json()
    assert detail["adjacent"] == ["T-WL-1"] and detail["attributes"] == {"material": "PE"}
    well = api.get("commander", "/api/v1/telemetry/assets/T-WL-1").json()
    assert well["adjacent"] == ["T-GP-1"]
    assert [m["unit"] for m in well["devices"][0]["metrics"]] == ["%{LEL}", "Cel"]
    props = {"code": "T-BR-1", "kind": "bridge_span", "name": "桥", "owner": "roads"}
    geo = {"type": "FeatureCollection",
           "features": [{"type": "Feature", "geometry": None, "properties": props}]}
    r = api.post("admin", "/api/v1/telemetry/assets/import", json=geo)
    assert r.status_code == 422 and "geometry" in r.text
    assert api.post("handler-gas", "/api/v1/telemetry/assets/import", json=geo).status_code == 403


def test_readings_need_a_gateway_key_and_answer_per_message(app: App) -> None:
    api = Api(app)
    key = api.post("admin", "/api/v1/telemetry/gateways", json={"code": "gw-1", "name": "网关"})
    assert key.status_code == 201
    gw = {"X-API-Key": key.json()["key"], "Content-Type": "application/senml+json"}
    now = app.clock().timestamp()
    pack = [{"bn": f"{GAS}:", "bt": now - 60, "n": "pressure", "v": 0.31}]
    anonymous = api.client.post("/api/v1/telemetry/readings", content=orjson.dumps(pack),
                                headers={"Content-Type": "application/senml+json"})  # fmt: skip
    assert anonymous.status_code == 401
    wrong = api.client.post("/api/v1/telemetry/readings", content=b"[]",
                            headers={**gw, "X-API-Key": "cog_nope"})  # fmt: skip
    assert wrong.status_code == 401 and wrong.json()["error"]["code"] == "unauthorized"
    r = api.client.post("/api/v1/telemetry/readings", content=orjson.dumps(pack), headers=gw)
    assert r.status_code == 200 and r.json()["accepted"] == 1
    batch = {"messages": [pack, {"device": GAS, "ts": now - 30, "values": {"pressure": 0.32}},
                          [{"n": "nope:x", "v": 1}]]}  # fmt: skip
    r = api.client.post("/api/v1/telemetry/readings?batch=true", content=orjson.dumps(batch),
                        headers={**gw, "Content-Type": "application/json"})  # fmt: skip
    body = r.json()
    assert r.status_code == 200
    assert [(m["accepted"], m["duplicates"], m["reason"]) for m in body["messages"]] == [
        (0, 1, None), (1, 0, None), (0, 0, "unknown_device")]
    broken = api.client.post("/api/v1/telemetry/readings", content=b"[{", headers=gw)
    assert broken.status_code == 422
    assert broken.json()["error"]["details"]["messages"][0]["reason"] == "malformed_json"
    assert api.client.post("/api/v1/telemetry/readings", content=b"x", headers={
        **gw, "Content-Type": "text/plain"}).status_code == 415  # fmt: skip

    letters = api.get("leader", "/api/v1/telemetry/dead-letters").json()
    assert letters["total"] == 2
    newest = letters["items"][0]
    assert newest["reason"] == "malformed_json" and newest["raw"] == "[{"
    assert newest["source"] == "http:gw-1"
    done = api.post("admin", f"/api/v1/telemetry/dead-letters/{newest['id']}/resolve",
                    json={"note": "gateway firmware fixed"})  # fmt: skip
    assert done.json()["resolved"] is True
    assert api.get("leader", "/api/v1/telemetry/dead-letters").json()["total"] == 1
    assert api.get("citizen", "/api/v1/telemetry/dead-letters").status_code == 403


def test_series_and_latest_queries_check_their_input(app: App) -> None:
    api = Api(app)
    base = "/api/v1/telemetry/series?device=SJ-GPT-0001&metric=pressure"
    t = "&from=2026-11-18T00:00:00Z&to=2026-11-18T02:00:00Z"
    assert api.get("commander", base + t + "&step=1m&agg=max").status_code == 200
    for query, status in ((t + "&step=5m", 422), (t + "&agg=avg", 422),
                          ("&from=2026-11-18T02:00:00Z&to=2026-11-18T01:00:00Z", 422),
                          ("&from=2026-11-18T00:00:00&to=2026-11-18T01:00:00Z", 422),
                          (t.replace("11-18T00", "01-01T00") + "&step=1m", 422)):  # fmt: skip
        r = api.get("commander", base + query)
        assert r.status_code == status, (query, r.text)
        assert "error" in r.json()
    missing = api.get("commander", base.replace("pressure", "nope") + t)
    assert missing.status_code == 404
    assert api.get("citizen", base + t).status_code == 403
    latest = api.get("handler-gas", "/api/v1/telemetry/latest?kind=gas_pipe&limit=5").json()
    assert len(latest) == 5 and all(d["online"] is False for d in latest)
    water = api.get("handler-water", f"/api/v1/telemetry/devices/{GAS}")
    assert water.status_code == 404  # another department's pipe is not visible
    listed = api.get("handler-gas", "/api/v1/telemetry/assets?kind=gas_pipe&limit=2").json()
    assert listed["total"] > 50 and len(listed["items"]) == 2
    assert json.dumps(listed["items"][0], ensure_ascii=False).count("燃气") >= 1
