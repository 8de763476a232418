"""Open311 GeoReport v2 (and the ``servicerequestupdates`` extension) over CityOps.

Services are the taxonomy's active subclasses; a service request is a case reported through the
citizen channel. Every function returns plain data in the spec's shape (the XML structure's
Spark-convention JSON); the router renders it as JSON or XML and maps errors to the spec's
status codes: :class:`NotFound` → 404, :class:`Forbidden` → 403, any other error → 400.

The GET methods are public, so they publish only what is safe: never the reporter's name,
phone or e-mail (also masked inside free text), never internal workflow steps (督办, 延期 …).
"""

from __future__ import annotations

import hashlib
import re
import shutil
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from pathlib import Path
from typing import Any, BinaryIO

from sqlalchemy import select
from sqlalchemy.orm import Session

from cityops.adapters.db.models import (
    AuditRow,
    CaseEventRow,
    CaseRow,
    CategoryRow,
    GazetteerRow,
    RegionRow,
)
from cityops.bootstrap import App
from cityops.domain.errors import Forbidden, NotFound, Unauthorized, ValidationFailed
from cityops.domain.model import (
    STATE_LABELS_ZH,
    TERMINAL_STATES,
    CaseState,
    Channel,
    RegionLevel,
    Stage,
)
from cityops.domain.timelimit import TimeLimit, TimeUnit
from cityops.domain.workflow import BY_ACTION
from cityops.service import intake
from cityops.service.auth import principal_from_api_key
from cityops.service.principal import Principal
from cityops.service.reference import CategoryInfo, Snapshot

SPECIFICATION = "http://wiki.open311.org/GeoReport_v2"
CONTENT_TYPES = {"json": "application/json", "xml": "text/xml"}
MAX_SPAN = timedelta(days=90)  # the spec's default and largest date window
MAX_RESULTS = 1000
MAX_DESCRIPTION = 4000
MAX_MEDIA_BYTES = 10 * 1024 * 1024
MAX_UPLOADS = 5
IMAGE_TYPES = {"image/jpeg": "jpg", "image/png": "png", "image/gif": "gif", "image/webp": "webp"}
MEDIA_REF = "media://open311/"  # how stored uploads are referenced in case events
MEDIA_NAME = re.compile(r"[0-9a-f]{32}\.(jpg|png|gif|webp)")
SPOT, COMPONENT = "spot", "component_code"
# Workflow steps a citizen may follow; 督办, 延期, 升级, 超期, 补正 and 评价 stay internal.
PUBLIC_ACTIONS = frozenset({
    "accept", "invalidate", "verify", "refute", "fast_track", "open", "dispatch", "redispatch",
    "start", "return", "complete", "check_pass", "check_fail", "close", "suspend", "resume",
    "reopen",
})  # fmt: skip
_CLOSED = [s.value for s in TERMINAL_STATES]
_REDACT = (
    re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+"),  # e-mail
    re.compile(r"(?<![\dA-Za-z])\d{17}[\dXx](?![\dA-Za-z])"),  # 18-digit ID card number
    re.compile(r"(?<!\d)(?:\+?86[- ]?)?1[3-9]\d(?:[- ]?\d{4}){2}(?!\d)"),  # mobile
    re.compile(r"(?<!\d)0\d{2,3}[- ]?\d{7,8}(?!\d)"),  # landline with area code
)
_MAGIC = {"png": (b"\x89PNG\r\n\x1a\n",), "jpg": (b"\xff\xd8\xff",), "gif": (b"GIF87a", b"GIF89a")}


# ---- formats -------------------------------------------------------------------------------


def w3c(moment: datetime | None, tz: tzinfo) -> str | None:
    """A W3C datetime with the city's offset, e.g. ``2026-11-18T10:00:00+08:00``."""
    return moment.astimezone(tz).isoformat(timespec="seconds") if moment else None


