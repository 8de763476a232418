"""Report-text classification quality: ``cityops.classify`` against a plain baseline and a goal.

Data (read from ../shared/data, or CITYOPS_SHARED_DATA; each part is skipped with a message on
stderr when its files are absent):
(a) cn_messages_dev.csv: 964 citizen messages with their first-level category (7 classes);
    text = subject (留言主题) + details (留言详情). The unlabelled corpora (messages_unlabelled_fj3
    and messages_with_replies_fj4, 6,944 messages once every message of the labelled set is
    left out) widen vocabulary and IDF; no label outside the training part of a split is used.
(b) MyLA311 (9,999 requests): predict the owning agency (``Owner``) from what is known at
    intake, ``RequestType`` and ``RequestSource``. There is no free text, and ``RequestType``
    alone fixes the owner except for "Other" (ITA or BOS): a lookup peer shows how trivial it is.

Ours: ``TextClassifier`` (TF-IDF words + characters, body + subject; LinearSVC + ComplementNB
+ a logistic regression on the sentence encoder's vectors of the text's words, folded into
per-feature weights; optionally a logistic regression on whole-text sentence embeddings;
temperature-calibrated). Peer:
TF-IDF (jieba words, default settings) + LinearSVC, in the same run, on the same splits.
Splits: stratified 5-fold cross-validation on each of the seeds ``--seeds`` (0, 1, 2; scores
averaged over folds, then over seeds; the fold spread is printed per seed) and one stratified
80/20 split (random_state=0, via ``train_from_rows``).
Metrics: accuracy, macro-F1, top-3 accuracy; for ours also ECE (expected calibration error of
the top-1 confidence, lower is better) and the share and accuracy of reports labelled
automatically at confidence ≥ 0.6 (the rest would go to triage).

Prints one JSON object per line: name, value, unit, peer, peer_value, ratio (value / peer).
Also: the inference cost of one report (``decide``, embedding not memoised), in ms.
Usage: python bench/classify_eval.py [--folds 5] [--seeds 0,1,2] [--ablations]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.model_selection import StratifiedKFold, train_test_split
from sklearn.svm import LinearSVC

from cityops.classify import (
    ClassifierConfig,
    Metrics,
    TextClassifier,
    embedding,
    score_predictions,
    tokenize,
    train_from_rows,
)
from cityops.classify.datasets import CN_DEV, LA311, cn_messages, cn_unlabelled, la311
from cityops.classify.features import UnlabelledCorpus

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("CITYOPS_SHARED_DATA", REPO.parent / "shared" / "data"))
GOAL_MACRO_F1 = 0.90
THRESHOLD = 0.6
Ranked = tuple[list[list[str]], list[float]]
Model = Callable[[list[str], list[str], list[str]], Ranked]


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def emit(name: str, value: float, unit: str, peer: str, peer_value: float) -> None:
    line = {"name": name, "value": round(value, 4), "unit": unit, "peer": peer,
            "peer_value": round(peer_value, 4),
            "ratio": round(value / peer_value, 4) if peer_value else None}  # fmt: skip
    print(json.dumps(line, ensure_ascii=False), flush=True)


# -- the two models ----------------------------------------------------------------------------


def ours(corpus: UnlabelledCorpus, config: ClassifierConfig | None = None) -> Model:
    def run(train_x: list[str], train_y: list[str], test_x: list[str]) -> Ranked:
        model = TextClassifier(config or ClassifierConfig()).fit(train_x, train_y, corpus)
        top = model.predict_top_many(test_x, k=3)
        return [[s.label for s in row] for row in top], [row[0].confidence for row in top]

    return run


def baseline(train_x: list[str], train_y: list[str], test_x: list[str]) -> Ranked:
    """Plain TF-IDF over jieba words + LinearSVC, library defaults."""
    vectorizer = TfidfVectorizer(tokenizer=tokenize, token_pattern=None, lowercase=False)
    svc = LinearSVC().fit(vectorizer.fit_transform(train_x), train_y)
    scores = svc.decision_function(vectorizer.transform(test_x))
    if scores.ndim == 1:
        scores = np.column_stack([-scores, scores])
    order = np.argsort(-scores, axis=1)[:, :3]
    return [[str(svc.classes_[j]) for j in row] for row in order], [1.0] * len(test_x)


# -- evaluation --------------------------------------------------------------------------------


def cross_validate(
    model: Model, texts: list[str], labels: list[str], folds: int, seed: int = 0
) -> tuple[dict[str, float], list[tuple[str, list[str], float]]]:
    """Mean metrics over stratified folds (``macro_f1_sd``: their spread), and every
    (truth, ranked, confidence) out of fold."""
    splitter = StratifiedKFold(folds, shuffle=True, random_state=seed)
    per_fold: list[Metrics] = []
    pooled: list[tuple[str, list[str], float]] = []
    for train, test in splitter.split(texts, labels):
        ranked, confidence = model(
            [texts[i] for i in train], [labels[i] for i in train], [texts[i] for i in test]
        )
        truth = [labels[i] for i in test]
        per_fold.append(score_predictions(truth, ranked, confidence))
        pooled.extend(zip(truth, ranked, confidence, strict=True))
    keys = ("accuracy", "macro_f1", "top3_accuracy", "ece")
    out = {k: float(np.mean([getattr(m, k) for m in per_fold])) for k in keys}
    out["macro_f1_sd"] = float(np.std([m.macro_f1 for m in per_fold]))
    return out, pooled


def over_seeds(
    model: Model, texts: list[str], labels: list[str], folds: int, seeds: Sequence[int]
) -> tuple[dict[str, float], list[dict[str, float]], list[tuple[str, list[str], float]]]:
    """Metrics averaged over the CV seeds, the per-seed metrics, and seed 0's pooled rows."""
    per_seed: list[dict[str, float]] = []
    first: list[tuple[str, list[str], float]] = []
    for seed in seeds:
        metrics, pooled = cross_validate(model, texts, labels, folds, seed)
        per_seed.append(metrics)
        first = first or pooled
    keys = per_seed[0].keys()
    return {k: float(np.mean([m[k] for m in per_seed])) for k in keys}, per_seed, first


