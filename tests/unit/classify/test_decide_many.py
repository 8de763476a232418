"""Deciding a batch at once gives what deciding each text alone gives; margins gate labels."""

from __future__ import annotations

import pytest

from cityops.classify import TextClassifier

from .samples import HELD_OUT, TRAIN


@pytest.fixture(scope="module")
def model() -> TextClassifier:
    texts = [t for ts in TRAIN.values() for t in ts]
    labels = [k for k, ts in TRAIN.items() for _ in ts]
    return TextClassifier().fit(texts, labels)


def test_a_batch_decides_like_single_texts(model: TextClassifier) -> None:
    texts = [t for t, _ in HELD_OUT] + ["请问办事大厅几点下班"]
    batch = model.decide_many(texts, threshold=0.5)
    for text, together in zip(texts, batch, strict=True):
        alone = model.decide(text, threshold=0.5)
        assert together.label == alone.label
        assert [s.label for s in together.suggestions] == [s.label for s in alone.suggestions]
        assert together.confidence == pytest.approx(alone.confidence)
        assert together.margin == pytest.approx(alone.margin)
        assert [t for t, _ in together.explanation] == [t for t, _ in alone.explanation]
    assert model.decide_many([]) == []


def test_known_problems_are_claimed_and_unknown_ones_are_not(model: TextClassifier) -> None:
    right = 0
    for text, label in HELD_OUT:
        d = model.decide(text, threshold=0.0)
        if d.suggestions[0].label == label:
            right += 1
            assert d.claimed and d.label == label
    assert right >= len(HELD_OUT) - 2
    stranger = model.decide("请问办事大厅周六上不上班", threshold=0.0)
    assert not stranger.claimed and stranger.margin <= 0
    assert stranger.label is None  # even with no confidence threshold at all


def test_two_classes_have_a_margin_for_each(model: TextClassifier) -> None:
    keep = list(TRAIN)[:2]
    texts = [t for k in keep for t in TRAIN[k]]
    labels = [k for k in keep for _ in TRAIN[k]]
    two = TextClassifier().fit(texts, labels)
    for text, k in HELD_OUT:
        if k in keep:
            d = two.decide(text, threshold=0.0)
            assert d.suggestions[0].label == k and d.claimed and d.label == k
