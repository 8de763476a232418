"""Alarms (告警): one open alarm per key = (subject, alarm type), and its states

    active ──acknowledge──► acknowledged
      │  ▲                      │
      │  └──── escalation ──────┤   (a higher level needs a new acknowledgement)
      ▼                         ▼
    cleared ◄───────────────────┘   automatically once the condition has been gone for
      │                             ``clear_hold_ms``, or by hand (with a note)
      └── the condition returns within ``reraise_window_ms`` ──► the same alarm, active again

Flapping is suppressed twice: a condition that drops and returns within the hold time only
counts (``count``) on the open alarm, and one that returns soon after a clear reopens the same
alarm (``reraised``) instead of raising a new one; at ``flap_count`` re-raises the alarm is
marked ``flapping`` (the case policy then opens no new case for it).
Times are epoch milliseconds. Pure: the service persists what changed; the stored rows are
the truth, and ``revision`` is the row's as this copy read it (a write that finds it moved
was outdone by another process: the service reloads and decides again).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

Key = tuple[str, str]  # (subject "asset:CODE" | "device:CODE", alarm type)


class AlarmState(StrEnum):
    ACTIVE = "active"
    ACKNOWLEDGED = "acknowledged"
    CLEARED = "cleared"


OPEN = (AlarmState.ACTIVE, AlarmState.ACKNOWLEDGED)


@dataclass(frozen=True, slots=True)
class AlarmPolicy:
    clear_hold_ms: int = 5 * 60_000
    reraise_window_ms: int = 30 * 60_000
    flap_count: int = 3

    def flapping(self, alarm: Alarm) -> bool:
        """Re-raised often enough to be flapping: no new case for it."""
        return alarm.reraised >= self.flap_count


@dataclass(slots=True)
class Alarm:
    key: Key
    level: int  # the highest level of this alarm while open
    first_seen: int
    last_seen: int
    state: AlarmState = AlarmState.ACTIVE
    current: int = 0  # the condition's level now (0: gone)
    count: int = 1  # occurrences: each return of the condition counts
    gone_since: int | None = None
    reraised: int = 0
    acknowledged_by: str | None = None
    acknowledged_at: int | None = None
    cleared_at: int | None = None
    cleared_how: str | None = None  # auto | manual
    cleared_by: str | None = None
    facts: dict[str, Any] = field(default_factory=dict)  # rule, device, metric, value …
    id: int | None = None  # the database row, once stored
    case_id: int | None = None
    revision: int = 0  # of the row, as read or last written by this copy

    @property
    def is_open(self) -> bool:
        return self.state in OPEN


@dataclass(frozen=True, slots=True)
class Change:
    alarm: Alarm
    what: str  # raised | repeated | escalated | reraised | acknowledged | cleared
    at: int
    level: int
    note: str | None = None
    by: str | None = None


class AlarmBook:
    """The open alarms and the recently cleared ones (for re-raising), by key."""

    def __init__(self, policy: AlarmPolicy | None = None) -> None:
        self.policy = policy or AlarmPolicy()
        self.open: dict[Key, Alarm] = {}
        self.recent: dict[Key, Alarm] = {}

    def flapping(self, alarm: Alarm) -> bool:
        return self.policy.flapping(alarm)

    def load(self, alarm: Alarm) -> None:
        (self.open if alarm.is_open else self.recent)[alarm.key] = alarm

    def held(self, key: Key, alarm_id: int | None) -> Alarm | None:
        """This book's copy of the stored alarm ``alarm_id`` of ``key``, if it holds one."""
        for alarm in (self.open.get(key), self.recent.get(key)):
            if alarm is not None and alarm.id == alarm_id:
                return alarm
        return None

    def observe(self, key: Key, level: int, at: int, **facts: Any) -> list[Change]:
        """The condition of ``key`` at time ``at`` (level 0: absent)."""
        alarm = self.open.get(key)
        if level <= 0:
            if alarm is None:
                return []
            if alarm.current > 0:
                alarm.current, alarm.gone_since = 0, at
            return self._maybe_clear(alarm, at)
        changes: list[Change] = []
        if alarm is None:
            alarm = self._reraise(key, level, at, changes)
        else:
            if alarm.current == 0:
                alarm.count += 1
                alarm.gone_since = None
                changes.append(Change(alarm, "repeated", at, level))
            if level > alarm.level:
                alarm.level = level
                alarm.state = AlarmState.ACTIVE
                changes.append(Change(alarm, "escalated", at, level))
        alarm.current = level
        alarm.last_seen = max(alarm.last_seen, at)
        alarm.facts.update(facts)
        return changes

    def _reraise(self, key: Key, level: int, at: int, changes: list[Change]) -> Alarm:
        old = self.recent.pop(key, None)
        if old is not None and old.cleared_at is not None and \
                at - old.cleared_at <= self.policy.reraise_window_ms:  # fmt: skip
            old.state, old.count, old.reraised = AlarmState.ACTIVE, old.count + 1, old.reraised + 1
            old.level = max(old.level, level)
            old.cleared_at = old.cleared_how = old.cleared_by = old.gone_since = None
            old.acknowledged_by = old.acknowledged_at = None
            self.open[key] = old
            changes.append(Change(old, "reraised", at, level))
            return old
        alarm = Alarm(key, level, at, at)
        self.open[key] = alarm
        changes.append(Change(alarm, "raised", at, level))
        return alarm

    def _maybe_clear(self, alarm: Alarm, now: int) -> list[Change]:
        if alarm.gone_since is None or now - alarm.gone_since < self.policy.clear_hold_ms:
            return []
        return [self._clear(alarm, now, "auto", None, None)]

    def _clear(self, alarm: Alarm, at: int, how: str, by: str | None,
               note: str | None) -> Change:  # fmt: skip
        alarm.state, alarm.cleared_at, alarm.cleared_how, alarm.cleared_by = (
            AlarmState.CLEARED, at, how, by)  # fmt: skip
        alarm.current, alarm.gone_since = 0, None
        del self.open[alarm.key]
        self.recent[alarm.key] = alarm
        return Change(alarm, "cleared", at, alarm.level, note, by)

    def tick(self, now: int) -> list[Change]:
        """Auto-clear what has been gone long enough; forget old clears."""
        changes = [c for a in list(self.open.values()) for c in self._maybe_clear(a, now)]
        window = self.policy.reraise_window_ms
        for key, alarm in list(self.recent.items()):
            if alarm.cleared_at is None or now - alarm.cleared_at > window:
                del self.recent[key]
        return changes

    def acknowledge(self, key: Key, by: str, at: int, note: str | None = None) -> Change | None:
        alarm = self.open.get(key)
        if alarm is None or alarm.state is not AlarmState.ACTIVE:
            return None
        alarm.state, alarm.acknowledged_by, alarm.acknowledged_at = (
            AlarmState.ACKNOWLEDGED, by, at)  # fmt: skip
        return Change(alarm, "acknowledged", at, alarm.level, note, by)

    def clear(self, key: Key, by: str, at: int, note: str | None) -> Change | None:
        alarm = self.open.get(key)
        if alarm is None:
            return None
        return self._clear(alarm, at, "manual", by, note)
