"""Photo uploads end to end: upload → refs in reports and workflow steps → original and thumb.

Also the refusals (413, 415, 422, unknown refs), one stored copy per content, and the anonymous
citizen-portal uploads with their per-IP limits.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from cityops.adapters.db.media_models import MediaRow
from cityops.bootstrap import App
from cityops.domain.media import UploadChannel
from cityops.service import media
from tests.conftest import Clock
from tests.helpers import STREET_A, Api, point_in
from tests.photos import GPS, photo

URL = "/api/v1/media"


@pytest.fixture
def store(app: App, tmp_path: Path) -> Path:
    app.settings.media_dir = tmp_path / "media"
    return tmp_path / "media"


@pytest.fixture
def sqlite_store(sqlite_app: App, tmp_path: Path) -> Path:
    sqlite_app.settings.media_dir = tmp_path / "media"
    return tmp_path / "media"


def files(*photos: tuple[str, bytes, str]) -> list[tuple[str, tuple[str, bytes, str]]]:
    return [("file", p) for p in photos]


def upload(api: Api, user: str | None, *photos: tuple[str, bytes, str], status: int = 201,
           **kw: Any) -> Any:  # fmt: skip
    if user is None:
        r = api.client.post(URL, files=files(*photos), **kw)
    else:
        r = api.post(user, URL, files=files(*photos), **kw)
    assert r.status_code == status, r.text
    return r.json()


def error(r: Any, status: int, code: str) -> dict[str, Any]:
    assert r.status_code == status, r.text
    body: dict[str, Any] = r.json()["error"]
    assert body["code"] == code, body
    return body


def stored_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def test_upload_then_report_act_and_fetch(app: App, store: Path, clock: Clock) -> None:
    api = Api(app)
    evidence = photo("JPEG", (1600, 1200), orientation=6, gps=True)
    after = photo("PNG", (400, 300))
    [first, second] = upload(api, "inspector01", ("before.jpg", evidence, "image/jpeg"),
                             ("plan.png", after, "image/png"))  # fmt: skip
    assert first["ref"] == f"media://{first['id']}" and len(first["id"]) == 22
    assert first["url"] == f"{URL}/{first['id']}" and first["thumb_url"] == first["url"] + "/thumb"
    assert (first["content_type"], first["width"], first["height"]) == ("image/jpeg", 1200, 1600)
    assert first["bytes"] == len(evidence)
    assert (second["content_type"], second["width"], second["height"]) == ("image/png", 400, 300)

    # An inspector's report carries the first photo.
    lon, lat, _ = point_in(STREET_A, seed=7)
    body = {"report_id": "media-1", "category": "E0102", "description": "路边暴露垃圾",
            "location": {"lon": lon, "lat": lat}, "photos": [first["ref"]]}  # fmt: skip
    r = api.post("inspector01", "/api/v1/intake/inspector", json=body)
    assert r.status_code == 201, r.text
    detail = api.get("leader", f"/api/v1/cases/{r.json()['case_id']}").json()
    assert detail["timeline"][0]["media"] == [first["ref"]]

    # A citizen's case is handled; the handler's result photo goes with 处置完成.
    r = api.citizen_report("media-2", photos=[second["ref"]])
    assert r.status_code == 201, r.text
    case_id = r.json()["case_id"]
    for who, action in [("acceptor", "accept"), ("inspector01", "verify"),
                        ("acceptor", "open"), ("dispatcher", "dispatch")]:  # fmt: skip
        clock.advance(minutes=20)
        assert api.act(who, case_id, action, note="属实").status_code == 200, action
    handler = api.handler_for(case_id)
    assert api.act(handler, case_id, "start").status_code == 200
    [result] = upload(api, handler, ("after.jpg", photo("JPEG", (640, 480)), "image/jpeg"))
    r = api.act(handler, case_id, "complete", note="已清运",
                media=[result["ref"], "https://cdn.example.org/after-2.jpg"])  # fmt: skip
    assert r.status_code == 200, r.text
    timeline = api.get("leader", f"/api/v1/cases/{case_id}").json()["timeline"]
    assert timeline[0]["media"] == [second["ref"]]
    assert timeline[-1]["media"] == [result["ref"], "https://cdn.example.org/after-2.jpg"]

    # The files: the original without its GPS, a JPEG thumbnail upright, both cacheable.
    got = api.client.get(first["url"])  # no login: an <img> can show it
    assert got.status_code == 200 and got.headers["content-type"] == "image/jpeg"
    assert got.headers["x-content-type-options"] == "nosniff"
    assert "immutable" in got.headers["cache-control"]
    assert len(got.content) == len(evidence) and got.content != evidence
    with Image.open(io.BytesIO(got.content)) as img:
        assert img.getexif().get_ifd(GPS) == {} and img.size == (1600, 1200)
    thumb = api.client.get(first["thumb_url"])
    assert thumb.status_code == 200 and thumb.headers["content-type"] == "image/jpeg"
    assert thumb.headers["x-content-type-options"] == "nosniff"
    with Image.open(io.BytesIO(thumb.content)) as img:
        assert img.size == (240, 320)  # turned upright, long side 320
    assert api.client.get(second["url"]).content == after
    assert len(stored_files(store)) == 6  # three photos, three thumbnails
    error(api.client.get(f"{URL}/{'x' * 22}"), 404, "not_found")
    error(api.client.get(f"{URL}/{'x' * 22}/thumb"), 404, "not_found")


def test_the_same_photo_is_stored_once(app: App, store: Path) -> None:
    api = Api(app)
    data = photo("WEBP", (320, 200))
    [a] = upload(api, "inspector01", ("a.webp", data, "image/webp"))
    [b] = upload(api, "acceptor", ("copy.webp", data, "image/webp"))
    [c, d] = upload(api, "citizen", ("x.webp", data, "image/webp"), ("y.webp", data, "image/webp"))
    assert a["id"] == b["id"] == c["id"] == d["id"]
    assert a["content_type"] == "image/webp"
    with app.reads() as s:
        rows = s.scalars(select(MediaRow)).all()
    assert [(r.id, r.uploaded_by, r.channel) for r in rows] == [(a["id"], "inspector01", "api")]
    assert len(stored_files(store)) == 2
    [other] = upload(api, "inspector01", ("b.webp", photo("WEBP", (320, 201)), "image/webp"))
    assert other["id"] != a["id"]


def test_two_uploads_of_one_photo_at_once_share_a_row(
    app: App, store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both miss the lookup; the second insert hits the unique sha256 and takes the first row."""
    data = photo("JPEG", (48, 48))
    checked = media.check(media.Upload("a.jpg", "image/jpeg", io.BytesIO(data)), app.settings)
    [first] = media.store(app, [checked], uploaded_by="a", channel=UploadChannel.API)
    monkeypatch.setattr(media, "_by_sha", lambda *_: None)
    with pytest.raises(IntegrityError):  # nothing to fall back on: the error stands
        media.store(app, [checked], uploaded_by="b", channel=UploadChannel.API)
    monkeypatch.undo()
    calls: list[str] = []

    def late(app_: App, sha: str) -> MediaRow | None:
        calls.append(sha)
        return None if len(calls) == 1 else original(app_, sha)

    original = media._by_sha
    monkeypatch.setattr(media, "_by_sha", late)
    [second] = media.store(app, [checked], uploaded_by="b", channel=UploadChannel.API)
    assert (second.id, second.created, first.created) == (first.id, False, True)
    assert len(calls) == 2


