"""Case events reach the bus; dispatches say why; the health probe tells the truth."""

from __future__ import annotations

from dataclasses import replace

from sqlalchemy import Engine, create_engine

from cityops.bootstrap import App
from cityops.service.bus import Event, MemoryBus
from tests.helpers import Api


def test_each_step_is_published_once_and_a_bad_listener_breaks_nothing(app: App) -> None:
    assert isinstance(app.bus, MemoryBus)
    seen: list[Event] = []

    def broken(_: Event) -> None:
        raise RuntimeError("a listener with a bug")

    app.bus.subscribe("*", broken)
    app.bus.subscribe("*", seen.append)
    api = Api(app)
    case_id = api.citizen_report("bus-1").json()["case_id"]
    api.act("acceptor", case_id, "accept")
    api.act("acceptor", case_id, "accept")  # refused (409): publishes nothing
    names = [e.name for e in seen]
    assert names == ["ReportSubmitted", "CaseAccepted"]
    assert seen[1].payload["case_id"] == case_id and seen[1].payload["to_state"] == "accepted"
    assert app.bus.failures == 2  # the broken listener failed twice, the others still ran


def test_dispatch_records_why(app: App) -> None:
    api = Api(app)
    case_id = api.citizen_report("why-1").json()["case_id"]
    for who, action in (("acceptor", "accept"), ("inspector01", "verify"), ("acceptor", "open")):
        assert api.act(who, case_id, action).status_code == 200
    other = next(d for d in api.get("admin", "/api/v1/departments").json()
                 if d["code"] == "roads")  # fmt: skip
    r = api.act("dispatcher", case_id, "dispatch", department_id=other["id"], note="涉及道路设施")
    assert r.status_code == 200, r.text
    event = api.get("leader", f"/api/v1/cases/{case_id}").json()["timeline"][-1]
    assert event["data"]["routing_followed"] is False
    assert event["data"]["why"] == "涉及道路设施"
    api.act("handler-roads", case_id, "return", note="非本单位")
    api.act("dispatcher", case_id, "dispatch")  # follows the responsibility list
    event = api.get("leader", f"/api/v1/cases/{case_id}").json()["timeline"][-1]
    assert event["data"]["routing_followed"] is True
    assert "rule" in event["data"]["why"] and event["data"]["rule_id"] is not None


def test_health(app: App) -> None:
    r = Api(app).client.get("/healthz")
    assert r.status_code == 200
    assert r.json()["status"] == "ok" and r.json()["database"] == "ok"
    broken = replace(app, engine=_broken_engine())
    r = Api(broken).client.get("/healthz")
    assert r.status_code == 503 and r.json()["status"] == "degraded"


def _broken_engine() -> Engine:
    """An engine whose database cannot be reached (nothing listens on port 1)."""
    return create_engine("postgresql+psycopg://nobody@127.0.0.1:1/none",
                         connect_args={"connect_timeout": 1})  # fmt: skip
