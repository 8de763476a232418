"""Video-AI alerts (视频AI告警): the camera registry, the event catalogue and the alert intake.

A camera platform posts one alert per detection. An alert becomes a report (channel ``video``)
through the ordinary :func:`cityops.service.intake.submit`; repeated alerts of one camera and
event type are *folded* into the report they repeat (its ``alerts`` count and ``last_alert_at``
move on) instead of opening a case each. See docs/video.md.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from importlib import resources
from typing import Any, cast

import yaml
from shapely.geometry import Point, Polygon
from sqlalchemy import ColumnElement, Table, select, update
from sqlalchemy.orm import Session

from cityops.adapters.db.models import CameraRow, CaseRow, ReportRow
from cityops.bootstrap import App
from cityops.domain.coords import metres
from cityops.domain.errors import ImportProblem, ImportRejected, ValidationFailed
from cityops.domain.model import TERMINAL_STATES, Channel
from cityops.service.admin import ImportResult, audit, upsert_values
from cityops.service.bus import Event
from cityops.service.intake import ReportInput, submit
from cityops.service.principal import Principal
from cityops.service.reference import Snapshot

CODE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$")  # no ":" — it separates source ids
VIEW_REACH_M = 200.0  # a view polygon may lie this far from its camera (looking down a road)
FUTURE_SLACK = timedelta(minutes=5)  # camera clocks drift; an alert further ahead is refused
_CLOSED = frozenset(s.value for s in TERMINAL_STATES)

# --- the event catalogue (video_events.yaml) ------------------------------------------------


@dataclass(frozen=True, slots=True)
class EventType:
    key: str  # canonical English name, part of every source id
    name: str  # Chinese name
    category: str | None  # taxonomy subclass; None: opened unclassified for an acceptor
    threshold: float  # minimum confidence
    fold: timedelta  # repeats less than this after the last alert taken are folded


def _norm(name: str) -> str:
    return re.sub(r"[\s\-]+", "_", name.strip()).lower()


@dataclass(frozen=True, slots=True)
class EventCatalogue:
    version: str
    types: dict[str, EventType]
    names: dict[str, str]  # normalised key, Chinese name or alias → key

    def find(self, name: str) -> EventType | None:
        key = self.names.get(_norm(name))
        return self.types[key] if key else None

    def known(self) -> list[str]:
        return [f"{t.key} ({t.name})" for t in self.types.values()]


def parse_video_events(data: Any) -> EventCatalogue:
    """Check the whole mapping file; every problem is named, nothing half-loaded."""
    if not isinstance(data, Mapping) or not isinstance(data.get("events"), Mapping):
        raise ImportRejected("video events rejected", [ImportProblem("file", "expected events:")])
    problems: list[ImportProblem] = []
    types: dict[str, EventType] = {}
    names: dict[str, str] = {}
    for key, spec in data["events"].items():
        where = f"events.{key}"
        if not isinstance(spec, Mapping) or _norm(str(key)) != key:
            problems.append(ImportProblem(where, "a lower-case key with a mapping of fields"))
            continue
        threshold, minutes = spec.get("threshold"), spec.get("fold_minutes")
        category = spec.get("category")
        reasons = []
        if not isinstance(threshold, int | float) or not 0 <= threshold <= 1:
            reasons.append("threshold must be a number in 0–1")
        if not isinstance(minutes, int | float) or not 0 < minutes <= 24 * 60:
            reasons.append("fold_minutes must be a number in (0, 1440]")
        if category is not None and not re.fullmatch(r"[CE]\d{4}", str(category)):
            reasons.append("category must be a taxonomy key like E0502, or null")
        for alias in (key, spec.get("name") or "", *(spec.get("aliases") or ())):
            if not str(alias).strip():
                reasons.append("name is required")
            elif names.setdefault(_norm(str(alias)), key) != key:
                reasons.append(f"{alias} already names {names[_norm(str(alias))]}")
        problems += [ImportProblem(where, r) for r in reasons]
        if not reasons:
            limit, fold = float(cast(float, threshold)), timedelta(minutes=cast(float, minutes))
            types[key] = EventType(key, str(spec["name"]), category, limit, fold)
    if problems:
        raise ImportRejected("video events rejected", problems)
    return EventCatalogue(str(data.get("version") or "unversioned"), types, names)


@cache
def default_video_events() -> EventCatalogue:
    """The packaged ``cityops/data/video_events.yaml`` (read on first use, not at import)."""
    text = resources.files("cityops.data").joinpath("video_events.yaml").read_text("utf-8")
    return parse_video_events(yaml.safe_load(text))


# --- the camera registry -------------------------------------------------------------------


def _number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError("not a number")
    out = float(value)
    if not math.isfinite(out):
        raise ValueError("not finite")
    return out


def _view(raw: Any, lon: float, lat: float) -> dict[str, Any]:
    """A normalised GeoJSON polygon; ValueError says what is wrong with it."""
    if not isinstance(raw, Mapping) or raw.get("type") != "Polygon":
        raise ValueError("view must be a GeoJSON Polygon")
    try:
        rings = [[[_number(p[0]), _number(p[1])] for p in ring] for ring in raw["coordinates"]]
        polygon = Polygon(rings[0], rings[1:])
    except (KeyError, IndexError, TypeError, ValueError) as exc:
        raise ValueError("view coordinates must be rings of [lon, lat] (WGS-84)") from exc
    if polygon.is_empty or not polygon.is_valid or polygon.area <= 0:
        raise ValueError("view is not a valid polygon (self-crossing, or no area)")
    if not all(-180 <= x <= 180 and -90 <= y <= 90 for ring in rings for x, y in ring):
        raise ValueError("view coordinates out of range")
    if not polygon.covers(Point(lon, lat)):
        near = polygon.exterior.interpolate(polygon.exterior.project(Point(lon, lat)))
        gap = metres(lon, lat, near.x, near.y)
        if gap > VIEW_REACH_M:
            raise ValueError(f"view lies {gap:.0f} m from the camera (at most {VIEW_REACH_M:.0f})")
    closed = [ring if ring[0] == ring[-1] else [*ring, ring[0]] for ring in rings]
    return {"type": "Polygon", "coordinates": closed}


def _camera_values(snap: Snapshot, c: Any) -> tuple[dict[str, Any] | None, list[str]]:
    if not isinstance(c, Mapping):
        return None, ["a camera must be an object"]
    reasons = []
    code, name = c.get("code"), c.get("name")
    if not isinstance(code, str) or not CODE_RE.match(code):
        reasons.append("code is required: 1–64 letters, digits, '-', '_' or '.'")
    if not isinstance(name, str) or not name.strip() or len(name) > 100:
        reasons.append("name is required (≤ 100 characters)")
    if not isinstance(c.get("active", True), bool):
        reasons.append("active must be true or false")
    view = grid = None
    try:
        lon, lat = _number(c["lon"]), _number(c["lat"])
    except (KeyError, ValueError):
        return None, [*reasons, "lon and lat are required numbers (WGS-84)"]
    grid = snap.locator.locate(lon, lat) if -180 <= lon <= 180 and -90 <= lat <= 90 else None
    if grid is None:
        reasons.append("the camera stands outside the city's grid")
    if c.get("view") is not None:
        try:
            view = _view(c["view"], lon, lat)
        except ValueError as exc:
            reasons.append(str(exc))
    values = {"code": code, "name": str(name).strip(), "lon": lon, "lat": lat, "view": view,
              "grid_code": grid, "active": c.get("active", True)}  # fmt: skip
    return (None if reasons else values), reasons


def import_cameras(app: App, items: Iterable[Any], actor: str) -> ImportResult:
    """Add or update cameras by code; every item is checked first, one bad item stops all."""
    rows = list(items)
    snap = app.reference.get()
    problems: list[ImportProblem] = []
    fresh: list[dict[str, Any]] = []
    seen: set[str] = set()
    for i, c in enumerate(rows):
        code = c.get("code") if isinstance(c, Mapping) else None
        values, reasons = _camera_values(snap, c)
        if isinstance(code, str) and code in seen:
            reasons.append("duplicate code in the file")
        seen.add(str(code))
        problems += [ImportProblem(f"cameras[{i}] {code or '?'}", r) for r in reasons]
        if values is not None:
            fresh.append(values)
    if problems:
        raise ImportRejected("cameras rejected; nothing imported / 摄像头导入失败", problems)
    with app.sessions.begin() as s:
        created, updated = upsert_values(s, CameraRow, fresh)
        audit(s, actor, "import_cameras", f"{len(rows)} cameras",
              {"created": created, "updated": updated}, app.clock())  # fmt: skip
    return ImportResult("cameras", created, updated)


def list_cameras(app: App, principal: Principal, area: str | None = None) -> list[dict[str, Any]]:
    """The cameras in the caller's jurisdiction (and in ``area``, a region code, if given)."""
    query = select(CameraRow).order_by(CameraRow.code)
    scope = principal.scope_code
    for prefix in (scope[:4] if scope and len(scope) == 6 and scope.endswith("00") else scope,
                   area):  # fmt: skip
        if prefix:
            query = query.where(CameraRow.grid_code.startswith(prefix, autoescape=True))
    with app.reads() as s:
        rows = list(s.scalars(query))
    keys = ("code", "name", "lon", "lat", "view", "grid_code", "active")
    return [{k: getattr(r, k) for k in keys} for r in rows]


