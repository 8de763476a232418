"""Fixtures shared by the integration tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from cityops.bootstrap import App, bootstrap
from cityops.service.telemetry import telemetry
from tests.conftest import Clock


@pytest.fixture
def worker(app: App, clock: Clock) -> Iterator[App]:
    """A second process on the API's database — a `cityops mqtt` worker that ingests: its own
    App, telemetry, alarm engine and book."""
    other = bootstrap(app.settings, clock=clock)
    telemetry(other).as_mqtt_worker()
    yield other
    telemetry(other).close()
    other.dispose()
