"""The one photo store of every channel (API uploads, the citizen portal, Open311).

A photo is checked (declared type, size, signature, a full decode), its EXIF GPS block is
blanked, and it is stored once per content under ``media_dir/objects/<sha256[:2]>/`` with a
JPEG thumbnail beside it. Callers see a random id (``media://<id>``), never the file name.
Unreferenced photos (an upload never attached, a refused report) are kept: they are harmless,
and deleting one could break a reference made to the same content meanwhile.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from cityops.adapters import images
from cityops.adapters.db.media_models import MediaRow
from cityops.bootstrap import App
from cityops.config import Settings
from cityops.domain import media as m
from cityops.domain.errors import (
    CorruptMedia,
    NotFound,
    PayloadTooLarge,
    UnsupportedMediaType,
    ValidationFailed,
)

# Open311 uploads before the shared store: media_dir/open311/<32 hex>.<ext>, still served.
LEGACY_REF = "media://open311/"
LEGACY_NAME = re.compile(r"[0-9a-f]{32}\.(jpg|png|gif|webp)")
LEGACY_TYPES = {"jpg": "image/jpeg", "png": "image/png", "gif": "image/gif", "webp": "image/webp"}
THUMB_TYPE = "image/jpeg"


@dataclass(frozen=True, slots=True)
class Upload:
    filename: str
    content_type: str  # as declared by the client
    file: BinaryIO


@dataclass(frozen=True, slots=True)
class Checked:
    """An accepted photo, ready to store."""

    kind: m.Kind
    data: bytes  # GPS blanked
    sha256: str
    width: int
    height: int
    thumbnail: bytes


@dataclass(frozen=True, slots=True)
class Stored:
    id: str
    content_type: str
    bytes: int
    width: int
    height: int
    created: bool  # False: the same content was already stored

    @property
    def ref(self) -> str:
        return m.ref(self.id)


def accepted_labels() -> str:
    return ", ".join(t.label for k, t in m.TYPES.items() if images.can_decode(k))


def check(up: Upload, settings: Settings) -> Checked:
    """Everything short of writing: raises 415, 413 or 422-type errors naming the file."""
    name = up.filename or "(no name)"
    declared = up.content_type.split(";")[0].strip().lower()
    kind = m.declared_kind(declared)
    if kind is None:
        raise UnsupportedMediaType(
            f"media {name!r}: {declared or 'no content type'} is not an accepted image type "
            f"({accepted_labels()})",
            field="media", filename=name,
        )  # fmt: skip
    up.file.seek(0)
    data = up.file.read(settings.media_max_bytes + 1)
    if len(data) > settings.media_max_bytes:
        limit = f"{settings.media_max_bytes / 1024 / 1024:g} MB"
        raise PayloadTooLarge(f"media {name!r} is larger than {limit}", field="media",
                              filename=name, max_bytes=settings.media_max_bytes)  # fmt: skip
    found = m.sniff(data[:32])
    if found is not kind:
        seen = f"a {m.TYPES[found].label} image" if found else "not an accepted image"
        raise UnsupportedMediaType(f"media {name!r} is declared {declared} but is {seen}",
                                   field="media", filename=name)  # fmt: skip
    if not images.can_decode(kind):
        raise UnsupportedMediaType(
            f"media {name!r}: {m.TYPES[kind].label} photos cannot be read on this server; send "
            "JPEG (iPhone: Settings › Camera › Formats › Most Compatible) / 请上传 JPEG 格式照片",
            field="media", filename=name,
        )  # fmt: skip
    try:
        decoded = images.decode(data, kind, max_pixels=settings.media_max_pixels,
                                thumb_px=settings.media_thumb_px)  # fmt: skip
    except images.TooManyPixels as exc:
        raise PayloadTooLarge(
            f"media {name!r} is too large once decoded ({exc}); at most "
            f"{settings.media_max_pixels} pixels",
            field="media", filename=name,
        ) from exc  # fmt: skip
    except images.Unreadable as exc:
        raise CorruptMedia(
            f"media {name!r} is not a readable {m.TYPES[kind].label} image (truncated or "
            "damaged) / 图片已损坏", field="media", filename=name,
        ) from exc  # fmt: skip
    data = m.strip_gps(data, kind)
    sha = hashlib.sha256(data).hexdigest()
    return Checked(kind, data, sha, decoded.width, decoded.height, decoded.thumbnail)


def check_all(uploads: Sequence[Upload], settings: Settings, max_files: int) -> list[Checked]:
    if len(uploads) > max_files:
        raise ValidationFailed(f"at most {max_files} media files at a time", field="media")
    return [check(up, settings) for up in uploads]


def _paths(settings: Settings, sha: str, kind: m.Kind) -> tuple[Path, Path]:
    folder = Path(settings.media_dir) / "objects" / sha[:2]
    return folder / f"{sha}{m.TYPES[kind].ext}", folder / f"{sha}.thumb.jpg"


def _write(path: Path, data: bytes) -> None:
    """Atomically: a reader never sees half a file, two writers of one content never clash."""
    if path.is_file() and path.stat().st_size == len(data):
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _stored(row: MediaRow, created: bool) -> Stored:
    return Stored(row.id, row.content_type, row.bytes, row.width, row.height, created)


def store(app: App, checked: Iterable[Checked], *, uploaded_by: str | None,
          channel: m.UploadChannel) -> list[Stored]:  # fmt: skip
    """Write the files, then the rows; content already stored answers with its existing id."""
    out = []
    for c in checked:
        original, thumb = _paths(app.settings, c.sha256, c.kind)
        _write(original, c.data)  # before the row: a row never names a missing file
        _write(thumb, c.thumbnail)
        row = _by_sha(app, c.sha256)
        if row is not None:
            out.append(_stored(row, False))
            continue
        row = MediaRow(
            id=secrets.token_urlsafe(16), sha256=c.sha256,
            content_type=m.TYPES[c.kind].content_type, bytes=len(c.data), width=c.width,
            height=c.height, uploaded_by=uploaded_by, channel=channel.value, created_at=app.clock(),
        )  # fmt: skip
        try:
            with app.sessions.begin() as s:
                s.add(row)
            out.append(_stored(row, True))
        except IntegrityError:  # the same content, stored by someone else just now
            row = _by_sha(app, c.sha256)
            if row is None:
                raise
            out.append(_stored(row, False))
    return out


def _by_sha(app: App, sha: str) -> MediaRow | None:
    with app.reads() as s:
        return s.scalar(select(MediaRow).where(MediaRow.sha256 == sha))


def save(app: App, uploads: Sequence[Upload], *, uploaded_by: str | None,
         channel: m.UploadChannel, max_files: int) -> list[Stored]:  # fmt: skip
    """All or nothing: every file is checked before the first one is written."""
    return store(app, check_all(uploads, app.settings, max_files),
                 uploaded_by=uploaded_by, channel=channel)  # fmt: skip


def _row(app: App, media_id: str) -> MediaRow:
    row = None
    if m.MEDIA_ID.fullmatch(media_id):
        with app.reads() as s:
            row = s.get(MediaRow, media_id)
    if row is None:
        raise NotFound(f"media {media_id} not found", field="media")
    return row


def original(app: App, media_id: str) -> tuple[Path, str]:
    """The stored file of a media id and the content type to serve it with."""
    row = _row(app, media_id)
    path, _ = _paths(app.settings, row.sha256, _kind(row.content_type))
    if not path.is_file():
        raise NotFound(f"media {media_id} not found (its file is missing)", field="media")
    return path, row.content_type


def thumbnail(app: App, media_id: str) -> tuple[Path, str]:
    row = _row(app, media_id)
    _, path = _paths(app.settings, row.sha256, _kind(row.content_type))
    if not path.is_file():
        raise NotFound(f"media {media_id} has no thumbnail", field="media")
    return path, THUMB_TYPE


def _kind(content_type: str) -> m.Kind:
    return next(k for k, t in m.TYPES.items() if t.content_type == content_type)


def legacy_file(app: App, name: str) -> tuple[Path, str]:
    """An Open311 upload stored before the shared store, by its generated name."""
    path = Path(app.settings.media_dir) / "open311" / name
    if not LEGACY_NAME.fullmatch(name) or not path.is_file():
        raise NotFound(f"media {name} not found")
    return path, LEGACY_TYPES[name.rsplit(".", 1)[1]]


def check_refs(app: App, values: Iterable[str], field: str) -> None:
    """Every ``media://`` reference must name a stored photo; other values (http(s) URLs, a
    channel's own references) pass as before. Unknown ones are a 422 naming each."""
    refs = [v for v in values if v.startswith(m.REF_PREFIX)]
    ids = {i for i in map(m.ref_id, refs) if i is not None}
    known: set[str] = set()
    if ids:
        with app.reads() as s:
            known = set(s.scalars(select(MediaRow.id).where(MediaRow.id.in_(ids))))
    missing = [
        v for v in refs
        if not (m.ref_id(v) in known or (v.startswith(LEGACY_REF) and _legacy_exists(app, v)))
    ]  # fmt: skip
    if missing:
        raise ValidationFailed(
            f"unknown media reference {', '.join(missing)}: upload the photo first "
            "(POST /api/v1/media) / 图片不存在，请重新上传",
            field=field, refs=missing,
        )  # fmt: skip


def _legacy_exists(app: App, ref: str) -> bool:
    try:
        legacy_file(app, ref[len(LEGACY_REF) :])
    except NotFound:
        return False
    return True
