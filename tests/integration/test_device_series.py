"""``/latest`` and device health read one shared join: they list the same devices, filtered
the same way, for whoever asks, and agree on which of them are online."""

from __future__ import annotations

from typing import Any

from cityops.bootstrap import App
from tests.helpers import Api, send_reading

GAS = "SJ-GPT-0001"  # gas pipe pressure, every 60 s


def _both(api: Api, user: str, query: str) -> tuple[dict[str, bool], dict[str, bool]]:
    latest = api.get(user, f"/api/v1/telemetry/latest?limit=10000&{query}")
    health = api.get(user, f"/api/v1/telemetry/device-health?limit=1000&{query}")
    assert latest.status_code == health.status_code == 200, (latest.text, health.text)
    body: dict[str, Any] = health.json()
    assert body["total"] == len(body["items"])  # one page holds them all
    return ({d["device"]: d["online"] for d in latest.json()},
            {d["code"]: d["online"] for d in body["items"]})  # fmt: skip


def test_latest_and_health_see_the_same_devices(app: App) -> None:
    api = Api(app)
    send_reading(app, GAS, "pressure", 0.3, "MPa")
    seen: dict[str, dict[str, bool]] = {}
    for user, query in [("commander", "kind=gas_pipe"), ("handler-gas", ""),
                        ("commander", "kind=sewer_well"), ("commander", "kind=no_such_kind")]:
        from_latest, from_health = _both(api, user, query)
        assert from_latest == from_health, (user, query)
        seen[f"{user}?{query}"] = from_latest
    gas = seen["commander?kind=gas_pipe"]
    assert gas and gas[GAS] is True and not all(gas.values())  # one reported, others silent
    assert seen["handler-gas?"] and set(seen["handler-gas?"]) < set(_both(api, "commander", "")[0])
    assert seen["commander?kind=no_such_kind"] == {}
    asset = api.get("commander", f"/api/v1/telemetry/latest?device={GAS}").json()[0]["asset"]
    one_asset = _both(api, "commander", f"asset={asset}")
    assert one_asset[0] == one_asset[1] and GAS in one_asset[0]
