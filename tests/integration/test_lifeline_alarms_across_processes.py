"""The alarm book across processes: the engine that ingests (a `cityops mqtt` worker, the
ingest child) is another App on the same database than the API where operators acknowledge
and clear. The rows are the truth: a manual change holds against the ingesting engine's next
batch and tick, and the API writes no stale state over the engine's (docs/lifeline.md,
"Alarms")."""

from __future__ import annotations

import threading
from functools import partial

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, select

from cityops.adapters.db.alarm_models import AlarmEventRow, AlarmRow
from cityops.bootstrap import App
from cityops.domain.errors import Conflict
from cityops.domain.lifeline.alarms import Alarm, AlarmBook, AlarmState, Change, Key
from cityops.service.lifeline import store
from cityops.service.lifeline.engine import AlarmEngine
from tests.conftest import T0, Clock
from tests.helpers import Api, alarm_engine, send_reading

WELL = "SJ-CH4-0001"  # methane in a well beside a gas pipe, %{LEL}: 蓝 ≥ 5 … 红 ≥ 25


def _feed(app: App, clock: Clock, *values: float, minutes: float = 5) -> None:
    for v in values:
        send_reading(app, WELL, "ch4", v, "%LEL")
        clock.advance(minutes=minutes)


def _alarm(app: App) -> AlarmRow:
    with app.reads() as s:
        (row,) = s.scalars(select(AlarmRow).where(AlarmRow.alarm_type == "gas_leak")).all()
        return row


def _log(app: App, alarm_id: int) -> list[str]:
    with app.reads() as s:
        return list(s.scalars(select(AlarmEventRow.what).where(AlarmEventRow.alarm_id == alarm_id)
                              .order_by(AlarmEventRow.id)))  # fmt: skip


BACKGROUND = (1.0, 1.2, 0.9, 1.1, 1.0, 1.3, 1.1, 1.0)  # fills the cleaning window


def test_acknowledged_and_cleared_by_hand_hold_against_the_ingesting_engine(
    app: App, worker: App, clock: Clock
) -> None:
    api = Api(app)
    _feed(worker, clock, *BACKGROUND, 30.0, 31.0)  # a lone jump is a spike; the second: 红
    alarm = _alarm(app)
    assert (alarm.level, alarm.state) == (4, "active")
    r = api.post("commander", f"/api/v1/lifeline/alarms/{alarm.id}/acknowledge", json={})
    assert r.status_code == 200 and r.json()["state"] == "acknowledged", r.text
    # The condition lasts: the worker's batches and ticks keep the acknowledgement.
    _feed(worker, clock, 32.0, 33.0, minutes=1)
    engine = alarm_engine(worker)
    engine.tick()
    held = _alarm(app)
    assert (held.state, held.acknowledged_by, held.level) == ("acknowledged", "commander", 4)
    assert held.count == 1 and held.last_seen > alarm.last_seen  # still counted, same alarm
    # Cleared by hand while the gas is still there: the next reading re-raises the same
    # alarm (a return within the re-raise window), it is not counted on as if still open.
    r = api.post("commander", f"/api/v1/lifeline/alarms/{alarm.id}/clear",
                 json={"note": "现场复核"})  # fmt: skip
    assert r.status_code == 200 and r.json()["state"] == "cleared", r.text
    _feed(worker, clock, 34.0, minutes=1)
    again = _alarm(app)
    assert (again.id, again.state, again.reraised) == (alarm.id, "active", 1)
    assert again.acknowledged_by is None and again.cleared_at is None
    log = [w for w in _log(app, alarm.id) if w != "case"]
    assert log == ["raised", "acknowledged", "cleared", "reraised"]
    # Cleared by hand again and the gas gone: the worker's readings and ticks leave it cleared.
    r = api.post("commander", f"/api/v1/lifeline/alarms/{alarm.id}/clear",
                 json={"note": "已处置"})  # fmt: skip
    assert r.status_code == 200, r.text
    _feed(worker, clock, 1.0, 1.1, 1.0, minutes=5)
    engine.tick()
    done = _alarm(app)
    assert (done.state, done.cleared_how, done.cleared_by) == ("cleared", "manual", "commander")
    assert _log(app, alarm.id)[-1] == "cleared"


