"""Photo types, signatures, references and GPS blanking (pure bytes, no decoding)."""

from __future__ import annotations

import io
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from cityops.domain.media import Kind, declared_kind, ref, ref_id, sniff, strip_gps
from tests.photos import GPS, ORIENTATION, photo

FORMATS = [("JPEG", Kind.JPEG), ("PNG", Kind.PNG), ("WEBP", Kind.WEBP)]


@pytest.mark.parametrize(("fmt", "kind"), FORMATS)
def test_sniff_knows_each_accepted_format(fmt: str, kind: Kind) -> None:
    assert sniff(photo(fmt, (8, 8))[:32]) is kind


def test_sniff_refuses_the_rest() -> None:
    assert sniff(b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00") is Kind.HEIC
    assert sniff(b"\x00\x00\x00\x18ftypavif\x00\x00\x00\x00") is None  # AVIF is not HEIC
    for head in (b"GIF89a\x01\x00", b"<svg xmlns=", b"%PDF-1.7", b"", b"RIFF\0\0\0\0WAVE"):
        assert sniff(head) is None


def test_declared_types_and_their_aliases() -> None:
    assert declared_kind("image/JPEG; charset=binary") is Kind.JPEG
    assert declared_kind("image/jpg") is Kind.JPEG and declared_kind("image/heif") is Kind.HEIC
    assert declared_kind("image/gif") is None and declared_kind(None) is None


def test_references() -> None:
    media_id = "AbCdEfGhIjKlMnOpQrSt_-"
    assert ref(media_id) == f"media://{media_id}" and ref_id(ref(media_id)) == media_id
    for other in ("media://open311/0123.png", "media://short", "https://x/1.jpg",
                  f"media://{media_id}/../x", f"Media://{media_id}"):  # fmt: skip
        assert ref_id(other) is None, other


def _exif(data: bytes) -> Image.Exif:
    with Image.open(io.BytesIO(data)) as img:
        img.load()
        return img.getexif()


@pytest.mark.parametrize(("fmt", "kind"), FORMATS)
def test_gps_is_blanked_and_everything_else_kept(fmt: str, kind: Kind) -> None:
    data = photo(fmt, (64, 32), orientation=6, gps=True)
    assert _exif(data).get_ifd(GPS)  # the fixture really carries a position
    out = strip_gps(data, kind)
    assert len(out) == len(data)  # blanked in place: the pixels are never re-encoded
    exif = _exif(out)
    assert exif.get_ifd(GPS) == {}
    assert exif[ORIENTATION] == 6 and exif[0x010F] == "CityCam"
    # The coordinates' bytes are gone, not just unreferenced (121°28'9.1" is stored as 91/10).
    for order in "<>":
        assert struct.pack(f"{order}II", 91, 10) not in out
    assert sum(struct.pack(f"{o}II", 91, 10) in data for o in "<>") == 1


@pytest.mark.parametrize(("fmt", "kind"), FORMATS)
def test_photos_without_gps_are_unchanged(fmt: str, kind: Kind) -> None:
    data = photo(fmt, (16, 16), orientation=3)
    assert strip_gps(data, kind) == data


def test_malformed_exif_is_left_alone() -> None:
    body = b"Exif\0\0MM\0\x2a\xff\xff\xff\xf0"  # IFD0 far past the end
    data = b"\xff\xd8\xff\xe1" + struct.pack(">H", len(body) + 2) + body + b"\xff\xd9"
    assert strip_gps(data, Kind.JPEG) == data


@given(st.binary(max_size=300), st.sampled_from([Kind.JPEG, Kind.PNG, Kind.WEBP]))
def test_strip_gps_never_fails_and_keeps_the_length(tail: bytes, kind: Kind) -> None:
    head = {Kind.JPEG: b"\xff\xd8\xff\xe1\x00\x40Exif\0\0II*\0\x08\0\0\0",
            Kind.PNG: b"\x89PNG\r\n\x1a\n\0\0\0\x20eXIfII*\0\x08\0\0\0",
            Kind.WEBP: b"RIFF\0\0\0\0WEBPEXIF\x20\0\0\0II*\0\x08\0\0\0"}[kind]  # fmt: skip
    data = head + tail
    assert len(strip_gps(data, kind)) == len(data)
