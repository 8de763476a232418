"""``ModelStore``: versioned models on disk, an ``ACTIVE`` pointer, and hot reload.

Layout::

    <dir>/model-<version>/model.joblib   the classifier (joblib)
    <dir>/model-<version>/model.json     its metadata (version, trained_at, metrics, …)
    <dir>/ACTIVE                         the active version's name (optional)

A new version is written into a hidden temporary folder and renamed into place, and ``ACTIVE``
is replaced atomically, so a reader never sees half a model. Without ``ACTIVE`` the newest
version (by ``trained_at``, then name) is the active one. ``reload_if_changed`` costs two
``stat`` calls when nothing changed, so a server may call it before every request (or on a
timer) and pick up a newly trained or activated model without a restart.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import threading
from pathlib import Path

from cityops.classify.model import TextClassifier, _atomic_write

MODEL_FILE = "model.joblib"
META_FILE = "model.json"
POINTER = "ACTIVE"
_VERSION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


class ModelStore:
    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._model: TextClassifier | None = None
        self._loaded_version: str | None = None
        self._signature: tuple[int, int, int] | None = None

    # -- versions ----------------------------------------------------------------------------

    def path(self, version: str) -> Path:
        return self.dir / f"model-{version}"

    def versions(self) -> list[str]:
        """All complete versions, oldest first (by ``trained_at``, then name)."""
        found: list[tuple[str, str]] = []
        for child in self.dir.iterdir():
            if child.name.startswith("model-") and (child / MODEL_FILE).is_file():
                found.append((self._trained_at(child), child.name.removeprefix("model-")))
        return [version for _, version in sorted(found)]

    def latest(self) -> str | None:
        """The newest version, or None for an empty store."""
        versions = self.versions()
        return versions[-1] if versions else None

    def metadata(self, version: str) -> dict[str, object]:
        data: dict[str, object] = json.loads((self.path(version) / META_FILE).read_text("utf-8"))
        return data

    def save(
        self, model: TextClassifier, version: str | None = None, activate: bool = False
    ) -> str:
        """Store ``model`` as a new version (its own ``meta['version']`` by default)."""
        version = version or str(model.meta.get("version") or "")
        if not _VERSION.match(version):
            raise ValueError(f"bad model version {version!r}")
        if self.path(version).exists():
            raise FileExistsError(f"model version {version} already exists in {self.dir}")
        model.meta["version"] = version
        tmp = Path(tempfile.mkdtemp(dir=self.dir, prefix=".incoming-"))
        try:
            model.save(tmp / MODEL_FILE)
            os.rename(tmp, self.path(version))
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        if activate:
            self.activate(version)
        return version

    def activate(self, version: str) -> None:
        """Make ``version`` the active model (atomically replaces ``ACTIVE``)."""
        if not (self.path(version) / MODEL_FILE).is_file():
            raise KeyError(f"no model version {version} in {self.dir}")
        _atomic_write(self.dir / POINTER, lambda f: f.write(version.encode("utf-8")))

    def active_version(self) -> str | None:
        """The version named in ``ACTIVE``, or the newest one when there is no pointer."""
        pointer = self.dir / POINTER
        try:
            named = pointer.read_text("utf-8").strip()
        except FileNotFoundError:
            return self.latest()
        return named or self.latest()

    # -- serving -----------------------------------------------------------------------------

    def current(self) -> TextClassifier | None:
        """The active model, loaded on first use (None for an empty store)."""
        if self._model is None:
            self.reload_if_changed()
        return self._model

    @property
    def loaded_version(self) -> str | None:
        return self._loaded_version

    def reload_if_changed(self) -> bool:
        """Load the active model if the pointer or the set of versions changed since last time.

        Returns True when a different model was loaded. Cheap when nothing changed: a ``stat``
        of ``ACTIVE`` and of the store folder (a new version renamed in changes the folder's
        mtime).
        """
        signature = self._current_signature()
        if signature == self._signature and self._model is not None:
            return False
        with self._lock:
            if signature == self._signature and self._model is not None:
                return False
            version = self.active_version()
            changed = False
            if version is not None and version != self._loaded_version:
                self._model = TextClassifier.load(self.path(version) / MODEL_FILE)
                self._loaded_version = version
                changed = True
            self._signature = signature
            return changed

    def _current_signature(self) -> tuple[int, int, int]:
        try:
            pointer = os.stat(self.dir / POINTER)
            pointer_sig = (pointer.st_mtime_ns, pointer.st_ino)
        except FileNotFoundError:
            pointer_sig = (0, 0)
        return (*pointer_sig, os.stat(self.dir).st_mtime_ns)

    @staticmethod
    def _trained_at(folder: Path) -> str:
        try:
            meta = json.loads((folder / META_FILE).read_text("utf-8"))
        except (OSError, ValueError):
            return ""
        return str(meta.get("trained_at", ""))
