"""Open311 GeoReport v2 at /open311/v2: discovery, services, requests, updates, errors, privacy.

Every refusal is checked in both formats for the spec's error body and status, and for having
written nothing (no case, no media file).
"""

from __future__ import annotations

import json
import struct
import xml.etree.ElementTree as ET
import zlib
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from cityops.adapters.db.models import CaseEventRow, CaseRow, CategoryRow, ComponentRow
from cityops.bootstrap import App
from cityops.service.open311 import public_media
from tests.conftest import Clock
from tests.helpers import STREET_A, STREET_B, Api, point_in

BASE = "/open311/v2"
FIRST, LAST, PHONE, EMAIL = "三丰", "张", "13812345678", "zhang.sanfeng@example.com"
DEVICE = "device-8f3a"
OTHER_PHONE = "13987654321"


def png(width: int = 1, height: int = 1) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    rows = b"".join(b"\x00" + b"\xff\x00\x00" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows))
            + chunk(b"IEND", b""))  # fmt: skip


def new_key(api: Api, channels: tuple[str, ...] = ("citizen",)) -> str:
    r = api.post("admin", "/api/v1/admin/api-keys", json={"name": "o311", "channels": channels})
    assert r.status_code == 201, r.text
    key: str = r.json()["key"]
    return key


def form(key: str, street: str = STREET_A, **over: Any) -> dict[str, Any]:
    lon, lat, _ = point_in(street)
    body = {"api_key": key, "jurisdiction_id": "319900", "service_code": "E0102",
            "lat": str(lat), "long": str(lon), "description": "小区门口暴露垃圾，气味很大",
            "first_name": FIRST, "last_name": LAST, "phone": PHONE, "email": EMAIL,
            "device_id": DEVICE}  # fmt: skip
    body.update(over)
    return {k: v for k, v in body.items() if v is not None}


def as_json(r: Any, status: int = 200) -> Any:
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/json; charset=utf-8"
    return r.json()


def as_xml(r: Any, status: int = 200) -> ET.Element:
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "text/xml; charset=utf-8"
    assert r.text.startswith('<?xml version="1.0" encoding="UTF-8"?>')
    return ET.fromstring(r.content)


def cases(app: App) -> int:
    with app.reads() as s:
        return int(s.scalar(select(func.count()).select_from(CaseRow)) or 0)


def case_by_no(api: Api, case_no: str) -> dict[str, Any]:
    items = api.get("acceptor", "/api/v1/cases", params={"q": case_no}).json()["items"]
    assert [c["case_no"] for c in items] == [case_no]
    detail: dict[str, Any] = api.get("acceptor", f"/api/v1/cases/{items[0]['id']}").json()
    return detail


def post(api: Api, body: dict[str, Any], fmt: str = "json", **kw: Any) -> Any:
    return api.client.post(f"{BASE}/requests.{fmt}", data=body, **kw)


@pytest.fixture
def media_dir(sqlite_app: App, tmp_path: Path) -> Path:
    sqlite_app.settings.media_dir = tmp_path / "media"
    return tmp_path / "media"


def stored_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


