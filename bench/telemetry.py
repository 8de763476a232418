"""Telemetry end to end from a real MQTT broker: CityOps consumer + pipeline vs a bare client.

A private Mosquitto (temp config: unlimited queues, no persistence) on a free port. Two
persistent QoS 1 sessions are created first (clean start, session expiry, subscribe, disconnect);
then a separate publisher process pre-loads N SenML messages (``--records`` points each, one
demo-network device per message, topic ``cityops/v1/telemetry/{gateway}/{device}``) which the
broker queues for both sessions. Publishing is thus out of the measurement (a Python publisher
saturates a core at ~11–18k QoS 1 messages/s here). Then, each in its own process, one after
the other:

(a) ``bare``: a paho client (MQTT v5, manual ack) drains its session, acknowledging each
    message — the limit of the transport in Python;
(r) ``reader``: CityOps's own MQTT reader alone (adapters/mqtt_consumer.py, acking each
    message at once, no pipeline) — the transport CityOps runs, for context;
(b) ``cityops``: the CityOps consumer (adapters/mqtt_consumer.py) → pipeline → decode →
    clean → store history, roll-ups and latest → whatever BatchListeners the app registers
    (rules, alarms), acknowledging after commit, drains its own copy.

Both use the same receive maximum (the window of unacknowledged messages). The consumer runs
as ``cityops mqtt`` does with ``CITYOPS_TELEMETRY_INGEST_PROCESS=true``: ingestion in a second
process (``--in-process`` keeps it in the consumer's). Besides the rates, each line reports the
CPU time per message of each side (both processes for CityOps): on a shared machine the rates
follow the load, the CPU cost per message much less. The packs are normal traffic at the
devices' sampling intervals (rules quiet), so the run measures the stream, not case opening.

Then an overload run: the CityOps consumer running while a publisher pushes as fast as it can
(``--overload-messages``); the RSS of the consumer and its ingest process is sampled
throughout, and stored points must equal published points. Memory is bounded by the receive
maximum and the pipeline's byte bound, not by the backlog.

Prints one JSON object per line: name, value, unit, peer, peer_value, ratio (+ details).
Usage: python bench/telemetry.py [--messages 100000] [--records 8] [--in-process] [--postgres]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from benchdb import emit

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
PREFIX = "cityops/v1/telemetry"


def _peak_rss_mb() -> float:
    """This process's peak plus its (ended) children's — the ingest process, if any."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return (own + resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss) / 1024


def _cpu_s(pids: list[int]) -> float:
    """CPU seconds (user + system, all threads) used so far by these processes."""
    import psutil

    return sum(sum(psutil.Process(pid).cpu_times()[:2]) for pid in pids)


def _cfg(port: int, client_id: str, receive_maximum: int) -> Any:
    from cityops.adapters.mqtt import MqttConfig

    return MqttConfig("127.0.0.1", port, client_id=client_id, topic_prefix=PREFIX,
                      topic_filter=f"{PREFIX}/#", receive_maximum=receive_maximum,
                      session_expiry_s=3600)  # fmt: skip


# ---------------------------------------------------------------------- roles (subprocesses)


def role_session(args: argparse.Namespace) -> None:
    """Create a persistent session with a QoS 1 subscription, then leave."""
    from paho.mqtt.subscribeoptions import SubscribeOptions

    from cityops.adapters.mqtt import connect_properties, new_client

    cfg = _cfg(args.port, args.client_id, args.receive_maximum)
    client = new_client(cfg, cfg.client_id, manual_ack=True)
    done = threading.Event()
    client.on_subscribe = lambda *_: done.set()
    client.connect("127.0.0.1", args.port, clean_start=True, properties=connect_properties(cfg))
    client.loop_start()
    client.subscribe(cfg.topic_filter, options=SubscribeOptions(qos=1))
    assert done.wait(10)
    client.disconnect()
    client.loop_stop()


def role_publish(args: argparse.Namespace) -> None:
    from cityops.adapters.mqtt import Publisher, device_topic
    from cityops.demo.lifeline_sim import LifelineSim

    sim = LifelineSim.demo()
    messages = [(device_topic(m.gateway, m.device, PREFIX), m.payload) for m in
                sim.bench_messages(args.messages, args.records, args.end, args.round0)]  # fmt: skip
    start = time.perf_counter()
    with Publisher(_cfg(args.port, f"bench-pub-{os.getpid()}", 1000), "bench-pub") as pub:
        for topic, payload in messages:
            pub.publish(topic, payload)
    elapsed = time.perf_counter() - start
    print(json.dumps({"published": len(messages), "seconds": elapsed,
                      "bytes": sum(len(p) for _, p in messages)}))  # fmt: skip


