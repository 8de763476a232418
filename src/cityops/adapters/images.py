"""Decoding and thumbnails with Pillow; Pillow's many exceptions become :class:`Unreadable`."""

from __future__ import annotations

import io
import struct
import zlib
from dataclasses import dataclass

from PIL import Image, ImageOps

from cityops.domain.media import Kind

# The one Pillow plugin allowed to decode each kind: a file never reaches another decoder.
_FORMATS = {Kind.JPEG: "JPEG", Kind.PNG: "PNG", Kind.WEBP: "WEBP", Kind.HEIC: "HEIF"}
_ORIENTATION = 0x0112
_TURNED = {5, 6, 7, 8}  # EXIF orientations that swap width and height


class Unreadable(Exception):
    """The bytes cannot be decoded as the given kind."""


class TooManyPixels(Unreadable):
    """Too large once decoded (a decompression bomb, or just a huge panorama)."""


@dataclass(frozen=True, slots=True)
class Decoded:
    width: int  # as displayed: after the EXIF orientation is applied
    height: int
    thumbnail: bytes  # JPEG, the long side at most the asked size


def can_decode(kind: Kind) -> bool:
    """HEIC needs a plugin (pillow-heif); the others ship with Pillow."""
    Image.preinit()
    if _FORMATS[kind] not in Image.OPEN:
        Image.init()
    return _FORMATS[kind] in Image.OPEN


def decode(data: bytes, kind: Kind, *, max_pixels: int, thumb_px: int) -> Decoded:
    """Decode every byte (so a truncated file fails here) and make the thumbnail."""
    try:
        if kind is Kind.PNG:  # chunk CRCs through IEND: load() stops once it has the pixels
            with Image.open(io.BytesIO(data), formats=["PNG"]) as probe:
                probe.verify()
        with Image.open(io.BytesIO(data), formats=[_FORMATS[kind]]) as img:
            width, height = img.size
            if width * height > max_pixels:  # checked on the header: a bomb is never decoded
                raise TooManyPixels(f"{width}×{height} pixels")
            if img.getexif().get(_ORIENTATION) in _TURNED:
                width, height = height, width
            if kind is Kind.JPEG:
                img.draft("RGB", (thumb_px * 2, thumb_px * 2))  # decode at a reduced scale
            img.load()
            thumb = _flatten(ImageOps.exif_transpose(img))
        thumb.thumbnail((thumb_px, thumb_px), Image.Resampling.LANCZOS)
        out = io.BytesIO()
        thumb.save(out, "JPEG", quality=82, optimize=True)
    except Image.DecompressionBombError as exc:
        raise TooManyPixels(str(exc)) from exc
    except (OSError, SyntaxError, ValueError, EOFError, struct.error, zlib.error) as exc:
        raise Unreadable(str(exc) or type(exc).__name__) from exc
    return Decoded(width, height, out.getvalue())


def _flatten(img: Image.Image) -> Image.Image:
    """RGB for JPEG: transparency goes onto white, palettes and 16-bit are converted."""
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        background = Image.new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    return img if img.mode == "RGB" else img.convert("RGB")
