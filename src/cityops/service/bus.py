"""The in-process event bus. Behind an interface so a durable broker (NATS) can replace it."""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Event:
    """Something that happened (past tense), with the context that caused it."""

    name: str  # e.g. "CaseDispatched"
    at: datetime
    payload: dict[str, Any] = field(default_factory=dict)
    correlation_id: str | None = None


Handler = Callable[[Event], None]


class EventBus(Protocol):
    def publish(self, event: Event) -> None: ...
    def subscribe(self, name: str, handler: Handler) -> None: ...


class MemoryBus:
    """Delivers synchronously after commit; one failing listener never stops the others."""

    def __init__(self) -> None:
        self._handlers: dict[str, list[Handler]] = defaultdict(list)
        self.failures = 0

    def subscribe(self, name: str, handler: Handler) -> None:
        """Subscribe to one event name, or ``"*"`` for all."""
        self._handlers[name].append(handler)

    def publish(self, event: Event) -> None:
        for handler in (*self._handlers.get(event.name, ()), *self._handlers.get("*", ())):
            try:
                handler(event)
            except Exception:
                self.failures += 1
                log.exception("event listener failed for %s", event.name)
