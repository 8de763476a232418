"""Test helpers: an API client logged in as the demo users, and places in the demo city."""

from __future__ import annotations

import random
import socket
import time
import zlib
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson
from fastapi.testclient import TestClient

from cityops.bootstrap import App
from cityops.demo.city import DEMO_PASSWORD, DemoCity, generate_demo_city
from cityops.entrypoints.api.app import create_api

if TYPE_CHECKING:
    from cityops.service.lifeline.engine import AlarmEngine

# Streets of the demo city used by the tests (first street of the first two districts).
STREET_A = "319901001"
STREET_B = "319902001"


@cache
def city() -> DemoCity:
    return generate_demo_city()


def point_in(street: str, seed: int = 1) -> tuple[float, float, str]:
    """A point inside one of a street's grid cells (chosen by ``seed``), and the cell's code.

    Different seeds give places far apart, so reports made with them are not merged as
    duplicates (并案) unless a test wants them to be.
    """
    grids = [g.code for g in city().grids if g.code.startswith(street)]
    grid = grids[seed % len(grids)]
    lon, lat = city().sample_point(grid, random.Random(seed))
    return lon, lat, grid


_TOKENS: dict[str, str] = {}


class Api:
    """A TestClient with one bearer token per demo user."""

    def __init__(self, app: App) -> None:
        self.client = TestClient(create_api(app), raise_server_exceptions=True)
        # Every test database is a copy of one template, with the same user ids and secret, so
        # tokens can be shared between tests; that saves an argon2 check per login.
        self._tokens = _TOKENS

    def token(self, username: str) -> str:
        if username not in self._tokens:
            r = self.client.post(
                "/api/v1/auth/token", json={"username": username, "password": DEMO_PASSWORD}
            )
            assert r.status_code == 200, r.text
            self._tokens[username] = r.json()["access_token"]
        return self._tokens[username]

    def headers(self, username: str, **extra: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(username)}", **extra}

    def _send(self, method: str, username: str, path: str, **kw: Any) -> Any:
        extra = kw.pop("headers", {})
        r = self.client.request(method, path, headers={**self.headers(username), **extra}, **kw)
        if r.status_code == 401 and "expired" in r.text:  # the test's clock jumped ahead
            self._tokens.pop(username, None)
            r = self.client.request(method, path, headers={**self.headers(username), **extra},
                                    **kw)  # fmt: skip
        return r

    def get(self, username: str, path: str, **kw: Any) -> Any:
        return self._send("GET", username, path, **kw)

    def post(self, username: str, path: str, json: Any = None, **kw: Any) -> Any:
        return self._send("POST", username, path, json=json, **kw)

    def act(self, username: str, case_id: int, action: str, **body: Any) -> Any:
        return self.post(username, f"/api/v1/cases/{case_id}/actions/{action}", json=body)

    def citizen_report(self, source: str, category: str = "E0102", street: str = STREET_A,
                       **extra: Any) -> Any:
        lon, lat, _ = point_in(street, seed=zlib.crc32(source.encode()))
        body = {"client_request_id": source, "category": category,
                "description": "小区门口有暴露垃圾，气味很大", "location": {"lon": lon, "lat": lat},
                "contact_name": "张三", "contact_phone": "13812345678", **extra}
        return self.post("citizen", "/api/v1/intake/citizen", json=body)

    def handler_for(self, case_id: int) -> str:
        detail = self.get("leader", f"/api/v1/cases/{case_id}").json()
        dept = next(
            d for d in self.get("admin", "/api/v1/departments").json()
            if d["id"] == detail["department_id"]
        )
        return f"handler-{dept['code']}"


def alarm_engine(app: App) -> AlarmEngine:
    """The App's lifeline alarm engine (alarms are on in the test settings)."""
    from cityops.service.telemetry import telemetry

    engine = telemetry(app).alarms
    assert engine is not None
    return engine


def send_reading(app: App, device: str, metric: str, value: float, unit: str) -> None:
    """One reading of ``device``, taken now (the App's clock), ingested as a SenML pack in
    this process; fails the test unless it was accepted."""
    from cityops.service.telemetry import RawMessage, telemetry

    now = app.clock().timestamp()
    pack = [{"bn": f"{device}:", "n": metric, "u": unit, "v": value, "t": now}]
    result = telemetry(app).ingest([RawMessage("test", orjson.dumps(pack), now,
                                               "application/senml+json")])  # fmt: skip
    assert result.accepted == 1, result


def wait_until(what: Callable[[], bool], timeout: float = 20.0, every: float = 0.05) -> None:
    """Poll ``what`` until it holds; fail the test, naming it, after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not what():
        assert time.monotonic() < deadline, f"timed out: {what.__doc__ or what}"
        time.sleep(every)


def free_port() -> int:
    """A loopback TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def vendor_root_or_skip(app: App, package: str) -> Path:
    """Where the front end's npm packages are (web/node_modules); skips — fails under
    CITYOPS_REQUIRE_SERVICES — when ``package`` is not installed there."""
    import pytest

    from cityops.entrypoints.web import vendor
    from tests.conftest import REQUIRE_SERVICES

    root = vendor.vendor_dir(app)
    if not (root / package).is_dir():
        if REQUIRE_SERVICES:
            pytest.fail(f"front-end packages missing under {root}: run npm ci in web/")
        pytest.skip(f"front-end packages not installed under {root} (npm ci in web/)")
    return root
