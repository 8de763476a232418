"""``TextClassifier``: report text → taxonomy label with a calibrated confidence, explained.

Three linear models share one TF-IDF feature space (``features.py``): a LinearSVC
(class-balanced), a ComplementNB and the term-vector member (a logistic regression on the
sentence encoder's vectors of the text's words, folded into per-feature weights:
``term_vectors.py``). Each row of each model's class scores is standardised and they are mixed
(0.7 × (0.7 / 0.3) + 0.3 by default) into the *sparse* score. An optional member, a logistic
regression on a multilingual sentence embedding of the whole text (``embedding.py``), gives a
standardised *embedding* score; with it the final score is 0.7 × sparse + 0.3 × embedding.
A softmax with a temperature fitted on out-of-fold scores turns it into probabilities.

Because the sparse score is linear in the TF-IDF features for a given text, ``explain`` splits
its part of a class's final score exactly into per-term contributions; the embedding member's
part is one number per text and class (``explain_embedding``, ``Decision.embedding``), since a
sentence vector has no per-word decomposition.
"""

from __future__ import annotations

import json
import os
import tempfile
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import sklearn
from numpy.typing import NDArray
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold
from sklearn.naive_bayes import ComplementNB
from sklearn.svm import LinearSVC

from cityops.classify import embedding
from cityops.classify.calibration import Array, fit_temperature, softmax, standardise_rows
from cityops.classify.features import (
    ClassifierConfig,
    Featurizer,
    UnlabelledCorpus,
    fit_featurizer,
)
from cityops.classify.term_vectors import TermVectors, term_vectors

# 2: the term-vector member (files of format 1 still load: they have no such member).
FORMAT = "cityops.classify/2"


@dataclass(frozen=True)
class Suggestion:
    label: str
    confidence: float


@dataclass(frozen=True)
class Decision:
    """What the classify stage decided for one text.

    ``label`` is None when the confidence is below the threshold: the report goes to the triage
    queue with ``suggestions`` (the top k). ``explanation`` lists the terms of the text that
    pushed hardest towards the top suggestion.
    """

    label: str | None
    confidence: float
    suggestions: list[Suggestion]
    explanation: list[tuple[str, float]]
    # The one-vs-rest SVM margin of the top label: ≤ 0 means no class claims the text (a
    # question about opening hours, say), however the softmax spreads its confidence.
    margin: float = 0.0
    # What the sentence-embedding member added to the top label's score (same units as the
    # explanation's term weights; 0 when the model has no embedding member).
    embedding: float = 0.0

    @property
    def needs_triage(self) -> bool:
        return self.label is None

    @property
    def claimed(self) -> bool:
        return self.margin > 0


@dataclass
class _Members:
    svc: Any
    nb: Any
    emb: Any = None  # LogisticRegression on sentence embeddings (None: no embedding member)
    # (W, b) of the term-vector member folded into feature weights (None: no such member,
    # as in models saved before it existed).
    tv: tuple[Array, Array] | None = None

    def embedding_share(self, config: ClassifierConfig) -> float:
        return float(config.embedding_weight) if self.emb is not None else 0.0

    def linear_shares(self, config: ClassifierConfig) -> tuple[float, ...]:
        """The share in the final score of each member of ``_linear``, in its order."""
        sparse = 1.0 - self.embedding_share(config)
        tv = float(config.term_vector_weight) if self.tv is not None else 0.0
        nb = config.nb_weight
        shares = (sparse * (1.0 - tv) * (1.0 - nb), sparse * (1.0 - tv) * nb)
        return (*shares, sparse * tv) if self.tv is not None else shares


