"""Classification at intake (智能分类): a report without a category gets one from the model.

The model is the active version of the :class:`~cityops.classify.ModelStore` under
``Settings.model_dir`` (trained from closed cases by ``cityops train``). It is looked at again at
most once a second, so training or activating a version takes effect without a restart. At or
above ``Settings.classify_min_confidence`` the label is applied and the case says why (the words
that decided it); below it, or when there is no model, the case waits in the ``classify``
triage queue with the top-3 suggestions for a person to choose from.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # scikit-learn and jieba load on first use, not with every CLI command
    from cityops.classify import ModelStore, TextClassifier
    from cityops.service.reference import Snapshot

log = logging.getLogger(__name__)

RECHECK_SECONDS = 1.0
TOP_K = 3


@dataclass(frozen=True, slots=True)
class Classification:
    """The machine's decision for one report: a category, or None for the triage queue."""

    category: str | None
    record: dict[str, Any]  # kept on the case (``classification``) and in its first event


def report_text(title: str | None, description: str) -> str:
    """The model reads the subject on the first line and the details after it."""
    from cityops.classify.datasets import message_text

    return message_text(title or "", description)


class ReportClassifier:
    """Serves the active model of a model folder, reloading it when a new one is activated."""

    def __init__(self, directory: Path | None, threshold: float) -> None:
        self.directory = directory
        self.threshold = threshold
        self._store: ModelStore | None = None
        self._checked = float("-inf")
        self._lock = threading.Lock()

    def model(self) -> TextClassifier | None:
        now = time.monotonic()
        if now - self._checked >= RECHECK_SECONDS:
            with self._lock:
                if now - self._checked >= RECHECK_SECONDS:
                    self._checked = now
                    self._refresh()
        return self._store.current() if self._store is not None else None

    def _refresh(self) -> None:
        if self._store is None:
            if self.directory is None or not self.directory.is_dir():
                return
            from cityops.classify import ModelStore

            self._store = ModelStore(self.directory)
        try:
            if self._store.reload_if_changed():
                log.info("classification model %s loaded", self._store.loaded_version)
        except Exception:  # a broken new file must not stop intake: keep the loaded model
            log.exception("could not load the classification model in %s", self.directory)

    @property
    def version(self) -> str | None:
        return self._store.loaded_version if self._store is not None else None

    def classify(self, snap: Snapshot, texts: Sequence[str]) -> list[Classification]:
        """Decide every text at once (one feature transform for a whole batch)."""
        model = self.model()
        if model is None:
            record: dict[str, Any] = {
                "model": None, "category": None, "auto": False, "suggestions": [],
                "explanation": [],
                "reason": "尚无分类模型，转人工分类 / no classification model yet: a person "
                          "chooses the category",
            }  # fmt: skip
            return [Classification(None, dict(record)) for _ in texts]
        decisions = model.decide_many(list(texts), threshold=0.0, k=TOP_K + 2)
        return [self._judge(snap, d.suggestions, d.explanation, d.margin) for d in decisions]

    def _judge(
        self, snap: Snapshot, suggestions: Sequence[Any], why: Sequence[Any], margin: float
    ) -> Classification:
        # Only categories that are in use may be suggested; a retired label is skipped.
        usable = [s for s in suggestions if (info := snap.categories.get(s.label)) and info.active]
        top = [
            {"category": s.label, "name": snap.categories[s.label].name,
             "confidence": round(s.confidence, 4)}
            for s in usable[:TOP_K]
        ]  # fmt: skip
        best = top[0] if top else None
        # The explanation and margin are for the model's own first choice: they only count if
        # that one is usable.
        explained = bool(usable) and usable[0] is suggestions[0]
        claimed = explained and margin > 0
        auto = best is not None and best["confidence"] >= self.threshold and claimed
        why = why if explained else []
        terms = [{"term": t, "weight": w} for t, w in why]
        words = "、".join(t for t, _ in why[:3]) or "—"
        if best is None:
            reason = "模型给出的分类均已停用，转人工分类 / the model's labels are all retired"
        elif not claimed:
            names = "、".join(str(s["name"]) for s in top)
            reason = (
                f"没有哪个分类认领这段文字，转人工分类，建议：{names}"
                " / no category claims this text (it looks unlike every trained category): a "
                "person chooses"
            )
        elif auto:
            reason = (
                f"模型判定为{best['name']}（置信度 {best['confidence']:.2f} ≥ "
                f"{self.threshold:.2f}），依据：{words} / classified as {best['category']} with "
                f"confidence {best['confidence']:.2f}, mainly because of: {words}"
            )
        else:
            reason = (
                f"置信度 {best['confidence']:.2f} 低于 {self.threshold:.2f}，转人工分类，建议："
                + "、".join(str(s["name"]) for s in top)
                + f" / confidence below {self.threshold:.2f}: a person chooses from the "
                "suggestions"
            )
        category = str(best["category"]) if auto and best else None
        record = {
            "model": self.version, "category": category,
            "confidence": best["confidence"] if best else None, "threshold": self.threshold,
            "auto": auto, "margin": margin, "suggestions": top, "explanation": terms,
            "reason": reason,
        }  # fmt: skip
        return Classification(category, record)
