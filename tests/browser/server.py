"""A real server for browser tests and screenshots: uvicorn in a thread over a demo database."""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from cityops.bootstrap import App, bootstrap
from cityops.config import Settings
from cityops.demo.city import DEMO_PASSWORD, generate_demo_city
from cityops.demo.simulator import Simulator
from cityops.entrypoints.api.app import create_api
from cityops.service.live import LiveHub
from tests.helpers import free_port

CHROMIUM = Path("/usr/bin/chromium")
DOC_SHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


def city_context(browser: Any, *, phone: bool = False, **options: Any) -> Any:
    """A browser context as the city's users have it: Chinese, Shanghai time; ``phone``: a
    touch screen (``viewport`` and the rest as given)."""
    if phone:
        options = {"device_scale_factor": 2, "is_mobile": True, "has_touch": True, **options}
    return browser.new_context(locale="zh-CN", timezone_id="Asia/Shanghai", **options)


def sign_in(context: Any, token: str, username: str, *, keep: bool = False) -> None:
    """Every page of ``context`` starts signed in as ``username`` (the token in localStorage,
    as after the login page); ``keep``: unless a token is already there (offline tests reload)."""
    script = (
        f"localStorage.setItem('cityops.token', {token!r});"
        f"localStorage.setItem('cityops.user', JSON.stringify({{username: {username!r}}}));"
    )
    if keep:
        script = f"if (!localStorage.getItem('cityops.token')) {{ {script} }}"
    context.add_init_script(script)


def doc_shot(page: Any, name: str, **options: Any) -> Path:
    """Screenshot for docs/screenshots/<name>.png, written there only when
    CITYOPS_SCREENSHOTS=1 (refreshing the docs); otherwise into the temp dir, so that a test
    run still draws and shoots the page but leaves the working tree as it was."""
    folder = DOC_SHOTS if os.environ.get("CITYOPS_SCREENSHOTS") == "1" else (
        Path(tempfile.gettempdir()) / "cityops-screenshots"
    )  # fmt: skip
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{name}.png"
    page.screenshot(path=str(target), **options)
    return target


# Without the background-networking flags the closed network refuses many connections.
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip


def settings(db: Path, **extra: object) -> Settings:
    return Settings(
        database_url=f"sqlite:///{db}", argon2_time_cost=1, argon2_memory_kib=1024,
        model_dir=None, media_dir=db.parent / "media", **extra,
    )  # fmt: skip


def add_history(app: App, days: float, per_day: int) -> int:
    """Simulated reports and their handling up to now, so the screens show real numbers."""
    end = app.clock()
    return Simulator(app, generate_demo_city()).backfill(end - timedelta(days=days), end, per_day)



@dataclass
class LiveServer:
    app: App
    url: str
    server: uvicorn.Server
    thread: threading.Thread
    hub: LiveHub
    # One login per user per server: each costs an argon2 check, and tests sign in often.
    tokens: dict[str, str] = field(default_factory=dict)

    @classmethod
    def start(cls, app: App) -> LiveServer:
        port = free_port()
        api = create_api(app)
        config = uvicorn.Config(api, host="127.0.0.1", port=port, log_level="warning",
                                timeout_graceful_shutdown=1)  # fmt: skip
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, name="live-server", daemon=True)
        thread.start()
        deadline = time.monotonic() + 20
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the test server did not start")
            time.sleep(0.05)
        return cls(app, f"http://127.0.0.1:{port}", server, thread, api.state.live_hub)

    def stop(self) -> None:
        self.server.should_exit = True
        self.hub.stop()
        self.thread.join(10)

    def token(self, username: str) -> str:
        if username not in self.tokens:
            r = httpx.post(f"{self.url}/api/v1/auth/token",
                           json={"username": username, "password": DEMO_PASSWORD})  # fmt: skip
            r.raise_for_status()
            self.tokens[username] = str(r.json()["access_token"])
        return self.tokens[username]

    def request(self, user: str | None, method: str, path: str, **kw: Any) -> httpx.Response:
        """The API over HTTP, as ``user`` signed in (None: nobody), like tests.helpers.Api over
        the TestClient; ``headers`` go with the token, the rest to httpx."""
        auth = {"Authorization": f"Bearer {self.token(user)}"} if user else {}
        headers = {**auth, **kw.pop("headers", {})}
        kw.setdefault("timeout", 30)
        return httpx.request(method, f"{self.url}{path}", headers=headers, **kw)

    def call(self, user: str | None, method: str, path: str, **kw: Any) -> Any:
        """:meth:`request` that must succeed; its JSON."""
        r = self.request(user, method, path, **kw)
        assert r.status_code < 300, (method, path, r.status_code, r.text)
        return r.json()

    def handler_for(self, case_id: int) -> str:
        """The handler account (handler-<code>) of the department the case is with."""
        dept_id = self.call("leader", "GET", f"/api/v1/cases/{case_id}")["department_id"]
        depts = self.call("admin", "GET", "/api/v1/departments")
        return "handler-" + str(next(d["code"] for d in depts if d["id"] == dept_id))


@contextmanager
def own_server(template: Path, folder: Path) -> Iterator[LiveServer]:
    """A server on a copy of the demo database of its own, so what a module makes (alarms,
    cases) stays out of the other tests' counts; live stream timings short for tests."""
    db = folder / "cityops.db"
    shutil.copy(template, db)
    app = bootstrap(settings(db, live_heartbeat_seconds=1, live_stream_seconds=20))
    server = LiveServer.start(app)
    try:
        yield server
    finally:
        server.stop()
        app.dispose()
