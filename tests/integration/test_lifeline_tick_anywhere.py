"""A tick anywhere is safe (docs/lifeline.md "Where the tick runs"): an API process that took
one reading over HTTP ticks beside the `cityops mqtt` worker that ingests the real stream.
Two Apps on one database stand for the two processes: the API's tick judges a device's
silence by what every process stored, raises no false offline alarm for a device only the
worker sees, still raises it when that device really stops, and never writes its rule state
over the worker's; it leaves a coupled alarm the worker holds alone, and ends it when the
window runs out; a restarted ticker never runs beside the one it replaced."""

from __future__ import annotations

import threading

from sqlalchemy import func, select

from cityops.adapters.db.alarm_models import AlarmEventRow, AlarmRow, RuleStateRow
from cityops.bootstrap import App
from cityops.service.lifeline.engine import AlarmEngine
from tests.conftest import Clock
from tests.helpers import alarm_engine, send_reading

WELL = "SJ-CH4-0001"  # methane in a well, every 300 s: offline after 3 intervals (15 min)
GAS = "SJ-GPT-0001"  # another device: the API's one reading
PIPE = "asset:SJ-GP-0001"  # GAS's pipe, beside WELL's well: the coupled rule's subject


def _offline(app: App, device: str) -> list[AlarmRow]:
    with app.reads() as s:
        return list(s.scalars(select(AlarmRow).where(AlarmRow.alarm_type == "offline",
                                                     AlarmRow.subject == f"device:{device}")))


def test_a_tick_beside_the_ingesting_worker_judges_silence_by_every_process(
    app: App, worker: App, clock: Clock
) -> None:
    send_reading(worker, WELL, "ch4", 1.0, "%LEL")
    clock.advance(minutes=5)
    send_reading(app, GAS, "pressure", 0.3, "MPa")  # the API took one reading: its engine is built
    api = alarm_engine(app)  # … knowing the well's reading stored so far, and no later one
    for _ in range(12):  # an hour of the well's readings, all through the worker
        send_reading(worker, WELL, "ch4", 1.0, "%LEL")
        clock.advance(minutes=5)
        api.tick()  # far past the window since the API's evaluator last saw the well
    assert _offline(app, WELL) == []
    # The well really stops: the API's tick now raises what the worker's would.
    clock.advance(minutes=16)
    api.tick()
    (alarm,) = _offline(app, WELL)
    assert (alarm.state, alarm.level) == ("active", 1)
    # … and its readings coming back through the worker clear it (after the hold).
    send_reading(worker, WELL, "ch4", 1.0, "%LEL")
    api.tick()
    clock.advance(minutes=6)
    send_reading(worker, WELL, "ch4", 1.0, "%LEL")
    api.tick()
    (alarm,) = _offline(app, WELL)
    assert (alarm.state, alarm.cleared_how) == ("cleared", "auto")


def test_an_engine_that_only_ticked_writes_no_rule_state_over_the_workers(
    app: App, worker: App, clock: Clock
) -> None:
    for v in (1.0, 1.2, 0.9):
        send_reading(worker, WELL, "ch4", v, "%LEL")
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


def _coupled(app: App) -> tuple[AlarmRow, list[str]]:
    with app.reads() as s:
        alarm = s.scalars(select(AlarmRow).where(AlarmRow.alarm_type == "gas_leak_coupled",
                                                 AlarmRow.subject == PIPE)).one()  # fmt: skip
        events = s.scalars(select(AlarmEventRow.what).where(AlarmEventRow.alarm_id == alarm.id,
                                                            AlarmEventRow.what != "case")
                           .order_by(AlarmEventRow.id))  # fmt: skip
        return alarm, list(events)  # what happened to the alarm (not its case)


def test_a_tick_that_does_not_see_the_readings_leaves_coupled_alarms_to_what_was_seen(
    app: App, worker: App, clock: Clock
) -> None:
    """Gas in the well and a pressure drop on the pipe beside it, both through the worker:
    coupled 红. The API's engine saw none of it; its ticks (CITYOPS_LIFELINE_TICK=true, or
    after one reading over HTTP) must neither mark the alarm gone while the worker sees the
    conditions (each batch of the worker would then count a return of it) nor clear it
    within the window when the worker stops; once the window has run out they end it."""
    for _ in range(8):
        send_reading(worker, GAS, "pressure", 0.30, "MPa")
        send_reading(worker, WELL, "ch4", 1.0, "%LEL")
        clock.advance(minutes=1)
    for gas, ch4 in ((0.30, 6.0), (0.30, 6.5), (0.22, 6.5), (0.21, 6.5)):
        send_reading(worker, GAS, "pressure", gas, "MPa")
        send_reading(worker, WELL, "ch4", ch4, "%LEL")
        clock.advance(minutes=1)
    alarm, _ = _coupled(app)
    assert (alarm.level, alarm.current_level) == (4, 4)
    api, ingesting = alarm_engine(app), alarm_engine(worker)
    for _ in range(10):  # the leak goes on: the worker sees it, both processes tick
        send_reading(worker, GAS, "pressure", 0.17, "MPa")
        send_reading(worker, WELL, "ch4", 6.5, "%LEL")
        ingesting.tick()
        api.tick()
        alarm, events = _coupled(app)
        assert (alarm.state, alarm.current_level, alarm.count) == ("active", 4, 1), events
        clock.advance(minutes=1)
    assert events == ["raised"]
    # The worker stops (a restart, say): the API alone ticks on. The conditions were last
    # seen a minute ago and hold for the 10-minute window; gone then, cleared 5 minutes on.
    cleared_after = None
    for minute in range(1, 20):
        api.tick()
        alarm, events = _coupled(app)
        if alarm.state == "cleared" and cleared_after is None:
            cleared_after = minute
        if minute < 10:
            assert (alarm.state, alarm.current_level) == ("active", 4), minute
        clock.advance(minutes=1)
    assert cleared_after == 15 and alarm.cleared_how == "auto"
    assert events == ["raised", "cleared"]


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
