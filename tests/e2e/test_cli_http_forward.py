"""A deployment in forward mode as an operator runs it: ``cityops mqtt`` ingests, ``cityops
serve`` with CITYOPS_TELEMETRY_HTTP_FORWARD=true hands posted readings to it through the real
Mosquitto at 127.0.0.1:1883. Both processes read the same settings from the environment."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import orjson
from sqlalchemy import create_engine, text

from tests.conftest import _service_or_skip
from tests.helpers import free_port, wait_until

HOST, PORT = "127.0.0.1", 1883
GAS = "SJ-GPT-0001"  # a demo gas pipe's pressure sensor, MPa every 60 s


def _up(url: str) -> bool:
    try:
        return httpx.get(f"{url}/healthz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _stop(proc: subprocess.Popen[str]) -> str:
    """SIGTERM and a clean exit. uvicorn (serve) shuts down gracefully, then re-raises the
    signal, as process managers expect (systemd counts a SIGTERM exit as clean)."""
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode in (0, -signal.SIGTERM), out
    return out


def test_serve_forwards_posted_readings_to_the_worker_which_stores_them(
    sqlite_template: Path, tmp_path: Path
) -> None:
    try:
        socket.create_connection((HOST, PORT), timeout=2).close()
    except OSError as exc:
        _service_or_skip(f"Mosquitto at {HOST}:{PORT}", exc)
    db = tmp_path / "cityops.db"
    shutil.copy(sqlite_template, db)
    tag, api_port = uuid.uuid4().hex[:10], free_port()
    env = {**os.environ, "CITYOPS_DATABASE_URL": f"sqlite:///{db}",
           "CITYOPS_MQTT_URL": f"mqtt://{HOST}:{PORT}",
           "CITYOPS_MQTT_TOPIC_PREFIX": f"cityops-e2e/{tag}/telemetry",
           "CITYOPS_MQTT_CLIENT_ID": f"cityops-e2e-{tag}", "CITYOPS_MQTT_SESSION_EXPIRY_S": "60",
           "CITYOPS_TELEMETRY_HTTP_FORWARD": "true", "CITYOPS_PORT": str(api_port),
           "CITYOPS_MODEL_DIR": str(tmp_path)}  # fmt: skip
    engine = create_engine(f"sqlite:///{db}")

    def stored() -> int:
        with engine.connect() as c:
            return int(c.execute(text("SELECT count(*) FROM telemetry_readings")).scalar_one())

    before = stored()
    cli = Path(sys.executable).parent / "cityops"  # the console script beside this Python
    run = {"env": env, "stdout": subprocess.PIPE, "stderr": subprocess.STDOUT, "text": True}
    worker = subprocess.Popen([str(cli), "mqtt"], **run)  # type: ignore[call-overload]
    api = subprocess.Popen([str(cli), "serve"], **run)  # type: ignore[call-overload]
    url = f"http://127.0.0.1:{api_port}"
    try:
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
        wait_until(lambda: stored() - before == 20, 60)  # stored by the worker, not the API
        assert "Application shutdown complete" in _stop(api)
        _stop(worker)
        with engine.connect() as c:
            owners = c.execute(text("SELECT taken_by FROM lifeline_rule_state")).scalars().all()
        # Only the worker's engine saw readings, so only it wrote rule state.
        assert owners == [f"mqtt:cityops-e2e-{tag}"]
    finally:
        engine.dispose()
        for proc in (api, worker):
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)
