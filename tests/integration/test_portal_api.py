"""The citizen portal's public API (/api/v1/portal), on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select

from cityops.adapters.db.models import CaseEventRow, CaseRow
from cityops.bootstrap import App
from tests.helpers import STREET_A, Api, point_in
from tests.photos import photo

P = "/api/v1/portal"


def _report(api: Api, seed: int, key: str | None = None, **extra: Any) -> Any:
    lon, lat, _ = point_in(STREET_A, seed=seed)
    body = {"category": "E0102", "description": "小区门口有暴露垃圾", "lon": lon, "lat": lat,
            "phone": "13812345678", **extra}  # fmt: skip
    headers = {"Idempotency-Key": key or uuid.uuid4().hex}
    return api.client.post(f"{P}/reports", json=body, headers=headers)


def _case_id(app: App, case_no: str) -> int:
    with app.reads() as s:
        found = s.scalar(select(CaseRow.id).where(CaseRow.case_no == case_no))
    assert found is not None
    return found


def _close(api: Api, case_id: int) -> None:
    for who, action in [("acceptor", "accept"), ("inspector01", "verify"),
                        ("acceptor", "open"), ("dispatcher", "dispatch")]:
        assert api.act(who, case_id, action).status_code == 200, action
    handler = api.handler_for(case_id)
    assert api.act(handler, case_id, "start").status_code == 200
    assert api.act(handler, case_id, "complete", note="已清运").status_code == 200
    assert api.act("inspector01", case_id, "check_pass").status_code == 200
    assert api.act("acceptor", case_id, "close").status_code == 200


def test_public_reads_need_no_login(app: App) -> None:
    api = Api(app)
    groups = api.client.get(f"{P}/categories").json()
    codes = {i["code"] for g in groups for i in g["items"]}
    assert "E0102" in codes and all(g["items"] for g in groups)
    lon, lat, _ = point_in(STREET_A, seed=7)
    where = api.client.get(f"{P}/where", params={"lon": lon, "lat": lat}).json()
    assert where["inside"] is True and where["place"]
    assert api.client.get(f"{P}/where", params={"lon": 0, "lat": 0}).json()["inside"] is False
    regions = api.client.get(f"{P}/regions", params={"level": "street"})
    assert regions.status_code == 200 and regions.json()["features"]
    assert api.client.get(f"{P}/regions", params={"level": "grid"}).status_code == 422


def test_report_is_idempotent_and_nearby_shows_it_without_personal_data(app: App) -> None:
    api = Api(app)
    key = uuid.uuid4().hex
    first = _report(api, 11, key, name="李四")
    assert first.status_code == 201, first.text
    again = _report(api, 11, key, name="李四")
    assert again.status_code == 200
    assert again.json()["case_no"] == first.json()["case_no"]
    assert again.json()["tracking_code"] == first.json()["tracking_code"]
    lon, lat, _ = point_in(STREET_A, seed=11)
    near = api.client.get(f"{P}/nearby", params={"category": "E0102", "lon": lon, "lat": lat})
    assert near.status_code == 200
    item = next(i for i in near.json()["items"] if i["case_no"] == first.json()["case_no"])
    assert "description" not in item and "id" not in item and "李四" not in near.text
    missing = api.client.post(f"{P}/reports", json={})
    assert missing.status_code == 422


def test_report_with_photo_and_bad_refs(app: App) -> None:
    api = Api(app)
    up = api.client.post("/api/v1/media", files={"file": ("a.jpg", photo(), "image/jpeg")})
    assert up.status_code == 201, up.text
    ok = _report(api, 12, photos=[up.json()[0]["ref"]])
    assert ok.status_code == 201
    bad = _report(api, 13, photos=["media://AAAAAAAAAAAAAAAAAAAAAA"])
    assert bad.status_code == 422


def test_track_then_rate_exactly_once(app: App) -> None:
    api = Api(app)
    out = _report(api, 14).json()
    no, code = out["case_no"], out["tracking_code"]
    public = api.client.post(f"{P}/track", json={"case_no": no}).json()
    assert public["mine"] is None and public["steps"][0]["action"] == "submit"
    assert "13812345678" not in str(public)
    wrong = api.client.post(f"{P}/track", json={"case_no": no, "tracking_code": "A" * 12})
    assert wrong.status_code == 404
    early = api.client.post(f"{P}/rating", json={"case_no": no, "tracking_code": code,
                                                 "rating": 5})  # fmt: skip
    assert early.status_code == 409 and "尚未办结" in early.json()["error"]["message"]
    case_id = _case_id(app, no)
    _close(api, case_id)
    mine = api.client.post(f"{P}/track", json={"case_no": no, "tracking_code": code.lower()})
    assert mine.json()["mine"]["can_rate"] is True
    assert [s["action"] for s in mine.json()["steps"]][-1] == "close"
    body = {"case_no": no, "tracking_code": code, "rating": 4, "comment": "处理得很快"}
    assert api.client.post(f"{P}/rating", json=body).status_code == 200
    twice = api.client.post(f"{P}/rating", json={**body, "rating": 1})
    assert twice.status_code == 409 and "已评价" in twice.json()["error"]["message"]
    after = api.client.post(f"{P}/track", json={"case_no": no, "tracking_code": code}).json()
    assert after["mine"]["rating"] == 4 and after["mine"]["can_rate"] is False
    with app.reads() as s:
        rates = s.scalars(select(CaseEventRow).where(
            CaseEventRow.case_id == case_id, CaseEventRow.action == "rate")).all()  # fmt: skip
        assert len(rates) == 1 and rates[0].data["rating"] == 4
        assert rates[0].note == "处理得很快"


def test_merged_reports_each_track_and_rate_the_case(app: App) -> None:
    api = Api(app)
    a = _report(api, 15).json()
    b = _report(api, 15).json()
    assert b["merged"] is True and b["case_no"] == a["case_no"]
    assert a["tracking_code"] != b["tracking_code"]
    _close(api, _case_id(app, a["case_no"]))
    for out, stars in ((a, 5), (b, 3)):
        body = {"case_no": out["case_no"], "tracking_code": out["tracking_code"], "rating": stars}
        assert api.client.post(f"{P}/rating", json=body).status_code == 200
    assert api.client.post(f"{P}/track", json={"case_no": "NOPE-1"}).status_code == 404


def _cases(app: App) -> int:
    with app.reads() as s:
        return len(s.scalars(select(CaseRow.id)).all())


def test_refused_reports_say_why_and_write_nothing(app: App) -> None:
    api = Api(app)
    before = _cases(app)
    lon, lat, _ = point_in(STREET_A, seed=5)
    body = {"category": "E0102", "description": "暴露垃圾", "lon": lon, "lat": lat}
    for headers in ({}, {"Idempotency-Key": "short"}):
        r = api.client.post(f"{P}/reports", json=body, headers=headers)
        assert r.status_code == 422, r.text
        assert r.json()["error"]["details"]["field"] == "Idempotency-Key"
    unknown = _report(api, 5, category="E9999")
    assert unknown.status_code == 422 and unknown.json()["error"]["details"]["field"] == "category"
    outside = _report(api, 5, lon=100.0, lat=20.0)
    assert outside.status_code == 422
    assert outside.json()["error"]["details"]["reason"] == "outside_jurisdiction"
    assert _cases(app) == before
