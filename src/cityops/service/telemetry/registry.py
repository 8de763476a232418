"""The device registry snapshot: every active series as dense arrays, cached like
``service/reference.py``'s Snapshot and rebuilt after an import bumps the generation.

A *series* is one (device, metric). Ingestion resolves each point to a dense index ``k`` into
the arrays below (``series_id[k]``, ``scale[k]`` …), so cleaning and calibration are array
operations, and downstream stages (rules, alarms) read device, asset and owner through ``k``.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from cityops.adapters.db.lifeline_models import (
    LifelineAssetRow,
    LifelineDeviceRow,
    LifelineSeriesRow,
)

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class DeviceInfo:
    id: int
    code: str
    name: str
    asset_id: int
    asset_code: str
    asset_kind: str
    owner_department_id: int
    gateway: str | None
    active: bool


@dataclass(frozen=True, slots=True)
class RegistrySnapshot:
    generation: int
    devices: dict[str, DeviceInfo]  # by code, active or not
    index: dict[tuple[str, str], int]  # (device code, metric) → k, active devices only
    device_of: list[DeviceInfo]  # [k]
    metric: list[str]  # [k]
    unit: list[str]  # [k] canonical unit the series is stored in
    series_id: I64  # [k]
    interval_s: F64
    scale: F64
    offset: F64
    range_min: F64  # -inf when unbounded
    range_max: F64  # +inf when unbounded
    k_of_series: dict[int, int]

    def __len__(self) -> int:
        return len(self.metric)


class DeviceRegistry:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions
        self._lock = threading.Lock()
        self._snapshot: RegistrySnapshot | None = None
        self._generation = 0

    def invalidate(self) -> None:
        with self._lock:
            self._snapshot = None
            self._generation += 1

    def get(self) -> RegistrySnapshot:
        snap = self._snapshot
        if snap is None:
            with self._lock:
                if self._snapshot is None:
                    self._snapshot = self._load(self._generation)
                snap = self._snapshot
        return snap

    def _load(self, generation: int) -> RegistrySnapshot:
        with self._sessions() as s:
            assets = {a.id: (a.code, a.kind, a.owner_department_id)
                      for a in s.scalars(select(LifelineAssetRow))}  # fmt: skip
            devices = {
                d.id: DeviceInfo(d.id, d.code, d.name, d.asset_id, *assets[d.asset_id], d.gateway,
                                 d.active)
                for d in s.scalars(select(LifelineDeviceRow))
            }  # fmt: skip
            series = s.scalars(select(LifelineSeriesRow).order_by(LifelineSeriesRow.id)).all()
        live = [r for r in series if devices[r.device_id].active]
        device_of = [devices[r.device_id] for r in live]
        return RegistrySnapshot(
            generation=generation,
            devices={d.code: d for d in devices.values()},
            index={(devices[r.device_id].code, r.metric): k for k, r in enumerate(live)},
            device_of=device_of,
            metric=[r.metric for r in live],
            unit=[r.unit for r in live],
            series_id=np.array([r.id for r in live], dtype=np.int64),
            interval_s=np.array([r.interval_s for r in live], dtype=np.float64),
            scale=np.array([r.scale for r in live], dtype=np.float64),
            offset=np.array([r.offset for r in live], dtype=np.float64),
            range_min=np.array([-np.inf if r.range_min is None else r.range_min for r in live],
                               dtype=np.float64),
            range_max=np.array([np.inf if r.range_max is None else r.range_max for r in live],
                               dtype=np.float64),
            k_of_series={r.id: k for k, r in enumerate(live)},
        )