def holdout_baseline(texts: list[str], labels: list[str]) -> Metrics:
    """The baseline on the split ``train_from_rows`` uses (stratified 20%, random_state=0)."""
    train_x, test_x, train_y, test_y = train_test_split(
        texts, labels, test_size=0.2, random_state=0, stratify=labels
    )
    ranked, confidence = baseline(train_x, train_y, test_x)
    return score_predictions(test_y, ranked, confidence)


def triage(pooled: Sequence[tuple[str, list[str], float]]) -> tuple[float, float, float]:
    """(share auto-labelled at ≥ THRESHOLD, accuracy on those, accuracy on all)."""
    auto = [t == r[0] for t, r, c in pooled if c >= THRESHOLD]
    overall = float(np.mean([t == r[0] for t, r, _ in pooled]))
    return len(auto) / len(pooled), float(np.mean(auto)) if auto else 0.0, overall


def report(
    prefix: str, ours_m: dict[str, float], peer_m: dict[str, float], goal: bool = True
) -> None:
    peer = "tfidf_linearsvc_baseline"
    emit(f"{prefix}_macro_f1", ours_m["macro_f1"], "fraction", peer, peer_m["macro_f1"])
    if goal:
        emit(f"{prefix}_macro_f1_vs_goal", ours_m["macro_f1"], "fraction", "goal", GOAL_MACRO_F1)
    emit(f"{prefix}_accuracy", ours_m["accuracy"], "fraction", peer, peer_m["accuracy"])
    emit(f"{prefix}_top3_accuracy", ours_m["top3_accuracy"], "fraction", peer,
         peer_m["top3_accuracy"])  # fmt: skip


# -- data sets ---------------------------------------------------------------------------------


