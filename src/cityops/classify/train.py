"""Training from labelled rows with an honest held-out evaluation, and the metrics used."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass

import numpy as np
from sklearn.metrics import accuracy_score, f1_score
from sklearn.model_selection import train_test_split

from cityops.classify.calibration import expected_calibration_error
from cityops.classify.features import ClassifierConfig, UnlabelledCorpus
from cityops.classify.model import TextClassifier


@dataclass(frozen=True)
class Metrics:
    n: int
    accuracy: float
    macro_f1: float
    top3_accuracy: float
    ece: float  # expected calibration error of the top-1 confidence (10 bins)

    def as_dict(self) -> dict[str, float]:
        return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in asdict(self).items()}


def score_predictions(
    truth: Sequence[str], ranked: Sequence[Sequence[str]], confidence: Sequence[float]
) -> Metrics:
    """Metrics from ranked label lists (best first) and the top-1 confidences."""
    top1 = [r[0] for r in ranked]
    correct = np.array([t == p for t, p in zip(truth, top1, strict=True)], dtype=float)
    return Metrics(
        n=len(truth),
        accuracy=float(accuracy_score(truth, top1)),
        macro_f1=float(f1_score(truth, top1, average="macro", zero_division=0)),
        top3_accuracy=float(np.mean([t in r[:3] for t, r in zip(truth, ranked, strict=True)])),
        ece=expected_calibration_error(np.asarray(confidence, dtype=float), correct),
    )


def evaluate(model: TextClassifier, texts: Sequence[str], labels: Sequence[str]) -> Metrics:
    top = model.predict_top_many(texts, k=3)
    return score_predictions(
        labels, [[s.label for s in row] for row in top], [row[0].confidence for row in top]
    )


def train_from_rows(
    rows: Iterable[tuple[str, str]],
    *,
    unlabelled: Sequence[str] | UnlabelledCorpus = (),
    config: ClassifierConfig | None = None,
    test_size: float = 0.2,
    random_state: int = 0,
    refit_on_all: bool = True,
    version: str | None = None,
) -> tuple[TextClassifier, Metrics]:
    """Train on (text, label) rows; measure on a stratified held-out split.

    The model is first fitted on the training part and scored on the held-out part (it never
    sees those labels). With ``refit_on_all`` (the default) the returned model is then refitted
    with the same configuration on every row, and its metadata says that the metrics are the
    held-out scores of the same recipe, not of this very model. ``unlabelled`` texts only widen
    vocabulary and IDF.
    """
    pairs = [(t, label) for t, label in rows if t and t.strip() and label]
    texts = [t for t, _ in pairs]
    labels = [label for _, label in pairs]
    config = config or ClassifierConfig()
    counts = {label: labels.count(label) for label in set(labels)}
    # Stratify when every class can show up on both sides of the split.
    n_test = int(np.ceil(test_size * len(labels)))
    stratify = labels if min(counts.values(), default=0) >= 2 and n_test >= len(counts) else None
    train_x, test_x, train_y, test_y = train_test_split(
        texts, labels, test_size=test_size, random_state=random_state, stratify=stratify
    )
    model = TextClassifier(config).fit(train_x, train_y, unlabelled, version)
    metrics = evaluate(model, test_x, test_y)
    held_out = {
        **metrics.as_dict(),
        "split": f"stratified held-out {test_size:.0%} (random_state={random_state})",
        "n_train": len(train_x),
    }
    if refit_on_all:
        model = TextClassifier(config).fit(texts, labels, unlabelled, version)
        held_out["note"] = "held-out scores of the same recipe; this model was refitted on all rows"
    model.meta["metrics"] = held_out
    return model, metrics