def test_the_api_writes_no_stale_state_over_the_ingesting_engine(
    app: App, worker: App, clock: Clock
) -> None:
    api = Api(app)
    _feed(worker, clock, *BACKGROUND, 6.0, 6.5, minutes=1)  # 蓝
    alarm = _alarm(app)
    assert (alarm.level, alarm.state) == (1, "active")
    r = api.post("commander", f"/api/v1/lifeline/alarms/{alarm.id}/acknowledge", json={})
    assert r.status_code == 200, r.text
    # The worker escalates it to 红: a higher level needs a new acknowledgement …
    _feed(worker, clock, 30.0, 31.0, minutes=1)
    escalated = _alarm(app)
    assert (escalated.level, escalated.state) == (4, "active")
    # … which the API takes from the row, not from what it saw at the first one.
    r = api.post("commander", f"/api/v1/lifeline/alarms/{alarm.id}/acknowledge", json={})
    assert r.status_code == 200, r.text
    assert (r.json()["state"], r.json()["level"]) == ("acknowledged", 4)
    # The gas goes; after the hold time the worker clears it. Clearing it by hand now is a
    # conflict, and the automatic clear stays as it was written.
    _feed(worker, clock, 1.0, minutes=6)
    _feed(worker, clock, 1.1, minutes=1)
    assert _alarm(app).cleared_how == "auto"
    r = api.post("commander", f"/api/v1/lifeline/alarms/{alarm.id}/clear",
                 json={"note": "迟到的解除"})  # fmt: skip
    assert r.status_code == 409 and r.json()["error"]["details"]["state"] == "cleared", r.text
    final = _alarm(app)
    assert (final.state, final.cleared_how, final.cleared_by) == ("cleared", "auto", None)


# -- property: an ingesting engine and the API on one database keep the alarms of one book ---
KEYS: list[Key] = [("asset:P1", "gas_leak"), ("device:D7", "offline")]
op = st.one_of(
    st.tuples(st.just("observe"), st.integers(0, 1), st.integers(0, 4), st.integers(0, 8)),
    st.tuples(st.just("tick"), st.just(0), st.just(0), st.integers(0, 12)),
    st.tuples(st.just("acknowledge"), st.integers(0, 1), st.just(0), st.integers(0, 3)),
    st.tuples(st.just("clear"), st.integers(0, 1), st.just(0), st.integers(0, 3)),
)


def _stored(app: App) -> tuple[list[tuple[object, ...]], list[tuple[int, str, int]]]:
    with app.reads() as s:
        rows = [store.to_domain(r) for r in s.scalars(select(AlarmRow).order_by(AlarmRow.id))]
        events = s.execute(select(AlarmEventRow.alarm_id, AlarmEventRow.what, AlarmEventRow.level)
                           .order_by(AlarmEventRow.id)).all()  # fmt: skip
    index = {a.id: i for i, a in enumerate(rows)}
    return [_facets(a) for a in rows], [(index[i], w, level) for i, w, level in events]


def _facets(a: Alarm) -> tuple[object, ...]:
    return (a.key, a.state, a.level, a.current, a.count, a.reraised, a.first_seen, a.last_seen,
            a.gone_since, a.acknowledged_by, a.acknowledged_at, a.cleared_at, a.cleared_how,
            a.cleared_by, a.facts)  # fmt: skip


