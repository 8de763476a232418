"""The sentence-embedding member: offline encoder, its share of the score, old models."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from cityops.classify import ClassifierConfig, TextClassifier, embedding

from .samples import HELD_OUT, rows


@pytest.fixture(scope="module")
def model() -> TextClassifier:
    texts, labels = zip(*rows(), strict=True)
    return TextClassifier(ClassifierConfig(embedding_weight=0.3)).fit(list(texts), list(labels))


def test_encoder_is_local_and_normalised(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    vectors = embedding.embed(["小区门口的路灯不亮了", "Streetlight out on Main St.", "  "])
    assert vectors.shape == (3, embedding.DIM)
    assert np.allclose(np.linalg.norm(vectors[:2], axis=1), 1.0, atol=1e-4)
    assert not vectors[2].any()  # an empty text gives a zero row
    again = embedding.embed(["Streetlight out on Main St."])  # memoised
    assert np.array_equal(again[0], vectors[1])


def test_embedding_share_is_reported(model: TextClassifier) -> None:
    assert model.meta["embedding"] == embedding.ENCODER
    text = HELD_OUT[0][0]
    decision = model.decide(text)
    assert decision.embedding == model.explain_embedding(text, decision.suggestions[0].label)
    # The embedding member adds at most its share times the largest standardised score.
    assert abs(decision.embedding) <= model.config.embedding_weight * np.sqrt(
        len(model.classes) - 1
    )


def test_score_is_sparse_plus_embedding_part(model: TextClassifier) -> None:
    texts = [t for t, _ in HELD_OUT]
    sparse_only = pickle.loads(pickle.dumps(model))
    assert sparse_only._members is not None
    sparse_only._members.emb = None  # the sparse mix alone, standardised the same way
    w = model.config.embedding_weight
    parts = np.array([[model.explain_embedding(t, c) for c in model.classes] for t in texts])
    assert np.allclose(model.scores(texts), (1 - w) * sparse_only.scores(texts) + parts, atol=1e-3)


def test_without_embedding() -> None:
    texts, labels = zip(*rows(), strict=True)
    plain = TextClassifier(ClassifierConfig(embedding_weight=0.0)).fit(list(texts), list(labels))
    assert plain.meta["embedding"] is None
    text = HELD_OUT[0][0]
    assert plain.explain_embedding(text, plain.classes[0]) == 0.0
    assert plain.decide(text).embedding == 0.0


def test_a_model_saved_before_the_embedding_member_still_loads() -> None:
    texts, labels = zip(*rows(), strict=True)
    plain = TextClassifier(ClassifierConfig(embedding_weight=0.0)).fit(list(texts), list(labels))
    state = plain.__dict__
    # What an older pickle holds: no embedding fields in the config, no `emb` member.
    del plain.config.__dict__["embedding_weight"], plain.config.__dict__["embedding_c"]
    assert state["_members"] is not None
    del state["_members"].__dict__["emb"]
    old = pickle.loads(pickle.dumps(plain))
    assert old.config.embedding_weight == 0.0
    held = [t for t, _ in HELD_OUT]
    assert old.predict_top(held[0])[0].label == plain.predict_top(held[0])[0].label