def inference_ms(model: TextClassifier, texts: list[str]) -> tuple[float, float]:
    """(ms per report for ``decide`` one at a time, of which the sentence embedding)."""
    embedding.clear_memo()
    start = time.perf_counter()
    for text in texts:
        model.decide(text)
    total = (time.perf_counter() - start) / len(texts) * 1000
    embedding.clear_memo()
    start = time.perf_counter()
    for text in texts:
        embedding.embed([text])
    return total, (time.perf_counter() - start) / len(texts) * 1000


def run_cn(folds: int, seeds: Sequence[int], ablations: bool) -> None:
    if not (DATA / CN_DEV).is_file():
        log(f"skip cn_messages: {DATA / CN_DEV} not found (set CITYOPS_SHARED_DATA)")
        return
    ids, texts, labels = cn_messages(DATA)
    unlabelled = cn_unlabelled(DATA, set(ids), set(texts))
    start = time.perf_counter()
    for text in [*texts, *unlabelled]:
        tokenize(text)
    log(f"cn_messages: {len(texts)} labelled, {len(unlabelled)} unlabelled; "
        f"jieba segmentation {time.perf_counter() - start:.1f}s")  # fmt: skip
    corpus = UnlabelledCorpus(unlabelled)

    start = time.perf_counter()
    ours_cv, ours_seeds, pooled = over_seeds(ours(corpus), texts, labels, folds, seeds)
    base_cv, base_seeds, _ = over_seeds(baseline, texts, labels, folds, seeds)
    log(f"cn_messages: {folds}-fold CV x {len(seeds)} seeds {time.perf_counter() - start:.1f}s")
    for seed, o, b in zip(seeds, ours_seeds, base_seeds, strict=True):
        log(f"  seed {seed}: macro-F1 ours {o['macro_f1']:.4f} (fold sd {o['macro_f1_sd']:.3f})"
            f", baseline {b['macro_f1']:.4f} (fold sd {b['macro_f1_sd']:.3f})")  # fmt: skip
        emit(f"cn_messages_cv{folds}_seed{seed}_macro_f1", o["macro_f1"], "fraction",
             "tfidf_linearsvc_baseline", b["macro_f1"])  # fmt: skip
        emit(f"cn_messages_cv{folds}_seed{seed}_macro_f1_fold_sd", o["macro_f1_sd"], "fraction",
             "tfidf_linearsvc_baseline", b["macro_f1_sd"])  # fmt: skip
    report(f"cn_messages_cv{folds}", ours_cv, base_cv)
    emit(f"cn_messages_cv{folds}_ece", ours_cv["ece"], "fraction", "goal_max", 0.05)
    auto_share, auto_accuracy, overall = triage(pooled)
    emit(f"cn_messages_cv{folds}_auto_share_at_{THRESHOLD}", auto_share, "fraction",
         "all_reports", 1.0)  # fmt: skip
    emit(f"cn_messages_cv{folds}_auto_accuracy_at_{THRESHOLD}", auto_accuracy, "fraction",
         "accuracy_on_all_reports", overall)  # fmt: skip

    model, held = train_from_rows(zip(texts, labels, strict=True), unlabelled=corpus,
                                  refit_on_all=False)  # fmt: skip
    report("cn_messages_holdout20", held.as_dict(), holdout_baseline(texts, labels).as_dict())
    emit("cn_messages_holdout20_ece", held.ece, "fraction", "goal_max", 0.05)
    total_ms, embed_ms = inference_ms(model, texts[:100])
    emit("cn_messages_decide_ms_per_report", total_ms, "ms", "embedding_encode_ms_if_enabled",
         embed_ms)  # fmt: skip

    if ablations:
        variants = {
            "with_embedding": (corpus, ClassifierConfig(embedding_weight=0.3)),
            "no_term_vectors": (corpus, ClassifierConfig(term_vector_weight=0.0)),
            "no_unlabelled": (UnlabelledCorpus([]), ClassifierConfig()),
            "svc_only": (corpus, ClassifierConfig(nb_weight=0.0)),
            "cnb_only": (corpus, ClassifierConfig(nb_weight=1.0)),
            "word_bigrams": (corpus, ClassifierConfig(word_ngrams=(1, 2))),
            "chars_1_3": (corpus, ClassifierConfig(char_ngrams=(1, 3))),
        }
        for name, (variant_corpus, config) in variants.items():
            metrics, per_seed, _ = over_seeds(ours(variant_corpus, config), texts, labels, folds,
                                              seeds)  # fmt: skip
            log(f"  ablation {name}: " + " / ".join(f"{m['macro_f1']:.4f}" for m in per_seed))
            emit(f"cn_messages_cv{folds}_macro_f1_ablation_{name}", metrics["macro_f1"],
                 "fraction", "ours_default", ours_cv["macro_f1"])  # fmt: skip