def test_discovery_and_services_in_both_formats(sqlite_app: App) -> None:
    api = Api(sqlite_app)
    d = as_json(api.client.get(f"{BASE}/discovery.json"))
    assert set(d) == {"changeset", "contact", "key_service", "endpoints"}
    [ep] = d["endpoints"]
    assert ep["specification"] == "http://wiki.open311.org/GeoReport_v2"
    assert ep["url"] == "http://testserver/open311/v2"
    assert ep["type"] == "production" and ep["changeset"] == d["changeset"]
    assert ep["formats"] == ["text/xml", "application/json"]
    x = as_xml(api.client.get(f"{BASE}/discovery.xml"))
    assert x.tag == "discovery" and x.findtext("key_service") == d["key_service"]
    assert [f.text for f in x.findall("endpoints/endpoint/formats/format")] == ep["formats"]
    assert x.findtext("endpoints/endpoint/specification") == ep["specification"]

    with sqlite_app.reads() as s:
        active = s.scalars(select(CategoryRow).where(CategoryRow.active.is_(True))).all()
    services = as_json(api.client.get(f"{BASE}/services.json?jurisdiction_id=319900"))
    assert sorted(s["service_code"] for s in services) == sorted(c.key for c in active)
    e0102 = next(s for s in services if s["service_code"] == "E0102")
    row = next(c for c in active if c.key == "E0102")
    assert e0102 == {"service_code": "E0102", "service_name": row.name,
                     "description": row.filing_condition, "metadata": True,
                     "type": "realtime", "keywords": ", ".join(row.keywords),
                     "group": row.major_name}  # fmt: skip
    x = as_xml(api.client.get(f"{BASE}/services.xml"))
    assert x.tag == "services" and len(x.findall("service")) == len(services)
    first = x.find("service")
    assert first is not None
    assert [c.tag for c in first] == ["service_code", "service_name", "description", "metadata",
                                      "type", "keywords", "group"]  # fmt: skip
    assert first.findtext("metadata") == "true" and first.findtext("type") == "realtime"


def test_service_definitions_and_unknown_resources(sqlite_app: App) -> None:
    api = Api(sqlite_app)
    event = as_json(api.client.get(f"{BASE}/services/E0102.json"))
    assert event["service_code"] == "E0102"
    assert [a["code"] for a in event["attributes"]] == ["spot"]
    spot = event["attributes"][0]
    assert spot["datatype"] == "text" and spot["required"] is False and spot["order"] == 1
    component = as_json(api.client.get(f"{BASE}/services/C0101.json"))
    assert [a["code"] for a in component["attributes"]] == ["spot", "component_code"]
    x = as_xml(api.client.get(f"{BASE}/services/C0101.xml"))
    assert x.tag == "service_definition" and x.findtext("service_code") == "C0101"
    attrs = x.findall("attributes/attribute")
    assert [a.findtext("code") for a in attrs] == ["spot", "component_code"]
    assert attrs[1].findtext("datatype") == "string" and attrs[1].findtext("variable") == "true"
    assert attrs[1].find("values") is not None

    body = as_json(api.client.get(f"{BASE}/services/E9999.json"), 404)
    assert body == [{"code": 404, "description": "service_code E9999 not found"}]
    x = as_xml(api.client.get(f"{BASE}/services/E9999.xml"), 404)
    assert x.tag == "errors" and x.findtext("error/code") == "404"
    assert x.findtext("error/description") == "service_code E9999 not found"
    as_xml(api.client.get(f"{BASE}/services.html"), 404)  # an unsupported format
    as_xml(api.client.get(f"{BASE}/services"), 404)
    assert as_json(api.client.get(f"{BASE}/nothing.json"), 404)[0]["code"] == 404
    r = api.client.post(f"{BASE}/services.json")
    assert as_json(r, 405)[0]["code"] == 405 and r.headers["allow"] == "GET"
    wrong = as_json(api.client.get(f"{BASE}/services.json?jurisdiction_id=sfgov.org"), 404)
    assert "jurisdiction_id" in wrong[0]["description"]


