from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from cityops.classify import Suggestion, TextClassifier, train_from_rows

from .samples import HELD_OUT, TRAIN, rows


@pytest.fixture(scope="module")
def model() -> TextClassifier:
    texts, labels = zip(*rows(), strict=True)
    return TextClassifier().fit(list(texts), list(labels))


def test_ranks_the_right_class_first_on_unseen_sentences(model: TextClassifier) -> None:
    for text, label in HELD_OUT:
        assert model.predict_top(text)[0].label == label, text


def test_probabilities_sum_to_one(model: TextClassifier) -> None:
    proba = model.predict_proba([t for t, _ in HELD_OUT])
    assert proba.shape == (len(HELD_OUT), len(TRAIN))
    assert np.allclose(proba.sum(axis=1), 1.0)
    assert (proba >= 0).all()


def test_top_k_is_ordered_and_distinct(model: TextClassifier) -> None:
    top = model.predict_top("路灯不亮，井盖也丢了", k=3)
    assert len(top) == 3
    assert all(isinstance(s, Suggestion) for s in top)
    assert [s.confidence for s in top] == sorted((s.confidence for s in top), reverse=True)
    assert len({s.label for s in top}) == 3
    assert {s.label for s in top} <= set(TRAIN)
    assert len(model.predict_top("路灯", k=50)) == len(TRAIN)


def test_explain_names_words_of_the_text(model: TextClassifier) -> None:
    text = "我家楼下的路灯坏了，晚上不亮"
    reasons = model.explain(text, "路灯不亮", n=5)
    assert 0 < len(reasons) <= 5
    assert all(term in text.lower() for term, _ in reasons)
    weights = [w for _, w in reasons]
    assert all(w > 0 for w in weights)
    assert weights == sorted(weights, reverse=True)
    assert any("灯" in term for term, _ in reasons)
    with pytest.raises(KeyError):
        model.explain(text, "no such label")


def test_decide_sends_low_confidence_to_triage(model: TextClassifier) -> None:
    sure = model.decide("路灯不亮", threshold=0.0)
    assert sure.label == "路灯不亮"
    assert not sure.needs_triage
    unsure = model.decide("路灯不亮", threshold=1.01)
    assert unsure.needs_triage
    assert unsure.label is None
    assert [s.label for s in unsure.suggestions] == [s.label for s in sure.suggestions]
    assert len(unsure.suggestions) == 3
    assert unsure.explanation


def test_save_load_round_trip(model: TextClassifier, tmp_path: Path) -> None:
    path = model.save(tmp_path / "m" / "model.joblib")
    meta = json.loads(path.with_suffix(".json").read_text(encoding="utf-8"))
    assert meta["n_samples"] == 48
    assert meta["labels"] == sorted(TRAIN)
    assert {"version", "trained_at", "sklearn_version", "metrics"} <= set(meta)
    loaded = TextClassifier.load(path)
    texts = [t for t, _ in HELD_OUT]
    assert np.array_equal(loaded.predict_proba(texts), model.predict_proba(texts))
    assert loaded.explain(texts[0], "暴露垃圾") == model.explain(texts[0], "暴露垃圾")


def test_unlabelled_text_only_widens_the_vocabulary() -> None:
    texts, labels = zip(*rows(), strict=True)
    extra = ["共享单车乱停乱放堵住了盲道", "树木倒伏压住了电线"]
    model = TextClassifier().fit(list(texts), list(labels), unlabelled=extra)
    assert model.meta["n_unlabelled"] == 2
    assert model.predict_top("下雨后路口积水严重")[0].label == "道路积水"


def test_errors() -> None:
    with pytest.raises(RuntimeError):
        TextClassifier().predict_top("路灯")
    with pytest.raises(ValueError):
        TextClassifier().fit(["a b", "c d"], ["x"])
    with pytest.raises(ValueError):
        TextClassifier().fit(["路灯不亮", "路灯坏了"], ["x", "x"])


def test_train_from_rows_reports_held_out_metrics() -> None:
    model, metrics = train_from_rows(rows(), test_size=0.25, random_state=1)
    assert metrics.n == 12
    for value in (metrics.accuracy, metrics.macro_f1, metrics.top3_accuracy, metrics.ece):
        assert 0.0 <= value <= 1.0
    assert metrics.top3_accuracy >= metrics.accuracy
    assert model.meta["n_samples"] == 48  # refitted on every row
    assert model.meta["metrics"]["macro_f1"] == round(metrics.macro_f1, 4)


def test_english_reports() -> None:
    data = {
        "streetlight": ["streetlight out on the corner", "street light is dark at night",
                        "lamp post light broken", "the streetlight keeps flickering"],
        "graffiti": ["graffiti on the wall", "spray paint tags on the bridge",
                     "graffiti painted on a shop door", "remove graffiti from the fence"],
        "bulky": ["old sofa left on the sidewalk", "mattress dumped by the curb",
                  "pick up bulky items furniture", "couch and mattress need pickup"],
    }  # fmt: skip
    texts = [t for ts in data.values() for t in ts]
    labels = [label for label, ts in data.items() for _ in ts]
    model = TextClassifier().fit(texts, labels)
    assert model.predict_top("Graffiti on my garage wall")[0].label == "graffiti"
    assert model.predict_top("a dark street light")[0].label == "streetlight"