def role_bare(args: argparse.Namespace) -> None:
    from cityops.adapters.mqtt import connect_properties, new_client

    cfg = _cfg(args.port, args.client_id, args.receive_maximum)
    client = new_client(cfg, cfg.client_id, manual_ack=True)
    count = [0]
    done = threading.Event()

    def on_message(c: Any, _u: Any, m: Any) -> None:
        count[0] += 1
        c.ack(m.mid, m.qos)
        if count[0] >= args.messages:
            done.set()

    client.on_message = on_message
    start, cpu = time.perf_counter(), _cpu_s([os.getpid()])
    client.connect("127.0.0.1", args.port, clean_start=False, properties=connect_properties(cfg))
    client.loop_start()
    ok = done.wait(args.timeout)
    elapsed, cpu = time.perf_counter() - start, _cpu_s([os.getpid()]) - cpu
    time.sleep(0.3)  # let the last acks go out
    client.disconnect()
    client.loop_stop()
    print(json.dumps({"messages": count[0], "seconds": elapsed, "complete": ok, "cpu_s": cpu,
                      "peak_rss_mb": _peak_rss_mb()}))  # fmt: skip


def role_reader(args: argparse.Namespace) -> None:
    """CityOps's own MQTT reader (adapters/mqtt_consumer.py) acknowledging each message at
    once, no pipeline: what the transport alone costs in the consumer CityOps runs."""
    from cityops.adapters.mqtt_consumer import MqttConsumer

    done = threading.Event()
    count = [0]

    def submit(_message: Any, ack: Any, **_: Any) -> bool:
        count[0] += 1
        ack()
        if count[0] >= args.messages:
            done.set()
        return True

    consumer = MqttConsumer(_cfg(args.port, args.client_id, args.receive_maximum), submit)
    start, cpu = time.perf_counter(), _cpu_s([os.getpid()])
    consumer.start()
    ok = done.wait(args.timeout)
    elapsed, cpu = time.perf_counter() - start, _cpu_s([os.getpid()]) - cpu
    consumer.stop()
    print(json.dumps({"messages": count[0], "seconds": elapsed, "complete": ok, "cpu_s": cpu,
                      "peak_rss_mb": _peak_rss_mb()}))  # fmt: skip


def role_cityops(args: argparse.Namespace) -> None:
    from cityops.adapters.mqtt_consumer import MqttConsumer
    from cityops.bootstrap import bootstrap
    from cityops.config import Settings
    from cityops.service.telemetry import telemetry

    app = bootstrap(Settings(database_url=args.db, model_dir=None,
                             telemetry_batch_messages=args.batch,
                             telemetry_ingest_process=not args.in_process))  # fmt: skip
    tel = telemetry(app)
    tel.warm(alarms=args.in_process)  # as a running consumer is (an ingest child warms its own)
    pipeline = tel.pipeline()  # with an ingest process: returns once the child is warm
    stages = ["decode", "clean", "store history+rollups+latest"] + [
        type(x).__name__ for x in tel.listeners]
    expected = args.messages * args.records
    consumer = MqttConsumer(_cfg(args.port, args.client_id, args.receive_maximum),
                            pipeline.submit)  # fmt: skip
    pids = [os.getpid()] + ([] if tel.ingest_pid is None else [tel.ingest_pid])
    start, cpu, cpu_ingest = time.perf_counter(), _cpu_s(pids), _cpu_s(pids[1:])
    consumer.start()
    deadline = time.monotonic() + args.timeout
    st = pipeline.stats
    unacked = 0  # the most messages taken and not acknowledged: the window must bound it
    while st.accepted + st.duplicates + st.rejected < expected and time.monotonic() < deadline:
        unacked = max(unacked, consumer.stats.received - consumer.stats.acked)
        time.sleep(0.01)
    elapsed, cpu, cpu_ingest = (time.perf_counter() - start, _cpu_s(pids) - cpu,
                                _cpu_s(pids[1:]) - cpu_ingest)  # fmt: skip
    consumer.stop(drain=pipeline.drain)
    tel.close()
    from sqlalchemy import func, select

    from cityops.adapters.db.lifeline_models import ReadingRow

    with app.reads() as s:
        stored = s.scalar(select(func.count()).select_from(ReadingRow)) or 0
    print(json.dumps({"messages": consumer.stats.received, "acked": consumer.stats.acked,
                      "seconds": elapsed, "cpu_s": cpu, "cpu_ingest_s": cpu_ingest,
                      "points": st.accepted,
                      "duplicates": st.duplicates,
                      "rejected": st.rejected, "stored": stored, "batches": st.batches,
                      "peak_queue_bytes": st.peak_bytes, "stages": stages,
                      "most_unacked": unacked,
                      "peak_rss_mb": _peak_rss_mb()}))  # fmt: skip


