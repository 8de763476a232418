"""Reference data read on every report (taxonomy, departments, rules, grid, calendar), cached.

The grid comes with the layers beside it (多格合一). The caches are rebuilt lazily after an
admin import bumps :attr:`ReferenceData.generation`.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from cityops.adapters.component_index import ComponentIndex, ComponentInfo
from cityops.adapters.db.models import (
    CategoryRow,
    ComponentRow,
    DepartmentRow,
    GazetteerRow,
    GridLayerRow,
    HolidayScheduleRow,
    LayerCellRow,
    RegionRow,
    RuleRow,
    RuleSetRow,
)
from cityops.adapters.geo import GridIndex, GridLocator, LayeredGrid
from cityops.adapters.holidays import builtin_schedules
from cityops.config import Settings
from cityops.domain.calendar import WorkCalendar, WorkingDay, YearSchedule
from cityops.domain.geocode import Geocoder, Place
from cityops.domain.model import RegionLevel, Stage, Urgency
from cityops.domain.routing import ResponsibilityRule, RuleSet, TimeWindow
from cityops.domain.timelimit import TimeLimit


@dataclass(frozen=True, slots=True)
class CategoryInfo:
    key: str
    name: str
    kind: str
    urgency: Urgency
    limits: dict[Stage, TimeLimit]
    active: bool  # retired categories stay known to the cases that carry them


@dataclass(frozen=True, slots=True)
class DepartmentInfo:
    id: int
    code: str
    name: str
    level: str


@dataclass(frozen=True, slots=True)
class RegionInfo:
    code: str
    name: str
    level: str
    parent: str | None


@dataclass(frozen=True, slots=True)
class LayerInfo:
    """A grid layer beside the city's grid (多格合一), with its cells' names by code."""

    code: str
    name: str
    cell_names: dict[str, str]


@dataclass(frozen=True, slots=True)
class Snapshot:
    categories: dict[str, CategoryInfo]
    departments_by_code: dict[str, DepartmentInfo]
    departments_by_id: dict[int, DepartmentInfo]
    rulesets: list[RuleSet]  # newest first
    locator: GridLocator
    region_names: dict[str, str]
    calendar: WorkCalendar
    geocoder: Geocoder
    components: ComponentIndex
    regions: dict[str, RegionInfo] = field(default_factory=dict)
    layers: LayeredGrid = field(default_factory=lambda: LayeredGrid({}))  # beside the grid
    layer_info: dict[str, LayerInfo] = field(default_factory=dict)

    def region_path(self, code: str) -> list[RegionInfo]:
        """The jurisdiction path of a region, from the city down to ``code``."""
        path: list[RegionInfo] = []
        region = self.regions.get(code)
        while region is not None and len(path) < 8:  # the tree has 5 levels; no loop on bad data
            path.append(region)
            region = self.regions.get(region.parent or "")
        return path[::-1]


def _coords(line: dict[str, Any] | None) -> tuple[tuple[float, float], ...] | None:
    if not line:
        return None
    return tuple((float(p[0]), float(p[1])) for p in line["coordinates"])


def _time(text: str) -> Any:
    return datetime.strptime(text, "%H:%M").time()


class ReferenceData:
    def __init__(self, sessions: sessionmaker[Session], settings: Settings) -> None:
        self._sessions = sessions
        self._settings = settings
        self._lock = threading.Lock()
        self._snapshot: Snapshot | None = None

    def invalidate(self) -> None:
        with self._lock:
            self._snapshot = None

    def get(self) -> Snapshot:
        snap = self._snapshot
        if snap is None:
            with self._lock:
                if self._snapshot is None:
                    self._snapshot = self._load()
                snap = self._snapshot
        return snap

    def _load(self) -> Snapshot:
        with self._sessions() as s:
            categories = {
                row.key: CategoryInfo(
                    row.key,
                    row.name,
                    row.kind,
                    Urgency(row.urgency),
                    {Stage(k): TimeLimit.parse(v) for k, v in row.time_limits.items()},
                    row.active,
                )
                for row in s.scalars(select(CategoryRow))
            }
            depts = [
                DepartmentInfo(d.id, d.code, d.name, d.level)
                for d in s.scalars(select(DepartmentRow))
            ]
            regions = s.execute(
                select(RegionRow.code, RegionRow.name, RegionRow.level, RegionRow.geometry,
                       RegionRow.parent_code)
            ).all()  # fmt: skip
            layer_rows = s.scalars(select(GridLayerRow).order_by(GridLayerRow.code)).all()
            layer_cells = s.execute(
                select(LayerCellRow.layer_code, LayerCellRow.code, LayerCellRow.name,
                       LayerCellRow.geometry)
            ).all()  # fmt: skip
            rulesets = self._rulesets(s)
            components = ComponentIndex(
                ComponentInfo(c.code, c.category, c.name, c.lon, c.lat, c.owner_department_id,
                              c.status)
                for c in s.scalars(select(ComponentRow))
            )  # fmt: skip
            places = [
                Place(g.kind, g.name, g.lon, g.lat, g.district, g.street, g.road, g.number,
                      _coords(g.geometry))
                for g in s.scalars(select(GazetteerRow))
            ]  # fmt: skip
            schedules = dict(builtin_schedules())
            for h in s.scalars(select(HolidayScheduleRow)):
                schedules[h.year] = YearSchedule(
                    h.year,
                    frozenset(date.fromisoformat(d) for d in h.holidays),
                    frozenset(date.fromisoformat(d) for d in h.workdays),
                    h.source,
                )
        grids = [(code, geom) for code, _, level, geom, _ in regions if level == RegionLevel.GRID]
        by_layer: dict[str, list[tuple[str, str, Any]]] = {r.code: [] for r in layer_rows}
        for layer_code, code, name, geom in layer_cells:
            by_layer[layer_code].append((code, name, geom))
        layers = {r.code: LayerInfo(r.code, r.name, {c: n for c, n, _ in by_layer[r.code]})
                  for r in layer_rows}  # fmt: skip
        return Snapshot(
            categories=categories,
            departments_by_code={d.code: d for d in depts},
            departments_by_id={d.id: d for d in depts},
            rulesets=rulesets,
            locator=GridLocator((c, g) for c, g in grids if g),
            region_names={code: name for code, name, _, _, _ in regions},
            calendar=WorkCalendar(
                schedules, WorkingDay.parse(self._settings.working_day), self._settings.tz
            ),
            geocoder=Geocoder(places),
            components=components,
            regions={c: RegionInfo(c, n, lvl, p) for c, n, lvl, _, p in regions},
            layers=LayeredGrid(
                {code: GridIndex((c, g) for c, _, g in cells) for code, cells in by_layer.items()}
            ),
            layer_info=layers,
        )

    @staticmethod
    def _rulesets(s: Session) -> list[RuleSet]:
        out: list[RuleSet] = []
        for rs in s.scalars(
            select(RuleSetRow).order_by(RuleSetRow.effective_from.desc(), RuleSetRow.id.desc())
        ):
            rows = list(s.scalars(select(RuleRow).where(RuleRow.ruleset_id == rs.id)))
            rules = tuple(
                ResponsibilityRule(
                    r.category,
                    r.area,
                    r.department_code,
                    TimeWindow(_time(r.window_start), _time(r.window_end))
                    if r.window_start and r.window_end
                    else None,
                    id=r.id,
                )
                for r in rows
            )
            out.append(RuleSet(rs.version, rs.effective_from, rules))
        return out

    def ruleset_at(self, at: datetime) -> RuleSet | None:
        for ruleset in self.get().rulesets:
            if ruleset.effective_from <= at:
                return ruleset
        return None
