"""The term-vector member: folded into per-feature weights, explained exactly, old models."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import scipy.sparse as sp

from cityops.classify import ClassifierConfig, TextClassifier, embedding
from cityops.classify.term_vectors import TermVectors, term_vectors

from .samples import HELD_OUT, rows


@pytest.fixture(scope="module")
def model() -> TextClassifier:
    texts, labels = zip(*rows(), strict=True)
    return TextClassifier(ClassifierConfig()).fit(list(texts), list(labels))


def test_folded_weights_score_like_the_vectors() -> None:
    rng = np.random.default_rng(0)
    vectors = TermVectors(
        ((slice(1, 4), rng.normal(size=(3, 5))), (slice(6, 8), rng.normal(size=(2, 5))))
    )
    x = sp.random(4, 9, density=0.5, random_state=1, format="csr")
    coef = rng.normal(size=(3, vectors.dim))
    folded = vectors.feature_weights(coef, 9)
    assert np.allclose(x @ folded.T, vectors.project(x) @ coef.T)
    assert not folded[:, [0, 4, 5]].any()  # columns outside the word blocks weigh nothing


def test_vectors_cover_the_word_blocks(model: TextClassifier) -> None:
    featurizer, _ = model._ready()
    vectors = term_vectors(featurizer)
    slices = featurizer.block_slices()
    assert [cols for cols, _ in vectors.blocks] == [slices["words"], slices["subject_words"]]
    assert all(v.shape == (c.stop - c.start, embedding.DIM) for c, v in vectors.blocks)


def test_default_model_has_the_member_and_needs_no_encoder_to_predict(
    model: TextClassifier, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert model.meta["term_vectors"] == embedding.ENCODER
    assert model._members is not None and model._members.tv is not None

    def no_encoder(texts: object) -> None:
        raise AssertionError("prediction must not encode text")

    monkeypatch.setattr(embedding, "embed", no_encoder)
    texts = [t for t, _ in HELD_OUT]
    assert len(model.decide_many(texts)) == len(texts)


def test_the_member_changes_the_score_by_its_share(model: TextClassifier) -> None:
    texts = [t for t, _ in HELD_OUT]
    without = pickle.loads(pickle.dumps(model))
    assert without._members is not None
    without._members.tv = None  # the SVM + NB mix alone, standardised the same way
    w = model.config.term_vector_weight
    _, members = model._ready()
    x = model._ready()[0].transform(texts)
    tv_w, tv_b = members.tv  # type: ignore[misc]
    raw = np.asarray(x @ tv_w.T) + tv_b
    z = (raw - raw.mean(axis=1, keepdims=True)) / (raw.std(axis=1, keepdims=True) + 1e-12)
    assert np.allclose(model.scores(texts), (1 - w) * without.scores(texts) + w * z)


def test_explanations_include_the_member(model: TextClassifier) -> None:
    text, _ = HELD_OUT[0]
    label = model.predict_top(text)[0].label
    words = model.explain(text, label, n=50)
    assert words and all(value > 0 for _, value in words)
    without = pickle.loads(pickle.dumps(model))
    assert without._members is not None
    without._members.tv = None
    assert dict(without.explain(text, label, n=50)) != dict(words)


def test_switched_off() -> None:
    texts, labels = zip(*rows(), strict=True)
    plain = TextClassifier(ClassifierConfig(term_vector_weight=0.0)).fit(list(texts), list(labels))
    assert plain.meta["term_vectors"] is None
    assert plain._members is not None and plain._members.tv is None


def test_a_model_saved_before_the_member_still_loads() -> None:
    texts, labels = zip(*rows(), strict=True)
    plain = TextClassifier(ClassifierConfig(term_vector_weight=0.0)).fit(list(texts), list(labels))
    # What a format-1 pickle holds: no term-vector fields in the config, no `tv` member.
    del plain.config.__dict__["term_vector_weight"], plain.config.__dict__["term_vector_c"]
    assert plain._members is not None
    del plain._members.__dict__["tv"]
    old = pickle.loads(pickle.dumps(plain))
    assert old.config.term_vector_weight == 0.0
    held = [t for t, _ in HELD_OUT]
    assert [s.label for s in old.predict_top(held[0])] == [
        s.label for s in plain.predict_top(held[0])
    ]
