"""Lifeline alarm tables (告警, docs/lifeline.md): versioned rule sets, rule-state snapshots,
alarms and their event log, emergency plans (应急预案) and per-case plan steps.

At most one open alarm per (subject, alarm type): a partial unique index on both engines.
Every write of an alarm row bumps its ``revision`` and expects the one it read (optimistic
concurrency between the ingesting engine and the API's acknowledge/clear, service/lifeline/
store.py).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, LargeBinary, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from cityops.adapters.db.models import Base

_OPEN = text("state <> 'cleared'")


class AlarmRuleSetRow(Base):
    """One version of the rule set; the highest version is in force."""

    __tablename__ = "lifeline_rule_sets"
    id: Mapped[int] = mapped_column(primary_key=True)
    version: Mapped[int] = mapped_column(unique=True)
    content: Mapped[dict[str, Any]]  # as given (YAML/JSON), validated
    created_at: Mapped[datetime]
    created_by: Mapped[str] = mapped_column(String(64))
    note: Mapped[str | None] = mapped_column(Text)


class RuleStateRow(Base):
    """A snapshot of the rules' per-series state (.npz), so durations and baselines survive a
    restart. ``taken_by`` names the process that took it ("serve", "mqtt:{client id}"): each
    restores its own, never another's thinner state ('' before writers were recorded)."""

    __tablename__ = "lifeline_rule_state"
    id: Mapped[int] = mapped_column(primary_key=True)
    taken_at: Mapped[datetime]
    taken_by: Mapped[str] = mapped_column(String(200), server_default="")
    ruleset_version: Mapped[int]
    data: Mapped[bytes] = mapped_column(LargeBinary)


class AlarmRow(Base):
    __tablename__ = "lifeline_alarms"
    __table_args__ = (
        Index("uq_lifeline_alarms_open", "subject", "alarm_type", unique=True,
              sqlite_where=_OPEN, postgresql_where=_OPEN),
        Index("ix_lifeline_alarms_state_level", "state", "level"),
        Index("ix_lifeline_alarms_cleared_at", "cleared_at"),  # the recent clears, each tick
    )  # fmt: skip
    id: Mapped[int] = mapped_column(primary_key=True)
    subject: Mapped[str] = mapped_column(String(80))  # "asset:CODE" | "device:CODE"
    alarm_type: Mapped[str] = mapped_column(String(32), index=True)
    rule_id: Mapped[str | None] = mapped_column(String(64))
    asset_id: Mapped[int | None] = mapped_column(ForeignKey("lifeline_assets.id"), index=True)
    device_id: Mapped[int | None] = mapped_column(ForeignKey("lifeline_devices.id"))
    level: Mapped[int]  # 1 蓝 … 4 红, the highest while open
    current_level: Mapped[int] = mapped_column(default=0)
    state: Mapped[str] = mapped_column(String(16))  # active | acknowledged | cleared
    count: Mapped[int] = mapped_column(default=1)
    reraised: Mapped[int] = mapped_column(default=0)
    first_seen: Mapped[datetime] = mapped_column(index=True)
    last_seen: Mapped[datetime]
    gone_since: Mapped[datetime | None]
    acknowledged_by: Mapped[str | None] = mapped_column(String(64))
    acknowledged_at: Mapped[datetime | None]
    cleared_at: Mapped[datetime | None]
    cleared_how: Mapped[str | None] = mapped_column(String(16))  # auto | manual
    cleared_by: Mapped[str | None] = mapped_column(String(64))
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"), index=True)
    facts: Mapped[dict[str, Any]] = mapped_column(default=dict)  # rule, device, metric, value …
    revision: Mapped[int] = mapped_column(default=0, server_default=text("0"))


class AlarmEventRow(Base):
    __tablename__ = "lifeline_alarm_events"
    id: Mapped[int] = mapped_column(primary_key=True)
    alarm_id: Mapped[int] = mapped_column(ForeignKey("lifeline_alarms.id"), index=True)
    at: Mapped[datetime]
    what: Mapped[str] = mapped_column(String(16))  # raised, repeated, escalated, reraised, …
    level: Mapped[int]
    by: Mapped[str | None] = mapped_column(String(64))
    note: Mapped[str | None] = mapped_column(Text)
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)


class EmergencyPlanRow(Base):
    """应急预案: what to do at a level for some alarm types / asset kinds."""

    __tablename__ = "lifeline_plans"
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    min_level: Mapped[int]
    alarm_types: Mapped[list[Any]] = mapped_column(default=list)
    asset_kinds: Mapped[list[Any]] = mapped_column(default=list)
    steps: Mapped[list[Any]] = mapped_column(default=list)
    contacts: Mapped[list[Any]] = mapped_column(default=list)
    resources: Mapped[list[Any]] = mapped_column(default=list)
    updated_at: Mapped[datetime]
    updated_by: Mapped[str] = mapped_column(String(64))


class CasePlanStepRow(Base):
    """One step of the plan attached to a case, and whether it is done."""

    __tablename__ = "lifeline_case_plan_steps"
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), primary_key=True)
    step_no: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    plan_code: Mapped[str] = mapped_column(String(64))
    alarm_id: Mapped[int | None] = mapped_column(ForeignKey("lifeline_alarms.id"))
    text: Mapped[str] = mapped_column(Text)
    done_at: Mapped[datetime | None]
    done_by: Mapped[str | None] = mapped_column(String(64))
    note: Mapped[str | None] = mapped_column(Text)
