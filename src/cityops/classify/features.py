"""The feature space: TF-IDF blocks over words and characters of the body and of the subject.

Four blocks, each TF-IDF with sublinear tf and L2-normalised, then the whole row L2-normalised:

- ``words``: jieba words of the whole text (subject + details), n-grams per ``word_ngrams``;
- ``chars``: character n-grams of the whole text (lowercased, whitespace collapsed);
- ``subject_words`` and ``subject_chars``: the same over the first line only, so that the
  subject, which states the matter in a dozen characters, is not drowned by a long body.

Vocabulary and IDF may come from more text than the labelled rows: an ``UnlabelledCorpus``
(no labels involved). Its document frequencies are counted once per corpus and block and then
reused, so cross-validation and retraining do not re-read thousands of unlabelled messages.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer
from sklearn.pipeline import FeatureUnion
from sklearn.preprocessing import normalize

from cityops.classify.tokens import body_words, normalise, subject_normalised, subject_words


@dataclass(frozen=True)
class ClassifierConfig:
    """Hyper-parameters; defaults as chosen on cn_messages (see docs/classification.md)."""

    svm_c: float = 2.0
    nb_alpha: float = 0.01
    nb_weight: float = 0.3  # share of ComplementNB in the sparse score; the rest is LinearSVC
    # Share of the sentence-embedding member (logistic regression on multilingual USE vectors,
    # see embedding.py) in the final score; the sparse SVM + NB mix gets the rest. 0 (the
    # default) turns the member and the encoder off: it adds ~0.7 macro-F1 points on cn_messages
    # but ~50 ms of encoding per report, which intake cannot afford (docs/classification.md).
    embedding_weight: float = 0.0
    embedding_c: float = 3.0
    # Share of the term-vector member (logistic regression on the encoder's vectors of the
    # text's words, folded into per-feature weights: term_vectors.py) in the score of the
    # linear members; the SVM + NB mix gets the rest. Needs the encoder at training only.
    term_vector_weight: float = 0.3
    term_vector_c: float = 3.0
    word_ngrams: tuple[int, int] = (1, 1)
    char_ngrams: tuple[int, int] = (1, 2)
    subject_char_ngrams: tuple[int, int] = (2, 2)
    min_df: int | None = None  # None: 2 when the vocabulary corpus has ≥ 200 texts, else 1
    class_weight: str | None = "balanced"
    calibration_folds: int = 5
    random_state: int = 0


def block_params(config: ClassifierConfig) -> list[tuple[str, dict[str, Any]]]:
    """(name, vectoriser arguments) of each block, in column order."""
    return [
        (
            "words",
            {"tokenizer": body_words, "token_pattern": None, "ngram_range": config.word_ngrams},
        ),
        (
            "chars",
            {"analyzer": "char", "preprocessor": normalise, "ngram_range": config.char_ngrams},
        ),
        ("subject_words", {"tokenizer": subject_words, "token_pattern": None}),
        (
            "subject_chars",
            {
                "analyzer": "char",
                "preprocessor": subject_normalised,
                "ngram_range": config.subject_char_ngrams,
            },
        ),
    ]


def _key(name: str, params: dict[str, Any]) -> str:
    return f"{name}{params.get('ngram_range', (1, 1))}"


def _document_frequencies(texts: Sequence[str], params: dict[str, Any]) -> dict[str, int]:
    if not texts:
        return {}
    counter = CountVectorizer(binary=True, lowercase=False, **params)
    try:
        matrix = counter.fit_transform(list(texts)).tocsc()
    except ValueError:  # nothing to count (every text empty after analysis)
        return {}
    df = np.diff(matrix.indptr)
    return {term: int(df[i]) for term, i in counter.vocabulary_.items()}


@dataclass
class UnlabelledCorpus:
    """Texts without labels, used for vocabulary and IDF; counts are cached per block."""

    texts: list[str]
    _df: dict[str, dict[str, int]] = field(default_factory=dict, repr=False)

    def __len__(self) -> int:
        return len(self.texts)

    def document_frequencies(self, name: str, params: dict[str, Any]) -> dict[str, int]:
        key = _key(name, params)
        if key not in self._df:
            self._df[key] = _document_frequencies(self.texts, params)
        return self._df[key]


@dataclass
class Featurizer:
    """Fitted blocks; ``transform`` gives L2-normalised rows (sparse CSR)."""

    union: Any

    def transform(self, texts: Sequence[str]) -> Any:
        return normalize(self.union.transform(list(texts))).tocsr()

    def block_slices(self) -> dict[str, slice]:
        """The columns of each block, by name."""
        out, start = {}, 0
        for name, vectorizer in self.union.transformer_list:
            out[name] = slice(start, start + len(vectorizer.vocabulary_))
            start = out[name].stop
        return out

    def terms(self) -> list[str]:
        """The surface string of each column (stripped: word n-grams keep inner spaces)."""
        out: list[str] = []
        for _, vectorizer in self.union.transformer_list:
            vocabulary: dict[str, int] = vectorizer.vocabulary_
            block = [""] * len(vocabulary)
            for term, index in vocabulary.items():
                block[index] = term.strip()
            out.extend(block)
        return out


def fit_featurizer(
    config: ClassifierConfig, texts: Sequence[str], unlabelled: UnlabelledCorpus
) -> Featurizer:
    """Vocabulary and IDF from ``texts`` plus ``unlabelled`` (smooth IDF, as scikit-learn)."""
    n = len(texts) + len(unlabelled)
    min_df = config.min_df if config.min_df is not None else (2 if n >= 200 else 1)
    blocks = []
    for name, params in block_params(config):
        df = dict(unlabelled.document_frequencies(name, params))
        for term, count in _document_frequencies(texts, params).items():
            df[term] = df.get(term, 0) + count
        terms = sorted(t for t, c in df.items() if c >= min_df)
        if not terms:
            raise ValueError(f"no {name} features: the texts are empty after tokenisation")
        idf = np.log((1.0 + n) / (1.0 + np.array([df[t] for t in terms], dtype=np.float64))) + 1
        vocabulary = {t: i for i, t in enumerate(terms)}
        vectorizer = TfidfVectorizer(
            sublinear_tf=True, lowercase=False, dtype=np.float64, vocabulary=vocabulary, **params
        )
        vectorizer.fit(terms[:1])  # validates the fixed vocabulary; the IDF is set next
        vectorizer.idf_ = idf
        blocks.append((name, vectorizer))
    return Featurizer(FeatureUnion(blocks))
