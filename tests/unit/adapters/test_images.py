"""Decoding and thumbnails: full decode (truncation shows), upright thumbnails, size guard."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from cityops.adapters.images import TooManyPixels, Unreadable, can_decode, decode
from cityops.domain.media import Kind
from tests.photos import photo


def _thumb(data: bytes) -> Image.Image:
    img = Image.open(io.BytesIO(data))
    assert img.format == "JPEG"
    return img.convert("RGB")


@pytest.mark.parametrize(("fmt", "kind"), [("JPEG", Kind.JPEG), ("PNG", Kind.PNG),
                                           ("WEBP", Kind.WEBP)])  # fmt: skip
def test_thumbnail_keeps_the_aspect_within_the_long_side(fmt: str, kind: Kind) -> None:
    got = decode(photo(fmt, (1280, 960)), kind, max_pixels=10**8, thumb_px=320)
    assert (got.width, got.height) == (1280, 960)
    assert _thumb(got.thumbnail).size == (320, 240)


def test_small_photos_are_not_enlarged() -> None:
    got = decode(photo("PNG", (100, 50)), Kind.PNG, max_pixels=10**8, thumb_px=320)
    assert _thumb(got.thumbnail).size == (100, 50)


def test_exif_orientation_is_applied_to_the_thumbnail_and_the_size() -> None:
    # Stored landscape, left red / right blue; orientation 6 shows it turned 90° clockwise.
    data = photo("JPEG", (800, 400), orientation=6, split=True)
    got = decode(data, Kind.JPEG, max_pixels=10**8, thumb_px=320)
    assert (got.width, got.height) == (400, 800)  # as displayed
    thumb = _thumb(got.thumbnail)
    assert thumb.size == (160, 320)
    top, bottom = thumb.getpixel((80, 20)), thumb.getpixel((80, 300))
    assert isinstance(top, tuple) and isinstance(bottom, tuple)
    assert top[0] > 150 > top[2] and bottom[2] > 150 > bottom[0]  # red above, blue below


def test_transparency_goes_onto_white() -> None:
    img = Image.new("RGBA", (40, 40), (0, 0, 0, 0))
    out = io.BytesIO()
    img.save(out, "PNG")
    got = decode(out.getvalue(), Kind.PNG, max_pixels=10**8, thumb_px=320)
    assert _thumb(got.thumbnail).getpixel((20, 20)) == (255, 255, 255)


@pytest.mark.parametrize(("fmt", "kind"), [("JPEG", Kind.JPEG), ("PNG", Kind.PNG),
                                           ("WEBP", Kind.WEBP)])  # fmt: skip
def test_truncated_photos_are_unreadable(fmt: str, kind: Kind) -> None:
    data = photo(fmt, (640, 480), split=True)
    with pytest.raises(Unreadable):
        decode(data[: len(data) // 2], kind, max_pixels=10**8, thumb_px=320)


def test_a_file_of_another_format_never_reaches_that_decoder() -> None:
    with pytest.raises(Unreadable):
        decode(photo("PNG", (8, 8)), Kind.JPEG, max_pixels=10**8, thumb_px=320)


def test_too_many_pixels_is_refused_before_decoding() -> None:
    with pytest.raises(TooManyPixels, match="3000×2000"):
        decode(photo("PNG", (3000, 2000)), Kind.PNG, max_pixels=5_000_000, thumb_px=320)


def test_heic_only_with_a_plugin() -> None:
    Image.init()
    assert can_decode(Kind.HEIC) is ("HEIF" in Image.OPEN)
    assert can_decode(Kind.JPEG) and can_decode(Kind.PNG) and can_decode(Kind.WEBP)