def parse_w3c(name: str, text: str | None, tz: tzinfo) -> datetime | None:
    if text is None or not text.strip():
        return None
    value = re.sub(r" (\d{2}:?\d{2})$", r"+\1", text.strip())  # an unencoded "+" became " "
    try:
        if re.fullmatch(r"\d{4}(-\d{2})?", value):
            moment = datetime(int(value[:4]), int(value[5:7] or 1), 1)
        else:
            moment = datetime.fromisoformat(value[:-1] + "+00:00" if value[-1] in "Zz" else value)
    except ValueError as exc:
        raise ValidationFailed(
            f"{name} must be a W3C datetime such as 2026-11-18T10:00:00+08:00, not {text!r}",
            field=name,
        ) from exc
    return moment.replace(tzinfo=tz) if moment.tzinfo is None else moment


def redact(text: str | None, *known: str | None) -> str | None:
    """Mask personal data in free text: the reporter's own name/phone, e-mails, phone numbers."""
    if not text:
        return text
    for value in known:
        if value and len(value.strip()) >= 2:
            text = text.replace(value.strip(), "***")
    for pattern in _REDACT:
        text = pattern.sub("***", text)
    return text


def redact_api_key(raw: str) -> str:
    """The raw payload is kept, but never the caller's secret."""
    raw = re.sub(r"(^|&)(api_key=)[^&]*", r"\1\2[redacted]", raw)
    return re.sub(r'("api_key"\s*:\s*)"(?:[^"\\]|\\.)*"', r'\1"[redacted]"', raw)


def _limit_text(limit: TimeLimit) -> tuple[str, str]:
    n = int(limit.amount) if limit.amount.is_integer() else limit.amount
    zh, en = {
        TimeUnit.WORKING_HOURS: ("个工作小时", "working hours"),
        TimeUnit.WORKING_DAYS: ("个工作日", "working days"),
        TimeUnit.CALENDAR_HOURS: ("小时", "hours"),
    }[limit.unit]
    return f"{n}{zh}", f"{n} {en}"


def service_notice(info: CategoryInfo | None) -> str | None:
    limit = info.limits.get(Stage.HANDLE) if info else None
    if limit is None:
        return None
    zh, en = _limit_text(limit)
    return f"立案后{zh}内处置 / handled within {en} once the case is opened"


# ---- jurisdiction, discovery, services ------------------------------------------------------


def jurisdiction_id(app: App) -> str | None:
    """The loaded city's region code; None when no city region is loaded (any id is accepted)."""
    with app.reads() as s:
        stmt = select(RegionRow.code).where(RegionRow.level == RegionLevel.CITY.value)
        return s.scalars(stmt.order_by(RegionRow.code)).first()


def check_jurisdiction(app: App, given: str | None) -> None:
    if not given or not given.strip():
        return  # optional: this endpoint serves one jurisdiction
    expected = jurisdiction_id(app)
    if expected is not None and given.strip() != expected:
        raise NotFound(
            f"jurisdiction_id {given.strip()} not found; this endpoint serves {expected}",
            field="jurisdiction_id",
        )


def discovery(app: App, base_url: str) -> dict[str, Any]:
    with app.reads() as s:
        changed = s.scalar(
            select(AuditRow.at)
            .where(AuditRow.action.in_(["import_taxonomy", "edit_category"]))
            .order_by(AuditRow.at.desc())
            .limit(1)
        )
    changeset = w3c(changed, app.settings.tz) or "1970-01-01T00:00:00Z"
    return {
        "changeset": changeset,
        "contact": "城市运行管理中心 (city operations centre): ask the CityOps administrator",
        "key_service": "API keys are issued by a CityOps administrator (POST "
        '/api/v1/admin/api-keys with channels ["citizen"]); see docs/open311.md',
        "endpoints": [
            {
                "specification": SPECIFICATION,
                "url": f"{base_url.rstrip('/')}/open311/v2",
                "changeset": changeset,
                "type": "production",
                "formats": ["text/xml", "application/json"],
            }
        ],
    }


