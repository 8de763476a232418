"""``cityops mqtt`` as an operator runs it: a process on the real Mosquitto at 127.0.0.1:1883
with ingestion in its child process; readings stored, SIGTERM drains and acknowledges, the
rule state is written as the worker's, and the session has nothing left to redeliver."""

from __future__ import annotations

import time

import orjson

from cityops.adapters.mqtt import MqttConfig, Publisher
from cityops.adapters.mqtt_consumer import MqttConsumer
from tests.conftest import MOSQUITTO
from tests.e2e.conftest import Deployment, stop
from tests.helpers import wait_until

GAS = "SJ-GPT-0001"  # a demo gas pipe's pressure sensor, MPa every 60 s


def test_the_worker_stores_drains_on_sigterm_and_leaves_nothing_to_redeliver(
    deployment: Deployment,
) -> None:
    deployment.env["CITYOPS_TELEMETRY_INGEST_PROCESS"] = "true"
    prefix, client_id = deployment.prefix, deployment.client_id
    before = deployment.stored()
    cfg = MqttConfig(*MOSQUITTO, client_id=client_id, topic_prefix=prefix,
                     topic_filter=f"{prefix}/#", session_expiry_s=60)  # fmt: skip
    _session(cfg)  # the broker queues for the worker's session from now on, whenever it connects
    worker = deployment.start("mqtt")
    assert worker.stdout is not None
    first = worker.stdout.readline()
    assert first.startswith(f"consuming {prefix}/#"), first
    t0 = time.time() - 3600
    with Publisher(cfg, f"{client_id}-pub") as pub:
        for i in range(20):
            pub.publish(f"{prefix}/gw-gas/{GAS}",
                        orjson.dumps([{"n": "pressure", "t": t0 + 60 * i, "v": 0.3}]))
    wait_until(lambda: deployment.stored() - before >= 20, 60)
    stop(worker)
    # written by the ingest child, as the worker's
    assert f"mqtt:{client_id}" in deployment.rule_state_writers()
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

