from __future__ import annotations

import os
from pathlib import Path

import pytest

from cityops.classify import ModelStore, TextClassifier

from .samples import TRAIN, rows


@pytest.fixture(scope="module")
def models() -> tuple[TextClassifier, TextClassifier]:
    texts, labels = zip(*rows(), strict=True)
    full = TextClassifier().fit(list(texts), list(labels), version="v1")
    # A second, different model: four of the six classes.
    keep = [i for i, label in enumerate(labels) if label in list(TRAIN)[:4]]
    part = TextClassifier().fit([texts[i] for i in keep], [labels[i] for i in keep], version="v2")
    return full, part


def _bump_mtime(path: Path) -> None:
    """Make sure a later write is seen even on file systems with coarse timestamps."""
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns - 10_000_000_000))


def test_versions_latest_and_activate(
    tmp_path: Path, models: tuple[TextClassifier, TextClassifier]
) -> None:
    full, part = models
    store = ModelStore(tmp_path / "models")
    assert store.latest() is None
    assert store.current() is None
    assert store.save(full) == "v1"
    assert store.save(part) == "v2"
    assert (tmp_path / "models" / "model-v1" / "model.joblib").is_file()
    assert (tmp_path / "models" / "model-v1" / "model.json").is_file()
    assert store.versions() == ["v1", "v2"]  # by trained_at
    assert store.latest() == "v2"
    assert store.active_version() == "v2"  # no pointer yet: the newest
    store.activate("v1")
    assert store.active_version() == "v1"
    assert store.metadata("v1")["labels"] == sorted(TRAIN)
    with pytest.raises(KeyError):
        store.activate("nope")
    with pytest.raises(FileExistsError):
        store.save(full, version="v1")
    with pytest.raises(ValueError):
        store.save(full, version="../escape")


def test_reload_if_changed_picks_up_a_new_model(
    tmp_path: Path, models: tuple[TextClassifier, TextClassifier]
) -> None:
    full, part = models
    store = ModelStore(tmp_path)
    store.save(full, version="a", activate=True)
    server = ModelStore(tmp_path)  # another process's view of the same folder
    assert server.reload_if_changed() is True
    assert server.loaded_version == "a"
    model = server.current()
    assert model is not None
    assert len(model.classes) == 6
    assert server.reload_if_changed() is False  # nothing changed: no reload

    store.save(part, version="b")  # saved but not active: the server keeps "a"
    assert server.reload_if_changed() is False
    assert server.loaded_version == "a"

    store.activate("b")
    assert server.reload_if_changed() is True
    assert server.loaded_version == "b"
    reloaded = server.current()
    assert reloaded is not None
    assert len(reloaded.classes) == 4
    assert server.reload_if_changed() is False


def test_without_pointer_the_newest_version_is_served(
    tmp_path: Path, models: tuple[TextClassifier, TextClassifier]
) -> None:
    full, part = models
    store = ModelStore(tmp_path)
    store.save(full, version="2025-01")
    assert store.reload_if_changed() is True
    assert store.loaded_version == "2025-01"
    _bump_mtime(tmp_path)
    store.save(part, version="2025-02")
    assert store.reload_if_changed() is True
    assert store.loaded_version == "2025-02"
