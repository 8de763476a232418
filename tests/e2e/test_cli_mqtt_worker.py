"""``cityops mqtt`` as an operator runs it: a process on the real Mosquitto at 127.0.0.1:1883
with ingestion in its child process; readings stored, SIGTERM drains and acknowledges, the
rule state is written as the worker's, and the session has nothing left to redeliver."""

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

import orjson
from sqlalchemy import create_engine, text

from cityops.adapters.mqtt import MqttConfig, Publisher
from cityops.adapters.mqtt_consumer import MqttConsumer
from tests.conftest import _service_or_skip
from tests.helpers import wait_until

HOST, PORT = "127.0.0.1", 1883
GAS = "SJ-GPT-0001"  # a demo gas pipe's pressure sensor, MPa every 60 s



def test_the_worker_stores_drains_on_sigterm_and_leaves_nothing_to_redeliver(
    sqlite_template: Path, tmp_path: Path
) -> None:
    try:
        socket.create_connection((HOST, PORT), timeout=2).close()
    except OSError as exc:
        _service_or_skip(f"Mosquitto at {HOST}:{PORT}", exc)
    db = tmp_path / "cityops.db"
    shutil.copy(sqlite_template, db)
    tag = uuid.uuid4().hex[:10]
    prefix, client_id = f"cityops-e2e/{tag}/telemetry", f"cityops-e2e-{tag}"
    env = {**os.environ, "CITYOPS_DATABASE_URL": f"sqlite:///{db}",
           "CITYOPS_MQTT_URL": f"mqtt://{HOST}:{PORT}", "CITYOPS_MQTT_TOPIC_PREFIX": prefix,
           "CITYOPS_MQTT_CLIENT_ID": client_id, "CITYOPS_MQTT_SESSION_EXPIRY_S": "60",
           "CITYOPS_TELEMETRY_INGEST_PROCESS": "true", "CITYOPS_MODEL_DIR": str(tmp_path)}
    engine = create_engine(f"sqlite:///{db}")

    def stored() -> int:
        with engine.connect() as c:
            return int(c.execute(text("SELECT count(*) FROM telemetry_readings")).scalar_one())

    before = stored()
    cfg = MqttConfig(HOST, PORT, client_id=client_id, topic_prefix=prefix,
                     topic_filter=f"{prefix}/#", session_expiry_s=60)  # fmt: skip
    _session(cfg)  # the broker queues for the worker's session from now on, whenever it connects
    cli = Path(sys.executable).parent / "cityops"  # the console script beside this Python
    worker = subprocess.Popen([str(cli), "mqtt"], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True)  # fmt: skip
    try:
        assert worker.stdout is not None
        first = worker.stdout.readline()
        assert first.startswith(f"consuming {prefix}/#"), first
        t0 = time.time() - 3600
        with Publisher(cfg, f"{client_id}-pub") as pub:
            for i in range(20):
                pub.publish(f"{prefix}/gw-gas/{GAS}",
                            orjson.dumps([{"n": "pressure", "t": t0 + 60 * i, "v": 0.3}]))
        wait_until(lambda: stored() - before >= 20, 60)
        worker.send_signal(signal.SIGTERM)
        out, _ = worker.communicate(timeout=60)
        assert worker.returncode == 0, out
        with engine.connect() as c:
            owners = c.execute(text("SELECT taken_by FROM lifeline_rule_state")).scalars().all()
        assert f"mqtt:{client_id}" in owners  # written by the ingest child, as the worker's
    finally:
        engine.dispose()
        if worker.poll() is None:
            worker.kill()
            worker.wait(10)

    assert _session(cfg) == 0  # every message was acknowledged after its commit


def _session(cfg: MqttConfig) -> int:
    """Connect as the worker's session, subscribe, take nothing; how many messages came."""
    consumer = MqttConsumer(cfg, lambda *_a, **_k: False)  # refuses: nothing is acknowledged
    consumer.start()
    try:
        assert consumer.subscribed.wait(10)
        time.sleep(0.5)  # what the session still holds comes at once
    finally:
        consumer._leave.set()  # leave without waiting for the refused messages
        consumer.stop()
    return consumer.stats.received