# ---------------------------------------------------------------------- orchestration


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _broker(tmp: Path) -> tuple[subprocess.Popen[bytes], int]:
    port = _free_port()
    conf = tmp / "mosquitto.conf"
    # set_tcp_nodelay: without it Nagle holds the broker's small writes for the client's
    # delayed ACK and a drain runs at 7k or 16k messages/s from one run to the next.
    conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
                    "set_tcp_nodelay true\n"
                    "max_queued_messages 0\nmax_queued_bytes 0\nmax_inflight_messages 0\n"
                    "log_dest none\n")  # fmt: skip
    proc = subprocess.Popen(["mosquitto", "-c", str(conf)])
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc, port
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("mosquitto did not start")


def _role(role: str, args: argparse.Namespace, **kw: Any) -> subprocess.Popen[str]:
    opts = {"port": args.port, "messages": args.messages, "records": args.records,
            "receive_maximum": args.receive_maximum, "batch": args.batch, **kw}  # fmt: skip
    cmd = [sys.executable, __file__, "--role", role] + (["--in-process"] if args.in_process else [])
    for k, v in opts.items():
        cmd += [f"--{k.replace('_', '-')}", str(v)]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)


def _result(proc: subprocess.Popen[str]) -> dict[str, Any]:
    out, _ = proc.communicate()
    if proc.returncode:
        raise RuntimeError(f"{proc.args} failed ({proc.returncode})")
    return dict(json.loads(out.strip().splitlines()[-1]))


def _us_per_message(result: dict[str, Any], cpu: str = "cpu_s") -> float:
    return round(result[cpu] / result["messages"] * 1e6, 1)


def _database(tmp: Path, postgres: bool) -> tuple[str, list[str]]:
    from cityops.bootstrap import bootstrap
    from cityops.config import Settings
    from cityops.demo.load import load_demo

    created: list[str] = []
    if postgres:
        import psycopg

        name = f"cityops_bench_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{name}"')
        created.append(name)
        url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    else:
        url = f"sqlite:///{tmp}/bench.db"
    app = bootstrap(Settings(database_url=url, model_dir=None, argon2_time_cost=1,
                             argon2_memory_kib=1024))  # fmt: skip
    load_demo(app)
    app.dispose()
    return url, created


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--role", default="main")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--messages", type=int, default=100_000)
    p.add_argument("--records", type=int, default=8, help="SenML records (points) per message")
    from cityops.config import Settings

    defaults = Settings.model_fields  # the deployment's defaults unless told otherwise
    p.add_argument("--receive-maximum", type=int,
                   default=defaults["mqtt_receive_maximum"].default)  # fmt: skip
    p.add_argument("--batch", type=int, default=defaults["telemetry_batch_messages"].default,
                   help="messages per pipeline batch")  # fmt: skip
    p.add_argument("--overload-messages", type=int, default=150_000)
    p.add_argument("--client-id", default="")
    p.add_argument("--db", default="")
    p.add_argument("--end", type=float, default=0.0)
    p.add_argument("--round0", type=int, default=0)
    p.add_argument("--timeout", type=float, default=900.0)
    p.add_argument("--postgres", action="store_true")
    p.add_argument("--in-process", action="store_true",
                   help="ingest in the consumer's process (default: a second process)")
    args = p.parse_args()
    roles = {"session": role_session, "publish": role_publish, "bare": role_bare,
             "reader": role_reader, "cityops": role_cityops}  # fmt: skip
    if args.role != "main":
        roles[args.role](args)
        return
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        broker, args.port = _broker(tmp)
        created: list[str] = []
        try:
            created = _run(args, tmp)[1]
        finally:
            broker.terminate()
            broker.wait(10)
            if created:
                import psycopg

                with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
                    for name in created:
                        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _run(args: argparse.Namespace, tmp: Path) -> tuple[None, list[str]]:
    engine = "postgres" if args.postgres else "sqlite"
    url, created = _database(tmp, args.postgres)
    load = os.getloadavg()
    from cityops.demo.lifeline_sim import LifelineSim

    # Devices report at their sampling interval: the overload run's window comes after the
    # main run's, so its points are new and not late (the rules see them too).
    sim = LifelineSim.demo()
    overload_end = time.time() - 120
    end = overload_end - sim.bench_span_s(args.overload_messages, args.records) - 60
    for cid in ("bench-bare", "bench-reader", "bench-cityops"):
        _result_or_ok(_role("session", args, client_id=cid))
    pub = _result(_role("publish", args, end=end, round0=0))
    bare = _result(_role("bare", args, client_id="bench-bare"))
    reader = _result(_role("reader", args, client_id="bench-reader"))
    city = _result(_role("cityops", args, client_id="bench-cityops", db=url))
    points = args.messages * args.records
    bare_rate, city_rate = bare["messages"] / bare["seconds"], city["messages"] / city["seconds"]
    common = {"engine": engine, "messages": args.messages, "records": args.records,
              "ingest": "in process" if args.in_process else "second process",
              "loadavg": [round(x, 2) for x in load], "cpus": os.cpu_count()}  # fmt: skip
    emit("mqtt_preload_publish", pub["published"] / pub["seconds"], "messages/s", "none", 0,
          **common)  # fmt: skip
    emit(f"telemetry_mqtt_{engine}", city_rate, "messages/s", "bare_paho_drain", bare_rate,
          points_per_s=round(city_rate * args.records, 1),
          bare_points_per_s=round(bare_rate * args.records, 1),
          peak_rss_mb=round(city["peak_rss_mb"], 1), bare_peak_rss_mb=round(bare["peak_rss_mb"], 1),
          stored=city["stored"], expected=points, stages=city["stages"],
          cpu_us_per_message=_us_per_message(city),
          ingest_process_cpu_us_per_message=_us_per_message(city, "cpu_ingest_s"),
          bare_cpu_us_per_message=_us_per_message(bare),
          batches=city["batches"], **common)  # fmt: skip
    reader_rate = reader["messages"] / reader["seconds"]
    emit("mqtt_reader_drain", reader_rate, "messages/s", "bare_paho_drain", bare_rate,
          cpu_us_per_message=_us_per_message(reader), bare_cpu_us_per_message=_us_per_message(bare),
          pipeline_vs_reader=round(city_rate / reader_rate, 4), **common)  # fmt: skip
    emit(f"telemetry_mqtt_{engine}_vs_goal", city_rate * args.records, "points/s", "goal",
          60_000, **common)  # fmt: skip
    _overload(args, url, overload_end, common, engine)
    return None, created


