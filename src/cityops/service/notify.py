"""Telling reporters that their case is closed (结案): an outbox and its delivery.

Every report on a case keeps its reporter, also the reports merged into it (并案). Closing the
case writes one notification per distinct reporter with a contact, in the transaction of the
close itself, so a close without its notifications cannot happen. A delivery run (the sweeper,
``cityops notify``) then hands each pending one to a :class:`Sender`. Delivery is at least
once: a message whose send succeeded but whose status update was lost is sent again.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol
from urllib.parse import parse_qsl

from sqlalchemy import select
from sqlalchemy.orm import Session

from cityops.adapters.db.models import (
    CaseEventRow,
    CaseRow,
    NotificationRow,
    ReportRow,
    UserRow,
)
from cityops.bootstrap import App
from cityops.domain.errors import Forbidden, NotFound
from cityops.domain.model import Role
from cityops.service.access import can_see
from cityops.service.principal import Principal

log = logging.getLogger(__name__)

CASE_CLOSED = "case_closed"
MAX_ERROR = 500


class Status(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"  # gave up after ``max_attempts``


@dataclass(frozen=True, slots=True)
class Contact:
    channel: str  # sms | app | email | open311
    recipient: str


# ---- who reported -----------------------------------------------------------------------------


def _digits(phone: str) -> str:
    digits = "".join(c for c in phone if c.isdigit())
    return digits[2:] if len(digits) == 13 and digits.startswith("86") else digits


def _open311_fields(report: ReportRow) -> dict[str, str]:
    """E-mail and device id are kept only in an Open311 request's raw payload."""
    if not report.source_id.startswith("open311:"):
        return {}
    raw = report.raw.strip()
    try:
        parsed: Any = json.loads(raw) if raw.startswith("{") else dict(parse_qsl(raw))
    except ValueError:
        return {}
    if not isinstance(parsed, dict):
        return {}
    return {k: str(parsed[k]).strip() for k in ("email", "device_id") if parsed.get(k)}


def contacts(report: ReportRow, user: UserRow | None) -> list[Contact]:
    """How the reporter can be reached, the preferred way first (empty: anonymous)."""
    found: list[Contact] = []
    if report.reporter_phone and _digits(report.reporter_phone):
        found.append(Contact("sms", report.reporter_phone.strip()))
    if user is not None:
        found.append(Contact("app", user.username))
    extra = _open311_fields(report)
    if "email" in extra:
        found.append(Contact("email", extra["email"]))
    if "device_id" in extra:
        found.append(Contact("open311", extra["device_id"]))
    return found


def _identities(report: ReportRow, user: UserRow | None, reach: list[Contact]) -> set[str]:
    """Everything that names the same person: the same phone or account is one reporter."""
    ids = {f"{c.channel}:{c.recipient.lower()}" for c in reach if c.channel != "sms"}
    phones = [report.reporter_phone, user.phone if user else None]
    ids |= {f"tel:{_digits(p)}" for p in phones if p and _digits(p)}
    return ids


# ---- writing the outbox -------------------------------------------------------------------


@dataclass(slots=True)
class Outbox:
    """Notifications prepared for one event, added once the event has its sequence number."""

    rows: list[NotificationRow] = field(default_factory=list)
    summary: dict[str, int] = field(default_factory=dict)

    def add_to(self, session: Session, event_seq: int) -> None:
        for row in self.rows:
            row.event_seq = event_seq
            session.add(row)


def closed_body(case_no: str, result: str | None, merged: bool) -> str:
    text = f"【一网统管】您反映的问题（案卷编号 {case_no}）已办结"
    if merged:
        text += "（与其他市民反映的同一问题并案办理）"
    if result and result.strip():
        brief = result.strip()
        text += f"。处置结果：{brief[:120]}{'…' if len(brief) > 120 else ''}"
    return text + "。如有意见，可通过原渠道评价或拨打 12345。"


def case_closed(session: Session, case: CaseRow, note: str | None, now: datetime) -> Outbox:
    """One notice per distinct reporter of every report on the case, original or merged."""
    reports = session.scalars(
        select(ReportRow).where(ReportRow.case_id == case.id).order_by(ReportRow.id)
    ).all()
    user_ids = {r.reporter_user_id for r in reports if r.reporter_user_id is not None}
    users = {u.id: u for u in session.scalars(select(UserRow).where(UserRow.id.in_(user_ids)))}
    result = (
        note
        or session.scalars(
            select(CaseEventRow.note)
            .where(CaseEventRow.case_id == case.id, CaseEventRow.action == "complete")
            .order_by(CaseEventRow.seq.desc())
        ).first()
    )
    outbox, seen, anonymous = Outbox(), set[str](), 0
    for report in reports:
        user = users.get(report.reporter_user_id or -1)
        reach = contacts(report, user)
        if not reach:
            anonymous += 1  # a video alert, an anonymous call: counted, not told
            continue
        names = _identities(report, user, reach)
        if names & seen:
            seen |= names
            continue
        seen |= names
        outbox.rows.append(NotificationRow(
            case_id=case.id, report_id=report.id, kind=CASE_CLOSED,
            channel=reach[0].channel, recipient=reach[0].recipient[:254],
            body=closed_body(case.case_no or str(case.id), result, report.merged),
            status=Status.PENDING.value, attempts=0, created_at=now,
        ))  # fmt: skip
    outbox.summary = {
        "reports": len(reports),
        "reporters": len(outbox.rows) + anonymous,
        "notified": len(outbox.rows),
        "without_contact": anonymous,
    }
    return outbox


