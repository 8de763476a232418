"""Tables (SQLAlchemy 2 ORM). The schema is owned by the Alembic migrations beside this file."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from cityops.adapters.db.types import UTCDateTime


class Base(DeclarativeBase):
    type_annotation_map = {  # noqa: RUF012 - SQLAlchemy reads it as a class attribute
        datetime: UTCDateTime(),
        dict[str, Any]: JSON(),
        list[Any]: JSON(),
    }


class RegionRow(Base):
    """A node of the jurisdiction tree; grid cells (单元网格) carry a polygon."""

    __tablename__ = "regions"
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(14), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    level: Mapped[str] = mapped_column(String(16), index=True)
    parent_code: Mapped[str | None] = mapped_column(String(14), index=True)
    geometry: Mapped[dict[str, Any] | None]  # GeoJSON, WGS-84
    min_lon: Mapped[float | None]
    min_lat: Mapped[float | None]
    max_lon: Mapped[float | None]
    max_lat: Mapped[float | None]


class DepartmentRow(Base):
    """专业部门 / 处置单位."""

    __tablename__ = "departments"
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    level: Mapped[str] = mapped_column(String(16))
    region_code: Mapped[str | None] = mapped_column(String(14))
    kinds: Mapped[list[Any]] = mapped_column(default=list)


class UserRow(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(100))
    role: Mapped[str] = mapped_column(String(20))
    password_hash: Mapped[str] = mapped_column(String(200))
    scope_code: Mapped[str | None] = mapped_column(String(14))  # jurisdiction; None = whole city
    department_id: Mapped[int | None] = mapped_column(ForeignKey("departments.id"))
    phone: Mapped[str | None] = mapped_column(String(32))
    active: Mapped[bool] = mapped_column(default=True)


class ApiKeyRow(Base):
    """A key for a channel or an integration; only its SHA-256 is stored."""

    __tablename__ = "api_keys"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    prefix: Mapped[str] = mapped_column(String(12))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    channels: Mapped[list[Any]] = mapped_column(default=list)
    created_at: Mapped[datetime]
    active: Mapped[bool] = mapped_column(default=True)


class CategoryRow(Base):
    """A GB/T 30428 subclass (部件 or 事件)."""

    __tablename__ = "categories"
    key: Mapped[str] = mapped_column(String(8), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    major_code: Mapped[str] = mapped_column(String(2))
    major_name: Mapped[str] = mapped_column(String(50))
    code: Mapped[str] = mapped_column(String(4))
    name: Mapped[str] = mapped_column(String(50))
    urgency: Mapped[str] = mapped_column(String(10))
    filing_condition: Mapped[str] = mapped_column(Text)
    closing_condition: Mapped[str] = mapped_column(Text)
    time_limits: Mapped[dict[str, Any]]
    keywords: Mapped[list[Any]] = mapped_column(default=list)
    owner_hint: Mapped[str | None] = mapped_column(String(32))
    active: Mapped[bool] = mapped_column(default=True)


class RuleSetRow(Base):
    """A version of the responsibility list (事项责任清单) with its effective date."""

    __tablename__ = "rulesets"
    id: Mapped[int] = mapped_column(primary_key=True)
    version: Mapped[str] = mapped_column(String(64), unique=True)
    effective_from: Mapped[datetime]
    created_at: Mapped[datetime]


class RuleRow(Base):
    __tablename__ = "rules"
    id: Mapped[int] = mapped_column(primary_key=True)
    ruleset_id: Mapped[int] = mapped_column(ForeignKey("rulesets.id"), index=True)
    category: Mapped[str] = mapped_column(String(8))
    area: Mapped[str] = mapped_column(String(14))
    department_code: Mapped[str] = mapped_column(String(40))
    window_start: Mapped[str | None] = mapped_column(String(5))
    window_end: Mapped[str | None] = mapped_column(String(5))


class HolidayScheduleRow(Base):
    """An official holiday schedule loaded by an admin (years the package does not know)."""

    __tablename__ = "holiday_schedules"
    year: Mapped[int] = mapped_column(primary_key=True)
    holidays: Mapped[list[Any]]
    workdays: Mapped[list[Any]]
    source: Mapped[str] = mapped_column(String(200))
    loaded_at: Mapped[datetime]


class GridLayerRow(Base):
    """A grid layer beside the city-operations grid (多格合一: police, governance …)."""

    __tablename__ = "grid_layers"
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    source_crs: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime]


class LayerCellRow(Base):
    __tablename__ = "layer_cells"
    __table_args__ = (UniqueConstraint("layer_code", "code", name="uq_layer_cells_code"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    layer_code: Mapped[str] = mapped_column(ForeignKey("grid_layers.code"), index=True)
    code: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(100))
    geometry: Mapped[dict[str, Any]]


class ComponentRow(Base):
    """部件: a managed city object with its 16-digit code and owner."""

    __tablename__ = "components"
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(16), unique=True)
    category: Mapped[str] = mapped_column(ForeignKey("categories.key"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    lon: Mapped[float]
    lat: Mapped[float]
    grid_code: Mapped[str | None] = mapped_column(String(14), index=True)
    owner_department_id: Mapped[int | None] = mapped_column(ForeignKey("departments.id"))
    status: Mapped[str] = mapped_column(String(16), default="normal")
    address: Mapped[str | None] = mapped_column(String(200))


class GazetteerRow(Base):
    """A road, POI or door-plate address for geocoding Chinese addresses (地名地址库)."""

    __tablename__ = "gazetteer"
    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(10), index=True)  # road | poi | address
    name: Mapped[str] = mapped_column(String(100), index=True)
    district: Mapped[str | None] = mapped_column(String(50))
    street: Mapped[str | None] = mapped_column(String(50))
    road: Mapped[str | None] = mapped_column(String(50), index=True)
    number: Mapped[int | None]
    lon: Mapped[float]
    lat: Mapped[float]
    geometry: Mapped[dict[str, Any] | None]  # a road's line
    grid_code: Mapped[str | None] = mapped_column(String(14))


class CameraRow(Base):
    """A video-AI camera: where it stands and what it sees."""

    __tablename__ = "cameras"
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    lon: Mapped[float]
    lat: Mapped[float]
    view: Mapped[dict[str, Any] | None]  # GeoJSON polygon of the area it watches
    grid_code: Mapped[str | None] = mapped_column(String(14))
    active: Mapped[bool] = mapped_column(default=True)


class ReportRow(Base):
    """上报: one thing somebody said, kept verbatim; (channel, source_id) is its idempotency key."""

    __tablename__ = "reports"
    __table_args__ = (UniqueConstraint("channel", "source_id", name="uq_reports_channel_source"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(String(16))
    source_id: Mapped[str] = mapped_column(String(200))
    received_at: Mapped[datetime]
    raw: Mapped[str] = mapped_column(Text)
    reporter_name: Mapped[str | None] = mapped_column(String(100))
    reporter_phone: Mapped[str | None] = mapped_column(String(32))
    reporter_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"), index=True)
    merged: Mapped[bool] = mapped_column(default=False)  # joined an existing case (并案)
    alerts: Mapped[int] = mapped_column(default=1)  # repeated video alerts folded into it
    last_alert_at: Mapped[datetime | None]


class CaseRow(Base):
    """案卷: the unit of work. ``state`` is written only by the workflow service."""

    __tablename__ = "cases"
    id: Mapped[int] = mapped_column(primary_key=True)
    case_no: Mapped[str | None] = mapped_column(String(20), unique=True)
    state: Mapped[str] = mapped_column(String(16), index=True)
    resume_state: Mapped[str | None] = mapped_column(String(16))
    channel: Mapped[str] = mapped_column(String(16))
    category: Mapped[str | None] = mapped_column(ForeignKey("categories.key"), index=True)
    urgency: Mapped[str] = mapped_column(String(10))
    priority: Mapped[str] = mapped_column(String(10), default="normal")
    level: Mapped[str] = mapped_column(String(10), default="street")
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text)
    address: Mapped[str | None] = mapped_column(String(200))
    lon: Mapped[float | None]
    lat: Mapped[float | None]
    grid_code: Mapped[str | None] = mapped_column(String(14), index=True)
    community_code: Mapped[str | None] = mapped_column(String(12))
    street_code: Mapped[str | None] = mapped_column(String(9), index=True)
    district_code: Mapped[str | None] = mapped_column(String(6), index=True)
    department_id: Mapped[int | None] = mapped_column(ForeignKey("departments.id"), index=True)
    rule_id: Mapped[int | None] = mapped_column(ForeignKey("rules.id"))
    routing: Mapped[dict[str, Any] | None]  # why it went where it went
    reporter_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    reporter_name: Mapped[str | None] = mapped_column(String(100))
    reporter_phone: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(index=True)
    updated_at: Mapped[datetime]
    closed_at: Mapped[datetime | None]
    stage: Mapped[str | None] = mapped_column(String(10))
    stage_started_at: Mapped[datetime | None]
    stage_due_at: Mapped[datetime | None] = mapped_column(index=True)
    stage_limit: Mapped[str | None] = mapped_column(String(12))
    stage_overdue: Mapped[bool] = mapped_column(default=False)
    ever_overdue: Mapped[bool] = mapped_column(default=False)
    suspended_at: Mapped[datetime | None]
    escalated_for: Mapped[datetime | None]  # the stage start the last escalation was for
    extension: Mapped[dict[str, Any] | None]  # the pending 延期 request
    warnings: Mapped[list[Any]] = mapped_column(default=list)
    rating: Mapped[int | None]
    event_seq: Mapped[int] = mapped_column(default=0)
    component_code: Mapped[str | None] = mapped_column(String(16), index=True)
    # Triage (人工研判): "classify" (low confidence) or "locate" (address not resolved); else None.
    triage: Mapped[str | None] = mapped_column(String(10), index=True)
    classification: Mapped[dict[str, Any] | None]  # the machine's decision and its explanation
    location: Mapped[dict[str, Any] | None]  # how the place was found (CRS, geocoder, confidence)
    duplicate_of: Mapped[int | None] = mapped_column(  # a suggested 并案
        ForeignKey("cases.id", name="fk_cases_duplicate_of")
    )
    report_count: Mapped[int] = mapped_column(default=1)  # reports merged into this case


class CaseEventRow(Base):
    """An immutable entry of a case's log; database triggers refuse UPDATE and DELETE."""

    __tablename__ = "case_events"
    __table_args__ = (
        UniqueConstraint("case_id", "seq", name="uq_case_events_seq"),
        Index("ix_case_events_at", "at"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"))
    seq: Mapped[int]
    action: Mapped[str] = mapped_column(String(24))
    from_state: Mapped[str | None] = mapped_column(String(16))
    to_state: Mapped[str] = mapped_column(String(16))
    at: Mapped[datetime]
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    actor_role: Mapped[str] = mapped_column(String(20))
    department_id: Mapped[int | None] = mapped_column(ForeignKey("departments.id"))
    note: Mapped[str | None] = mapped_column(Text)
    media: Mapped[list[Any]] = mapped_column(default=list)
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    correlation_id: Mapped[str | None] = mapped_column(String(64))


class AuditRow(Base):
    """Administrative changes (rules, users, taxonomy, calendar)."""

    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(index=True)
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64))
    target: Mapped[str] = mapped_column(String(200))
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)


class NotificationRow(Base):
    """The outbox: one message to one reporter, written with the event that causes it.

    ``recipient`` is the full address (phone, e-mail, username, Open311 device id) because
    delivery needs it; every screen masks it. ``event_seq`` is the causing event of the case
    (e.g. its 结案), so a reporter is told once per close.
    """

    __tablename__ = "notifications"
    __table_args__ = (
        UniqueConstraint(
            "case_id", "event_seq", "channel", "recipient", name="uq_notifications_once"
        ),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    report_id: Mapped[int | None] = mapped_column(ForeignKey("reports.id"))
    event_seq: Mapped[int]
    kind: Mapped[str] = mapped_column(String(24))  # case_closed
    channel: Mapped[str] = mapped_column(String(16))  # sms | email | app | open311
    recipient: Mapped[str] = mapped_column(String(254))
    body: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(10), index=True)  # pending | sent | failed
    attempts: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
