"""``cityops mqtt`` (the MQTT ingest worker) and ``cityops simulate-lifeline`` (demo traffic)."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Annotated

import typer

from cityops.bootstrap import App


def _until_signalled() -> threading.Event:
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    return stop


def register(cli: typer.Typer, app: Callable[[], App]) -> None:
    @cli.command("mqtt")
    def mqtt_worker(
        url: Annotated[str | None, typer.Option(help="broker (default: CITYOPS_MQTT_URL)")] = None,
    ) -> None:
        """Consume telemetry from the MQTT broker (QoS 1, persistent session) until stopped."""
        from cityops.adapters.mqtt import mqtt_config
        from cityops.entrypoints.lifeline_workers import start_consumer, stop_consumer
        from cityops.service.telemetry import telemetry

        application = app()
        try:
            cfg = mqtt_config(application.settings, url)
        except ValueError as exc:
            typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
            raise typer.Exit(2) from None
        telemetry(application).as_mqtt_worker()  # its rule state is its own, not the API's
        stop = _until_signalled()
        consumer = start_consumer(application, cfg)
        typer.echo(f"consuming {cfg.topic_filter} from {cfg.host}:{cfg.port} as {cfg.client_id} "
                   "(Ctrl-C to stop)")  # fmt: skip
        try:
            while not stop.wait(30):
                s, p = consumer.stats, telemetry(application).pipeline().stats
                typer.echo(f"received {s.received}, acked {s.acked}, points stored {p.accepted}, "
                           f"duplicates {p.duplicates}, rejected {p.rejected}")  # fmt: skip
        finally:
            stop_consumer(application, consumer)
            telemetry(application).close()

    @cli.command("simulate-lifeline")
    def simulate_lifeline(
        mqtt: Annotated[bool, typer.Option("--mqtt", help="publish to the broker instead")] = False,
        url: Annotated[str | None, typer.Option(help="broker (default: CITYOPS_MQTT_URL)")] = None,
        backfill_minutes: Annotated[int, typer.Option(help="first, the last N minutes")] = 0,
        live: Annotated[bool, typer.Option(help="then keep going in real time")] = True,
        tick: Annotated[float, typer.Option(help="seconds between live ticks")] = 5.0,
    ) -> None:
        """The demo network's sensor traffic with incidents, into this process's pipeline (the
        database) or, with --mqtt, to the broker as SenML on cityops/v1/telemetry/{gw}/{dev}."""
        from cityops.adapters.mqtt import Publisher, mqtt_config
        from cityops.demo.lifeline_sim import LifelineSim, SimMessage
        from cityops.entrypoints.lifeline_workers import sim_message, sim_publisher
        from cityops.service.telemetry import telemetry

        application = app()
        s = application.settings
        sim = LifelineSim.demo(incident_every_s=s.simulate_incident_every_s)
        clock = time.time if mqtt else (lambda: application.clock().timestamp())
        stop = _until_signalled()
        sent = 0
        emit: Callable[[SimMessage, float], object]
        if mqtt:
            cfg = mqtt_config(s, url)
            publisher = Publisher(cfg, f"{s.mqtt_client_id}-sim").__enter__()
            emit = sim_publisher(publisher)
        else:
            pipeline = telemetry(application).pipeline()
            emit = lambda m, now: pipeline.submit(sim_message(m, now), timeout=10)  # noqa: E731

        try:
            now = clock()
            if backfill_minutes > 0:
                for m in sim.messages(now - timedelta(minutes=backfill_minutes).total_seconds(),
                                      now):  # fmt: skip
                    emit(m, now)
                    sent += 1
                typer.echo(f"backfilled {backfill_minutes} minutes: {sent} messages")
            if live:
                typer.echo("simulating live lifeline traffic (Ctrl-C to stop)")
                sim.run_live(stop, emit, clock, tick)
        finally:
            if mqtt:
                publisher.__exit__()
            else:
                telemetry(application).close()
