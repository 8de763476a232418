from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from cityops.domain.errors import RateLimited
from cityops.entrypoints.api.ratelimit import RateLimiter

T0 = datetime(2026, 11, 18, 2, 0, tzinfo=UTC)


def test_a_sliding_window_per_key() -> None:
    limiter = RateLimiter(3, timedelta(hours=1))
    limiter.take("a", 2, T0)
    limiter.take("a", 1, T0 + timedelta(minutes=10))
    with pytest.raises(RateLimited) as info:
        limiter.check("a", T0 + timedelta(minutes=20))
    assert info.value.details["retry_after"] == 40 * 60  # when the first two fall out
    limiter.take("b", 3, T0)  # another key has its own budget
    with pytest.raises(RateLimited):
        limiter.take("a", 3, T0 + timedelta(minutes=61))  # only two are free again
    limiter.take("a", 2, T0 + timedelta(minutes=61))  # a refusal spent nothing
