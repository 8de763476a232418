"""Open311 POST requests: validate everything, then store the photos and submit the report."""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cityops.adapters.db.models import CategoryRow, GazetteerRow
from cityops.bootstrap import App
from cityops.domain.errors import Forbidden, Unauthorized, ValidationFailed
from cityops.domain.media import UploadChannel
from cityops.domain.model import Channel
from cityops.service import intake, media
from cityops.service.auth import principal_from_api_key
from cityops.service.open311.formats import service_notice
from cityops.service.open311.services import (
    COMPONENT,
    SPOT,
    attributes,
    category,
    check_jurisdiction,
)
from cityops.service.principal import Principal
from cityops.service.reference import Snapshot

MAX_DESCRIPTION = 4000
MAX_UPLOADS = 5
Upload = media.Upload


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
    definition = attributes(row.kind)
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
    """POST requests: validate everything (photos too), then store the photos and submit."""
    p = {k: v.strip() for k, v in req.params.items() if v and v.strip()}  # empty = absent
    principal = _caller(app, p.get("api_key"))
    check_jurisdiction(app, p.get("jurisdiction_id"))
    if "service_code" not in p:
        raise ValidationFailed("service_code was not provided", field="service_code")
    row = category(app, p["service_code"])
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
    photos = media.check_all(req.uploads, app.settings, MAX_UPLOADS)
    source_id = _source_id(principal, p.get("device_id"), req.idempotency_key)
    extra: dict[str, Any] = {"open311": {"service_code": row.key, "attributes": attrs}}
    if p.get("address_id"):
        extra["open311"]["address_id"] = p["address_id"]
    stored = media.store(app, photos, uploaded_by=principal.username,
                         channel=UploadChannel.OPEN311)  # fmt: skip
    refs = tuple(x.ref for x in stored) + ((media_url,) if media_url else ())
    report = intake.ReportInput(
        channel=Channel.CITIZEN, source_id=source_id, raw=req.raw, description=description,
        category=row.key, lon=lon, lat=lat, grid_code=grid, address=address,
        component_code=attrs.get(COMPONENT), reporter_name=name, reporter_phone=phone,
        media=refs, extra=extra,
    )  # fmt: skip
    # A photo stays stored if this fails or is a repeat: see service/media.py for why.
    result = intake.submit(app, report, principal)
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
