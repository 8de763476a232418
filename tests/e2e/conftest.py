"""A deployment as an operator runs it: a copy of the demo database, the environment every
process of it gets (the real Mosquitto, a prefix and client id of its own), and the
``cityops`` console script started as processes, killed if a test leaves them running."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text

from tests.conftest import MOSQUITTO, require_mosquitto

CLI = Path(sys.executable).parent / "cityops"  # the console script beside this Python


class Deployment:
    def __init__(self, template: Path, tmp_path: Path) -> None:
        db = tmp_path / "cityops.db"
        shutil.copy(template, db)
        tag = uuid.uuid4().hex[:10]
        self.prefix, self.client_id = f"cityops-e2e/{tag}/telemetry", f"cityops-e2e-{tag}"
        self.env = {**os.environ, "CITYOPS_DATABASE_URL": f"sqlite:///{db}",
                    "CITYOPS_MQTT_URL": f"mqtt://{MOSQUITTO[0]}:{MOSQUITTO[1]}",
                    "CITYOPS_MQTT_TOPIC_PREFIX": self.prefix,
                    "CITYOPS_MQTT_CLIENT_ID": self.client_id,
                    "CITYOPS_MQTT_SESSION_EXPIRY_S": "60",
                    "CITYOPS_MODEL_DIR": str(tmp_path)}  # fmt: skip
        self.engine: Engine = create_engine(f"sqlite:///{db}")
        self.processes: list[subprocess.Popen[str]] = []

    def start(self, *args: str) -> subprocess.Popen[str]:
        """``cityops ARGS`` with this deployment's environment, output in one pipe."""
        proc = subprocess.Popen([str(CLI), *args], env=self.env, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True)  # fmt: skip
        self.processes.append(proc)
        return proc

    def stored(self) -> int:
        """Readings in the database."""
        with self.engine.connect() as c:
            return int(c.execute(text("SELECT count(*) FROM telemetry_readings")).scalar_one())

    def rule_state_writers(self) -> list[str]:
        with self.engine.connect() as c:
            return list(c.execute(text("SELECT taken_by FROM lifeline_rule_state")).scalars())

    def close(self) -> None:
        for proc in self.processes:
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)
        self.engine.dispose()


def stop(proc: subprocess.Popen[str], *, by_signal: bool = False) -> str:
    """SIGTERM and a clean exit (0); the process's output. ``by_signal``: uvicorn (``serve``)
    shuts down gracefully, then re-raises the signal, as process managers expect (systemd
    counts a SIGTERM exit as clean)."""
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode in ((0, -signal.SIGTERM) if by_signal else (0,)), out
    return out


@pytest.fixture
def deployment(sqlite_template: Path, tmp_path: Path) -> Iterator[Deployment]:
    require_mosquitto()
    d = Deployment(sqlite_template, tmp_path)
    try:
        yield d
    finally:
        d.close()
