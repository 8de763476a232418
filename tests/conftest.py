"""Shared fixtures: a demo city on SQLite and on PostgreSQL, a controllable clock."""

from __future__ import annotations

import os
import shutil
import socket
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import settings

from cityops.bootstrap import App, bootstrap
from cityops.config import Settings

# No per-example deadline: speed is for benchmarks, and a loaded CI machine is no failure.
settings.register_profile("cityops", deadline=None)
settings.load_profile("cityops")

REQUIRE_SERVICES = os.environ.get("CITYOPS_REQUIRE_SERVICES") == "1"
PG_ADMIN_URL = os.environ.get(
    "CITYOPS_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
# A Wednesday 10:00 in Shanghai: inside working hours, far from holidays.
T0 = datetime(2026, 11, 18, 2, 0, tzinfo=UTC)


@dataclass
class Clock:
    now: datetime = T0

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kw: float) -> datetime:
        self.now += timedelta(**kw)
        return self.now


def _service_or_skip(name: str, error: Exception) -> None:
    message = f"{name} not reachable ({type(error).__name__}: {error}); skipping its tests"
    if REQUIRE_SERVICES:
        pytest.fail(f"CITYOPS_REQUIRE_SERVICES=1 but {message}")
    pytest.skip(message)


MOSQUITTO = ("127.0.0.1", 1883)


def require_mosquitto() -> None:
    """Skip (or fail under CITYOPS_REQUIRE_SERVICES) unless the local Mosquitto answers."""
    try:
        socket.create_connection(MOSQUITTO, timeout=2).close()
    except OSError as exc:
        _service_or_skip(f"Mosquitto at {MOSQUITTO[0]}:{MOSQUITTO[1]}", exc)


def _settings(url: str) -> Settings:
    # Cheap password hashing: the suite hashes and verifies demo passwords many times.
    return Settings(
        database_url=url, argon2_time_cost=1, argon2_memory_kib=1024, model_dir=None
    )


def _load(url: str) -> None:
    from cityops.demo.load import load_demo

    app = bootstrap(_settings(url))
    load_demo(app)
    app.dispose()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "demo.db"
    _load(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def pg_template() -> Iterator[str]:
    import psycopg

    admin_url = PG_ADMIN_URL.replace("+psycopg", "")
    try:
        conn = psycopg.connect(admin_url, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        _service_or_skip("PostgreSQL", exc)
    name = f"cityops_tmpl_{uuid.uuid4().hex[:8]}"
    conn.execute(f'CREATE DATABASE "{name}"')
    try:
        _load(PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}")
        yield name
    finally:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.close()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh database with the demo city loaded, on each supported engine."""
    if request.param == "sqlite":
        template = request.getfixturevalue("sqlite_template")
        target = tmp_path / "cityops.db"
        shutil.copy(template, target)
        yield f"sqlite:///{target}"
        return
    import psycopg

    template = request.getfixturevalue("pg_template")
    name = f"cityops_t_{uuid.uuid4().hex[:8]}"
    admin_url = PG_ADMIN_URL.replace("+psycopg", "")
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    try:
        yield PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def app(db_url: str, clock: Clock) -> Iterator[App]:
    application = bootstrap(_settings(db_url), clock=clock)
    yield application
    application.dispose()


@pytest.fixture
def sqlite_app(sqlite_template: Path, tmp_path: Path, clock: Clock) -> Iterator[App]:
    """SQLite only, for tests about behaviour that does not depend on the engine."""
    target = tmp_path / "cityops.db"
    shutil.copy(sqlite_template, target)
    application = bootstrap(_settings(f"sqlite:///{target}"), clock=clock)
    yield application
    application.dispose()
