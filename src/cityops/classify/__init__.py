"""Report text → taxonomy label with a calibrated confidence and an explanation.

Pure Python + scikit-learn (no web or database imports). See docs/classification.md.
"""

from cityops.classify import embedding
from cityops.classify.features import ClassifierConfig, UnlabelledCorpus
from cityops.classify.model import Decision, Suggestion, TextClassifier
from cityops.classify.store import ModelStore
from cityops.classify.tokens import tokenize
from cityops.classify.train import Metrics, evaluate, score_predictions, train_from_rows

__all__ = [
    "ClassifierConfig",
    "Decision",
    "Metrics",
    "ModelStore",
    "Suggestion",
    "TextClassifier",
    "UnlabelledCorpus",
    "embedding",
    "evaluate",
    "score_predictions",
    "tokenize",
    "train_from_rows",
]