def _fit_members(
    x: Any,
    e: Array | None,
    y: NDArray[np.int64],
    config: ClassifierConfig,
    vectors: TermVectors | None = None,
) -> _Members:
    svc = LinearSVC(C=config.svm_c, class_weight=config.class_weight, random_state=0)
    nb = ComplementNB(alpha=config.nb_alpha)
    emb = None
    if e is not None and config.embedding_weight > 0:
        emb = LogisticRegression(
            C=config.embedding_c, class_weight=config.class_weight, max_iter=3000
        ).fit(e, y)
    tv = None
    if vectors is not None and config.term_vector_weight > 0:
        lr = LogisticRegression(
            C=config.term_vector_c, class_weight=config.class_weight, max_iter=3000
        ).fit(vectors.project(x), y)
        coef, intercept = lr.coef_, lr.intercept_
        if coef.shape[0] == 1:  # two classes: one signed score, as LinearSVC's
            coef, intercept = np.vstack([-coef, coef]), np.concatenate([-intercept, intercept])
        tv = (vectors.feature_weights(coef, x.shape[1]), np.asarray(intercept, dtype=np.float64))
    return _Members(svc.fit(x, y), nb.fit(x, y), emb, tv)


def _linear(members: _Members, n_classes: int) -> list[tuple[Array, Array]]:
    """(W, b) per member so that member scores = x @ W.T + b, one column per class."""
    coef, intercept = members.svc.coef_, members.svc.intercept_
    if n_classes == 2:  # LinearSVC keeps one hyperplane for two classes
        coef, intercept = np.vstack([-coef, coef]), np.concatenate([-intercept, intercept])
    nb_w = members.nb.feature_log_prob_
    parts = [(coef, intercept), (nb_w, np.zeros(n_classes))]
    return [*parts, members.tv] if members.tv is not None else parts


def _embedding_scores(members: _Members, e: Array, n_classes: int) -> Array:
    """The embedding member's row-standardised class scores."""
    raw = _margins(members.emb.decision_function(e), n_classes)
    z, _, _ = standardise_rows(np.asarray(raw, dtype=np.float64))
    return z


@dataclass(frozen=True)
class _Scores:
    """A batch as every member scored it, once: the mix, the explanations and the SVM margins
    all read these rather than scoring the texts again (the intake hot path)."""

    mixed: Array
    margins: Array  # the SVM's raw one-vs-rest scores, one column per class
    spread: list[Array]  # per linear member: each row's std over classes, as the mix divided
    embedding: Array | None  # the embedding member's part of the final score (share × z)


def _linear_scores(members: _Members, x: Any, n_classes: int) -> list[tuple[Array, Array, Array]]:
    """Per linear member: raw class scores of the rows ``x``, row-standardised, row spreads."""
    out = []
    for w, b in _linear(members, n_classes):
        raw = np.asarray(x @ w.T) + b
        z, _, std = standardise_rows(raw)
        out.append((raw, z, std))
    return out


def _score(
    members: _Members, x: Any, e: Array | None, n_classes: int, config: ClassifierConfig
) -> _Scores:
    scored = _linear_scores(members, x, n_classes)
    total = np.zeros((x.shape[0], n_classes))
    for (_, z, _), share in zip(scored, members.linear_shares(config), strict=True):
        total += share * z
    part = None
    if members.emb is not None:
        if e is None:
            raise RuntimeError("the model has an embedding member but got no embeddings")
        part = members.embedding_share(config) * _embedding_scores(members, e, n_classes)
        total += part
    return _Scores(total, scored[0][0], [std for _, _, std in scored], part)


def _mix(
    members: _Members, x: Any, e: Array | None, n_classes: int, config: ClassifierConfig
) -> Array:
    return _score(members, x, e, n_classes, config).mixed


@dataclass(frozen=True)
class _Explainer:
    """What explanations need, derived once per model: the distinct surface terms, each
    column's index among them (-1: no term), and each member's weights minus their class mean
    (a column's pull towards one class rather than the others)."""

    names: list[str]
    term_ids: Array
    centred: list[Array]

    @classmethod
    def of(cls, terms: list[str], linear: list[tuple[Array, Array]]) -> _Explainer:
        index: dict[str, int] = {}
        ids = [index.setdefault(t, len(index)) if t else -1 for t in terms]
        centred = [np.asarray(w) - np.asarray(w).mean(axis=0) for w, _ in linear]
        return cls(list(index), np.array(ids, dtype=np.int64), centred)