def test_post_form_creates_a_citizen_case(app: App) -> None:
    api = Api(app)
    key = new_key(api)
    before = cases(app)
    r = post(api, form(key, **{"attribute[spot]": "3号楼东侧"}), headers={
        "X-Idempotency-Key": "req-1"})  # fmt: skip
    [out] = as_json(r)
    assert set(out) == {"service_request_id", "service_notice", "account_id"}
    assert out["account_id"] is None and out["service_request_id"] in out["service_notice"]
    assert cases(app) == before + 1
    detail = case_by_no(api, out["service_request_id"])
    assert detail["channel"] == "citizen" and detail["category"] == "E0102"
    assert detail["state"] == "reported" and detail["grid_code"].startswith(STREET_A)
    assert detail["reporter_name"] == "张三丰" and detail["reporter_phone"] == PHONE
    assert detail["address"] == "3号楼东侧"
    [report] = detail["reports"]
    assert report["source_id"] == f"open311:apikey:o311:{DEVICE}:req-1"
    assert "api_key=%5Bredacted%5D" in report["raw"] or "api_key=[redacted]" in report["raw"]
    assert key not in report["raw"] and "service_code=E0102" in report["raw"]
    assert detail["timeline"][0]["data"]["open311"]["attributes"] == {"spot": "3号楼东侧"}

    # The same idempotency key from the same device answers with the same request.
    again = post(api, form(key), "xml", headers={"X-Idempotency-Key": "req-1"})
    x = as_xml(again)
    assert x.tag == "service_requests"
    assert x.findtext("request/service_request_id") == out["service_request_id"]
    assert x.find("request/account_id") is not None and cases(app) == before + 1

    [got] = as_json(api.client.get(f"{BASE}/requests/{out['service_request_id']}.json"))
    assert got["status"] == "open" and got["service_code"] == "E0102"
    assert got["requested_datetime"] == "2026-11-18T10:00:00+08:00"
    assert got["address_id"] == detail["grid_code"] and got["lat"] == detail["lat"]


def test_post_multipart_stores_the_photo(sqlite_app: App, media_dir: Path) -> None:
    api = Api(sqlite_app)
    key = new_key(api)
    image = png(2, 2)
    r = post(api, form(key), "xml", files={"media": ("pothole.png", image, "image/png")})
    case_no = as_xml(r).findtext("request/service_request_id")
    assert case_no
    detail = case_by_no(api, case_no)
    [ref] = detail["timeline"][0]["media"]
    media_id = ref.removeprefix("media://")
    assert ref.startswith("media://") and "/" not in media_id  # the shared store's ref
    raw = json.loads(detail["reports"][0]["raw"])
    assert raw["files"] == [{"field": "media", "filename": "pothole.png",
                             "content_type": "image/png", "size": len(image)}]  # fmt: skip
    assert ["api_key", "[redacted]"] in raw["fields"]
    [got] = as_json(api.client.get(f"{BASE}/requests/{case_no}.json"))
    assert got["media_url"] == f"http://testserver/open311/v2/media/{media_id}"
    photo = api.client.get(got["media_url"])
    assert photo.status_code == 200 and photo.content == image
    assert photo.headers["content-type"] == "image/png"
    assert photo.headers["x-content-type-options"] == "nosniff"
    assert api.client.get(f"/api/v1/media/{media_id}").content == image
    as_xml(api.client.get(f"{BASE}/media/..%2Fcityops.db"), 404)
    as_xml(api.client.get(f"{BASE}/media/{'x' * 22}"), 404)
    files = stored_files(media_dir)
    assert len(files) == 2  # the photo and its thumbnail

    # Refused uploads write nothing: no case, no file.
    before = cases(sqlite_app)
    for upload in (
        {"media": ("a.txt", b"hello", "text/plain")},
        {"media": ("fake.png", b"GIF89a....", "image/png")},
        {"media": ("cut.png", image[:-20], "image/png")},
        {"media": ("big.png", image + b"\0" * (10 * 1024 * 1024), "image/png")},
    ):
        err = as_json(post(api, form(key), files=upload), 400)
        assert err[0]["code"] == 400 and "media" in err[0]["description"]
    assert cases(sqlite_app) == before and stored_files(media_dir) == files


def test_photos_stored_before_the_shared_store_are_still_published(
    sqlite_app: App, media_dir: Path
) -> None:
    api = Api(sqlite_app)
    name = "0123456789abcdef0123456789abcdef.png"
    (media_dir / "open311").mkdir(parents=True)
    (media_dir / "open311" / name).write_bytes(png())
    photo = api.client.get(f"{BASE}/media/{name}")
    assert photo.status_code == 200 and photo.content == png()
    assert photo.headers["content-type"] == "image/png"
    submit = CaseEventRow(action="submit", data={"open311": {}}, media=[
        f"media://open311/{name}", "media://" + "A" * 22, "https://x.example/1.jpg",
        "photo://internal", "media://open311/../../etc/passwd"])  # fmt: skip
    assert public_media(submit, "http://h/") == [
        f"http://h/open311/v2/media/{name}", f"http://h/open311/v2/media/{'A' * 22}",
        "https://x.example/1.jpg"]  # fmt: skip
    staff = CaseEventRow(action="complete", data={}, media=[f"media://open311/{name}"])
    assert public_media(staff, "http://h/") == []


