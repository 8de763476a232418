"""A small in-process sliding-window limiter (per worker process; enough for one machine)."""

from __future__ import annotations

import math
import threading
from collections import deque
from datetime import datetime, timedelta

from cityops.domain.errors import RateLimited

_MAX_KEYS = 10_000  # past this, idle keys are swept so memory stays bounded


class RateLimiter:
    """At most ``limit`` units per key within any ``window``."""

    def __init__(self, limit: int, window: timedelta) -> None:
        self.limit = limit
        self.window = window
        self._used: dict[str, deque[datetime]] = {}
        self._lock = threading.Lock()

    def _live(self, key: str, now: datetime) -> deque[datetime]:
        used = self._used.setdefault(key, deque())
        while used and used[0] <= now - self.window:
            used.popleft()
        return used

    def check(self, key: str, now: datetime, what: str = "requests") -> None:
        """Raise :class:`RateLimited` unless one unit is left, spending nothing."""
        self.take(key, 1, now, what, spend=False)

    def take(self, key: str, n: int, now: datetime, what: str = "requests", *,
             spend: bool = True) -> None:  # fmt: skip
        """Spend ``n`` units, or raise :class:`RateLimited` spending nothing."""
        with self._lock:
            if len(self._used) > _MAX_KEYS:
                for k in [k for k in self._used if not self._live(k, now)]:
                    del self._used[k]
            used = self._live(key, now)
            if len(used) + n > self.limit:
                wait = (used[0] + self.window - now).total_seconds() if used else 0
                raise RateLimited(
                    f"too many {what}: at most {self.limit} per "
                    f"{self.window.total_seconds() / 60:g} minutes / 操作过于频繁，请稍后再试",
                    limit=self.limit, retry_after=max(1, math.ceil(wait)),
                )  # fmt: skip
            if spend:
                used.extend([now] * n)