# --- alerts ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class VideoAlert:
    alert_id: str
    camera_code: str
    event_type: str
    confidence: float
    occurred_at: datetime  # aware
    snapshot_url: str
    raw: str  # the request body exactly as received
    bbox: list[float] | None = None
    lon: float | None = None  # WGS-84, where the platform placed the detection
    lat: float | None = None


@dataclass(frozen=True, slots=True)
class AlertOutcome:
    status: str  # created | merged | folded | ignored
    case_id: int | None = None
    case_no: str | None = None
    state: str | None = None
    alerts: int | None = None  # alerts taken into the report so far
    repeat: bool = False  # nothing written: this alert (or a later one) was taken in before
    event_type: str | None = None
    category: str | None = None
    reason: str | None = None


_REPORTS = cast(Table, ReportRow.__table__)
_NEVER = datetime.min.replace(tzinfo=UTC)  # last_alert_at of a report not yet stamped


@dataclass(frozen=True, slots=True)
class _Episode:
    """A video report and its case: the alerts of one camera and type folded so far."""

    report_id: int
    source_id: str
    merged: bool
    alerts: int
    last_alert_at: datetime
    case_id: int
    case_no: str
    state: str

    def answer(self, etype: EventType, *, status: str | None = None,
               repeat: bool = False) -> AlertOutcome:  # fmt: skip
        return AlertOutcome(
            status or ("merged" if self.merged else "created"), self.case_id, self.case_no,
            self.state, self.alerts, repeat, etype.key, etype.category,
        )  # fmt: skip