@dataclass(eq=False)
class TextClassifier:
    """Fit on labelled texts; rank labels with calibrated confidences; explain; save and load."""

    config: ClassifierConfig = field(default_factory=ClassifierConfig)
    classes: list[str] = field(default_factory=list)
    temperature: float = 1.0
    meta: dict[str, Any] = field(default_factory=dict)
    _featurizer: Featurizer | None = field(default=None, init=False, repr=False)
    _members: _Members | None = field(default=None, init=False, repr=False)
    _terms: list[str] | None = field(default=None, init=False, repr=False)
    _explainer: _Explainer | None = field(default=None, init=False, repr=False)

    # -- training ----------------------------------------------------------------------------

    def fit(
        self,
        texts: Sequence[str],
        labels: Sequence[str],
        unlabelled: Sequence[str] | UnlabelledCorpus = (),
        version: str | None = None,
    ) -> TextClassifier:
        """Train on ``texts``/``labels``; ``unlabelled`` texts only widen vocabulary and IDF.

        Pass the same ``UnlabelledCorpus`` to several fits (cross-validation, retraining) to
        count its terms once.
        """
        if len(texts) != len(labels):
            raise ValueError("texts and labels differ in length")
        self.classes = sorted(set(labels))
        if len(self.classes) < 2:
            raise ValueError("need at least two distinct labels")
        index = {c: i for i, c in enumerate(self.classes)}
        y = np.array([index[label] for label in labels], dtype=np.int64)
        if not isinstance(unlabelled, UnlabelledCorpus):
            unlabelled = UnlabelledCorpus(list(unlabelled))
        self._featurizer = fit_featurizer(self.config, texts, unlabelled)
        self._terms, self._explainer = None, None
        x = self._featurizer.transform(texts)
        e = embedding.embed(texts) if self.config.embedding_weight > 0 else None
        vectors = term_vectors(self._featurizer) if self.config.term_vector_weight > 0 else None
        self.temperature = self._calibrate(x, e, y, vectors)
        self._members = _fit_members(x, e, y, self.config, vectors)
        trained_at = datetime.now(UTC)
        self.meta = {
            "format": FORMAT,
            "version": version or trained_at.strftime("%Y%m%dT%H%M%S%fZ"),
            "trained_at": trained_at.isoformat(),
            "n_samples": len(texts),
            "n_unlabelled": len(unlabelled),
            "labels": self.classes,
            "label_counts": {c: int((y == i).sum()) for i, c in enumerate(self.classes)},
            "temperature": self.temperature,
            "config": asdict(self.config),
            "embedding": embedding.ENCODER if e is not None else None,
            "term_vectors": embedding.ENCODER if vectors is not None else None,
            "sklearn_version": sklearn.__version__,
            "metrics": {},
        }
        return self

    def _calibrate(
        self, x: Any, e: Array | None, y: NDArray[np.int64], vectors: TermVectors | None = None
    ) -> float:
        """Temperature fitted on out-of-fold mixed scores (1.0 when classes are too small)."""
        folds = min(self.config.calibration_folds, int(np.bincount(y).min()))
        if folds < 2:
            return 1.0
        splitter = StratifiedKFold(folds, shuffle=True, random_state=self.config.random_state)
        scores = np.zeros((len(y), len(self.classes)))
        for train, test in splitter.split(np.zeros(len(y)), y):
            if len(np.unique(y[train])) < len(self.classes):
                return 1.0
            members = _fit_members(x[train], None if e is None else e[train], y[train],
                                   self.config, vectors)  # fmt: skip
            scores[test] = _mix(members, x[test], None if e is None else e[test],
                                len(self.classes), self.config)  # fmt: skip
        return fit_temperature(scores, y)

    # -- prediction --------------------------------------------------------------------------

    def _ready(self) -> tuple[Featurizer, _Members]:
        if self._members is None or self._featurizer is None:
            raise RuntimeError("TextClassifier is not fitted")
        return self._featurizer, self._members

    def _embed(self, texts: Sequence[str]) -> Array | None:
        _, members = self._ready()
        return embedding.embed(texts) if members.emb is not None else None

    def scores(self, texts: Sequence[str]) -> Array:
        """Mixed, row-standardised class scores (columns follow ``classes``)."""
        featurizer, members = self._ready()
        x = featurizer.transform(texts)
        return _mix(members, x, self._embed(texts), len(self.classes), self.config)

    def predict_proba(self, texts: Sequence[str]) -> Array:
        """Calibrated probabilities, one row per text, columns follow ``classes``; rows sum to 1."""
        return softmax(self.scores(texts), self.temperature)

    def predict(self, texts: Sequence[str]) -> list[str]:
        return [self.classes[i] for i in self.scores(texts).argmax(axis=1)]

    def predict_top_many(self, texts: Sequence[str], k: int = 3) -> list[list[Suggestion]]:
        proba = self.predict_proba(texts)
        k = max(1, min(k, len(self.classes)))
        order = np.argsort(-proba, axis=1, kind="stable")[:, :k]
        return [
            [Suggestion(self.classes[j], float(row[j])) for j in idx]
            for row, idx in zip(proba, order, strict=True)
        ]

    def predict_top(self, text: str, k: int = 3) -> list[Suggestion]:
        """The ``k`` most likely labels, most likely first, with calibrated confidences."""
        return self.predict_top_many([text], k)[0]

    def explain(self, text: str, label: str, n: int = 5) -> list[tuple[str, float]]:
        """The ``n`` terms of ``text`` that pushed its score towards ``label`` the most.

        Each pair is (term, contribution to the label's final score, before the softmax);
        only positive contributions are returned, largest first. A term that counts in several
        blocks (say as a word and as a subject character pair) is summed over them. The terms
        cover the sparse (TF-IDF) part of the score exactly; what the sentence embedding adds
        is one number for the whole text, :meth:`explain_embedding`.
        """
        featurizer, members = self._ready()
        if label not in self.classes:
            raise KeyError(f"unknown label {label!r}")
        x = featurizer.transform([text])
        spread = [std for _, _, std in _linear_scores(members, x, len(self.classes))]
        return self._explain_rows(x, [self.classes.index(label)], n, spread)[0]

    def explain_embedding(self, text: str, label: str) -> float:
        """What the sentence-embedding member adds to ``label``'s final score for ``text``.

        Same units as the term contributions of :meth:`explain` (0.0 for a model without an
        embedding member). Negative: the text's meaning as a whole speaks against the label.
        """
        _, members = self._ready()
        if label not in self.classes:
            raise KeyError(f"unknown label {label!r}")
        e = self._embed([text])
        if e is None:
            return 0.0
        z = _embedding_scores(members, e, len(self.classes))
        share = members.embedding_share(self.config)
        return round(share * float(z[0, self.classes.index(label)]), 4)

    def _explain_rows(
        self, x: Any, labels: Sequence[int], n: int, spread: Sequence[Array]
    ) -> list[list[tuple[str, float]]]:
        """The ``n`` words that pushed each row towards its label most, for the whole batch.

        ``spread`` holds each linear member's per-row spread of class scores (``_Scores``),
        which the mix divided by. Vectorised over the batch's non-zeros (the intake hot path):
        each non-zero's pull towards its row's label, per member, is summed per surface term (a
        word can be a column of several blocks), then the positive ones are ranked within each
        row.
        """
        featurizer, members = self._ready()
        shares = members.linear_shares(self.config)
        if self._explainer is None:
            if self._terms is None:
                self._terms = featurizer.terms()
            self._explainer = _Explainer.of(self._terms, _linear(members, len(self.classes)))
        explainer = self._explainer
        rows = np.repeat(np.arange(x.shape[0]), np.diff(x.indptr))
        label_of = np.asarray(labels, dtype=np.int64)[rows]
        contribution = np.zeros(len(x.data))
        for centred, std, share in zip(explainer.centred, spread, shares, strict=True):
            contribution += share * x.data * centred[label_of, x.indices] / std[rows, 0]
        term = explainer.term_ids[x.indices]
        keep = term >= 0
        # Sum per (row, term), keep the positive sums, rank within each row.
        n_terms = len(explainer.names)
        keys, inverse = np.unique(rows[keep] * n_terms + term[keep], return_inverse=True)
        sums = np.bincount(inverse, weights=contribution[keep], minlength=len(keys))
        positive = sums > 0
        keys, sums = keys[positive], sums[positive]
        key_rows = keys // n_terms
        order = np.lexsort((-sums, key_rows))
        keys, sums, key_rows = keys[order], sums[order], key_rows[order]
        starts = np.searchsorted(key_rows, key_rows)  # where each row's run begins
        top = np.arange(len(keys)) - starts < n
        out: list[list[tuple[str, float]]] = [[] for _ in range(x.shape[0])]
        names = explainer.names
        for key, value, row in zip(
            keys[top].tolist(), sums[top].tolist(), key_rows[top].tolist(), strict=True
        ):
            out[row].append((names[key % n_terms], round(value, 4)))
        return out

    def decide(self, text: str, threshold: float = 0.6, k: int = 3, n_explain: int = 5) -> Decision:
        """Label automatically at or above ``threshold``; otherwise leave it to triage."""
        return self.decide_many([text], threshold, k, n_explain)[0]

    def decide_many(
        self, texts: Sequence[str], threshold: float = 0.6, k: int = 3, n_explain: int = 5
    ) -> list[Decision]:
        """:meth:`decide` for many texts with one feature transform (the intake batch path)."""
        featurizer, members = self._ready()
        if not texts:
            return []
        x = featurizer.transform(texts)
        scored = _score(members, x, self._embed(texts), len(self.classes), self.config)
        proba = softmax(scored.mixed, self.temperature)
        k = max(1, min(k, len(self.classes)))
        order = np.argsort(-proba, axis=1, kind="stable")[:, :k]
        explained = self._explain_rows(x, order[:, 0].tolist(), n_explain, scored.spread)
        parts = scored.embedding
        if parts is None:
            parts = np.zeros((len(texts), len(self.classes)))
        decisions = []
        for row, idx, why, margin, part in zip(
            proba, order, explained, scored.margins, parts, strict=True
        ):
            top = [Suggestion(self.classes[j], float(row[j])) for j in idx]
            best, claim = top[0], float(margin[idx[0]])
            decisions.append(Decision(
                label=best.label if best.confidence >= threshold and claim > 0 else None,
                confidence=best.confidence, suggestions=top, explanation=why,
                margin=round(claim, 4), embedding=round(float(part[idx[0]]), 4),
            ))  # fmt: skip
        return decisions

    # -- persistence -------------------------------------------------------------------------

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_terms"] = None  # derivable from the vocabularies
        state["_explainer"] = None
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self.__dict__.setdefault("_explainer", None)  # saved before the explainer cache existed
        # Models saved before the embedding member existed: their config lacks its fields.
        # Likewise for the term-vector member (format 1): off, since it was never fitted.
        defaults = (("embedding_weight", 0.0), ("embedding_c", 3.0),
                    ("term_vector_weight", 0.0), ("term_vector_c", 3.0))  # fmt: skip
        for name, value in defaults:
            if name not in self.config.__dict__:
                object.__setattr__(self.config, name, value)

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the model with joblib to ``path`` and its metadata beside it (``.json``)."""
        self._ready()
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        _atomic_write(target, lambda f: joblib.dump(self, f, compress=3))
        text = json.dumps(self.meta, ensure_ascii=False, indent=2, sort_keys=True)
        _atomic_write(meta_path(target), lambda f: f.write(text.encode("utf-8")))
        return target

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> TextClassifier:
        """Read a model written by ``save`` (joblib: load only files you trust)."""
        model = joblib.load(Path(path))
        if not isinstance(model, cls):
            raise TypeError(f"{path} does not hold a TextClassifier")
        trained_with = model.meta.get("sklearn_version")
        if trained_with and trained_with != sklearn.__version__:
            warnings.warn(
                f"model trained with scikit-learn {trained_with}, running {sklearn.__version__}",
                stacklevel=2,
            )
        return model


def _margins(raw: Array, n_classes: int) -> Array:
    """One column per class (a two-class SVM gives one signed column for the second class)."""
    if n_classes == 2 and raw.ndim == 1:
        return np.column_stack([-raw, raw])
    return raw


def meta_path(model_path: Path) -> Path:
    """Where the metadata of a saved model lives: beside it, same name, ``.json``."""
    return model_path.with_suffix(".json")


def _atomic_write(target: Path, write: Any) -> None:
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
