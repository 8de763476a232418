"""Lifeline tables (城市生命线, docs/lifeline.md), on the shared ``Base``; the package
``__init__`` imports this module so Alembic and the schema test see them.

Readings are narrow on purpose — (series_id, ts epoch-ms, value) — with the key
(series_id, ts): a series is one (device, metric), so the key is (device, metric, ts) and makes
ingestion idempotent. SQLite stores them WITHOUT ROWID (clustered by series and time: one
B-tree, range scans per series). PostgreSQL partitions them by day on ``ts`` (partitions live
in the schema ``telemetry_partitions``, made on demand); retention drops whole partitions.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from cityops.adapters.db.models import Base

PARTITION_SCHEMA = "telemetry_partitions"
_CLUSTERED = {"sqlite_with_rowid": False}


class LifelineAssetRow(Base):
    """A pipe segment, well, bridge span, tunnel section …; owned by a department."""

    __tablename__ = "lifeline_assets"
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(24), index=True)
    name: Mapped[str] = mapped_column(String(100))
    owner_department_id: Mapped[int] = mapped_column(ForeignKey("departments.id"), index=True)
    geometry: Mapped[dict[str, Any]]  # GeoJSON, WGS-84
    lon: Mapped[float]  # a representative point, for maps and grid lookup
    lat: Mapped[float]
    grid_code: Mapped[str | None] = mapped_column(String(14), index=True)
    attributes: Mapped[dict[str, Any]] = mapped_column(default=dict)
    updated_at: Mapped[datetime]


class LifelineAdjacencyRow(Base):
    """Two assets next to each other (a well beside a gas pipe); stored in both directions."""

    __tablename__ = "lifeline_adjacency"
    asset_id: Mapped[int] = mapped_column(ForeignKey("lifeline_assets.id"), primary_key=True)
    neighbour_id: Mapped[int] = mapped_column(ForeignKey("lifeline_assets.id"), primary_key=True)


class LifelineDeviceRow(Base):
    """A sensor (or a multi-sensor unit) attached to an asset."""

    __tablename__ = "lifeline_devices"
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    asset_id: Mapped[int] = mapped_column(ForeignKey("lifeline_assets.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(64), default="")
    lon: Mapped[float | None]
    lat: Mapped[float | None]
    gateway: Mapped[str | None] = mapped_column(String(64))
    active: Mapped[bool] = mapped_column(default=True)
    updated_at: Mapped[datetime]


class LifelineSeriesRow(Base):
    """One metric of a device: the unit it is stored in, its sampling and its calibration."""

    __tablename__ = "lifeline_series"
    __table_args__ = (UniqueConstraint("device_id", "metric"),)
    id: Mapped[int] = mapped_column(primary_key=True)  # the readings' series_id
    device_id: Mapped[int] = mapped_column(ForeignKey("lifeline_devices.id"))
    metric: Mapped[str] = mapped_column(String(32))
    unit: Mapped[str] = mapped_column(String(16))
    interval_s: Mapped[float]
    scale: Mapped[float] = mapped_column(default=1.0)
    offset: Mapped[float] = mapped_column(default=0.0)
    range_min: Mapped[float | None]
    range_max: Mapped[float | None]


class ReadingRow(Base):
    __tablename__ = "telemetry_readings"
    __table_args__ = {**_CLUSTERED, "postgresql_partition_by": "RANGE (ts)"}  # noqa: RUF012
    series_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    ts: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    value: Mapped[float]


class LatestRow(Base):
    """The newest reading of each series (by timestamp, not by arrival)."""

    __tablename__ = "telemetry_latest"
    series_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    ts: Mapped[int] = mapped_column(BigInteger)
    value: Mapped[float]


class _Rollup:
    series_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    bucket: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    count: Mapped[int]
    sum: Mapped[float]
    min: Mapped[float]
    max: Mapped[float]
    last_ts: Mapped[int] = mapped_column(BigInteger)
    last_value: Mapped[float]


class Rollup1mRow(_Rollup, Base):
    __tablename__ = "telemetry_rollup_1m"
    __table_args__ = _CLUSTERED


class Rollup1hRow(_Rollup, Base):
    __tablename__ = "telemetry_rollup_1h"
    __table_args__ = _CLUSTERED


class DeadLetterRow(Base):
    """A message (or the bad part of one) that could not be ingested, kept byte for byte."""

    __tablename__ = "telemetry_dead_letters"
    __table_args__ = (Index("ix_telemetry_dead_letters_open", "resolved", "id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    received_at: Mapped[datetime] = mapped_column(index=True)
    source: Mapped[str] = mapped_column(String(200))  # "http:{gateway}", "mqtt:{topic}", …
    content_type: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(String(32))  # a code: unknown_device, bad_unit, …
    message: Mapped[str] = mapped_column(Text)  # what was wrong, naming the records
    raw: Mapped[bytes] = mapped_column(LargeBinary)
    points_rejected: Mapped[int] = mapped_column(default=0)
    points_accepted: Mapped[int] = mapped_column(default=0)  # the message's good points
    resolved: Mapped[bool] = mapped_column(default=False)
    resolved_at: Mapped[datetime | None]
    resolved_by: Mapped[str | None] = mapped_column(String(64))
    note: Mapped[str | None] = mapped_column(Text)


class GatewayRow(Base):
    """A gateway (or a device) allowed to post readings; only its key's SHA-256 is stored."""

    __tablename__ = "telemetry_gateways"
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    prefix: Mapped[str] = mapped_column(String(12))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime]
