"""The dead-letter browser's reads and repairs: which device a dead letter came from, identical
dead letters counted as one (a broken device repeats the same bad message every minute), and
replay: re-ingest the kept bytes once the device or its unit has been fixed.

Replay is safe to repeat: storage is idempotent on (device, metric, ts), so the good points a
partial message already stored come back as duplicates. A replay resolves the dead letter
either way; when the message still cannot be used the ingest keeps it as a new dead letter
(with today's reason) and the note points to it, so nothing is lost or counted twice.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cityops.adapters.db.lifeline_models import DeadLetterRow
from cityops.adapters.mqtt import parse_topic
from cityops.bootstrap import App
from cityops.domain.errors import Conflict, NotFound
from cityops.domain.lifeline.senml import split_name
from cityops.service.telemetry import RawMessage, telemetry
from cityops.service.telemetry.queries import dead_letter_filter, dead_letter_view

# "record 3: SJ-WP-0025:pressure outside the sensor's range …": the device:metric a problem names
_NAMED = re.compile(r"(?<![\w.-])([A-Za-z0-9._-]{1,64}):[a-z][a-z0-9_]*\b")


def _topic_device(source: str, topic_prefix: str) -> str | None:
    return parse_topic(source[5:], topic_prefix).device if source.startswith("mqtt:") else None


def device_of(source: str, raw: bytes, topic_prefix: str, message: str = "") -> str | None:
    """The device a dead letter came from, when anything names it: the MQTT topic, else the
    first SenML record name that names one (with its base name, split as the decoder splits
    it) or the plain JSON ``device``, else the first ``device:metric`` the problem text names
    (bare metric names whose transport named the device, as the simulator's)."""
    device = _topic_device(source, topic_prefix)
    if device:
        return device
    named = _NAMED.search(message)
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return named.group(1) if named else None
    base_name = ""
    for item in body if isinstance(body, list) else [body]:
        if not isinstance(item, dict):
            continue
        if isinstance(item.get("device"), str):
            return str(item["device"])
        bn, n = item.get("bn"), item.get("n")
        base_name = bn if isinstance(bn, str) else base_name
        device, _ = split_name(base_name + (n if isinstance(n, str) else ""), None)
        if device:
            return device
    return named.group(1) if named else None


def view(app: App, row: DeadLetterRow, *, count: int = 1,
         first: datetime | None = None) -> dict[str, Any]:  # fmt: skip
    out = dead_letter_view(row)
    out["device"] = device_of(row.source, row.raw, app.settings.mqtt_topic_prefix, row.message)
    out["raw_bytes"] = len(row.raw)
    out["count"] = count
    out["first_received_at"] = (first or row.received_at).isoformat()
    return out


def grouped(app: App, *, resolved: bool | None = False, reason: str | None = None,
            limit: int = 100) -> dict[str, Any]:  # fmt: skip
    """Identical dead letters (same reason, source, content type and bytes) as one row with
    their count, first and last arrival; newest group first. ``total`` counts groups."""
    keys = (DeadLetterRow.reason, DeadLetterRow.source, DeadLetterRow.content_type,
            DeadLetterRow.raw)  # fmt: skip
    q = dead_letter_filter(
        select(func.max(DeadLetterRow.id).label("newest"), func.count().label("n"),
               func.min(DeadLetterRow.received_at).label("first")).group_by(*keys),
        resolved, reason,
    )  # fmt: skip
    with app.reads() as s:
        total = s.scalar(select(func.count()).select_from(q.subquery())) or 0
        groups = s.execute(q.order_by(func.max(DeadLetterRow.id).desc()).limit(limit)).all()
        rows = {r.id: r for r in s.scalars(
            select(DeadLetterRow).where(DeadLetterRow.id.in_([g.newest for g in groups])))}
        items = [view(app, rows[g.newest], count=g.n, first=g.first) for g in groups]
    return {"total": total, "items": items}


def detail(app: App, id_: int) -> dict[str, Any]:
    with app.reads() as s:
        row = s.get(DeadLetterRow, id_)
        if row is None:
            raise NotFound(f"no dead letter {id_} / 无此死信", id=id_)
        same = _identical(s, row)
        return view(app, row, count=len(same)) | {"identical_ids": same}


def _identical(s: Session, row: DeadLetterRow) -> list[int]:
    """The ids of the dead letters with the same reason, source, type and bytes, in the same
    resolved state (the row itself included), oldest first."""
    return list(s.scalars(select(DeadLetterRow.id).where(
        DeadLetterRow.reason == row.reason, DeadLetterRow.source == row.source,
        DeadLetterRow.content_type == row.content_type, DeadLetterRow.raw == row.raw,
        DeadLetterRow.resolved.is_(row.resolved)).order_by(DeadLetterRow.id)))  # fmt: skip


def _resolve(s: Session, ids: list[int], app: App, who: str, note: str | None) -> list[int]:
    done = []
    pending = select(DeadLetterRow).where(DeadLetterRow.id.in_(ids),
                                          DeadLetterRow.resolved.is_(False))  # fmt: skip
    for row in s.scalars(pending):
        row.resolved, row.resolved_at, row.resolved_by, row.note = True, app.clock(), who, note
        done.append(row.id)
    return sorted(done)


def resolve_identical(app: App, id_: int, who: str, note: str | None) -> dict[str, Any]:
    """Resolve a dead letter and every unresolved one identical to it."""
    with app.sessions.begin() as s:
        row = s.get(DeadLetterRow, id_)
        if row is None:
            raise NotFound(f"no dead letter {id_} / 无此死信", id=id_)
        done = _resolve(s, _identical(s, row), app, who, note)
    return {"resolved": done}


def replay(app: App, id_: int, who: str, *, device: str | None = None,
           identical: bool = True) -> dict[str, Any]:  # fmt: skip
    """Ingest a dead letter's bytes again, as received then (relative SenML times keep their
    meaning) and resolve it (and, with ``identical``, its identical twins) noting the outcome."""
    with app.reads() as s:
        row = s.get(DeadLetterRow, id_)
        if row is None:
            raise NotFound(f"no dead letter {id_} / 无此死信", id=id_)
        if row.resolved:
            raise Conflict(f"dead letter {id_} is already resolved / 该死信已处理", id=id_)
        twins = _identical(s, row) if identical else [id_]
        source, raw, kind = row.source, row.raw, row.content_type
        received = row.received_at.timestamp()
    # The transport named the device for bare metric names: the MQTT topic says it again; an
    # HTTP ?device= or the simulator's is not kept, so the caller may name it.
    named = device or _topic_device(source, app.settings.mqtt_topic_prefix)
    # The same source, so a replay that fails again groups with its identical twins.
    message = RawMessage(source, raw, received, "" if kind == "-" else kind, named)
    if app.settings.telemetry_http_forward:  # the worker's engine must see it: forward.py
        result = telemetry(app).forward_http([message]).result.messages[0]
        outcome = (f"replayed by {who}: {result.accepted} forwarded to the ingesting worker, "
                   f"{result.rejected} rejected")  # fmt: skip
    else:
        result = telemetry(app).ingest([message]).messages[0]
        outcome = (f"replayed by {who}: {result.accepted} accepted, {result.duplicates} "
                   f"already stored, {result.rejected} rejected")  # fmt: skip
    if result.dead_letter_id is not None:
        outcome += f"; still {result.reason}: dead letter {result.dead_letter_id}"
    with app.sessions.begin() as s:
        resolved = _resolve(s, twins, app, who, outcome)
    return {"id": id_, "accepted": result.accepted, "duplicates": result.duplicates,
            "rejected": result.rejected, "reason": result.reason, "problems": result.problems,
            "dead_letter_id": result.dead_letter_id, "resolved": resolved,
            "note": outcome}  # fmt: skip