def _result_or_ok(proc: subprocess.Popen[str]) -> None:
    proc.communicate()
    if proc.returncode:
        raise RuntimeError(f"{proc.args} failed")


def _overload(args: argparse.Namespace, url: str, end: float, common: dict[str, Any],
              engine: str) -> None:  # fmt: skip
    """The consumer runs while a publisher pushes as fast as it can; sample the RSS."""
    import psutil
    from sqlalchemy import create_engine, text

    n = args.overload_messages
    _result_or_ok(_role("session", args, client_id="bench-overload"))
    with create_engine(url).connect() as conn:
        before = conn.execute(text("SELECT count(*) FROM telemetry_readings")).scalar_one()
    sub = argparse.Namespace(**{**vars(args), "messages": n})
    consumer = _role("cityops", sub, client_id="bench-overload", db=url)
    rss: list[float] = []
    own: list[float] = []  # the consumer's process alone (the rest is its ingest process)
    watch = psutil.Process(consumer.pid)
    publisher = _role("publish", sub, end=end, round0=0)
    while consumer.poll() is None:
        try:  # the consumer and its ingest process
            family = [watch, *watch.children(recursive=True)]
            sizes = [p.memory_info().rss / 2**20 for p in family]
            rss.append(sum(sizes))
            own.append(sizes[0])
        except psutil.NoSuchProcess:
            pass  # one of them just ended
        time.sleep(0.2)
    pub, city = _result(publisher), _result(consumer)
    with create_engine(url).connect() as conn:
        after = conn.execute(text("SELECT count(*) FROM telemetry_readings")).scalar_one()
    offered = pub["published"] / pub["seconds"]
    drained = city["messages"] / city["seconds"]
    settle = rss[len(rss) // 4 :] or rss
    emit(f"telemetry_mqtt_{engine}_overload_memory", max(rss or [0]), "MB peak RSS",
          "rss_after_warmup_min", min(settle or [0]), most_unacked=city["most_unacked"],
          peak_queue_bytes=city["peak_queue_bytes"], receive_maximum=args.receive_maximum,
          offered_messages_per_s=round(offered, 1), drained_messages_per_s=round(drained, 1),
          published_points=n * args.records, stored_points=after - before,
          lost=n * args.records - (after - before), rss_samples_mb=[round(x) for x in rss[::5]],
          consumer_rss_samples_mb=[round(x) for x in own[::5]],
          **common)  # fmt: skip


if __name__ == "__main__":
    main()
