"""``decide_many`` scores each text once per member and still decides as the formulas say.

The reference below is the batch path as it was before the scores were shared: the mix, each
member's spread for the explanation and the SVM margins are all computed afresh, and the
explanation is summed term by term without the vectorised bookkeeping.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cityops.classify import ClassifierConfig, TextClassifier, embedding
from cityops.classify.calibration import softmax, standardise_rows
from cityops.classify.model import Decision, Suggestion, _embedding_scores, _linear, _margins

from .samples import HELD_OUT, TRAIN, rows

# Fragments that recombine into texts the model has and has not seen (and a question that no
# class claims), so batches mix confident, doubtful and unclaimed rows.
PIECES = [t for ts in TRAIN.values() for t in ts[:3]] + [t for t, _ in HELD_OUT[::3]] + [
    "请问办事大厅几点下班", "路灯", "垃圾", "噪音", "积水", "hello", "  ",
]  # fmt: skip
TEXTS = st.lists(st.sampled_from(PIECES), min_size=1, max_size=3).map("".join)
BATCHES = st.lists(TEXTS, min_size=1, max_size=6)


def _fit(config: ClassifierConfig, kinds: list[str]) -> TextClassifier:
    pairs = [(t, k) for t, k in rows() if k in kinds]
    return TextClassifier(config).fit([t for t, _ in pairs], [k for _, k in pairs])


@pytest.fixture(
    scope="module",
    params=["term_vectors", "two_classes", "svm_nb_only", "embedding"],
)
def model(request: pytest.FixtureRequest) -> Iterator[TextClassifier]:
    kinds = list(TRAIN)
    config = ClassifierConfig()
    if request.param == "two_classes":  # LinearSVC keeps one signed hyperplane
        kinds = kinds[:2]
    elif request.param == "svm_nb_only":
        config = ClassifierConfig(term_vector_weight=0.0)
    elif request.param == "embedding":
        config = ClassifierConfig(embedding_weight=0.3)
    yield _fit(config, kinds)


def _before(
    model: TextClassifier, texts: list[str], threshold: float, k: int, n: int
) -> list[Decision]:
    """``decide_many`` by the formulas, each member scoring the texts once per use."""
    featurizer, members = model._ready()
    c, config = len(model.classes), model.config
    x = featurizer.transform(texts)
    linear, shares = _linear(members, c), members.linear_shares(config)
    mixed = np.zeros((len(texts), c))
    for (w, b), share in zip(linear, shares, strict=True):
        z, _, _ = standardise_rows(np.asarray(x @ w.T) + b)
        mixed += share * z
    parts = np.zeros((len(texts), c))
    if members.emb is not None:
        e = embedding.embed(texts)
        parts = members.embedding_share(config) * _embedding_scores(members, e, c)
        mixed += parts
    proba = softmax(mixed, model.temperature)
    margins = _margins(members.svc.decision_function(x), c)
    terms = featurizer.terms()
    first = {t: i for i, t in reversed(list(enumerate(terms)))}  # ties: first term first
    out = []
    for i in range(len(texts)):
        order = np.argsort(-proba[i], kind="stable")[: max(1, min(k, c))]
        label, row = int(order[0]), x[i]
        pulls: dict[str, float] = {}
        for (w, b), share in zip(linear, shares, strict=True):
            w = np.asarray(w)
            spread = float(np.asarray(row @ w.T + b).std()) + 1e-12
            for j, v in zip(row.indices.tolist(), row.data.tolist(), strict=True):
                pull = share * v * (w[label, j] - w[:, j].mean()) / spread
                if terms[j]:
                    pulls[terms[j]] = pulls.get(terms[j], 0.0) + pull
        ranked = sorted((p for p in pulls.items() if p[1] > 0), key=lambda p: (-p[1], first[p[0]]))
        top = [Suggestion(model.classes[j], float(proba[i, j])) for j in order]
        claim = float(margins[i, label])
        out.append(Decision(
            label=top[0].label if top[0].confidence >= threshold and claim > 0 else None,
            confidence=top[0].confidence, suggestions=top,
            explanation=[(t, round(p, 4)) for t, p in ranked[:n]],
            margin=round(claim, 4), embedding=round(float(parts[i, label]), 4),
        ))  # fmt: skip
    return out


def _same_words(got: list[tuple[str, float]], want: list[tuple[str, float]]) -> None:
    # Sums in another order may differ in the last bits: words and rounded values must agree,
    # leaving aside words whose pull rounds to nothing (either side may keep them).
    got = [p for p in got if p[1] != 0.0]
    want = [p for p in want if p[1] != 0.0]
    assert [t for t, _ in got] == [t for t, _ in want]
    assert [v for _, v in got] == pytest.approx([v for _, v in want], abs=1.5e-4)


@settings(max_examples=25, deadline=None)
@given(texts=BATCHES, threshold=st.sampled_from([0.0, 0.3, 0.6]), k=st.integers(1, 4),
       n=st.integers(1, 6))  # fmt: skip
def test_shared_scores_decide_as_the_formulas(
    model: TextClassifier, texts: list[str], threshold: float, k: int, n: int
) -> None:
    batch = model.decide_many(texts, threshold, k, n)
    for got, want in zip(batch, _before(model, texts, threshold, k, n), strict=True):
        assert got.suggestions == want.suggestions  # same scores to the last bit
        assert (got.label, got.confidence) == (want.label, want.confidence)
        assert (got.margin, got.embedding) == (want.margin, want.embedding)
        _same_words(got.explanation, want.explanation)


def test_one_text_decides_and_explains_as_in_a_batch(model: TextClassifier) -> None:
    texts = [t for t, _ in HELD_OUT] + ["请问办事大厅几点下班"]
    for text, together in zip(texts, model.decide_many(texts, n_explain=4), strict=True):
        alone = model.decide(text, n_explain=4)
        if model.config.embedding_weight == 0:
            assert alone == together  # sparse rows are scored alike alone and in a batch
        else:  # a dense product of the sentence vectors may round differently in a batch
            assert [s.label for s in alone.suggestions] == [s.label for s in together.suggestions]
            assert [s.confidence for s in alone.suggestions] == pytest.approx(
                [s.confidence for s in together.suggestions], rel=1e-9, abs=1e-12
            )
            assert (alone.label, alone.margin) == (together.label, together.margin)
            assert alone.explanation == together.explanation
            assert alone.embedding == pytest.approx(together.embedding, abs=1e-4)
        assert model.explain(text, alone.suggestions[0].label, 4) == alone.explanation
    # Not vacuous: the held-out texts of the model's classes are mostly explained and claimed.
    known = [t for t, k in HELD_OUT if k in model.classes]
    decided = model.decide_many(known)
    assert sum(bool(d.explanation) and d.claimed for d in decided) >= len(known) - 2