def _attributes(kind: str) -> list[dict[str, Any]]:
    attrs: list[dict[str, Any]] = [{
        "variable": True, "code": SPOT, "datatype": "text", "required": False,
        "datatype_description": "至多 200 字 / at most 200 characters", "order": 1,
        "description": "具体位置描述（门牌号、参照物）/ The exact spot: door number, landmark",
        "values": [],
    }]  # fmt: skip
    if kind == "component":
        attrs.append({
            "variable": True, "code": COMPONENT, "datatype": "string", "required": False,
            "datatype_description": "16 位数字：6 位行政区划 + 2 位大类 + 2 位小类 + 6 位流水号 / "
            "16 digits: 6 area + 2 major class + 2 subclass + 6 serial", "order": 2,
            "description": "部件编码（见部件标牌）/ Component code, as on the asset's tag",
            "values": [],
        })  # fmt: skip
    return attrs


def services(app: App) -> list[dict[str, Any]]:
    with app.reads() as s:
        rows = s.scalars(
            select(CategoryRow).where(CategoryRow.active.is_(True)).order_by(CategoryRow.key)
        ).all()
    return [
        {
            "service_code": r.key,
            "service_name": r.name,
            "description": r.filing_condition or r.name,
            "metadata": bool(_attributes(r.kind)),
            "type": "realtime",
            "keywords": ", ".join(str(k) for k in r.keywords or []),
            "group": r.major_name,
        }
        for r in rows
    ]


def _category(app: App, code: str) -> CategoryRow:
    with app.reads() as s:
        row = s.get(CategoryRow, code)
    if row is None or not row.active:
        raise NotFound(f"service_code {code} not found", field="service_code")
    return row


def service_definition(app: App, code: str) -> dict[str, Any]:
    row = _category(app, code)
    return {"service_code": row.key, "attributes": _attributes(row.kind)}


# ---- POST requests --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Upload:
    filename: str
    content_type: str
    file: BinaryIO


@dataclass(frozen=True, slots=True)
class NewRequest:
    params: Mapping[str, str]  # one value a parameter (the last one given wins)
    attributes: Mapping[str, Sequence[str]]  # attribute[code]=value, attribute[code][]=value
    raw: str  # the payload as received (api_key redacted); a JSON summary for multipart
    uploads: Sequence[Upload] = ()
    idempotency_key: str | None = None


def _caller(app: App, key: str | None) -> Principal:
    if not key:
        raise Forbidden("api_key was not provided")
    try:
        principal = principal_from_api_key(app, key)
    except Unauthorized as exc:
        raise Forbidden("api_key is invalid") from exc
    if Channel.CITIZEN not in principal.channels:
        raise Forbidden("this api_key may not submit to the citizen channel")
    return principal


def _text(p: Mapping[str, str], name: str, limit: int) -> str | None:
    value = p.get(name)
    if value is not None and len(value) > limit:
        raise ValidationFailed(f"{name} is longer than {limit} characters", field=name)
    return value


def _coordinate(name: str, text: str, bound: float) -> float:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not -bound <= value <= bound:  # also refuses nan and inf
        raise ValidationFailed(f"{name} must be a WGS-84 number within ±{bound:g}", field=name)
    return value


def _address_id(
    app: App, snap: Snapshot, ref: str
) -> tuple[str | None, float | None, float | None, str | None]:
    """A grid cell code (14 digits) or a gazetteer entry id → grid, lon, lat, address."""
    if re.fullmatch(r"\d{14}", ref) and ref in snap.region_names:
        return ref, None, None, snap.region_names[ref]
    if re.fullmatch(r"\d{1,12}", ref):
        with app.reads() as s:
            row = s.get(GazetteerRow, int(ref))
        if row is not None:
            return None, row.lon, row.lat, row.name
    raise ValidationFailed(f"address_id {ref} not found", field="address_id")


