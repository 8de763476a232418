"""The upload check: declared type vs signature, size, decodability, GPS, in that order."""

from __future__ import annotations

import hashlib
import io

import pytest
from PIL import Image

from cityops.adapters.images import can_decode
from cityops.config import Settings
from cityops.domain.errors import (
    CorruptMedia,
    PayloadTooLarge,
    UnsupportedMediaType,
    ValidationFailed,
)
from cityops.domain.media import Kind
from cityops.service.media import Upload, check, check_all
from tests.photos import GPS, photo

SETTINGS = Settings(media_max_bytes=200_000, media_max_pixels=4_000_000, media_thumb_px=320)


def up(data: bytes, content_type: str = "image/jpeg", name: str = "p.jpg") -> Upload:
    return Upload(name, content_type, io.BytesIO(data))


def test_an_accepted_photo() -> None:
    data = photo("JPEG", (640, 480), gps=True)
    got = check(up(data), SETTINGS)
    assert got.kind is Kind.JPEG and (got.width, got.height) == (640, 480)
    assert got.sha256 == hashlib.sha256(got.data).hexdigest() and len(got.data) == len(data)
    with Image.open(io.BytesIO(got.data)) as img:
        assert img.getexif().get_ifd(GPS) == {}
    with Image.open(io.BytesIO(got.thumbnail)) as thumb:
        assert thumb.size == (320, 240)


@pytest.mark.parametrize(
    ("data", "declared", "error", "words"),
    [
        (b"hello", "text/plain", UnsupportedMediaType, "text/plain is not an accepted image"),
        (photo("PNG", (8, 8)), "", UnsupportedMediaType, "no content type"),
        (photo("PNG", (8, 8)), "image/jpeg", UnsupportedMediaType, "but is a PNG image"),
        (b"GIF89a" + bytes(50), "image/png", UnsupportedMediaType, "but is not an accepted image"),
        (b"", "image/jpeg", UnsupportedMediaType, "but is not an accepted"),
        (photo("PNG", (3000, 1500)), "image/png", PayloadTooLarge, "too large once decoded"),
        (photo("JPEG", (640, 480))[:3000], "image/jpeg", CorruptMedia, "truncated or damaged"),
    ],
)
def test_refusals_name_the_file(data: bytes, declared: str, error: type[Exception],
                                words: str) -> None:  # fmt: skip
    with pytest.raises(error, match=words) as info:
        check(up(data, declared, "evidence.jpg"), SETTINGS)
    assert "'evidence.jpg'" in str(info.value)


def test_size_is_checked_without_reading_the_whole_file() -> None:
    big = io.BytesIO(photo("JPEG", (16, 16)) + bytes(10_000_000))
    with pytest.raises(PayloadTooLarge, match="larger than"):
        check(Upload("big.jpg", "image/jpeg", big), SETTINGS)
    assert big.tell() == SETTINGS.media_max_bytes + 1


@pytest.mark.skipif(can_decode(Kind.HEIC), reason="a HEIF plugin is installed")
def test_heic_is_refused_clearly_without_a_decoder() -> None:
    heic = b"\x00\x00\x00\x18ftypheic" + bytes(100)
    with pytest.raises(UnsupportedMediaType, match="HEIC photos cannot be read"):
        check(up(heic, "image/heic", "IMG_0001.HEIC"), SETTINGS)


def test_too_many_files() -> None:
    ok = photo("JPEG", (8, 8))
    with pytest.raises(ValidationFailed, match="at most 2 media files"):
        check_all([up(ok), up(ok), up(ok)], SETTINGS, 2)
