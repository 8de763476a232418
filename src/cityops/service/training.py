"""Training the report classifier from the case log (``cityops train``) and managing versions.

The labelled rows are closed cases (结案, including imported history) with the category they
were closed under — the category a person confirmed, not the machine's first guess. The texts of
cases still open only widen the vocabulary. Classes with too few cases are left out and named.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field, replace
from typing import Any

from sqlalchemy import select

from cityops.adapters.db.models import AuditRow, CaseRow
from cityops.bootstrap import App
from cityops.domain.errors import NotFound, ValidationFailed
from cityops.domain.model import CaseState
from cityops.service.classifying import report_text

UNLABELLED_LIMIT = 20_000


@dataclass(frozen=True, slots=True)
class TrainingResult:
    version: str
    active: bool
    metrics: dict[str, Any]
    n_cases: int
    labels: int
    left_out: dict[str, int] = field(default_factory=dict)  # class → its too few cases


def _rows(app: App) -> tuple[list[tuple[str, str]], list[str]]:
    with app.reads() as s:
        closed = s.execute(
            select(CaseRow.description, CaseRow.category).where(
                CaseRow.state == CaseState.CLOSED.value, CaseRow.category.is_not(None)
            )
        ).all()
        open_texts = s.scalars(
            select(CaseRow.description)
            .where(CaseRow.state != CaseState.CLOSED.value)
            .order_by(CaseRow.id.desc())
            .limit(UNLABELLED_LIMIT)
        ).all()
    rows = [(report_text(None, d), str(c)) for d, c in closed if d and d.strip()]
    return rows, [report_text(None, d) for d in open_texts if d and d.strip()]


def _audit(app: App, actor: str, action: str, version: str, detail: dict[str, Any]) -> None:
    with app.sessions.begin() as s:
        s.add(AuditRow(at=app.clock(), actor=actor, action=action, target=f"model:{version}",
                       detail=detail))  # fmt: skip


def train(
    app: App,
    *,
    actor: str,
    min_per_class: int = 3,
    activate: bool = True,
    version: str | None = None,
    embedding_weight: float = 0.0,
    term_vectors: bool = True,
) -> TrainingResult:
    """Fit a new model version on the closed cases; by default make it the served one."""
    from cityops.classify import ClassifierConfig, ModelStore, train_from_rows

    directory = app.settings.model_dir
    if directory is None:
        raise ValidationFailed("classification is switched off (CITYOPS_MODEL_DIR is empty)")
    rows, unlabelled = _rows(app)
    counts = Counter(label for _, label in rows)
    left_out = {label: n for label, n in sorted(counts.items()) if n < min_per_class}
    rows = [(t, label) for t, label in rows if label not in left_out]
    if len(counts) - len(left_out) < 2:
        raise ValidationFailed(
            f"need closed cases of at least 2 categories with ≥ {min_per_class} cases each to "
            f"train (found {len(rows)} usable cases) / 已结案件不足，无法训练"
        )
    store = ModelStore(directory)
    version = version or f"{app.clock():%Y%m%d-%H%M%S}"
    if store.path(version).exists():
        raise ValidationFailed(f"model version {version} already exists", field="version")
    # The sentence-embedding member costs ~50 ms per report at intake: off unless asked for.
    # The term-vector member costs nothing at intake but ~1 min of encoding words at training.
    config = ClassifierConfig(embedding_weight=embedding_weight)
    if not term_vectors:
        config = replace(config, term_vector_weight=0.0)
    model, _ = train_from_rows(rows, unlabelled=unlabelled, version=version, config=config)
    model.meta.update(source="closed cases", n_cases=len(rows), left_out=left_out)
    store.save(model, version, activate=activate)
    metrics = dict(model.meta.get("metrics") or {})
    _audit(app, actor, "train_model", version, {"activate": activate, "n_cases": len(rows),
                                                "metrics": metrics})  # fmt: skip
    return TrainingResult(version, activate, metrics, len(rows), len(counts) - len(left_out),
                          left_out)  # fmt: skip


def versions(app: App) -> dict[str, Any]:
    """Every stored version with its metadata, and which one serves."""
    from cityops.classify import ModelStore

    directory = app.settings.model_dir
    if directory is None or not directory.is_dir():
        return {"active": None, "loaded": None, "versions": []}
    store = ModelStore(directory)
    out = []
    for v in reversed(store.versions()):
        meta = store.metadata(v)
        labels = meta.get("labels")
        out.append({
            "version": v, "trained_at": meta.get("trained_at"), "n_samples": meta.get("n_samples"),
            "labels": len(labels) if isinstance(labels, list | dict) else None,
            "metrics": meta.get("metrics"), "left_out": meta.get("left_out") or {},
        })  # fmt: skip
    app.classifier.model()  # let the server pick up a change before it says what it serves
    return {"active": store.active_version(), "loaded": app.classifier.version, "versions": out}


def activate(app: App, version: str, actor: str) -> dict[str, Any]:
    from cityops.classify import ModelStore

    directory = app.settings.model_dir
    if directory is None or not directory.is_dir():
        raise NotFound(f"no model version {version}")
    try:
        ModelStore(directory).activate(version)
    except KeyError as exc:
        raise NotFound(f"no model version {version}") from exc
    _audit(app, actor, "activate_model", version, {})
    return versions(app)
