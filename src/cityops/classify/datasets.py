"""Readers for the shared public data sets used to train and evaluate the classifier.

The data never lives in the repository (see ../shared/data/README.md); callers pass the folder.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path

CN_DEV = Path("cn_messages/cn_messages_dev.csv")
CN_UNLABELLED = (
    Path("cn_messages/messages_unlabelled_fj3.csv"),
    Path("cn_messages/messages_with_replies_fj4.csv"),
)
CN_TAXONOMY = Path("cn_messages/taxonomy_3level_fj1.csv")
LA311 = Path("la311/MyLA311_Service_Request_Data_2017_Subset.csv")


def _rows(path: Path) -> Iterator[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as f:
        yield from csv.DictReader(f)


def message_text(subject: str, details: str) -> str:
    """Subject on the first line, details after it: the shape ``TextClassifier`` expects."""
    subject, details = subject.strip(), details.strip()
    return f"{subject}\n{details}" if details else subject


def cn_messages(data: Path) -> tuple[list[str], list[str], list[str]]:
    """(ids, texts, first-level labels) of ``cn_messages_dev.csv``."""
    ids, texts, labels = [], [], []
    for row in _rows(data / CN_DEV):
        ids.append(row["留言编号"])
        texts.append(message_text(row["留言主题"], row["留言详情"]))
        labels.append(row["一级标签"].strip())
    return ids, texts, labels


def cn_unlabelled(data: Path, exclude_ids: set[str], exclude_texts: set[str]) -> list[str]:
    """Texts of the unlabelled corpora, without any message of the labelled set.

    A few messages appear in both (same id or same text); leaving them out keeps the held-out
    evaluation free of even label-less contact with its test messages.
    """
    seen: set[str] = set()
    out: list[str] = []
    for name in CN_UNLABELLED:
        path = data / name
        if not path.is_file():
            continue
        for row in _rows(path):
            text = message_text(row["留言主题"], row["留言详情"])
            if row["留言编号"] in exclude_ids or text in exclude_texts or text in seen:
                continue
            seen.add(text)
            out.append(text)
    return out


LA311_TEXT_FIELDS = ("RequestType", "RequestSource")


def la311(data: Path) -> tuple[list[str], list[str], list[str]]:
    """(texts, owners, request types) of the MyLA311 subset.

    The requests carry no free text; the text is what is known when a request comes in: its
    type and its channel (not ``AssignTo``, ``Status`` or dates, which come from handling).
    """
    texts, owners, types = [], [], []
    for row in _rows(data / LA311):
        texts.append(". ".join(row[f].strip() for f in LA311_TEXT_FIELDS if row[f].strip()))
        owners.append(row["Owner"].strip())
        types.append(row["RequestType"].strip())
    return texts, owners, types
