"""A tick anywhere is safe (docs/lifeline.md "Where the tick runs"): an API process that took
one reading over HTTP ticks beside the `cityops mqtt` worker that ingests the real stream.
Two Apps on one database stand for the two processes: the API's tick judges a device's
silence by what every process stored, raises no false offline alarm for a device only the
worker sees, still raises it when that device really stops, and never writes its rule state
over the worker's; a restarted ticker never runs beside the one it replaced."""

from __future__ import annotations

import threading

import orjson
from sqlalchemy import func, select

from cityops.adapters.db.alarm_models import AlarmRow, RuleStateRow
from cityops.bootstrap import App
from cityops.service.lifeline.engine import AlarmEngine
from cityops.service.telemetry import RawMessage, telemetry
from tests.conftest import Clock
from tests.helpers import alarm_engine

WELL = "SJ-CH4-0001"  # methane in a well, every 300 s: offline after 3 intervals (15 min)
GAS = "SJ-GPT-0001"  # another device: the API's one reading


def _send(app: App, device: str, metric: str, value: float, unit: str) -> None:
    now = app.clock().timestamp()
    pack = [{"bn": f"{device}:", "n": metric, "u": unit, "v": value, "t": now}]
    result = telemetry(app).ingest([RawMessage("test", orjson.dumps(pack), now,
                                               "application/senml+json")])  # fmt: skip
    assert result.accepted == 1, result


def _offline(app: App, device: str) -> list[AlarmRow]:
    with app.reads() as s:
        return list(s.scalars(select(AlarmRow).where(AlarmRow.alarm_type == "offline",
                                                     AlarmRow.subject == f"device:{device}")))


def test_a_tick_beside_the_ingesting_worker_judges_silence_by_every_process(
    app: App, worker: App, clock: Clock
) -> None:
    _send(worker, WELL, "ch4", 1.0, "%LEL")
    clock.advance(minutes=5)
    _send(app, GAS, "pressure", 0.3, "MPa")  # the API took one reading: its engine is built
    api = alarm_engine(app)  # … knowing the well's reading stored so far, and no later one
    for _ in range(12):  # an hour of the well's readings, all through the worker
        _send(worker, WELL, "ch4", 1.0, "%LEL")
        clock.advance(minutes=5)
        api.tick()  # far past the window since the API's evaluator last saw the well
    assert _offline(app, WELL) == []
    # The well really stops: the API's tick now raises what the worker's would.
    clock.advance(minutes=16)
    api.tick()
    (alarm,) = _offline(app, WELL)
    assert (alarm.state, alarm.level) == ("active", 1)
    # … and its readings coming back through the worker clear it (after the hold).
    _send(worker, WELL, "ch4", 1.0, "%LEL")
    api.tick()
    clock.advance(minutes=6)
    _send(worker, WELL, "ch4", 1.0, "%LEL")
    api.tick()
    (alarm,) = _offline(app, WELL)
    assert (alarm.state, alarm.cleared_how) == ("cleared", "auto")


def test_an_engine_that_only_ticked_writes_no_rule_state_over_the_workers(
    app: App, worker: App, clock: Clock
) -> None:
    for v in (1.0, 1.2, 0.9):
        _send(worker, WELL, "ch4", v, "%LEL")
        clock.advance(minutes=5)
    alarm_engine(worker).save_state()  # the worker's snapshot
    with app.reads() as s:
        before = s.scalars(select(func.max(RuleStateRow.id))).one()
    api = alarm_engine(app)
    app.settings = app.settings.model_copy(update={"lifeline_state_snapshot_s": 0})
    api.tick()
    clock.advance(minutes=5)
    api.tick()
    api.close()
    with app.reads() as s:
        assert s.scalars(select(func.max(RuleStateRow.id))).one() == before


def test_a_ticker_started_again_while_its_old_thread_still_ticks_never_makes_two(
    sqlite_app: App,
) -> None:
    """A stop whose wait runs out (a tick held up, say on a database lock) followed by a start:
    the old thread carries on as the ticker, no second one beside it."""
    sqlite_app.settings = sqlite_app.settings.model_copy(update={"lifeline_tick_s": 0.01})
    engine = AlarmEngine(sqlite_app)
    engine.STOP_WAIT_S = 0.05
    entered, release, more = threading.Event(), threading.Event(), threading.Event()
    ticked_by: list[threading.Thread] = []

    def tick() -> list[object]:
        ticked_by.append(threading.current_thread())
        entered.set()
        release.wait(30)
        if len(ticked_by) >= 5:
            more.set()
        return []

    engine.tick = tick  # type: ignore[method-assign]
    mine = {t for t in threading.enumerate() if t.name == "lifeline-tick"}
    try:
        engine.start_ticker()
        assert entered.wait(10)
        engine.stop_ticker()  # its wait runs out: the tick is held up
        engine.start_ticker()
        ticking = {t for t in threading.enumerate() if t.name == "lifeline-tick"} - mine
        assert len(ticking) == 1
        release.set()
        assert more.wait(10)
        assert set(ticked_by) == ticking
    finally:
        release.set()
        engine.STOP_WAIT_S = 10
        engine.stop_ticker()
    assert not any(t.is_alive() for t in ticked_by)