def test_post_json_body_with_attributes(sqlite_app: App) -> None:
    api = Api(sqlite_app)
    key = new_key(api)
    with sqlite_app.reads() as s:
        asset = s.scalars(select(ComponentRow).where(ComponentRow.category == "C0101")).first()
    assert asset is not None
    body = {"api_key": key, "service_code": "C0101", "lat": asset.lat, "long": asset.lon,
            "attribute": {"component_code": asset.code, "unknown": "x"},
            "media_url": "https://photos.example.org/p/1.jpg"}  # fmt: skip
    [out] = as_json(api.client.post(f"{BASE}/requests.json", json=body))
    detail = case_by_no(api, out["service_request_id"])
    assert detail["grid_code"] == asset.grid_code and detail["description"] == "上水井盖"
    assert detail["component_code"] == asset.code
    assert detail["timeline"][0]["data"]["open311"]["attributes"] == {"component_code": asset.code}
    assert detail["timeline"][0]["media"] == ["https://photos.example.org/p/1.jpg"]
    assert key not in detail["reports"][0]["raw"]
    assert detail["reports"][0]["source_id"].startswith("open311:")
    # address_id: a grid cell code is an address in the city's own address system.
    _, _, grid = point_in(STREET_B)
    [out] = as_json(post(api, form(key, lat=None, long=None, address_id=grid)))
    assert case_by_no(api, out["service_request_id"])["grid_code"] == grid


ERRORS: list[tuple[str, dict[str, Any], int, str]] = [
    ("no api_key", {"api_key": None}, 403, "api_key"),
    ("bad api_key", {"api_key": "cok_nope"}, 403, "api_key"),
    ("wrong jurisdiction", {"jurisdiction_id": "110000"}, 404, "jurisdiction_id"),
    ("no service_code", {"service_code": None}, 400, "service_code"),
    ("unknown service", {"service_code": "E9999"}, 404, "service_code"),
    ("no location", {"lat": None, "long": None}, 400, "location"),
    ("lat only", {"long": None}, 400, "lat and long"),
    ("outside the city", {"lat": "39.9042", "long": "116.4074"}, 400, "outside the city"),
    ("bad latitude", {"lat": "north"}, 400, "lat"),
    ("unknown address_id", {"lat": None, "long": None, "address_id": "99999999"}, 400,
     "address_id"),
    ("bad component", {"service_code": "C0101", "attribute[component_code]": "12"}, 400,
     "component_code"),
    ("wrong component class", {"service_code": "C0101",
                               "attribute[component_code]": "3199010102000001"}, 400,
     "class"),
    ("bad media_url", {"media_url": "javascript:alert(1)"}, 400, "media_url"),
    ("long description", {"description": "长" * 4001}, 400, "description"),
]  # fmt: skip


def test_every_refusal_uses_the_spec_error_format_and_writes_nothing(
    sqlite_app: App, media_dir: Path
) -> None:
    api = Api(sqlite_app)
    key = new_key(api)
    hotline_only = new_key(api, ("hotline",))
    before = cases(sqlite_app)
    cases_ = [*ERRORS, ("key without citizen", {"api_key": hotline_only}, 403, "citizen")]
    for name, over, status, words in cases_:
        body = form(key, **over)
        [err] = as_json(post(api, body), status)
        assert err["code"] == status and words in err["description"], (name, err)
        x = as_xml(post(api, body, "xml"), status)
        assert [e.tag for e in x] == ["error"] and x.findtext("error/code") == str(status), name
        assert words in (x.findtext("error/description") or ""), name
    assert as_json(api.client.post(f"{BASE}/requests.json", content=b"{", headers={
        "content-type": "application/json"}), 400)[0]["code"] == 400  # fmt: skip
    r = api.client.post(f"{BASE}/requests.json", content=b"x", headers={"content-type": "text/csv"})
    assert as_json(r, 400)[0]["description"].startswith("unsupported content type")
    assert cases(sqlite_app) == before
    assert stored_files(media_dir) == []