def test_refusals(sqlite_app: App, sqlite_store: Path) -> None:
    api = Api(sqlite_app)
    sqlite_app.settings.media_max_bytes = 100_000
    jpeg = photo("JPEG", (64, 64))
    big = photo("PNG", (64, 64)) + bytes(200_000)
    cases = [
        (("big.png", big, "image/png"), 413, "payload_too_large"),
        (("notes.txt", b"hello", "text/plain"), 415, "unsupported_media_type"),
        (("fake.png", jpeg, "image/png"), 415, "unsupported_media_type"),
        (("vector.svg", b"<svg xmlns='http://www.w3.org/2000/svg'/>", "image/svg+xml"), 415,
         "unsupported_media_type"),
        (("cut.jpg", photo("JPEG", (640, 480))[:2000], "image/jpeg"), 422, "corrupt_media"),
    ]  # fmt: skip
    for part, status, code in cases:
        body = error(api.post("inspector01", URL, files=files(part)), status, code)
        assert part[0] in body["message"] and body["details"]["field"] == "media"
    # All or nothing: a good photo next to a bad one is not stored either.
    r = api.post("inspector01", URL, files=files(("ok.jpg", jpeg, "image/jpeg"),
                                                 ("notes.txt", b"hi", "text/plain")))  # fmt: skip
    error(r, 415, "unsupported_media_type")
    assert stored_files(sqlite_store) == []
    error(api.post("inspector01", URL, files=files(*[("p.jpg", jpeg, "image/jpeg")] * 10)), 422,
          "validation_failed")  # fmt: skip
    error(api.post("inspector01", URL, json={"photo": "x"}), 415, "unsupported_media_type")
    error(api.post("inspector01", URL, data={"note": "no file"}, files={}), 415,
          "unsupported_media_type")  # fmt: skip
    r = api.post("inspector01", URL, content=b"x" * 100,
                 headers={"content-type": "multipart/form-data; boundary=zz",
                          "content-length": str(10**9)})  # fmt: skip
    error(r, 413, "payload_too_large")
    # Without a Content-Length (chunked), reading stops at the cap: 9 × (100 kB + 64 kiB).
    head = b'--zz\r\nContent-Disposition: form-data; name="f"; filename="a.jpg"\r\n'
    chunks = iter([head + b"Content-Type: image/jpeg\r\n\r\n", *[bytes(2**16)] * 40])
    r = api.post("inspector01", URL, content=chunks,
                 headers={"content-type": "multipart/form-data; boundary=zz"})  # fmt: skip
    error(r, 413, "payload_too_large")
    assert "content-length" not in r.request.headers
    assert stored_files(sqlite_store) == []