def _episodes(s: Session, *where: ColumnElement[bool]) -> list[_Episode]:
    query = select(
        ReportRow.id, ReportRow.source_id, ReportRow.merged, ReportRow.alerts,
        ReportRow.last_alert_at, CaseRow.id, CaseRow.case_no, CaseRow.state,
    ).join(CaseRow, ReportRow.case_id == CaseRow.id)  # fmt: skip
    return [
        _Episode(rid, sid, merged, alerts, last or _NEVER, cid, no or "", state)
        for rid, sid, merged, alerts, last, cid, no, state in s.execute(
            query.where(ReportRow.channel == Channel.VIDEO.value, *where)
        )
    ]


def _where(snap: Snapshot, camera: CameraRow, alert: VideoAlert) -> tuple[float, float]:
    """The alert's own point, else the middle of what the camera sees, else the camera."""
    if (alert.lon is None) != (alert.lat is None):
        raise ValidationFailed("give both lon and lat / 经纬度需成对提供", field="lon")
    if alert.lon is not None and alert.lat is not None:
        return alert.lon, alert.lat
    if camera.view:
        rings = camera.view["coordinates"]
        middle = Polygon(rings[0], rings[1:]).centroid
        if snap.locator.locate(middle.x, middle.y) is not None:
            return round(middle.x, 7), round(middle.y, 7)
    return camera.lon, camera.lat