def test_get_requests_filters(sqlite_app: App, clock: Clock) -> None:
    api = Api(sqlite_app)
    key = new_key(api)
    a = as_json(post(api, form(key)))[0]["service_request_id"]
    b = as_json(post(api, form(key, service_code="E0103")))[0]["service_request_id"]
    clock.advance(days=2)
    c = as_json(post(api, form(key, street=STREET_B)))[0]["service_request_id"]

    def ids(query: str, fmt: str = "json") -> list[str]:
        r = api.client.get(f"{BASE}/requests.{fmt}?{query}")
        if fmt == "xml":
            x = as_xml(r)
            assert x.tag == "service_requests" and all(e.tag == "request" for e in x)
            return [e.findtext("service_request_id") or "" for e in x]
        return [item["service_request_id"] for item in as_json(r)]

    mine = {a, b, c}
    assert [i for i in ids("") if i in mine] == [c, b, a]  # newest first
    assert [i for i in ids("", "xml") if i in mine] == [c, b, a]
    assert [i for i in ids("service_code=E0102") if i in mine] == [c, a]
    assert [i for i in ids("service_code=E0102,E0103") if i in mine] == [c, b, a]
    assert sorted(ids(f"service_request_id={a},{c}&service_code=E0103")) == sorted([a, c])
    assert [i for i in ids("status=open") if i in mine] == [c, b, a]
    assert [i for i in ids("status=closed") if i in mine] == []
    window = "start_date=2026-11-18T00:00:00%2B08:00&end_date=2026-11-19T00:00:00Z"
    assert [i for i in ids(window) if i in mine] == [b, a]
    assert [i for i in ids("start_date=2026-11-19T12:00:00+08:00") if i in mine] == [c]
    assert ids("end_date=2026-11-01T00:00:00Z") == []
    for bad, words in (("start_date=2026-01-01&end_date=2026-11-20", "90 days"),
                       ("start_date=yesterday", "W3C"), ("status=pending", "status"),
                       ("start_date=2026-11-20&end_date=2026-11-19", "before")):  # fmt: skip
        err = as_json(api.client.get(f"{BASE}/requests.json?{bad}"), 400)
        assert words in err[0]["description"], bad
    [one] = as_json(api.client.get(f"{BASE}/requests/{b}.json"))
    assert one["service_request_id"] == b and one["service_code"] == "E0103"
    x = as_xml(api.client.get(f"{BASE}/requests/{b}.xml"))
    assert [e.tag for e in x] == ["request"]
    assert [f.tag for f in x[0]] == [
        "service_request_id", "status", "status_notes", "service_name", "service_code",
        "description", "agency_responsible", "service_notice", "requested_datetime",
        "updated_datetime", "expected_datetime", "address", "address_id", "zipcode", "lat",
        "long", "media_url"]  # fmt: skip
    assert as_json(api.client.get(f"{BASE}/requests/19990101000001.json"), 404)[0]["code"] == 404
    as_xml(api.client.get(f"{BASE}/requests/{a},{b}.xml"), 404)


