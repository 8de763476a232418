"""The live stream's hub (实时推送): bus events → bounded per-client queues, scoped like reads.

The bus delivers in the publisher's thread (a request, the simulator, the sweeper); the hub only
drops the event in an inbox there, so intake never waits for a screen. One worker thread takes
events in batches, loads their cases once, and offers each message to the clients allowed to
see it. A client whose queue fills up is dropped and told to reset (refetch and reconnect)
instead of being buffered without bound. The last messages are kept so a client reconnecting
with its last id gets what it missed, or a reset when that is gone.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import secrets
import threading
from collections import deque
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import select

from cityops.adapters.db.models import CaseEventRow, CaseRow
from cityops.bootstrap import App
from cityops.service.access import AREA_ROLES, can_see
from cityops.service.bus import Event
from cityops.service.principal import Principal
from cityops.service.screen import case_brief

log = logging.getLogger(__name__)

# Payload fields a client may receive; anything else (reporters, raw text) stays on the server.
_PUBLIC_FIELDS = frozenset({
    "case_id", "case_no", "action", "from_state", "to_state", "channel", "category",
    "grid_code", "department_id", "event_type", "alerts", "batch", "created", "merged",
    # lifeline alarms (service/lifeline/live.py)
    "alarm_id", "what", "alarm_type", "level", "current_level", "state", "asset", "asset_name",
    "asset_kind",
})  # fmt: skip


@dataclass(frozen=True, slots=True)
class Audience:
    """Who may see a message about one case: the fields :func:`can_see` needs."""

    case: CaseRow  # transient, only the scoping fields are set
    past_departments: frozenset[int]

    def admits(self, principal: Principal) -> bool:
        return can_see(self.case, principal, set(self.past_departments))


@dataclass(frozen=True, slots=True)
class LiveMessage:
    seq: int
    body: dict[str, Any]  # JSON-ready: name, at, payload, case
    audience: Audience | None  # None: not about one case (e.g. a history import)

    def admits(self, principal: Principal) -> bool:
        if self.audience is None:
            return principal.role in AREA_ROLES
        return self.audience.admits(principal)


class LiveClient:
    """One open stream. Lives in the server's event loop; ``offer`` runs there."""

    def __init__(self, principal: Principal, loop: asyncio.AbstractEventLoop, size: int) -> None:
        self.principal = principal
        self.loop = loop
        self.queue: asyncio.Queue[LiveMessage | None] = asyncio.Queue(size)  # None: dropped
        self.dropped = False

    def offer(self, message: LiveMessage) -> None:
        if self.dropped:
            return
        try:
            self.queue.put_nowait(message)
        except asyncio.QueueFull:
            self.dropped = True
            while not self.queue.empty():  # free the memory now; the client will refetch
                self.queue.get_nowait()
            self.queue.put_nowait(None)