# ---- delivery ---------------------------------------------------------------------------------


class Sender(Protocol):
    """A gateway (SMS, WeCom, e-mail, the Open311 client's push); raises when it fails."""

    def send(self, channel: str, recipient: str, body: str) -> None: ...


class LogSender:
    """Writes each message to the log and counts it sent: the stand-in until a gateway is set."""

    def send(self, channel: str, recipient: str, body: str) -> None:
        log.info("notify %s %s: %s", channel, mask(channel, recipient), body)


@dataclass(frozen=True, slots=True)
class Delivery:
    sent: int = 0
    retrying: int = 0  # failed this time, tried again on the next run
    failed: int = 0  # gave up


def deliver(
    app: App, sender: Sender | None = None, *, limit: int = 200, max_attempts: int = 5
) -> Delivery:
    """Send pending notifications, oldest first; each in its own transaction."""
    sender = sender or LogSender()
    with app.reads() as s:
        ids = s.scalars(
            select(NotificationRow.id)
            .where(NotificationRow.status == Status.PENDING.value)
            .order_by(NotificationRow.id)
            .limit(limit)
        ).all()
    counts = {"sent": 0, "retrying": 0, "failed": 0}
    for nid in ids:
        with app.sessions.begin() as s:
            row = s.scalars(
                select(NotificationRow)
                .where(NotificationRow.id == nid, NotificationRow.status == Status.PENDING.value)
                .with_for_update(skip_locked=True)
            ).one_or_none()
            if row is None:  # another run took it meanwhile
                continue
            row.attempts += 1
            try:
                sender.send(row.channel, row.recipient, row.body)
            except Exception as exc:  # a gateway's failure is recorded, never fatal to the run
                row.last_error = f"{type(exc).__name__}: {exc}"[:MAX_ERROR]
                gave_up = row.attempts >= max_attempts
                row.status = Status.FAILED.value if gave_up else Status.PENDING.value
                counts["failed" if gave_up else "retrying"] += 1
            else:
                row.status, row.sent_at, row.last_error = Status.SENT.value, app.clock(), None
                counts["sent"] += 1
    return Delivery(**counts)


# ---- reading --------------------------------------------------------------------------------


def mask(channel: str, recipient: str) -> str:
    if channel == "sms":
        digits = _digits(recipient)
        return digits[:3] + "****" + digits[-4:] if len(digits) >= 8 else "*" * len(digits)
    if channel == "email" and "@" in recipient:
        name, _, domain = recipient.partition("@")
        return f"{name[:1]}***@{domain}"
    return recipient[:1] + "***"


def for_case(app: App, principal: Principal, case_id: int) -> dict[str, Any]:
    """A case's notifications for staff; recipients masked unless the caller calls back."""
    if principal.role is Role.CITIZEN:
        raise Forbidden("notifications are listed for staff only / 仅工作人员可查看")
    with app.reads() as s:
        case = s.get(CaseRow, case_id)
        past = set(
            s.scalars(
                select(CaseEventRow.department_id).where(
                    CaseEventRow.case_id == case_id, CaseEventRow.department_id.is_not(None)
                )
            )
        )
        if case is None or not can_see(case, principal, {d for d in past if d is not None}):
            raise NotFound(f"case {case_id} not found", case_id=case_id)
        rows = s.scalars(
            select(NotificationRow)
            .where(NotificationRow.case_id == case_id)
            .order_by(NotificationRow.id)
        ).all()
        closes = s.scalars(
            select(CaseEventRow.data)
            .where(CaseEventRow.case_id == case_id, CaseEventRow.action == "close")
            .order_by(CaseEventRow.seq.desc())
        ).all()
    personal = principal.sees_personal_data
    return {
        "case_id": case_id,
        "summary": next((d["notify"] for d in closes if "notify" in d), None),
        "items": [_item(n, personal) for n in rows],
    }


def _item(n: NotificationRow, personal: bool) -> dict[str, Any]:
    return {
        "id": n.id, "report_id": n.report_id, "event_seq": n.event_seq, "kind": n.kind,
        "channel": n.channel,
        "recipient": n.recipient if personal else mask(n.channel, n.recipient),
        "body": n.body, "status": n.status, "attempts": n.attempts,
        "created_at": n.created_at.isoformat(),
        "sent_at": n.sent_at.isoformat() if n.sent_at else None, "last_error": n.last_error,
    }  # fmt: skip
