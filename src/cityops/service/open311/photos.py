"""Open311 photos: which are published, and the files behind their public URLs.

New uploads live in the shared store (``media://<id>``); uploads from before it keep their
``media://open311/<name>`` refs and files. Both are served at ``/open311/v2/media/{name}``.
"""

from __future__ import annotations

import re
from pathlib import Path

from cityops.adapters.db.models import CaseEventRow
from cityops.bootstrap import App
from cityops.domain.media import ref_id
from cityops.service import media


def public_media(event: CaseEventRow | None, base_url: str) -> list[str]:
    """Only media that came in through Open311 are published (staff photos stay internal)."""
    if event is None or event.action != "submit" or "open311" not in (event.data or {}):
        return []
    out = []
    for ref in event.media or []:
        if not isinstance(ref, str):
            continue
        legacy = ref[len(media.LEGACY_REF) :] if ref.startswith(media.LEGACY_REF) else ""
        name = ref_id(ref) or (legacy if media.LEGACY_NAME.fullmatch(legacy) else None)
        if name:
            out.append(f"{base_url.rstrip('/')}/open311/v2/media/{name}")
        elif re.match(r"https?://", ref, re.IGNORECASE):
            out.append(ref)
    return out


def media_file(app: App, name: str) -> tuple[Path, str]:
    """The file behind a published media URL, with its content type."""
    if media.LEGACY_NAME.fullmatch(name):
        return media.legacy_file(app, name)
    return media.original(app, name)