def _checked_attributes(row: CategoryRow, given: Mapping[str, Sequence[str]]) -> dict[str, str]:
    out: dict[str, str] = {}
    definition = _attributes(row.kind)
    known = {a["code"] for a in definition}
    for code, values in given.items():
        picked = [v.strip() for v in values if v.strip()]
        if code in known and picked:  # other codes are kept in the raw payload only
            if len(picked) > 1:
                raise ValidationFailed(f"attribute[{code}] takes one value", field=code)
            out[code] = picked[0]
    for attr in definition:
        if attr["required"] and attr["code"] not in out:
            raise ValidationFailed(f"attribute[{attr['code']}] is required", field=attr["code"])
    if len(out.get(SPOT, "")) > 200:
        raise ValidationFailed(f"attribute[{SPOT}] is longer than 200 characters", field=SPOT)
    component = out.get(COMPONENT)
    if component is not None and not re.fullmatch(r"\d{16}", component):
        raise ValidationFailed(f"attribute[{COMPONENT}] must be 16 digits", field=COMPONENT)
    if component is not None and component[6:10] != row.code:
        raise ValidationFailed(
            f"component {component} is not a {row.name} (class {component[6:10]} ≠ {row.code})",
            field=COMPONENT,
        )
    return out


def _checked_uploads(uploads: Sequence[Upload]) -> list[tuple[Upload, str]]:
    if len(uploads) > MAX_UPLOADS:
        raise ValidationFailed(f"at most {MAX_UPLOADS} media files", field="media")
    checked = []
    for up in uploads:
        declared = up.content_type.split(";")[0].strip().lower()
        ext = IMAGE_TYPES.get(declared)
        if ext is None:
            raise ValidationFailed(
                f"media {up.filename!r}: {declared or 'no content type'} is not an accepted "
                "image type (JPEG, PNG, GIF, WebP)",
                field="media",
            )
        up.file.seek(0, 2)
        size = up.file.tell()
        up.file.seek(0)
        head = up.file.read(16)
        up.file.seek(0)
        if size > MAX_MEDIA_BYTES:
            raise ValidationFailed(f"media {up.filename!r} is larger than 10 MB", field="media")
        webp = head[:4] == b"RIFF" and head[8:12] == b"WEBP"
        if not (webp if ext == "webp" else head.startswith(_MAGIC[ext])):
            raise ValidationFailed(
                f"media {up.filename!r} is not a {declared} image", field="media"
            )
        checked.append((up, ext))
    return checked


def _store(app: App, checked: list[tuple[Upload, str]]) -> list[Path]:
    folder = Path(app.settings.media_dir) / "open311"
    folder.mkdir(parents=True, exist_ok=True)
    paths: list[Path] = []
    try:
        for up, ext in checked:
            path = folder / f"{uuid.uuid4().hex}.{ext}"
            with path.open("xb") as out:
                shutil.copyfileobj(up.file, out, 1 << 20)
            paths.append(path)
    except BaseException:
        _remove(paths)
        raise
    return paths


def _remove(paths: Iterable[Path]) -> None:
    for path in paths:
        path.unlink(missing_ok=True)


def _source_id(principal: Principal, device_id: str | None, key: str | None) -> str:
    """The idempotency key: the client's own (scoped by api key and device), else a fresh one."""
    if not key:
        return f"open311:{uuid.uuid4().hex}"
    if len(key) > 128:
        raise ValidationFailed("X-Idempotency-Key is longer than 128 characters", field="key")
    text = f"open311:{principal.username}:{device_id or '-'}:{key}"
    if len(text) <= intake.SOURCE_ID_MAX:
        return text
    return "open311:sha256:" + hashlib.sha256(text.encode()).hexdigest()


