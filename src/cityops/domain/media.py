"""Photos as the platform accepts them: types, signatures, references, GPS blanking.

Pure byte work only; decoding and thumbnails (Pillow) live in ``adapters/images.py``.
"""

from __future__ import annotations

import re
import struct
import zlib
from dataclasses import dataclass
from enum import StrEnum


class Kind(StrEnum):
    JPEG = "jpeg"
    PNG = "png"
    WEBP = "webp"
    HEIC = "heic"


class UploadChannel(StrEnum):
    """How a photo reached the store (``MediaRow.channel``)."""

    API = "api"  # a logged-in user or an API key
    ANONYMOUS = "anonymous"  # the citizen portal without login
    OPEN311 = "open311"


@dataclass(frozen=True, slots=True)
class ImageType:
    kind: Kind
    content_type: str  # the one we serve it with
    ext: str
    label: str


TYPES = {
    Kind.JPEG: ImageType(Kind.JPEG, "image/jpeg", ".jpg", "JPEG"),
    Kind.PNG: ImageType(Kind.PNG, "image/png", ".png", "PNG"),
    Kind.WEBP: ImageType(Kind.WEBP, "image/webp", ".webp", "WebP"),
    Kind.HEIC: ImageType(Kind.HEIC, "image/heic", ".heic", "HEIC"),
}
# Declared content types, with the aliases clients really send.
DECLARED = {
    "image/jpeg": Kind.JPEG, "image/jpg": Kind.JPEG, "image/pjpeg": Kind.JPEG,
    "image/png": Kind.PNG, "image/webp": Kind.WEBP,
    "image/heic": Kind.HEIC, "image/heif": Kind.HEIC,
}  # fmt: skip
_HEIF_BRANDS = {b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1"}

REF_PREFIX = "media://"
MEDIA_ID = re.compile(r"[A-Za-z0-9_-]{22}")  # secrets.token_urlsafe(16): 128 random bits


def declared_kind(content_type: str | None) -> Kind | None:
    return DECLARED.get((content_type or "").split(";")[0].strip().lower())


def sniff(head: bytes) -> Kind | None:
    """The image kind the leading bytes (≥ 12) announce, whatever the client declared."""
    if head.startswith(b"\xff\xd8\xff"):
        return Kind.JPEG
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return Kind.PNG
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return Kind.WEBP
    if head[4:8] == b"ftyp" and head[8:12] in _HEIF_BRANDS:
        return Kind.HEIC
    return None


def ref(media_id: str) -> str:
    return REF_PREFIX + media_id


def ref_id(value: str) -> str | None:
    """The media id of a ``media://<id>`` reference; None for anything else (URLs, legacy)."""
    if not value.startswith(REF_PREFIX):
        return None
    rest = value[len(REF_PREFIX) :]
    return rest if MEDIA_ID.fullmatch(rest) else None


# ---- GPS blanking ---------------------------------------------------------------------------
# Phones write where a photo was taken into EXIF; for a citizen that is often their home. The
# GPS block is blanked in place (same length, every other byte kept: orientation, camera,
# time, maker notes), so the image data is never re-encoded.

_GPS_IFD = 0x8825
_TYPE_SIZES = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8, 13: 4}


def _blank_gps_tiff(buf: bytearray, start: int, end: int) -> None:
    """Empty the GPS IFD of the TIFF structure at ``buf[start:end]``; malformed → untouched."""
    order = {b"II": "<", b"MM": ">"}.get(bytes(buf[start : start + 2]))
    if order is None or end - start < 8:
        return

    def read(fmt: str, at: int) -> int:
        if at < 0 or start + at + struct.calcsize(fmt) > end:
            raise ValueError("out of bounds")
        return int(struct.unpack_from(order + fmt, buf, start + at)[0])

    try:
        ifd0 = read("I", 4)
        gps = next(
            (read("I", ifd0 + 2 + 12 * i + 8) for i in range(read("H", ifd0))
             if read("H", ifd0 + 2 + 12 * i) == _GPS_IFD),
            None,
        )  # fmt: skip
        if gps is None:
            return
        n = read("H", gps)
        read("I", gps + 2 + 12 * n)  # the whole directory must be inside the block
        spans = []
        for i in range(n):
            entry = gps + 2 + 12 * i
            size = _TYPE_SIZES.get(read("H", entry + 2), 1) * read("I", entry + 4)
            if size > 4:
                offset = read("I", entry + 8)
                if offset + size > end - start:
                    raise ValueError("out of bounds")
                spans.append((offset, size))
    except ValueError:
        return
    for offset, size in spans:
        buf[start + offset : start + offset + size] = bytes(size)
    # No entries left; the zeroed bytes after the count read as "no next IFD".
    buf[start + gps : start + gps + 2 + 12 * n + 4] = bytes(2 + 12 * n + 4)


def _exif_start(buf: bytearray, start: int) -> int:
    return start + 6 if buf[start : start + 6] == b"Exif\0\0" else start


def _jpeg(buf: bytearray) -> None:
    pos = 2
    while pos + 4 <= len(buf) and buf[pos] == 0xFF:
        marker = buf[pos + 1]
        if marker == 0xDA or marker == 0xD9:  # start of scan / end: no metadata after this
            return
        if marker == 0x01 or 0xD0 <= marker <= 0xD7 or marker == 0xFF:
            pos += 1 if marker == 0xFF else 2
            continue
        length = int.from_bytes(buf[pos + 2 : pos + 4], "big")
        body, end = pos + 4, min(pos + 2 + length, len(buf))
        if marker == 0xE1 and buf[body : body + 6] == b"Exif\0\0":
            _blank_gps_tiff(buf, body + 6, end)
        pos = pos + 2 + length


def _png(buf: bytearray) -> None:
    pos = 8
    while pos + 12 <= len(buf):
        length = int.from_bytes(buf[pos : pos + 4], "big")
        kind, data, end = bytes(buf[pos + 4 : pos + 8]), pos + 8, pos + 8 + length
        if end + 4 > len(buf) or kind == b"IEND":
            return
        if kind == b"eXIf":
            _blank_gps_tiff(buf, _exif_start(buf, data), end)
            buf[end : end + 4] = struct.pack(">I", zlib.crc32(buf[pos + 4 : end]) & 0xFFFFFFFF)
        pos = end + 4


def _webp(buf: bytearray) -> None:
    pos = 12
    while pos + 8 <= len(buf):
        kind, length = bytes(buf[pos : pos + 4]), int.from_bytes(buf[pos + 4 : pos + 8], "little")
        data, end = pos + 8, min(pos + 8 + length, len(buf))
        if kind == b"EXIF":
            _blank_gps_tiff(buf, _exif_start(buf, data), end)
        pos = data + length + (length & 1)


def strip_gps(data: bytes, kind: Kind) -> bytes:
    """The same image without its EXIF GPS position (unchanged when it has none)."""
    walk = {Kind.JPEG: _jpeg, Kind.PNG: _png, Kind.WEBP: _webp}.get(kind)
    if walk is None:
        return data
    buf = bytearray(data)
    walk(buf)
    return bytes(buf)