def lookup_peer(
    texts: list[str], owners: list[str], types: list[str], folds: int
) -> dict[str, float]:
    """Majority owner of each RequestType in the training folds: the trivial solution."""
    splitter = StratifiedKFold(folds, shuffle=True, random_state=0)
    per_fold: list[Metrics] = []
    for train, test in splitter.split(texts, owners):
        counts: dict[str, Counter[str]] = defaultdict(Counter)
        for i in train:
            counts[types[i]][owners[i]] += 1
        overall = [o for o, _ in Counter(owners[i] for i in train).most_common()]
        ranked = []
        for i in test:
            mine = [o for o, _ in counts[types[i]].most_common()]
            ranked.append(mine + [o for o in overall if o not in mine])
        per_fold.append(score_predictions([owners[i] for i in test], ranked, [1.0] * len(test)))
    keys = ("accuracy", "macro_f1", "top3_accuracy")
    return {k: float(np.mean([getattr(m, k) for m in per_fold])) for k in keys}


def run_la(folds: int) -> None:
    if not (DATA / LA311).is_file():
        log(f"skip la311: {DATA / LA311} not found (set CITYOPS_SHARED_DATA)")
        return
    texts, owners, types = la311(DATA)
    determined = sum(max(c.values()) for c in _owners_by_type(types, owners).values())
    log(f"la311: {len(texts)} requests, {len(set(texts))} distinct texts; RequestType alone "
        f"determines the owner of {determined / len(texts):.2%} of them")  # fmt: skip
    empty = UnlabelledCorpus([])
    ours_cv, _ = cross_validate(ours(empty), texts, owners, folds)
    base_cv, _ = cross_validate(baseline, texts, owners, folds)
    report(f"la311_owner_cv{folds}", ours_cv, base_cv)
    lookup = lookup_peer(texts, owners, types, folds)
    emit(f"la311_owner_cv{folds}_macro_f1_vs_lookup", ours_cv["macro_f1"], "fraction",
         "requesttype_majority_lookup", lookup["macro_f1"])  # fmt: skip
    emit(f"la311_owner_cv{folds}_accuracy_vs_lookup", ours_cv["accuracy"], "fraction",
         "requesttype_majority_lookup", lookup["accuracy"])  # fmt: skip
    _, held = train_from_rows(zip(texts, owners, strict=True), unlabelled=empty,
                              refit_on_all=False)  # fmt: skip
    report("la311_owner_holdout20", held.as_dict(), holdout_baseline(texts, owners).as_dict())


def _owners_by_type(types: list[str], owners: list[str]) -> dict[str, Counter[str]]:
    out: dict[str, Counter[str]] = defaultdict(Counter)
    for t, o in zip(types, owners, strict=True):
        out[t][o] += 1
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--seeds", default="0,1,2", help="CV seeds, comma-separated")
    parser.add_argument("--ablations", action="store_true", help="also CV a few variants")
    args = parser.parse_args()
    start = time.perf_counter()
    run_cn(args.folds, [int(s) for s in args.seeds.split(",")], args.ablations)
    run_la(args.folds)
    log(f"total {time.perf_counter() - start:.1f}s")


if __name__ == "__main__":
    main()
