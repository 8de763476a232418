"""Pretrained vectors of the vocabulary's words: the sentence encoder's knowledge, at no run cost.

Each word of the ``words`` and ``subject_words`` blocks is encoded once, alone, by the
multilingual sentence encoder (``embedding.py``) when a model is trained. A text's *term
vector* is then the TF-IDF-weighted sum of its words' vectors (whole text and subject, side by
side): ``x[:, block] @ V``. A logistic regression on it is linear in ``x``, so once fitted its
coefficients fold into one weight per feature and class (``feature_weights``): the member is
scored like the SVM, with a sparse product, and explained term by term; the vectors themselves
are not kept in the model. Only training needs the encoder (~25 s for 30k words).

On cn_messages this member adds ~0.7 macro-F1 points, as much as encoding whole texts
(docs/classification.md), which costs ~50 ms per report at prediction.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from cityops.classify import embedding
from cityops.classify.calibration import Array
from cityops.classify.features import Featurizer

BLOCKS = ("words", "subject_words")


@dataclass(frozen=True)
class TermVectors:
    """Per block: the block's columns in the feature space and one vector per column."""

    blocks: tuple[tuple[slice, Array], ...]

    @property
    def dim(self) -> int:
        return sum(v.shape[1] for _, v in self.blocks)

    def project(self, x: Any) -> Array:
        """Term vectors of TF-IDF rows ``x``: one row per text, blocks side by side."""
        return np.hstack([np.asarray(x[:, cols] @ v) for cols, v in self.blocks])

    def feature_weights(self, coef: Array, n_features: int) -> Array:
        """Weights W (classes × features) with ``x @ W.T == project(x) @ coef.T``."""
        out = np.zeros((coef.shape[0], n_features))
        start = 0
        for cols, v in self.blocks:
            out[:, cols] = coef[:, start : start + v.shape[1]] @ v.T
            start += v.shape[1]
        return out


def term_vectors(featurizer: Featurizer) -> TermVectors:
    """Encode every word of the word blocks (memoised per word across fits)."""
    slices = featurizer.block_slices()
    terms = featurizer.terms()
    blocks = []
    for name in BLOCKS:
        cols = slices[name]
        blocks.append((cols, embedding.embed(terms[cols])))
    return TermVectors(tuple(blocks))