def create_request(app: App, req: NewRequest) -> list[dict[str, Any]]:
    """POST requests: validate everything, then store media and submit; nothing is kept on error."""
    p = {k: v.strip() for k, v in req.params.items() if v and v.strip()}  # empty = absent
    principal = _caller(app, p.get("api_key"))
    check_jurisdiction(app, p.get("jurisdiction_id"))
    if "service_code" not in p:
        raise ValidationFailed("service_code was not provided", field="service_code")
    row = _category(app, p["service_code"])
    attrs = _checked_attributes(row, req.attributes)
    snap = app.reference.get()
    lon = lat = None
    grid = None
    if ("lat" in p) != ("long" in p):
        raise ValidationFailed("lat and long must be given together", field="location")
    if "lat" in p:
        lat, lon = _coordinate("lat", p["lat"], 90), _coordinate("long", p["long"], 180)
    address = _text(p, "address_string", 200)
    if lat is None and "address_id" in p:
        grid, lon, lat, named = _address_id(app, snap, p["address_id"])
        address = address or named
    if lat is None and grid is None and not address:
        raise ValidationFailed(
            "a location is required: lat & long, address_string or address_id", field="location"
        )
    if lon is not None and lat is not None and snap.locator.locate(lon, lat) is None:
        raise ValidationFailed(
            f"location (lat {lat}, long {lon}) is outside the city / 位置不在本市网格内",
            field="location",
        )
    spot = attrs.get(SPOT)
    if spot and (address or lat is not None or grid):
        address = f"{address} {spot}"[:200] if address else spot
    description = _text(p, "description", MAX_DESCRIPTION) or (
        f"{row.name}：{spot}" if spot else row.name
    )
    first, last = _text(p, "first_name", 50), _text(p, "last_name", 50)
    name = " ".join(x for x in (first, last) if x) or None
    if first and last and not (first + last).isascii():
        name = last + first  # 张 + 三 → 张三
    phone = _text(p, "phone", 32)
    for other, limit in (("email", 254), ("device_id", 128), ("account_id", 128)):
        _text(p, other, limit)  # kept in the raw payload only: never published, never routed
    media_url = _text(p, "media_url", 2000)
    if media_url and not re.match(r"https?://", media_url, re.IGNORECASE):
        raise ValidationFailed("media_url must be an http(s) URL", field="media_url")
    checked = _checked_uploads(req.uploads)
    source_id = _source_id(principal, p.get("device_id"), req.idempotency_key)
    extra: dict[str, Any] = {"open311": {"service_code": row.key, "attributes": attrs}}
    if p.get("address_id"):
        extra["open311"]["address_id"] = p["address_id"]
    paths = _store(app, checked)
    media = tuple(MEDIA_REF + path.name for path in paths) + ((media_url,) if media_url else ())
    report = intake.ReportInput(
        channel=Channel.CITIZEN, source_id=source_id, raw=req.raw, description=description,
        category=row.key, lon=lon, lat=lat, grid_code=grid, address=address,
        component_code=attrs.get(COMPONENT), reporter_name=name, reporter_phone=phone,
        media=media, extra=extra,
    )  # fmt: skip
    try:
        result = intake.submit(app, report, principal)
    except BaseException:
        _remove(paths)
        raise
    if not result.created and not result.merged:
        _remove(paths)  # a repeat: the first request's media stay with its case
    notice = service_notice(snap.categories.get(row.key))
    received = f"已收到，案卷编号 {result.case_no} / received as case {result.case_no}"
    if result.merged:
        received = (
            f"同一问题已在办理，已并入案卷 {result.case_no} / "
            f"the same problem is already being handled: merged into case {result.case_no}"
        )
    return [{
        "service_request_id": result.case_no,
        "service_notice": f"{received}; {notice}" if notice else received,
        "account_id": None,
    }]  # fmt: skip


# ---- GET requests and updates ---------------------------------------------------------------


