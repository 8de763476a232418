"""Properties of the alarm book (告警): random sequences of conditions, ticks, acknowledgements
and manual clears over a few keys, checked against the rules of the state machine and against
a rebuilt book (what a restart does with the stored rows)."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

from hypothesis import given
from hypothesis import strategies as st

from cityops.domain.lifeline.alarms import Alarm, AlarmBook, AlarmPolicy, AlarmState, Change, Key

POLICY = AlarmPolicy(clear_hold_ms=5, reraise_window_ms=20, flap_count=2)
KEYS: list[Key] = [("asset:P1", "gas_leak"), ("asset:P1", "pressure_low"),
                   ("device:D7", "gas_leak")]  # fmt: skip

op = st.one_of(
    st.tuples(st.just("observe"), st.integers(0, 2), st.integers(0, 4), st.integers(0, 7)),
    st.tuples(st.just("tick"), st.just(0), st.just(0), st.integers(0, 12)),
    st.tuples(st.just("acknowledge"), st.integers(0, 2), st.just(0), st.integers(0, 3)),
    st.tuples(st.just("clear"), st.integers(0, 2), st.just(0), st.integers(0, 3)),
)
ops = st.lists(op, max_size=80)


def apply(book: AlarmBook, name: str, key: Key, level: int, now: int) -> list[Change]:
    if name == "observe":
        return book.observe(key, level, now, value=level)
    if name == "tick":
        return book.tick(now)
    if name == "acknowledge":
        change = book.acknowledge(key, "值班员", now)
        return [change] if change else []
    change = book.clear(key, "值班员", now, "现场确认")
    return [change] if change else []


@dataclass
class Seen:
    """What the test remembers about each alarm object while the sequence runs."""

    alarm: Alarm
    state: AlarmState = AlarmState.ACTIVE
    first_seen: int = 0
    last_seen: int = 0
    count: int = 0
    level: int = 0
    history: list[str] = field(default_factory=list)


# The states each change may come from, and the state it leaves.
ALLOWED = {
    "raised": (set(), AlarmState.ACTIVE),
    "repeated": ({AlarmState.ACTIVE, AlarmState.ACKNOWLEDGED}, None),
    "escalated": ({AlarmState.ACTIVE, AlarmState.ACKNOWLEDGED}, AlarmState.ACTIVE),
    "acknowledged": ({AlarmState.ACTIVE}, AlarmState.ACKNOWLEDGED),
    "cleared": ({AlarmState.ACTIVE, AlarmState.ACKNOWLEDGED}, AlarmState.CLEARED),
    "reraised": ({AlarmState.CLEARED}, AlarmState.ACTIVE),
}


def run(sequence: list[tuple[str, int, int, int]]) -> None:
    book = AlarmBook(POLICY)
    seen: dict[int, Seen] = {}
    last_positive: dict[Key, int] = {}
    manual: set[Key] = set()
    now = 0
    for name, key_i, level, dt in sequence:
        now += dt
        key = KEYS[key_i]
        before_open = book.open.get(key)
        changes = apply(book, name, key, level, now)
        for c in changes:
            # Seen holds the alarm, so its id is never reused by a later alarm.
            record = seen.setdefault(id(c.alarm), Seen(c.alarm, first_seen=c.alarm.first_seen))
            sources, target = ALLOWED[c.what]
            if c.what == "raised":
                assert not record.history, "a raised alarm is a new alarm"
            else:
                assert record.state in sources, f"{c.what} from {record.state}"
            if c.what == "cleared" and c.alarm.cleared_how == "auto":
                # Auto clear only once the condition has been gone for the hold.
                assert last_positive[c.alarm.key] <= c.at - POLICY.clear_hold_ms
            record.state = target or record.state
            record.history.append(c.what)
        # One alarm per key: open and recently cleared are disjoint, keyed by their own key.
        assert not set(book.open) & set(book.recent)
        for k, alarm in {**book.open, **book.recent}.items():
            assert alarm.key == k
            assert alarm.is_open == (k in book.open)
        for alarm in [*book.open.values(), *book.recent.values()]:
            record = seen[id(alarm)]
            assert alarm.state is record.state
            assert alarm.first_seen == record.first_seen  # never moves
            assert alarm.last_seen >= record.last_seen and alarm.count >= record.count
            assert alarm.level >= record.level  # the highest level while open
            assert alarm.first_seen <= alarm.last_seen
            record.last_seen, record.count, record.level = alarm.last_seen, alarm.count, alarm.level
        if name == "tick":  # nothing stays open whose condition has been gone for the hold
            for alarm in book.open.values():
                assert alarm.gone_since is None or now - alarm.gone_since < POLICY.clear_hold_ms
        if name == "observe" and level > 0:
            after = book.open[key]
            # A return within the hold (no manual clear between) is the same alarm, counted.
            if key in last_positive and now - last_positive[key] < POLICY.clear_hold_ms \
                    and key not in manual:  # fmt: skip
                assert before_open is after
                assert not any(c.what in ("raised", "reraised") for c in changes)
            assert after.current == level and after.last_seen == now
            if any(c.what == "reraised" for c in changes):
                assert book.flapping(after) == (after.reraised >= POLICY.flap_count)
            last_positive[key] = now
            manual.discard(key)
        if name == "clear" and changes:
            manual.add(key)


@given(ops)
def test_alarm_book_keeps_its_state_machine(sequence: list[tuple[str, int, int, int]]) -> None:
    run(sequence)


def stored(alarm: Alarm) -> Alarm:
    """What a restart reads back from the alarm rows."""
    return copy.deepcopy(alarm)


@given(ops, ops)
def test_a_rebuilt_book_decides_like_the_running_one(
    first: list[tuple[str, int, int, int]], then: list[tuple[str, int, int, int]]
) -> None:
    running = AlarmBook(POLICY)
    now = 0
    for name, key_i, level, dt in first:
        now += dt
        apply(running, name, KEYS[key_i], level, now)
    rebuilt = AlarmBook(POLICY)
    for alarm in [*running.open.values(), *running.recent.values()]:
        rebuilt.load(stored(alarm))
    for name, key_i, level, dt in then:
        now += dt
        a = apply(running, name, KEYS[key_i], level, now)
        b = apply(rebuilt, name, KEYS[key_i], level, now)
        assert [(c.what, c.at, c.level, c.alarm.key, c.alarm.count) for c in a] == \
            [(c.what, c.at, c.level, c.alarm.key, c.alarm.count) for c in b]  # fmt: skip
    assert {k: (a.state, a.level, a.count, a.last_seen) for k, a in running.open.items()} == \
        {k: (a.state, a.level, a.count, a.last_seen) for k, a in rebuilt.open.items()}  # fmt: skip


@given(st.integers(1, 4), st.integers(1, 4), st.integers(0, 4))
def test_escalation_needs_a_new_acknowledgement(first: int, second: int, gap: int) -> None:
    book = AlarmBook(POLICY)
    key = KEYS[0]
    book.observe(key, first, 0)
    assert book.acknowledge(key, "值班员", 1) is not None
    changes = book.observe(key, second, 1 + gap)
    alarm = book.open[key]
    assert alarm.level == max(first, second)
    escalated = second > first
    assert any(c.what == "escalated" for c in changes) == escalated
    assert alarm.state is (AlarmState.ACTIVE if escalated else AlarmState.ACKNOWLEDGED)