def test_status_closes_and_updates_follow_the_case(app: App, clock: Clock) -> None:
    api = Api(app)
    key = new_key(api)
    case_no = as_json(post(api, form(key)))[0]["service_request_id"]
    case_id = case_by_no(api, case_no)["id"]
    steps = [("acceptor", "accept", {}), ("inspector01", "verify", {"note": "属实"}),
             ("acceptor", "open", {}), ("dispatcher", "dispatch", {}),
             ("commander", "supervise", {"note": "内部督办：尽快处理"})]  # fmt: skip
    for who, action, body in steps:
        clock.advance(minutes=20)
        assert api.act(who, case_id, action, **body).status_code == 200, action
    [got] = as_json(api.client.get(f"{BASE}/requests/{case_no}.json"))
    detail = case_by_no(api, case_no)
    assert got["status"] == "open" and got["agency_responsible"] == detail["department_name"]
    assert got["expected_datetime"] is not None and "督办" not in json.dumps(got)
    handler = api.handler_for(case_id)
    clock.advance(hours=1)
    assert api.act(handler, case_id, "start").status_code == 200
    assert api.act(handler, case_id, "complete", note="已清运").status_code == 200
    assert api.act("inspector01", case_id, "check_pass").status_code == 200
    clock.advance(minutes=30)
    assert api.act("acceptor", case_id, "close").status_code == 200

    [got] = as_json(api.client.get(f"{BASE}/requests/{case_no}.json"))
    assert got["status"] == "closed" and got["expected_datetime"] is None
    assert got["status_notes"] == "结案 / closed"
    assert got["updated_datetime"] == "2026-11-18T13:10:00+08:00"
    closed = as_json(api.client.get(f"{BASE}/requests.json?status=closed"))
    assert [r["service_request_id"] for r in closed] == [case_no]

    r = api.client.get(f"{BASE}/servicerequestupdates.json",
                       params={"start_date": "2026-11-18T00:00:00+08:00"})  # fmt: skip
    updates = [u for u in as_json(r) if u["service_request_id"] == case_no]
    assert [u["update_id"] for u in updates] == [
        f"{case_id}-{n}" for n in (2, 3, 4, 5, 7, 8, 9, 10)
    ]
    assert [u["status"] for u in updates] == ["open"] * 7 + ["closed"]
    assert updates[1]["description"] == "属实" and updates[5]["description"] == "已清运"
    assert updates[3]["description"].startswith("派遣：")
    assert updates[-1]["updated_datetime"] == got["updated_datetime"]
    assert all(set(u) == {"update_id", "service_request_id", "status", "updated_datetime",
                          "description", "media_url"} for u in updates)  # fmt: skip
    x = as_xml(api.client.get(f"{BASE}/servicerequestupdates.xml?start_date=2026-11-18"))
    mine = [u for u in x if u.findtext("service_request_id") == case_no]
    assert x.tag == "service_request_updates" and all(u.tag == "request_update" for u in x)
    assert [u.findtext("update_id") for u in mine] == [u["update_id"] for u in updates]
    later = as_json(api.client.get(f"{BASE}/servicerequestupdates.json?start_date=2026-11-19"))
    assert later == []


def test_public_responses_carry_no_personal_data(sqlite_app: App, media_dir: Path) -> None:
    api = Api(sqlite_app)
    key = new_key(api)
    description = f"垃圾堆了三天，请联系{LAST}{FIRST}，电话 {OTHER_PHONE}，邮箱 {EMAIL}"
    case_no = as_json(post(api, form(key, description=description)))[0]["service_request_id"]
    case_id = case_by_no(api, case_no)["id"]
    r = api.act("acceptor", case_id, "invalidate", note=f"重复，已电话 {PHONE} 告知")
    assert r.status_code == 200, r.text
    secrets = (FIRST, LAST + FIRST, PHONE, OTHER_PHONE, EMAIL, DEVICE, "zhang.sanfeng")
    paths = ["requests.json", "requests.xml", f"requests/{case_no}.json",
             f"requests/{case_no}.xml", "servicerequestupdates.json",
             "servicerequestupdates.xml", "services.json", "discovery.json"]  # fmt: skip
    for path in paths:
        r = api.client.get(f"{BASE}/{path}")
        assert r.status_code == 200, r.text
        text = r.content.decode()
        assert case_no in text or "request" not in path
        for secret in secrets:
            assert secret not in text, (path, secret)
    [got] = as_json(api.client.get(f"{BASE}/requests/{case_no}.json"))
    assert got["status"] == "closed" and got["status_notes"] == "重复，已电话 *** 告知"
    assert got["description"] == "垃圾堆了三天，请联系***，电话 ***，邮箱 ***"
