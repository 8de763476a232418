"""A deployment in forward mode as an operator runs it: ``cityops mqtt`` ingests, ``cityops
serve`` with CITYOPS_TELEMETRY_HTTP_FORWARD=true hands posted readings to it through the real
Mosquitto at 127.0.0.1:1883. Both processes read the same settings from the environment."""

from __future__ import annotations

import time

import httpx
import orjson

from tests.e2e.conftest import Deployment, stop
from tests.helpers import free_port, wait_until

GAS = "SJ-GPT-0001"  # a demo gas pipe's pressure sensor, MPa every 60 s


def _up(url: str) -> bool:
    try:
        return httpx.get(f"{url}/healthz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def test_serve_forwards_posted_readings_to_the_worker_which_stores_them(
    deployment: Deployment,
) -> None:
    port = free_port()
    deployment.env |= {"CITYOPS_TELEMETRY_HTTP_FORWARD": "true", "CITYOPS_PORT": str(port)}
    before = deployment.stored()
    worker, api = deployment.start("mqtt"), deployment.start("serve")
    url = f"http://127.0.0.1:{port}"
    assert worker.stdout is not None
    assert worker.stdout.readline().startswith("consuming"), "the worker did not subscribe"
    wait_until(lambda: _up(url), 60)
    token = httpx.post(f"{url}/api/v1/auth/token", timeout=10, json={
        "username": "admin", "password": "cityops-demo"}).json()["access_token"]  # fmt: skip
    t0 = time.time() - 3600
    pack = [{"bn": f"{GAS}:", "n": "pressure", "u": "MPa", "t": t0 + 60 * i, "v": 0.3}
            for i in range(20)]  # fmt: skip
    r = httpx.post(f"{url}/api/v1/telemetry/readings", content=orjson.dumps(pack),
                   headers={"Authorization": f"Bearer {token}",
                            "Content-Type": "application/senml+json"}, timeout=30)  # fmt: skip
    assert r.status_code == 202, r.text
    assert r.json()["forwarded"] == 20
    wait_until(lambda: deployment.stored() - before == 20, 60)  # by the worker, not the API
    assert "Application shutdown complete" in stop(api, by_signal=True)
    stop(worker)
    # Only the worker's engine saw readings, so only it wrote rule state.
    assert deployment.rule_state_writers() == [f"mqtt:{deployment.client_id}"]
