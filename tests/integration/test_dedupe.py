"""并案: a second report of the same problem joins the open case instead of opening another."""

from __future__ import annotations

from typing import Any

from cityops.bootstrap import App
from cityops.domain.dedupe import DedupePolicy, text_similarity
from tests.conftest import Clock
from tests.helpers import STREET_A, Api, point_in

LON, LAT, GRID = point_in(STREET_A, seed=11)


def _report(api: Api, key: str, text: str, dx_m: float = 0.0, category: str = "E0102",
            user: str = "citizen") -> Any:  # fmt: skip
    body = {"client_request_id": key, "category": category, "description": text,
            "location": {"lon": LON + dx_m / 95_000, "lat": LAT}}  # fmt: skip
    return api.post(user, "/api/v1/intake/citizen", json=body)


def test_a_repeat_report_joins_the_open_case(app: App, clock: Clock) -> None:
    api = Api(app)
    first = _report(api, "dup-1", "小区门口垃圾堆积，气味很大")
    assert first.status_code == 201 and first.json()["merged"] is False
    clock.advance(hours=2)
    again = _report(api, "dup-2", "小区门口垃圾堆积，味道很大", dx_m=15)
    assert again.status_code == 200, again.text
    assert again.json()["merged"] is True and again.json()["case_id"] == first.json()["case_id"]
    case = api.get("acceptor", f"/api/v1/cases/{first.json()['case_id']}").json()
    assert case["report_count"] == 2 and len(case["reports"]) == 2
    merged = case["timeline"][-1]
    assert merged["action"] == "merge_report" and merged["label"] == "并案上报"
    assert merged["data"]["match"]["distance_m"] < 30
    assert api.get("admin", "/api/v1/cases").json()["total"] == 1


def test_far_different_or_closed_cases_are_not_merged(app: App, clock: Clock) -> None:
    api = Api(app)
    first = _report(api, "far-1", "小区门口垃圾堆积")
    far = _report(api, "far-2", "小区门口垃圾堆积", dx_m=400)
    other_kind = _report(api, "far-3", "小区门口垃圾堆积", category="E0107")  # 乱堆物堆料
    assert far.json()["merged"] is False and other_kind.json()["merged"] is False
    # A related subclass nearby is only a suggestion, never an automatic merge.
    detail = api.get("acceptor", f"/api/v1/cases/{other_kind.json()['case_id']}").json()
    submit = detail["timeline"][0]["data"]
    assert submit.get("duplicate_suggestion", {}).get("case_id") in (None, first.json()["case_id"])
    clock.advance(days=10)  # outside the window: a new case
    late = _report(api, "far-4", "小区门口垃圾堆积")
    assert late.json()["merged"] is False


def test_a_similar_report_nearby_is_suggested(app: App) -> None:
    api = Api(app)
    first = _report(api, "sug-1", "小区门口垃圾堆积没人清理")
    second = _report(api, "sug-2", "小区门口有垃圾没人清理", dx_m=70)  # alike, but 70 m away
    assert second.status_code == 201 and second.json()["merged"] is False
    detail = api.get("acceptor", f"/api/v1/cases/{second.json()['case_id']}").json()
    suggestion = detail["timeline"][0]["data"]["duplicate_suggestion"]
    assert suggestion["case_id"] == first.json()["case_id"]


def test_text_similarity_and_policy() -> None:
    assert text_similarity("井盖丢失", "井盖丢失") == 1.0
    assert text_similarity("井盖丢失", "路灯不亮") == 0.0
    assert 0 < text_similarity("小区门口垃圾堆积", "门口垃圾很多") < 1
    policy = DedupePolicy(distance_by_category={"E0402": 300.0})
    assert policy.distance_for("E0402") == 300.0 and policy.distance_for("E0102") == 100.0


def test_a_hotline_batch_merges_and_suggests_like_single_reports(app: App) -> None:
    api = Api(app)
    first = _report(api, "bat-0", "小区门口垃圾堆积，气味很大")
    near = _report(api, "bat-00", "小区门口有垃圾没人清理", dx_m=300)  # another open case
    orders = [
        {"work_order_no": "BAT-1", "appeal_type": "投诉", "category": "E0102",
         "content": "小区门口垃圾堆积，味道很大",
         "location": {"lon": LON + 10 / 95_000, "lat": LAT}},  # repeats the first
        {"work_order_no": "BAT-2", "appeal_type": "投诉", "category": "E0102",
         "content": "小区门口有垃圾没人清理", "location": {"lon": LON + 370 / 95_000, "lat": LAT}},
        {"work_order_no": "BAT-3", "appeal_type": "投诉", "category": "E0102",
         "content": "垃圾堆积", "location": {"lon": LON + 2000 / 95_000, "lat": LAT}},
    ]  # fmt: skip
    r = api.post("acceptor", "/api/v1/intake/hotline/batch", json={"orders": orders})
    assert r.status_code == 200, r.text
    merged, suggested, alone = r.json()["results"]
    assert merged["status"] == "merged" and merged["case_id"] == first.json()["case_id"]
    assert suggested["status"] == "created" and alone["status"] == "created"
    detail = api.get("acceptor", f"/api/v1/cases/{suggested['case_id']}").json()
    assert detail["timeline"][0]["data"]["duplicate_suggestion"]["case_id"] == (
        near.json()["case_id"]
    )
    lonely = api.get("acceptor", f"/api/v1/cases/{alone['case_id']}").json()
    assert "duplicate_suggestion" not in lonely["timeline"][0]["data"]