def receive_alert(
    app: App, alert: VideoAlert, principal: Principal, catalogue: EventCatalogue | None = None
) -> AlertOutcome:
    """Take one alert in: ignore it, fold it into the report it repeats, or open a case."""
    catalogue = catalogue or default_video_events()
    with app.reads() as s:
        camera = s.scalars(select(CameraRow).where(CameraRow.code == alert.camera_code)).first()
    if camera is None:
        raise ValidationFailed(f"unknown camera {alert.camera_code} / 未知摄像头",
                               field="camera_code")  # fmt: skip
    etype = catalogue.find(alert.event_type)
    if etype is None:
        raise ValidationFailed(
            f"unknown event type {alert.event_type} / 未知事件类型; known: "
            + ", ".join(catalogue.known()),
            field="event_type", known=sorted(catalogue.types),
        )  # fmt: skip
    now, at = app.clock(), alert.occurred_at
    if at > now + FUTURE_SLACK:
        raise ValidationFailed(f"occurred_at {at.isoformat()} is in the future / 告警时间晚于当前",
                               field="occurred_at")  # fmt: skip
    if not camera.active:
        return AlertOutcome("ignored", event_type=etype.key, category=etype.category,
                            reason=f"camera {camera.code} is inactive / 摄像头已停用")  # fmt: skip
    if alert.confidence < etype.threshold:
        return AlertOutcome("ignored", event_type=etype.key, category=etype.category, reason=(
            f"confidence {alert.confidence:.2f} is below the threshold {etype.threshold:.2f} "
            f"for {etype.key} / 置信度低于阈值"))  # fmt: skip
    prefix = f"{camera.code}:{etype.key}:"
    source_id = prefix + alert.alert_id
    with app.reads() as s:
        same = _episodes(s, ReportRow.source_id == source_id)
        episodes = [
            e
            for e in _episodes(
                s,
                ReportRow.source_id.startswith(prefix, autoescape=True),
                ReportRow.last_alert_at >= at - etype.fold,
            )
            if e.source_id.startswith(prefix)  # SQLite's LIKE ignores case
        ]
    if same:
        return same[0].answer(etype, repeat=True)
    later = [e for e in episodes if e.last_alert_at >= at]
    if later:  # alerts are taken in time order: this one is a retry or a straggler
        earliest = min(later, key=lambda e: e.last_alert_at)
        return earliest.answer(etype, status="folded", repeat=True)
    open_ = [e for e in episodes if e.state not in _CLOSED]
    if open_:
        return _fold(app, max(open_, key=lambda e: e.last_alert_at), at, etype, now)
    return _open(app, camera, alert, etype, source_id, principal)


def _fold(
    app: App, episode: _Episode, at: datetime, etype: EventType, now: datetime
) -> AlertOutcome:
    """Count the alert on the report it repeats, unless a newer one got there first."""
    taken = _REPORTS.c.id == episode.report_id, _REPORTS.c.last_alert_at < at
    with app.sessions.begin() as s:
        result = s.connection().execute(
            update(_REPORTS).where(*taken).values(alerts=_REPORTS.c.alerts + 1, last_alert_at=at)
        )
        fresh = _episodes(s, ReportRow.id == episode.report_id)[0]
    if result.rowcount:
        payload = {"case_id": fresh.case_id, "case_no": fresh.case_no, "event_type": etype.key,
                   "alerts": fresh.alerts}  # fmt: skip
        app.bus.publish(Event("VideoAlertFolded", now, payload))
    return fresh.answer(etype, status="folded", repeat=not result.rowcount)


def _open(app: App, camera: CameraRow, alert: VideoAlert, etype: EventType, source_id: str,
          principal: Principal) -> AlertOutcome:  # fmt: skip
    lon, lat = _where(app.reference.get(), camera, alert)
    report = ReportInput(
        channel=Channel.VIDEO, source_id=source_id, raw=alert.raw,
        description=(f"视频AI告警：{etype.name}（{camera.name}，置信度 {alert.confidence:.2f}）"
                     f" / video-AI alert: {etype.key} at camera {camera.code}"),
        category=etype.category, title=None if etype.category else etype.name,
        lon=lon, lat=lat, media=(alert.snapshot_url,),
        extra={"video": {
            "alert_id": alert.alert_id, "camera_code": camera.code, "event_type": etype.key,
            "received_type": alert.event_type, "confidence": alert.confidence,
            "occurred_at": alert.occurred_at.isoformat(), "bbox": alert.bbox}},
    )  # fmt: skip
    result = submit(app, report, principal)
    # The first alert starts the fold window (intake leaves last_alert_at empty).
    first = (_REPORTS.c.channel == Channel.VIDEO.value, _REPORTS.c.source_id == source_id,
             _REPORTS.c.last_alert_at.is_(None))  # fmt: skip
    with app.sessions.begin() as s:
        s.connection().execute(
            update(_REPORTS).where(*first).values(last_alert_at=alert.occurred_at)
        )
        episode = _episodes(s, ReportRow.source_id == source_id)[0]
    return episode.answer(etype, repeat=not (result.created or result.merged))
