"""Gazetteer geocoding (地址匹配): an address string → a point with a confidence.

Tried in order of precision: a door plate (门牌), a lane (弄) as a door plate, numbers
interpolated along the road, a road intersection, a place name (POI), the road alone. Where
the text names a district or street, candidates elsewhere are dropped. Anything below the
caller's threshold goes to a person (the manual-location queue), never silently placed.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from shapely.geometry import LineString

from cityops.domain.address import AddressParts, parse_address


@dataclass(frozen=True, slots=True)
class Place:
    """One gazetteer entry: kind ``road``, ``poi`` or ``address`` (door plate)."""

    kind: str
    name: str
    lon: float
    lat: float
    district: str | None = None
    street: str | None = None
    road: str | None = None
    number: int | None = None
    line: tuple[tuple[float, float], ...] | None = None  # a road's centre line


@dataclass(frozen=True, slots=True)
class Geocoded:
    lon: float
    lat: float
    confidence: float  # 0–1
    method: str  # door_plate | lane | interpolated | crossing | poi | road
    matched: str  # what it matched, for the person who checks it

    def as_dict(self) -> dict[str, object]:
        return {"lon": self.lon, "lat": self.lat, "confidence": self.confidence,
                "method": self.method, "matched": self.matched}  # fmt: skip


def _fits(place: Place, parts: AddressParts) -> bool:
    """A place fits unless the text names another district or street."""
    if parts.district and place.district and parts.district != place.district:
        return False
    return not (parts.street and place.street and parts.street != place.street)


class Geocoder:
    def __init__(self, places: Iterable[Place]) -> None:
        self._plates: dict[tuple[str, int], list[Place]] = defaultdict(list)
        self._by_road: dict[str, list[Place]] = defaultdict(list)
        self._roads: dict[str, list[Place]] = defaultdict(list)
        self._pois: list[Place] = []
        for p in places:
            if p.kind == "address" and p.road and p.number is not None:
                self._plates[(p.road, p.number)].append(p)
                self._by_road[p.road].append(p)
            elif p.kind == "road":
                self._roads[p.name].append(p)
            elif p.kind == "poi":
                self._pois.append(p)
        for plates in self._by_road.values():
            plates.sort(key=lambda p: p.number or 0)
        # Longest names first, so 望江公园 wins over 望江 when both exist.
        self._pois.sort(key=lambda p: -len(p.name))

    def __len__(self) -> int:
        return sum(map(len, self._plates.values())) + len(self._pois) + len(self._roads)

    def geocode(self, text: str) -> Geocoded | None:
        parts = parse_address(text)
        for attempt in (self._door_plate, self._crossing, self._poi, self._interpolated,
                        self._road):  # fmt: skip
            found = attempt(parts)
            if found is not None:
                return found
        return None

    def _pick(self, places: list[Place], parts: AddressParts) -> tuple[Place, bool] | None:
        fitting = [p for p in places if _fits(p, parts)]
        if not fitting:
            return None
        return fitting[0], len(fitting) == 1  # ambiguous when the road exists in two places

    def _door_plate(self, parts: AddressParts) -> Geocoded | None:
        if not parts.road:
            return None
        for number, method, confidence in ((parts.lane, "lane", 0.85),
                                           (parts.number, "door_plate", 0.95)):  # fmt: skip
            if number is None or (method == "door_plate" and parts.lane is not None):
                continue
            picked = self._pick(self._plates.get((parts.road, number), []), parts)
            if picked:
                place, unique = picked
                return Geocoded(place.lon, place.lat, confidence if unique else 0.6, method,
                                place.name)  # fmt: skip
        return None

    def _interpolated(self, parts: AddressParts) -> Geocoded | None:
        number = parts.lane if parts.lane is not None else parts.number
        if not parts.road or number is None:
            return None
        same_side = [p for p in self._by_road.get(parts.road, []) if _fits(p, parts)
                     and (p.number or 0) % 2 == number % 2]  # fmt: skip
        below = [p for p in same_side if (p.number or 0) < number]
        above = [p for p in same_side if (p.number or 0) > number]
        if not below or not above:
            return None
        lo, hi = below[-1], above[0]
        t = (number - (lo.number or 0)) / ((hi.number or 0) - (lo.number or 0))
        return Geocoded(lo.lon + t * (hi.lon - lo.lon), lo.lat + t * (hi.lat - lo.lat), 0.75,
                        "interpolated", f"{lo.name}–{hi.name}")  # fmt: skip

    def _crossing(self, parts: AddressParts) -> Geocoded | None:
        if not parts.crossing:
            return None
        a, b = (self._pick(self._roads.get(name, []), parts) for name in parts.crossing)
        if not a or not b or not a[0].line or not b[0].line:
            return None
        meet = LineString(a[0].line).intersection(LineString(b[0].line))
        if meet.is_empty:
            return None
        point = meet.representative_point()
        return Geocoded(point.x, point.y, 0.85, "crossing", "与".join(parts.crossing))

    def _poi(self, parts: AddressParts) -> Geocoded | None:
        # The parser may have taken a POI's own 区/路 prefix for a district or road
        # (滨江区人民医院), so the whole text is tried as well as the remainder.
        texts = [t for t in (parts.place, parts.text) if t]
        for place in self._pois:
            if not _fits(place, parts):
                continue
            if place.name in texts:
                return Geocoded(place.lon, place.lat, 0.9, "poi", place.name)
            if any(place.name in t for t in texts):
                return Geocoded(place.lon, place.lat, 0.8, "poi", place.name)
        return None

    def _road(self, parts: AddressParts) -> Geocoded | None:
        if not parts.road:
            return None
        picked = self._pick(self._roads.get(parts.road, []), parts)
        if not picked:
            return None
        place, _ = picked
        # The road alone says little: somewhere along kilometres of it.
        return Geocoded(place.lon, place.lat, 0.4, "road", place.name)