def test_unknown_refs_are_refused_by_name(sqlite_app: App, sqlite_store: Path) -> None:
    api = Api(sqlite_app)
    [known] = upload(api, "citizen", ("a.jpg", photo("JPEG", (32, 32)), "image/jpeg"))
    ghost, bogus = "media://" + "Z" * 22, "media://../../etc/passwd"
    r = api.citizen_report("refs-1", photos=[known["ref"], ghost, bogus])
    body = error(r, 422, "validation_failed")
    assert ghost in body["message"] and bogus in body["message"]
    assert body["details"] == {"field": "photos", "refs": [ghost, bogus]}
    ok = api.citizen_report("refs-1", photos=[known["ref"], "https://x.example/p.jpg"])
    assert ok.status_code == 201, ok.text  # the refused attempt left its key free
    case_id = ok.json()["case_id"]
    body = error(api.act("acceptor", case_id, "accept", media=[ghost]), 422, "validation_failed")
    assert body["details"]["field"] == "media" and ghost in body["message"]
    state = api.get("acceptor", f"/api/v1/cases/{case_id}").json()["state"]
    assert state == "reported"  # nothing happened
    assert api.act("acceptor", case_id, "accept", media=[known["ref"]]).status_code == 200


def test_anonymous_uploads_are_limited_per_ip(sqlite_app: App, sqlite_store: Path,
                                              clock: Clock) -> None:  # fmt: skip
    api = Api(sqlite_app)
    sqlite_app.settings.media_anonymous_per_hour = 4
    one = ("p.jpg", photo("JPEG", (32, 32)), "image/jpeg")
    [got] = upload(api, None, one)
    with sqlite_app.reads() as s:
        row = s.get(MediaRow, got["id"])
        assert row is not None and (row.uploaded_by, row.channel) == (None, "anonymous")
    error(api.client.post(URL, files=files(one, one, one, one)), 422, "validation_failed")
    upload(api, None, one, one, one)  # three a request, four an hour: all spent now
    r = api.client.post(URL, files=files(one))
    error(r, 429, "rate_limited")
    assert int(r.headers["retry-after"]) == 3600
    upload(api, "citizen", one)  # logged-in users are not limited
    clock.advance(hours=1, seconds=1)
    upload(api, None, one)
    # Bad credentials are a 401, never a fallback to anonymous.
    r = api.client.post(URL, files=files(one), headers={"Authorization": "Bearer nope"})
    error(r, 401, "unauthorized")
    sqlite_app.settings.media_anonymous_per_hour = 0
    error(Api(sqlite_app).client.post(URL, files=files(one)), 401, "unauthorized")
