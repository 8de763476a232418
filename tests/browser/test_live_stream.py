"""The live stream over real HTTP (no browser): heartbeats, scoped case events, resuming."""

from __future__ import annotations

import json
import threading
import zlib
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.browser.server import LiveServer
from tests.helpers import STREET_A, point_in

pytestmark = pytest.mark.xdist_group("browser")  # on the worker that has the server


def _frames(response: httpx.Response) -> Iterator[dict[str, Any]]:
    """Parsed SSE frames: {"event", "id", "data"} ({"comment": ...} for heartbeats)."""
    block: list[str] = []
    for line in response.iter_lines():
        if line:
            block.append(line)
            continue
        frame: dict[str, Any] = {}
        for item in block:
            field, _, value = item.partition(":")
            value = value.removeprefix(" ")
            if field == "":
                frame["comment"] = value
            elif field == "data":
                frame["data"] = json.loads(value)
            else:
                frame[field] = value
        block = []
        if frame:
            yield frame


def _report_later(server: LiveServer, source: str, delay: float = 0.5) -> None:
    lon, lat, _ = point_in(STREET_A, seed=zlib.crc32(source.encode()))
    body = {"client_request_id": source, "category": "E0102", "description": "垃圾满溢",
            "location": {"lon": lon, "lat": lat}}  # fmt: skip
    token = server.token("citizen")

    def send() -> None:
        httpx.post(f"{server.url}/api/v1/intake/citizen", json=body,
                   headers={"Authorization": f"Bearer {token}"})  # fmt: skip

    threading.Timer(delay, send).start()


def _stream(server: LiveServer, username: str, **headers: str) -> Any:
    auth = {"Authorization": f"Bearer {server.token(username)}", **headers}
    return httpx.stream("GET", f"{server.url}/api/v1/live/stream", headers=auth, timeout=10)


def test_stream_needs_a_signed_in_user(live_server: LiveServer) -> None:
    r = httpx.get(f"{live_server.url}/api/v1/live/stream")
    assert r.status_code == 401
    assert r.json()["error"]["code"] == "unauthorized"


def test_stream_sends_heartbeats_and_new_cases_without_personal_data(
    live_server: LiveServer,
) -> None:
    with _stream(live_server, "leader") as r:
        assert r.headers["content-type"].startswith("text/event-stream")
        frames = _frames(r)
        hello = next(frames)
        assert hello["event"] == "hello"
        # A heartbeat comes on its own (every second here); without one the read times out.
        assert any("comment" in frame for frame in frames)
        _report_later(live_server, "sse-1", delay=0)
        for frame in frames:  # nothing else happens on this server: the next event is ours
            if "id" in frame:
                break
        assert frame["data"]["name"] in ("ReportSubmitted", "ReportMerged")
        case = frame["data"]["case"]
        assert case["category"] == "E0102" and case["street_name"]
        assert not {"reporter_name", "reporter_phone", "description"} & set(case)
        last_id = frame["id"]

    # Resuming with the last id replays nothing old and carries on.
    with _stream(live_server, "leader", **{"Last-Event-ID": last_id}) as r:
        frames = _frames(r)
        assert next(frames)["event"] == "hello"
        _report_later(live_server, "sse-2", delay=0.2)
        frame = next(f for f in frames if "id" in f)
        assert int(frame["id"].split("-")[1]) > int(last_id.split("-")[1])
        assert frame["data"]["payload"]["case_no"] != case["case_no"]


def test_stream_from_another_server_life_asks_for_a_reset(live_server: LiveServer) -> None:
    with _stream(live_server, "leader", **{"Last-Event-ID": "deadbeef-7"}) as r:
        frames = _frames(r)
        assert next(frames)["event"] == "hello"
        assert next(frames) == {"event": "reset", "data": {"reason": "missed"}}
