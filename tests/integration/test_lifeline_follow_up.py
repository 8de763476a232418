"""Through the queued pipeline, an alarm's case is opened by the alarm engine's follow-up
worker, not by the thread that ingests telemetry (which must keep draining the broker)."""

from __future__ import annotations

import threading
from typing import Any

import orjson
import pytest
from sqlalchemy import select

from cityops.adapters.db.alarm_models import AlarmRow
from cityops.bootstrap import App
from cityops.service.lifeline import policy
from cityops.service.telemetry import RawMessage, telemetry
from tests.conftest import Clock

WELL = "SJ-CH4-0001"  # methane in a well beside a gas pipe, %{LEL}


def test_cases_open_beside_ingestion(sqlite_app: App, clock: Clock,
                                     monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    app = sqlite_app
    followed_in: list[str] = []
    original = policy.follow_up

    def follow_up(*args: Any) -> None:
        followed_in.append(threading.current_thread().name)
        original(*args)

    monkeypatch.setattr(policy, "follow_up", follow_up)
    tel = telemetry(app)
    pipeline = tel.pipeline()
    for v in (1.0, 1.2, 0.9, 1.1, 1.0, 1.3, 1.1, 1.0, 30.0, 31.0):  # background, then a leak
        now = app.clock().timestamp()
        pack = [{"bn": f"{WELL}:", "n": "ch4", "u": "%LEL", "v": v, "t": now}]
        assert pipeline.submit(RawMessage("test", orjson.dumps(pack), now,
                                          "application/senml+json"))  # fmt: skip
        assert pipeline.drain(30)
        clock.advance(minutes=5)
    assert tel.alarms is not None
    tel.alarms.drain_follow_up()
    with app.reads() as s:
        (alarm,) = s.scalars(select(AlarmRow)).all()
    assert alarm.level == 4 and alarm.case_id is not None
    assert followed_in and set(followed_in) == {"lifeline-cases"}
    tel.close()
