"""Photo upload and serving, for every screen: ``POST /api/v1/media`` → ``media://<id>`` refs.

Uploads need a login (any role) or, for the citizen portal, come anonymously under a per-IP
limit. The files are served by their unguessable id without a login, so an ``<img>`` can show
them; whoever may see a case sees its refs, and only they learn the ids.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Request
from fastapi.responses import FileResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.types import Message

from cityops.config import Settings
from cityops.domain.errors import (
    PayloadTooLarge,
    Unauthorized,
    UnsupportedMediaType,
    ValidationFailed,
)
from cityops.domain.media import UploadChannel
from cityops.entrypoints.api.deps import AppDep, get_principal
from cityops.entrypoints.api.ratelimit import RateLimiter
from cityops.service import media
from cityops.service.principal import Principal

router = APIRouter(prefix="/api/v1/media", tags=["media 图片"])
_bearer = HTTPBearer(auto_error=False)
_PART_OVERHEAD = 64 * 1024  # multipart boundaries and part headers, per file
# Content-addressed: a media id's bytes never change. "private": staff photos stay out of
# shared caches.
SERVE_HEADERS = {
    "Cache-Control": "private, max-age=31536000, immutable",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; sandbox",
}


class MediaOut(BaseModel):
    id: str
    ref: str  # what to put in ``photos`` / ``media``
    url: str
    thumb_url: str
    content_type: str
    width: int
    height: int
    bytes: int


def optional_principal(
    app: AppDep,
    creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    x_api_key: Annotated[str | None, Header()] = None,
) -> Principal | None:
    """None without credentials; bad credentials are still a 401 (never silently anonymous)."""
    if creds is None and not x_api_key:
        return None
    return get_principal(app, creds, x_api_key)


def _limiter(request: Request, settings: Settings) -> RateLimiter:
    state = request.app.state
    limiter: RateLimiter | None = getattr(state, "media_limiter", None)
    if limiter is None:
        limiter = RateLimiter(settings.media_anonymous_per_hour, timedelta(hours=1))
        state.media_limiter = limiter
    return limiter


def _capped(receive: Callable[[], Awaitable[Message]], cap: int
            ) -> Callable[[], Awaitable[Message]]:  # fmt: skip
    """Stop reading a body past ``cap`` bytes, with or without a Content-Length."""
    seen = 0

    async def read() -> Message:
        nonlocal seen
        message = await receive()
        seen += len(message.get("body", b""))
        if seen > cap:
            raise PayloadTooLarge(f"the upload is larger than {cap} bytes in all", max_bytes=cap)
        return message

    return read


# The body is parsed by hand (size cap, per-IP limit first); this documents it.
_MULTIPART = {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
    "type": "object", "properties": {"file": {"type": "array", "items": {
        "type": "string", "format": "binary"}}}}}}}}  # fmt: skip


@router.post("", status_code=201, response_model=list[MediaOut], openapi_extra=_MULTIPART)
async def upload(
    request: Request,
    app: AppDep,
    caller: Annotated[Principal | None, Depends(optional_principal)],
) -> list[MediaOut]:
    """One or several photos as ``multipart/form-data`` (any field names); all or nothing."""
    s = app.settings
    client = request.client.host if request.client else "unknown"
    if caller is None and s.media_anonymous_per_hour == 0:
        raise Unauthorized("login required to upload photos / 请先登录")
    limiter = _limiter(request, s) if caller is None else None
    if limiter is not None:
        limiter.check(client, app.clock(), "photo uploads")  # refuse before reading a byte
    max_files = s.media_max_files if caller else s.media_anonymous_max_files
    cap = max_files * (s.media_max_bytes + _PART_OVERHEAD)
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > cap:
        raise PayloadTooLarge(f"the upload is larger than {cap} bytes in all", max_bytes=cap)
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype != "multipart/form-data":
        raise UnsupportedMediaType("send the photos as multipart/form-data", field="media")
    form = await Request(request.scope, _capped(request.receive, cap)).form(
        max_files=max_files + 1, max_fields=20
    )
    try:
        uploads = [
            media.Upload(value.filename or "", value.content_type or "", value.file)
            for _, value in form.multi_items()
            if isinstance(value, UploadFile) and (value.filename or value.size)
        ]
        if not uploads:
            raise ValidationFailed("no photo in the upload", field="media")
        if len(uploads) > max_files:  # before the limiter: a refused request spends nothing
            raise ValidationFailed(f"at most {max_files} media files at a time", field="media")
        if limiter is not None:
            limiter.take(client, len(uploads), app.clock(), "photo uploads")
        stored = await run_in_threadpool(
            media.save, app, uploads, uploaded_by=caller.username if caller else None,
            channel=UploadChannel.API if caller else UploadChannel.ANONYMOUS,
            max_files=max_files,
        )  # fmt: skip
    finally:
        await form.close()
    return [_out(request, x) for x in stored]


def _out(request: Request, x: media.Stored) -> MediaOut:
    url = f"{request.scope.get('root_path', '')}{router.prefix}/{x.id}"
    return MediaOut(
        id=x.id, ref=x.ref, url=url, thumb_url=f"{url}/thumb", content_type=x.content_type,
        width=x.width, height=x.height, bytes=x.bytes,
    )  # fmt: skip


@router.get("/{media_id}", response_class=FileResponse)
def original(media_id: str, app: AppDep) -> FileResponse:
    """The photo as uploaded (EXIF GPS blanked)."""
    path, content_type = media.original(app, media_id)
    return FileResponse(path, media_type=content_type, headers=SERVE_HEADERS)


@router.get("/{media_id}/thumb", response_class=FileResponse)
def thumbnail(media_id: str, app: AppDep) -> FileResponse:
    """A JPEG, upright, its long side ``settings.media_thumb_px`` (320) at most."""
    path, content_type = media.thumbnail(app, media_id)
    return FileResponse(path, media_type=content_type, headers=SERVE_HEADERS)