def window(
    start: datetime | None, end: datetime | None, now: datetime
) -> tuple[datetime, datetime]:
    if start is None and end is None:
        return now - MAX_SPAN, now
    start = start or (end - MAX_SPAN if end else None)
    end = end or (start + MAX_SPAN if start else None)
    assert start is not None and end is not None
    if end < start:
        raise ValidationFailed("end_date is before start_date", field="end_date")
    if end - start > MAX_SPAN:
        raise ValidationFailed("start_date and end_date may not span more than 90 days")
    return start, end


def _csv(p: Mapping[str, str], name: str) -> tuple[str, ...]:
    return tuple(x.strip() for x in p.get(name, "").split(",") if x.strip())


def find_requests(app: App, p: Mapping[str, str], base_url: str) -> list[dict[str, Any]]:
    """GET requests: service_request_id overrides every other filter; newest first, ≤ 1000."""
    tz = app.settings.tz
    check_jurisdiction(app, p.get("jurisdiction_id"))
    ids, codes, statuses = _csv(p, "service_request_id"), _csv(p, "service_code"), _csv(p, "status")
    if len(ids) > MAX_RESULTS:
        raise ValidationFailed(f"at most {MAX_RESULTS} service_request_id values")
    bad = [s for s in statuses if s.lower() not in ("open", "closed")]
    if bad:
        raise ValidationFailed(f"status must be open or closed, not {bad[0]}", field="status")
    stmt = select(CaseRow)
    if ids:
        stmt = stmt.where(CaseRow.case_no.in_(ids))
    else:
        start, end = window(
            parse_w3c("start_date", p.get("start_date"), tz),
            parse_w3c("end_date", p.get("end_date"), tz),
            app.clock(),
        )
        stmt = stmt.where(CaseRow.created_at >= start, CaseRow.created_at <= end)
        if codes:
            stmt = stmt.where(CaseRow.category.in_(codes))
        wanted = {s.lower() for s in statuses}
        if len(wanted) == 1:
            closed = CaseRow.state.in_(_CLOSED)
            stmt = stmt.where(closed if "closed" in wanted else ~closed)
    stmt = stmt.order_by(CaseRow.created_at.desc(), CaseRow.id.desc()).limit(MAX_RESULTS)
    with app.reads() as s:
        cases = s.scalars(stmt).all()
        events = _public_events(s, [c.id for c in cases])
    snap = app.reference.get()
    return [_request(c, events.get(c.id, []), snap, tz, base_url) for c in cases]


def find_request(app: App, service_request_id: str, p: Mapping[str, str],
                 base_url: str) -> list[dict[str, Any]]:  # fmt: skip
    found = []
    if "," not in service_request_id:
        found = find_requests(app, {**p, "service_request_id": service_request_id}, base_url)
    if not found:
        raise NotFound(f"service_request_id {service_request_id} not found")
    return found


def _public_events(s: Session, case_ids: list[int]) -> dict[int, list[CaseEventRow]]:
    out: dict[int, list[CaseEventRow]] = {}
    for i in range(0, len(case_ids), 500):
        stmt = (
            select(CaseEventRow)
            .where(
                CaseEventRow.case_id.in_(case_ids[i : i + 500]),
                CaseEventRow.action.in_([*PUBLIC_ACTIONS, "submit"]),
            )
            .order_by(CaseEventRow.case_id, CaseEventRow.seq)
        )
        for e in s.scalars(stmt):
            out.setdefault(e.case_id, []).append(e)
    return out


def public_media(event: CaseEventRow | None, base_url: str) -> list[str]:
    """Only media that came in through Open311 are published (staff photos stay internal)."""
    if event is None or event.action != "submit" or "open311" not in (event.data or {}):
        return []
    out = []
    for ref in event.media or []:
        name = ref[len(MEDIA_REF) :] if isinstance(ref, str) else ""
        if isinstance(ref, str) and ref.startswith(MEDIA_REF) and MEDIA_NAME.fullmatch(name):
            out.append(f"{base_url.rstrip('/')}/open311/v2/media/{name}")
        elif isinstance(ref, str) and re.match(r"https?://", ref, re.IGNORECASE):
            out.append(ref)
    return out


