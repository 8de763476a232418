"""Reports without a category are classified at intake; unsure ones wait for a person."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from cityops.bootstrap import App
from cityops.classify import ModelStore, train_from_rows
from cityops.demo.phrases import report_text
from cityops.domain.taxonomy import load_default_taxonomy
from cityops.service import training
from cityops.service.classifying import ReportClassifier
from tests.helpers import STREET_A, Api, point_in

# Street-level problems a hotline hears every day.
KEYS = ("E0101", "E0102", "E0106", "E0501", "C0101", "C0301")


def _rows(keys: tuple[str, ...], per_class: int = 25, seed: int = 1) -> list[tuple[str, str]]:
    taxonomy = {c.key: c for c in load_default_taxonomy().categories}
    rng = random.Random(seed)
    return [
        (report_text(taxonomy[k], rng, "人民路12号", rng.random() < 0.3), k)
        for k in keys
        for _ in range(per_class)
    ]


def _use_models(app: App, folder: Path) -> ModelStore:
    app.settings.model_dir = folder
    app.classifier = ReportClassifier(folder, app.settings.classify_min_confidence)
    return ModelStore(folder)


@pytest.fixture
def store(app: App, tmp_path: Path) -> ModelStore:
    models = _use_models(app, tmp_path / "models")
    model, _ = train_from_rows(_rows(KEYS), version="t1")
    models.save(model, activate=True)
    return models


def _call(api: Api, order: str, content: str, seed: int) -> dict:
    lon, lat, _ = point_in(STREET_A, seed=seed)
    body = {"work_order_no": order, "appeal_type": "投诉", "content": content,
            "caller_name": "王女士", "caller_phone": "13900002222",
            "location": {"lon": lon, "lat": lat}}  # fmt: skip
    r = api.post("acceptor", "/api/v1/intake/hotline", json=body)
    assert r.status_code == 201, r.text
    return api.get("acceptor", f"/api/v1/cases/{r.json()['case_id']}").json()


def test_a_clear_text_is_classified_routed_and_explained(app: App, store: ModelStore) -> None:
    api = Api(app)
    case = _call(api, "CLS-1", "您好，人民路上自来水井盖破损缺失了，晚上特别危险，请尽快处理。", 11)
    c = case["classification"]
    assert case["category"] == "C0101" == c["category"]
    assert c["auto"] is True and c["model"] == "t1"
    assert c["confidence"] >= app.settings.classify_min_confidence
    assert c["suggestions"][0]["category"] == "C0101"
    terms = [t["term"] for t in c["explanation"]]
    assert terms and any(t in case["description"] for t in terms)
    assert "井盖" in c["reason"] or "上水井盖" in c["reason"]
    assert case["triage"] is None and case["routing"]["department"]
    submit = case["timeline"][0]
    assert submit["data"]["classification"]["category"] == "C0101"


def test_an_unsure_text_waits_in_the_classify_queue(app: App, store: ModelStore) -> None:
    api = Api(app)
    case = _call(api, "CLS-2", "请问一下办事大厅几点下班？", 12)
    c = case["classification"]
    assert case["category"] is None and case["triage"] == "classify"
    # Not about any trained category: no one-vs-rest margin is positive, whatever the softmax.
    assert c["auto"] is False and c["margin"] <= 0 and "no category claims" in c["reason"]
    assert len(c["suggestions"]) == 3 and all(s["name"] for s in c["suggestions"])
    queue = api.get("acceptor", "/api/v1/cases", params={"triage": "classify"}).json()
    assert case["id"] in [x["id"] for x in queue["items"]]
    second = c["suggestions"][1]["category"]
    r = api.act("acceptor", case["id"], "amend", category=second, note="受理员人工分类")
    assert r.status_code == 200, r.text
    after = api.get("acceptor", f"/api/v1/cases/{case['id']}").json()
    assert after["category"] == second and after["triage"] is None
    amend = after["timeline"][-1]
    assert amend["data"]["suggestion_rank"] == 2 and amend["data"]["old_category"] is None
    queue = api.get("acceptor", "/api/v1/cases", params={"triage": "classify"}).json()
    assert case["id"] not in [x["id"] for x in queue["items"]]


def test_without_a_model_every_uncategorised_report_waits(app: App) -> None:
    api = Api(app)
    case = _call(api, "CLS-3", "人民路自来水井盖破损了", 13)
    assert case["category"] is None and case["triage"] == "classify"
    assert case["classification"]["model"] is None and "no classification model" in (
        case["classification"]["reason"]
    )


def test_a_given_category_is_never_overridden(app: App, store: ModelStore) -> None:
    api = Api(app)
    lon, lat, _ = point_in(STREET_A, seed=14)
    body = {"work_order_no": "CLS-4", "appeal_type": "投诉", "content": "自来水井盖破损了",
            "category": "E0102", "location": {"lon": lon, "lat": lat}}  # fmt: skip
    r = api.post("acceptor", "/api/v1/intake/hotline", json=body)
    case = api.get("acceptor", f"/api/v1/cases/{r.json()['case_id']}").json()
    assert case["category"] == "E0102" and case["classification"] is None


def test_a_place_to_find_comes_before_a_category_to_choose(app: App) -> None:
    api = Api(app)
    body = {"work_order_no": "CLS-5", "appeal_type": "投诉", "content": "门口很乱",
            "location": {"address": "老街坊那边的小卖部"}}  # fmt: skip
    r = api.post("acceptor", "/api/v1/intake/hotline", json=body)
    case_id = r.json()["case_id"]
    assert api.get("acceptor", f"/api/v1/cases/{case_id}").json()["triage"] == "locate"
    lon, lat, _ = point_in(STREET_A, seed=15)
    api.act("acceptor", case_id, "amend", location={"lon": lon, "lat": lat}, note="回访确认")
    assert api.get("acceptor", f"/api/v1/cases/{case_id}").json()["triage"] == "classify"


def test_a_newly_activated_model_is_served_without_a_restart(
    app: App, store: ModelStore
) -> None:
    api = Api(app)
    model, _ = train_from_rows(_rows(("E0101", "E0102", "E0106"), seed=2), version="t2")
    store.save(model, activate=True)
    app.classifier._checked = float("-inf")  # instead of waiting out the one-second recheck
    case = _call(api, "CLS-6", "人民路上自来水井盖破损缺失了", 16)
    assert case["classification"]["model"] == "t2"
    assert case["classification"]["suggestions"][0]["category"] in {"E0101", "E0102", "E0106"}


def test_a_batch_is_classified_like_single_reports(app: App, store: ModelStore) -> None:
    api = Api(app)
    orders = []
    for i, text in enumerate(["小区门口自来水井盖破损缺失", "请问一下办事大厅几点下班？"]):
        lon, lat, _ = point_in(STREET_A, seed=20 + i)
        orders.append({"work_order_no": f"CLS-B{i}", "appeal_type": "投诉", "content": text,
                       "location": {"lon": lon, "lat": lat}})  # fmt: skip
    r = api.post("acceptor", "/api/v1/intake/hotline/batch", json={"orders": orders})
    assert r.status_code in (200, 201, 207), r.text
    ids = [x["case_id"] for x in r.json()["results"]]
    first, second = (api.get("acceptor", f"/api/v1/cases/{i}").json() for i in ids)
    assert first["category"] == "C0101" and first["classification"]["auto"]
    assert second["triage"] == "classify"


def test_training_from_closed_cases_and_activating_versions(app: App, tmp_path: Path) -> None:
    from cityops.service.history import import_history

    _use_models(app, tmp_path / "m")
    lines = ["source_id,channel,category,description,reported_at,closed_at,state,grid_code"]
    _, _, grid = point_in(STREET_A, seed=1)
    for i, (text, key) in enumerate(_rows(("E0101", "C0101", "E0501"), per_class=12)):
        lines.append(f"H{i:04d},hotline,{key},{text.replace(',', '，')},2026/10/01 09:00,"
                     f"2026/10/02 09:00,closed,{grid}")  # fmt: skip
    import_history(app, "\n".join(lines), "test")
    api = Api(app)
    r = api.post("admin", "/api/v1/admin/models/train", json={"version": "h1"})
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["n_cases"] == 36 and body["labels"] == 3 and body["active"]
    assert 0 <= body["metrics"]["macro_f1"] <= 1 and body["metrics"]["n"] > 0
    r = api.post("admin", "/api/v1/admin/models/train", json={"version": "h2", "activate": False})
    listed = api.get("admin", "/api/v1/admin/models").json()
    assert [v["version"] for v in listed["versions"]] == ["h2", "h1"]
    assert listed["active"] == "h1"
    assert api.post("admin", "/api/v1/admin/models/h2/activate").json()["active"] == "h2"
    missing = api.post("admin", "/api/v1/admin/models/nope/activate")
    assert missing.status_code == 404 and missing.json()["error"]["code"]
    assert api.post("dispatcher", "/api/v1/admin/models/train", json={}).status_code == 403
    again = api.post("admin", "/api/v1/admin/models/train", json={"version": "h1"})
    assert again.status_code == 422


def test_training_needs_enough_closed_cases(app: App, tmp_path: Path) -> None:
    _use_models(app, tmp_path / "m")
    with pytest.raises(Exception, match="at least 2 categories"):
        training.train(app, actor="test")
