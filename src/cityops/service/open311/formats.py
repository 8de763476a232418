"""Open311 formats: W3C dates, personal-data masking, the time-limit notice."""

from __future__ import annotations

import re
from datetime import datetime, tzinfo

from cityops.domain.errors import ValidationFailed
from cityops.domain.model import Stage
from cityops.domain.timelimit import TimeLimit, TimeUnit
from cityops.service.reference import CategoryInfo

SPECIFICATION = "http://wiki.open311.org/GeoReport_v2"
CONTENT_TYPES = {"json": "application/json", "xml": "text/xml"}
_REDACT = (
    re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+"),  # e-mail
    re.compile(r"(?<![\dA-Za-z])\d{17}[\dXx](?![\dA-Za-z])"),  # 18-digit ID card number
    re.compile(r"(?<!\d)(?:\+?86[- ]?)?1[3-9]\d(?:[- ]?\d{4}){2}(?!\d)"),  # mobile
    re.compile(r"(?<!\d)0\d{2,3}[- ]?\d{7,8}(?!\d)"),  # landline with area code
)


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