def _place_name(case: CaseRow, snap: Snapshot) -> str | None:
    codes = (case.grid_code, case.community_code, case.street_code, case.district_code)
    names = [snap.region_names[c] for c in codes if c and c in snap.region_names]
    return ", ".join(names) or None


def _request(case: CaseRow, events: list[CaseEventRow], snap: Snapshot, tz: tzinfo,
             base_url: str) -> dict[str, Any]:  # fmt: skip
    state = CaseState(case.state)
    closed = state in TERMINAL_STATES
    info = snap.categories.get(case.category or "")
    dept = snap.departments_by_id.get(case.department_id or -1)
    known = (case.reporter_name, case.reporter_phone)
    latest = events[-1] if events and events[-1].action != "submit" else None
    note = redact(latest.note, *known) if latest else None
    media = public_media(events[0] if events else None, base_url)
    return {
        "service_request_id": case.case_no,
        "status": "closed" if closed else "open",
        "status_notes": note or f"{STATE_LABELS_ZH[state]} / {state.value}",
        "service_name": info.name if info else None,
        "service_code": case.category,
        "description": redact(case.description, *known),
        "agency_responsible": dept.name if dept else None,
        "service_notice": service_notice(info),
        "requested_datetime": w3c(case.created_at, tz),
        "updated_datetime": w3c(case.closed_at or case.updated_at, tz),
        "expected_datetime": None if closed else w3c(case.stage_due_at, tz),
        "address": redact(case.address, *known) or _place_name(case, snap),
        "address_id": case.grid_code,
        "zipcode": None,
        "lat": case.lat,
        "long": case.lon,
        "media_url": media[0] if media else None,
    }


def find_updates(app: App, p: Mapping[str, str], base_url: str) -> list[dict[str, Any]]:
    """servicerequestupdates: the public steps of every case in the window, oldest first."""
    tz = app.settings.tz
    check_jurisdiction(app, p.get("jurisdiction_id"))
    start, end = window(
        parse_w3c("start_date", p.get("start_date"), tz),
        parse_w3c("end_date", p.get("end_date"), tz),
        app.clock(),
    )
    stmt = (
        select(CaseEventRow, CaseRow.case_no, CaseRow.reporter_name, CaseRow.reporter_phone)
        .join(CaseRow, CaseRow.id == CaseEventRow.case_id)
        .where(
            CaseEventRow.at >= start,
            CaseEventRow.at <= end,
            CaseEventRow.action.in_(PUBLIC_ACTIONS),
        )
        .order_by(CaseEventRow.at, CaseEventRow.id)
        .limit(MAX_RESULTS)
    )
    snap = app.reference.get()
    out = []
    with app.reads() as s:
        for e, case_no, name, phone in s.execute(stmt):
            label = BY_ACTION[e.action].label_zh
            dept = snap.departments_by_id.get(e.department_id or -1)
            if e.action in ("dispatch", "redispatch") and dept:
                label = f"{label}：{dept.name}"
            out.append({
                "update_id": f"{e.case_id}-{e.seq}",
                "service_request_id": case_no,
                "status": "closed" if e.to_state in _CLOSED else "open",
                "updated_datetime": w3c(e.at, tz),
                "description": redact(e.note, name, phone) or label,
                "media_url": None,  # staff photos are internal
            })  # fmt: skip
    return out


def media_file(app: App, name: str) -> tuple[Path, str]:
    """A stored Open311 upload by its generated name, with its content type."""
    path = Path(app.settings.media_dir) / "open311" / name
    if not MEDIA_NAME.fullmatch(name) or not path.is_file():
        raise NotFound(f"media {name} not found")
    ext = name.rsplit(".", 1)[1]
    return path, next(t for t, e in IMAGE_TYPES.items() if e == ext)
