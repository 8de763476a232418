"""PNG app icons drawn at run time from our own favicon (``static/img/favicon.svg``).

Installed web apps want PNG icons of 192 and 512 px. Rather than commit binaries, the favicon's
shapes are read from the SVG and painted with Pillow: rounded rectangles, circles and paths of
straight segments (M, L, H, V), filled or stroked with round caps — what the mark uses. Anything
else in the SVG is refused, so a new design fails the manifest test instead of drawing wrong.
"""

from __future__ import annotations

import io
import re
import xml.etree.ElementTree as ET
from functools import lru_cache

from PIL import Image, ImageDraw

from cityops.entrypoints.web.pages import STATIC_DIR

FAVICON = STATIC_DIR / "img" / "favicon.svg"
SIZES = (192, 512)
_SUPERSAMPLE = 4  # drawn large, then scaled down: smooth edges without an SVG renderer
_SVG = "{http://www.w3.org/2000/svg}"
_MASKABLE_SAFE = 0.8  # the mark inside the circle that platform masks keep (W3C "safe zone")


def _points(d: str) -> list[tuple[float, float]]:
    """The vertices of a path made of M/L/H/V commands (absolute coordinates)."""
    out: list[tuple[float, float]] = []
    for cmd, args in re.findall(r"([MLHV])([^MLHV]*)", d.strip()):
        nums = [float(n) for n in re.findall(r"-?\d+(?:\.\d+)?", args)]
        x, y = out[-1] if out else (0.0, 0.0)
        if cmd in "ML":
            out += list(zip(nums[::2], nums[1::2], strict=True))
        elif cmd == "H":
            out += [(n, y) for n in nums]
        else:
            out += [(x, n) for n in nums]
    if not out or re.sub(r"[MLHV\d\s.,-]", "", d):
        raise ValueError(f"favicon path {d!r}: only M, L, H, V are drawn")
    return out


def _paint(draw: ImageDraw.ImageDraw, el: ET.Element, k: float, dx: float) -> None:
    a = el.attrib

    def f(name: str) -> float:  # an SVG length in pixels of the drawing
        return float(a.get(name, 0)) * k

    fill, stroke = a.get("fill"), a.get("stroke")
    fill = None if fill == "none" else fill
    width = max(1, round(f("stroke-width")))
    tag = el.tag.removeprefix(_SVG)
    if tag == "rect":
        box = (dx + f("x"), dx + f("y"), dx + f("x") + f("width"), dx + f("y") + f("height"))
        draw.rounded_rectangle(box, radius=f("rx"), fill=fill)
    elif tag == "circle":
        cx, cy, r = dx + f("cx"), dx + f("cy"), f("r")
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=fill)
    elif tag == "path":
        pts = [(dx + x * k, dx + y * k) for x, y in _points(a["d"])]
        draw.line(pts, fill=stroke, width=width, joint="curve")
        for x, y in (pts[0], pts[-1]):  # round caps
            draw.ellipse((x - width / 2, y - width / 2, x + width / 2, y + width / 2), fill=stroke)
    elif tag != "g":
        raise ValueError(f"favicon element <{tag}> is not drawn")


@lru_cache(maxsize=8)
def icon_png(size: int, maskable: bool = False) -> bytes:
    """The favicon as a ``size`` px PNG; maskable: full-bleed background, mark in the safe zone."""
    if size not in SIZES:
        raise ValueError(f"icon size {size} is not one of {SIZES}")
    root = ET.fromstring(FAVICON.read_text("utf-8"))
    view = [float(v) for v in root.attrib["viewBox"].split()]
    big = size * _SUPERSAMPLE
    shapes = [el for el in root.iter() if el is not root]
    background = next(el.attrib["fill"] for el in shapes if el.tag == f"{_SVG}rect")
    img = Image.new("RGBA", (big, big), background if maskable else (0, 0, 0, 0))
    scale = _MASKABLE_SAFE if maskable else 1.0
    k = big * scale / view[2]
    draw = ImageDraw.Draw(img)
    for el in shapes:
        _paint(draw, el, k, big * (1 - scale) / 2)
    out = io.BytesIO()
    img.resize((size, size), Image.Resampling.LANCZOS).save(out, "PNG", optimize=True)
    return out.getvalue()