@settings(max_examples=20, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sequence=st.lists(op, min_size=1, max_size=30))
def test_an_ingesting_engine_and_the_api_keep_the_alarms_of_one_book(
    app: App, worker: App, clock: Clock, sequence: list[tuple[str, int, int, int]]
) -> None:
    """Whatever the interleaving of readings and ticks (the worker's engine) with
    acknowledgements and clears (the API's), the rows and their log are what one book seeing
    the same sequence in one process would hold — the definition of 'the manual state holds'
    (acknowledged while the condition lasts, a clear followed by the re-raise rule)."""
    with app.sessions.begin() as s:
        s.execute(delete(AlarmEventRow))
        s.execute(delete(AlarmRow))
    clock.now = T0
    ingesting, api = AlarmEngine(worker), AlarmEngine(app)
    one = AlarmBook(ingesting.policy)  # the oracle: everything in one process
    created: list[Alarm] = []  # its alarms in the order they were raised (= row ids)
    log: list[tuple[Alarm, str, int]] = []
    for name, k, level, minutes in sequence:
        key = KEYS[k]
        now = int(clock.advance(minutes=minutes).timestamp() * 1000)
        if name in ("acknowledge", "clear"):
            mine = [i for i, a in enumerate(created) if a.key == key]
            if not mine:
                continue
            expected = one.acknowledge(key, "值班员", now) if name == "acknowledge" else \
                one.clear(key, "值班员", now, "现场确认")  # fmt: skip
            try:
                api.manual(_ids(app)[mine[-1]], name, "值班员", "现场确认")
            except Conflict:
                assert expected is None
            else:
                assert expected is not None
                log.append((expected.alarm, expected.what, expected.level))
            assert api._book is None  # the API keeps no copy that could go stale
            continue
        if name == "tick":
            changes = one.tick(now)
            ingesting._commit(partial(_ticked, now=now))
        else:
            changes = one.observe(key, level, now, value=level)
            ingesting._commit(partial(_observed, key=key, level=level, now=now))
        created += [c.alarm for c in changes if c.what == "raised"]
        log += [(c.alarm, c.what, c.level) for c in changes]
        rows, events = _stored(app)
        assert rows == [_facets(a) for a in created]
        assert events == [(created.index(a), what, lvl) for a, what, lvl in log]
    rows, events = _stored(app)
    assert rows == [_facets(a) for a in created]
    assert events == [(created.index(a), what, lvl) for a, what, lvl in log]


def _ids(app: App) -> list[int]:
    with app.reads() as s:
        return list(s.scalars(select(AlarmRow.id).order_by(AlarmRow.id)))


def _ticked(book: AlarmBook, now: int) -> tuple[list[Change], list[Alarm]]:
    changes = book.tick(now)
    return changes, [c.alarm for c in changes]


def _observed(book: AlarmBook, key: Key, level: int,
              now: int) -> tuple[list[Change], list[Alarm]]:  # fmt: skip
    """As the engine's batch does: an alarm is written when its condition is present or it
    was open."""
    was_open = key in book.open
    changes = book.observe(key, level, now, value=level)
    alarm = book.open.get(key) or book.recent.get(key)
    return changes, [alarm] if alarm is not None and (level > 0 or was_open) else []


def test_an_engine_write_waiting_behind_a_manual_change_decides_again(
    app: App, worker: App, clock: Clock
) -> None:
    """The acknowledgement holds the row (as ``manual`` does) while the engine writes the same
    alarm: whether the engine's write waits for it (PostgreSQL's row lock, SQLite's writer
    lock) or comes after, it finds the revision moved and keeps the acknowledgement."""
    key: Key = ("asset:P1", "gas_leak")
    ingesting = AlarmEngine(worker)
    now = int(clock.now.timestamp() * 1000)
    ingesting._commit(partial(_observed, key=key, level=2, now=now))
    failures: list[BaseException] = []

    def write() -> None:
        try:
            ingesting._commit(partial(_observed, key=key, level=2, now=now + 60_000))
        except BaseException as exc:  # reported below, in the test's thread
            failures.append(exc)

    with app.sessions.begin() as s:
        (row,) = s.scalars(select(AlarmRow).with_for_update()).all()
        alarm = store.to_domain(row)
        book = AlarmBook(ingesting.policy)
        book.load(alarm)
        change = book.acknowledge(key, "值班员", now + 30_000)
        assert change is not None
        store.save(s, [alarm], [change], lambda _alarm: {})
        engine_write = threading.Thread(target=write)
        engine_write.start()
        engine_write.join(0.3)  # give it time to block on the row; either way is correct
    engine_write.join()
    assert failures == []
    (stored,) = _stored(app)[0]
    assert stored[1:3] == (AlarmState.ACKNOWLEDGED, 2)
    assert stored[7] == now + 60_000  # the engine's reading is counted on the acknowledged alarm
    with app.reads() as s:
        assert s.scalars(select(AlarmRow.revision)).one() == 2