class LiveHub:
    def __init__(self, app: App, *, backlog: int = 500, inbox: int = 10_000) -> None:
        self._app = app
        self._inbox: queue.Queue[Event] = queue.Queue(inbox)
        self._lock = threading.Lock()
        self._clients: set[LiveClient] = set()
        self._recent: deque[LiveMessage] = deque(maxlen=backlog)
        self._seq = 0
        self._worker: threading.Thread | None = None
        self._stop = threading.Event()
        self.epoch = secrets.token_hex(4)  # a new process numbers anew: old ids mean "reset"
        self.lost = 0  # events dropped because the inbox was full
        app.bus.subscribe("*", self._on_event)

    @property
    def clients(self) -> int:
        return len(self._clients)

    def _on_event(self, event: Event) -> None:
        """In the publisher's thread: never block, never raise."""
        if self._worker is None:
            return  # nobody has ever listened: nothing to keep
        try:
            self._inbox.put_nowait(event)
        except queue.Full:
            self.lost += 1

    def message_id(self, message: LiveMessage) -> str:
        return f"{self.epoch}-{message.seq}"

    def connect(self, principal: Principal, last_id: str | None, size: int) -> tuple[
        LiveClient, bool
    ]:  # fmt: skip
        """Register a client (in the event loop); True when it must reset (it missed messages)."""
        client = LiveClient(principal, asyncio.get_running_loop(), size)
        self._start()
        with self._lock:
            since = self._since(last_id)
            reset = last_id is not None and since is None
            if since is not None:
                for message in self._recent:
                    if message.seq > since and message.admits(principal):
                        client.offer(message)
            self._clients.add(client)
        return client, reset

    def _since(self, last_id: str | None) -> int | None:
        """The seq after which ``last_id``'s client can resume, or None when it cannot."""
        epoch, _, seq = (last_id or "").partition("-")
        if epoch != self.epoch or not seq.isdigit():
            return None
        since, kept_from = int(seq), self._seq - len(self._recent)
        return since if kept_from <= since <= self._seq else None

    def disconnect(self, client: LiveClient) -> None:
        with self._lock:
            self._clients.discard(client)

    def stop(self) -> None:
        self._stop.set()

    def _start(self) -> None:
        with self._lock:
            if self._worker is None:
                self._worker = threading.Thread(target=self._run, name="live-hub", daemon=True)
                self._worker.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                batch = [self._inbox.get(timeout=0.5)]
            except queue.Empty:
                continue
            while len(batch) < 500:
                try:
                    batch.append(self._inbox.get_nowait())
                except queue.Empty:
                    break
            try:
                self.deliver(self.messages(batch))
            except Exception:  # one bad batch must not end the stream for everybody
                log.exception("live stream: could not deliver %d events", len(batch))

    def messages(self, events: list[Event]) -> list[LiveMessage]:
        """Each event with its case's brief and audience, its cases loaded in one query."""
        cases = self._cases({int(e.payload["case_id"]) for e in events if e.payload.get("case_id")})
        out = []
        for e in events:
            brief: dict[str, Any] | None = None
            audience: Audience | None = None
            if e.payload.get("case_id"):
                found = cases.get(int(e.payload["case_id"]))
                if found is None:
                    continue  # a case we cannot load is shown to nobody
                brief, audience = found
            elif e.payload.get("alarm_id"):  # an asset's alarm: scoped like the asset
                scope = CaseRow(grid_code=e.payload.get("grid_code"),
                                department_id=e.payload.get("department_id"))  # fmt: skip
                audience = Audience(scope, frozenset())
            payload = {k: v for k, v in e.payload.items() if k in _PUBLIC_FIELDS}
            body = {"name": e.name, "at": e.at.isoformat(), "payload": payload, "case": brief}
            out.append(LiveMessage(0, body, audience))
        return out

    def _cases(self, ids: set[int]) -> dict[int, tuple[dict[str, Any], Audience]]:
        if not ids:
            return {}
        snap, now = self._app.reference.get(), self._app.clock()
        past: dict[int, set[int]] = {}
        with self._app.reads() as s:
            cases = s.scalars(select(CaseRow).where(CaseRow.id.in_(ids))).all()
            for case_id, dept in s.execute(
                select(CaseEventRow.case_id, CaseEventRow.department_id)
                .where(CaseEventRow.case_id.in_(ids), CaseEventRow.department_id.is_not(None))
                .distinct()
            ):
                if dept is not None:
                    past.setdefault(case_id, set()).add(dept)
            out = {}
            for c in cases:
                scope = CaseRow(grid_code=c.grid_code, department_id=c.department_id,
                                reporter_user_id=c.reporter_user_id)  # fmt: skip
                audience = Audience(scope, frozenset(past.get(c.id, ())))
                out[c.id] = (case_brief(c, snap, now), audience)
            return out

    def deliver(self, messages: list[LiveMessage]) -> None:
        """Number, keep and offer each message to the clients that may see it."""
        sends: list[tuple[LiveClient, LiveMessage]] = []
        with self._lock:
            for message in messages:
                self._seq += 1
                numbered = replace(message, seq=self._seq)
                self._recent.append(numbered)
                sends += [(c, numbered) for c in self._clients if numbered.admits(c.principal)]
        for client, message in sends:
            try:
                client.loop.call_soon_threadsafe(client.offer, message)
            except RuntimeError:  # its loop is closed: the server is going away
                self.disconnect(client)
