"""Photos for the media tests, drawn with Pillow: any format, size, EXIF orientation and GPS."""

from __future__ import annotations

import io

from PIL import Image

ORIENTATION, GPS = 0x0112, 0x8825
# 31°14'5.5"N 121°28'9.1"E: somewhere a citizen would not want published.
GPS_BLOCK = {0: b"\x02\x02\x00\x00", 1: "N", 2: (31.0, 14.0, 5.5), 3: "E", 4: (121.0, 28.0, 9.1)}


def photo(fmt: str = "JPEG", size: tuple[int, int] = (640, 480), *, orientation: int | None = None,
          gps: bool = False, split: bool = False) -> bytes:  # fmt: skip
    """An image; with ``split`` its left half is red and its right half blue."""
    img = Image.new("RGB", size, (200, 30, 30))
    if split:
        img.paste((30, 30, 200), (size[0] // 2, 0, size[0], size[1]))
    exif = Image.Exif()
    exif[0x010F] = "CityCam"  # Make: must survive GPS blanking
    if orientation is not None:
        exif[ORIENTATION] = orientation
    if gps:
        exif[GPS] = GPS_BLOCK
    out = io.BytesIO()
    img.save(out, fmt, exif=exif, **({"quality": 90} if fmt == "JPEG" else {}))
    return out.getvalue()
