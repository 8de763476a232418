"""Conversion between China's coordinate systems, for use at the system's edges only.

The domain stores and computes in WGS-84 lon/lat. Data arriving from Chinese map providers is
in GCJ-02 (the state-mandated "Mars" offset used by Amap/Tencent/Google China) or BD-09
(Baidu's extra offset on top of GCJ-02) and is converted on the way in; CGCS2000 agrees with
WGS-84 to within centimetres, far below anything a city-operations map resolves, so it is
taken as WGS-84 unchanged.

The formulas are the widely published ones (the leaked GCJ-02 algorithm as reproduced by the
eviltransform and coordtransform projects). Only the forward directions (WGS-84 → GCJ-02,
GCJ-02 → BD-09) have closed forms; the common one-step inverses are off by up to a few metres
(GCJ-02) or ~2e-6° (BD-09), so the inverses here refine them by fixed-point iteration until
they re-encode to the input.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from enum import StrEnum
from typing import Any

from cityops.domain.errors import ValidationFailed

# Krasovsky 1940 ellipsoid, which the GCJ-02 algorithm is defined on.
KRASOVSKY_A = 6378245.0
KRASOVSKY_EE = 0.00669342162296594323
# Baidu's BD-09 angular constant.
BD09_X_PI = math.pi * 3000.0 / 180.0

# The rectangle the published algorithm treats as "China"; outside it GCJ-02 = WGS-84.
# Deliberately the generous classic box, so that points near China's real borders
# (73.66–135.05 E, 3.86–53.55 N) are shifted and their inverse is well-defined.
CHINA_LON_MIN, CHINA_LON_MAX = 72.004, 137.8347
CHINA_LAT_MIN, CHINA_LAT_MAX = 0.8293, 55.8271

# The offsets are smooth and vary by ~1e-3 per degree, so each fixed-point step gains about
# three digits; these bounds are reached in 3–4 steps and the cap only guards against NaN.
_INVERSE_TOLERANCE = 1e-12
_INVERSE_MAX_STEPS = 30

Point = tuple[float, float]


class CRS(StrEnum):
    """Coordinate reference systems accepted at the edges."""

    WGS84 = "wgs84"
    GCJ02 = "gcj02"
    BD09 = "bd09"
    CGCS2000 = "cgcs2000"

    @classmethod
    def parse(cls, text: str | CRS) -> CRS:
        """Accept the spellings clients actually send ("WGS-84", "EPSG:4326", "BD09LL" …)."""
        if isinstance(text, CRS):
            return text
        key = "".join(ch for ch in str(text).strip().lower() if ch not in "-_ ")
        crs = _ALIASES.get(key)
        if crs is None:
            raise ValidationFailed(
                f"unknown coordinate system {text!r}; accepted: {', '.join(ACCEPTED_CRS_NAMES)}",
                value=text,
                accepted=list(ACCEPTED_CRS_NAMES),
            )
        return crs


# Keys are normalised: lower case without "-", "_" or spaces. BD09MC (Baidu's Mercator metres)
# is absent on purpose: it is a projection, not lon/lat, and needs a different conversion.
_ALIASES: dict[str, CRS] = {
    "wgs84": CRS.WGS84,
    "epsg:4326": CRS.WGS84,
    "gcj02": CRS.GCJ02,
    "gcj": CRS.GCJ02,
    "bd09": CRS.BD09,
    "bd09ll": CRS.BD09,
    "cgcs2000": CRS.CGCS2000,
    "epsg:4490": CRS.CGCS2000,
}

ACCEPTED_CRS_NAMES: tuple[str, ...] = (
    "WGS-84",
    "EPSG:4326",
    "GCJ-02",
    "BD-09",
    "BD09LL",
    "CGCS2000",
    "EPSG:4490",
)


def out_of_china(lon: float, lat: float) -> bool:
    """True where the GCJ-02 algorithm leaves coordinates unshifted."""
    return not (CHINA_LON_MIN <= lon <= CHINA_LON_MAX and CHINA_LAT_MIN <= lat <= CHINA_LAT_MAX)


def _transform_lat(x: float, y: float) -> float:
    ret = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * math.sqrt(abs(x))
    ret += (20.0 * math.sin(6.0 * x * math.pi) + 20.0 * math.sin(2.0 * x * math.pi)) * 2.0 / 3.0
    ret += (20.0 * math.sin(y * math.pi) + 40.0 * math.sin(y / 3.0 * math.pi)) * 2.0 / 3.0
    ret += (160.0 * math.sin(y / 12.0 * math.pi) + 320.0 * math.sin(y * math.pi / 30.0)) * 2.0 / 3.0
    return ret


def _transform_lon(x: float, y: float) -> float:
    ret = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * math.sqrt(abs(x))
    ret += (20.0 * math.sin(6.0 * x * math.pi) + 20.0 * math.sin(2.0 * x * math.pi)) * 2.0 / 3.0
    ret += (20.0 * math.sin(x * math.pi) + 40.0 * math.sin(x / 3.0 * math.pi)) * 2.0 / 3.0
    ret += (150.0 * math.sin(x / 12.0 * math.pi) + 300.0 * math.sin(x / 30.0 * math.pi)) * 2.0 / 3.0
    return ret


def _gcj02_offset(lon: float, lat: float) -> Point:
    """The GCJ-02 shift (degrees) at a WGS-84 point, ignoring the out-of-China rule."""
    dlat = _transform_lat(lon - 105.0, lat - 35.0)
    dlon = _transform_lon(lon - 105.0, lat - 35.0)
    radlat = lat / 180.0 * math.pi
    magic = 1 - KRASOVSKY_EE * math.sin(radlat) ** 2
    sqrtmagic = math.sqrt(magic)
    dlat = (dlat * 180.0) / ((KRASOVSKY_A * (1 - KRASOVSKY_EE)) / (magic * sqrtmagic) * math.pi)
    dlon = (dlon * 180.0) / (KRASOVSKY_A / sqrtmagic * math.cos(radlat) * math.pi)
    return dlon, dlat


def _invert(
    forward: Callable[[float, float], Point], lon: float, lat: float, start: Point
) -> Point:
    """Solve forward(p) = (lon, lat) by fixed-point iteration from ``start``.

    Works because every forward map here is the identity plus a slowly varying offset, so
    subtracting the residual is a contraction.
    """
    x, y = start
    for _ in range(_INVERSE_MAX_STEPS):
        fx, fy = forward(x, y)
        ex, ey = fx - lon, fy - lat
        x, y = x - ex, y - ey
        if abs(ex) < _INVERSE_TOLERANCE and abs(ey) < _INVERSE_TOLERANCE:
            break
    return x, y


def _wgs84_to_gcj02_unchecked(lon: float, lat: float) -> Point:
    dlon, dlat = _gcj02_offset(lon, lat)
    return lon + dlon, lat + dlat


def wgs84_to_gcj02(lon: float, lat: float) -> Point:
    if out_of_china(lon, lat):
        return lon, lat
    return _wgs84_to_gcj02_unchecked(lon, lat)


def gcj02_to_wgs84(lon: float, lat: float) -> Point:
    """Exact inverse of :func:`wgs84_to_gcj02` (to ~1e-12°), not the metre-level one-step one."""
    if out_of_china(lon, lat):
        return lon, lat
    # Iterate the unchecked map: a WGS-84 answer just outside the box would otherwise make the
    # iteration jump between the shifted and unshifted branches.
    return _invert(_wgs84_to_gcj02_unchecked, lon, lat, (lon, lat))


def _gcj02_to_bd09_unchecked(lon: float, lat: float) -> Point:
    z = math.hypot(lon, lat) + 0.00002 * math.sin(lat * BD09_X_PI)
    theta = math.atan2(lat, lon) + 0.000003 * math.cos(lon * BD09_X_PI)
    return z * math.cos(theta) + 0.0065, z * math.sin(theta) + 0.006


def gcj02_to_bd09(lon: float, lat: float) -> Point:
    # Outside China nothing is shifted, so Baidu's offset is not stacked on unshifted data.
    if out_of_china(lon, lat):
        return lon, lat
    return _gcj02_to_bd09_unchecked(lon, lat)


def bd09_to_gcj02(lon: float, lat: float) -> Point:
    """Exact inverse of :func:`gcj02_to_bd09`.

    Starts from the published closed form, which alone is off by up to ~2e-6°.
    """
    if out_of_china(lon, lat):
        return lon, lat
    x, y = lon - 0.0065, lat - 0.006
    z = math.hypot(x, y) - 0.00002 * math.sin(y * BD09_X_PI)
    theta = math.atan2(y, x) - 0.000003 * math.cos(x * BD09_X_PI)
    start = (z * math.cos(theta), z * math.sin(theta))
    return _invert(_gcj02_to_bd09_unchecked, lon, lat, start)


def wgs84_to_bd09(lon: float, lat: float) -> Point:
    return gcj02_to_bd09(*wgs84_to_gcj02(lon, lat))


def bd09_to_wgs84(lon: float, lat: float) -> Point:
    return gcj02_to_wgs84(*bd09_to_gcj02(lon, lat))


def _identity(lon: float, lat: float) -> Point:
    return lon, lat


_TO_WGS84: dict[CRS, Callable[[float, float], Point]] = {
    CRS.WGS84: _identity,
    CRS.CGCS2000: _identity,
    CRS.GCJ02: gcj02_to_wgs84,
    CRS.BD09: bd09_to_wgs84,
}
_FROM_WGS84: dict[CRS, Callable[[float, float], Point]] = {
    CRS.WGS84: _identity,
    CRS.CGCS2000: _identity,
    CRS.GCJ02: wgs84_to_gcj02,
    CRS.BD09: wgs84_to_bd09,
}


def to_wgs84(lon: float, lat: float, crs: CRS | str) -> Point:
    return _TO_WGS84[CRS.parse(crs)](lon, lat)


def from_wgs84(lon: float, lat: float, crs: CRS | str) -> Point:
    return _FROM_WGS84[CRS.parse(crs)](lon, lat)


def _converter(crs_from: CRS | str, crs_to: CRS | str) -> Callable[[float, float], Point]:
    source, target = CRS.parse(crs_from), CRS.parse(crs_to)
    if source is target:
        return _identity
    # Direct GCJ-02 ↔ BD-09 skips a needless (and slightly lossy) trip through WGS-84.
    if (source, target) == (CRS.GCJ02, CRS.BD09):
        return gcj02_to_bd09
    if (source, target) == (CRS.BD09, CRS.GCJ02):
        return bd09_to_gcj02
    to_wgs, from_wgs = _TO_WGS84[source], _FROM_WGS84[target]
    return lambda lon, lat: from_wgs(*to_wgs(lon, lat))


def _is_number(value: object) -> bool:
    # bool is an int subclass but never a coordinate.
    return isinstance(value, int | float) and not isinstance(value, bool)


def _convert_nested(coords: Any, convert: Callable[[float, float], Point]) -> list[Any]:
    if not isinstance(coords, list | tuple):
        raise ValidationFailed("GeoJSON coordinates must be nested arrays", value=coords)
    if coords and _is_number(coords[0]):
        if len(coords) < 2 or not all(_is_number(v) for v in coords):
            raise ValidationFailed("a GeoJSON position needs numeric [lon, lat]", value=coords)
        lon, lat = convert(float(coords[0]), float(coords[1]))
        # Altitude and any further members are kept: the offsets are horizontal only.
        return [lon, lat, *coords[2:]]
    return [_convert_nested(child, convert) for child in coords]


def convert_geometry_coords(
    coords: Sequence[Any], crs_from: CRS | str, crs_to: CRS | str
) -> list[Any]:
    """Convert a GeoJSON ``coordinates`` array of any geometry type (Point … MultiPolygon).

    Equal input positions map to equal outputs, so closed rings stay closed.
    """
    return _convert_nested(coords, _converter(crs_from, crs_to))


def to_wgs84_many(
    lons: Sequence[float], lats: Sequence[float], crs: CRS | str
) -> tuple[list[float], list[float]]:
    """Column-wise :func:`to_wgs84`, for bulk imports that arrive as separate columns."""
    if len(lons) != len(lats):
        raise ValidationFailed(
            "longitude and latitude columns differ in length", lons=len(lons), lats=len(lats)
        )
    convert = _TO_WGS84[CRS.parse(crs)]
    out_lons: list[float] = []
    out_lats: list[float] = []
    for lon, lat in zip(lons, lats, strict=True):
        x, y = convert(lon, lat)
        out_lons.append(x)
        out_lats.append(y)
    return out_lons, out_lats


M_PER_DEG_LAT = 111_320.0  # metres per degree of latitude (and of longitude at the equator)


def metres(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    """Equirectangular distance in metres between two WGS-84 points: exact enough at the
    scale of a street (errors well under 1 % within tens of kilometres)."""
    x = (lon2 - lon1) * math.cos(math.radians((lat1 + lat2) / 2)) * M_PER_DEG_LAT
    return math.hypot(x, (lat2 - lat1) * M_PER_DEG_LAT)
