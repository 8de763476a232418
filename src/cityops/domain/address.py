"""Chinese address strings → their parts (地址解析), for the gazetteer geocoder.

Handles what hotline operators and citizens actually type: with or without city and district,
街道/镇, a road and a door number (``滨江路123号``), a lane (``88弄``), an intersection
(``望江路与滨江路交叉口``) or a place name (``望江公园``), with noise such as ``附近`` or
``门口`` around it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_CN_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6,
              "七": 7, "八": 8, "九": 9}  # fmt: skip
_NOISE = re.compile(
    r"(附近|旁边|旁|对面|门口|门前|东侧|西侧|南侧|北侧|东边|西边|南边|北边|一带|周边|左右|这里|那里"
    r"|[，,。.、；;：:！!？?\s（）()【】\[\]])"
)
_CITY = re.compile(r"^(?P<v>[\u4e00-\u9fa5]{2,8}?市)(?!场)")  # not 菜市场
_DISTRICT = re.compile(r"^(?P<v>[\u4e00-\u9fa5]{1,8}?(?:新区|区|县))")
_STREET = re.compile(r"^(?P<v>[\u4e00-\u9fa5]{1,8}?(?:街道|镇|乡))")
_ROAD = re.compile(r"(?P<v>[\u4e00-\u9fa5A-Za-z0-9]{1,12}?(?:大道|公路|路|街|巷|道))")
_NUMBER = re.compile(r"(?P<v>[0-9零〇一二两三四五六七八九十百]+)\s*号")
_LANE = re.compile(r"(?P<v>[0-9零〇一二两三四五六七八九十百]+)\s*弄")
_CROSSING = re.compile(r"(?P<a>.+?(?:大道|公路|路|街))(?:与|和|/|、)(?P<b>.+?(?:大道|公路|路|街))"
                       r"(?:交叉口|路口|交汇处|十字路口|口)?$")  # fmt: skip


@dataclass(frozen=True, slots=True)
class AddressParts:
    text: str  # the cleaned input
    city: str | None = None
    district: str | None = None
    street: str | None = None  # 街道 / 镇 / 乡
    road: str | None = None
    number: int | None = None  # 门牌号
    lane: int | None = None  # 弄
    crossing: tuple[str, str] | None = None
    place: str | None = None  # what is left: a POI or building name


def cn_number(text: str) -> int | None:
    """``123`` or ``一百二十三`` → 123; ``None`` when it is not a number."""
    if text.isdigit():
        return int(text)
    total, current = 0, 0
    for ch in text:
        if ch in _CN_DIGITS:
            current = _CN_DIGITS[ch]
        elif ch == "十":
            total += (current or 1) * 10
            current = 0
        elif ch == "百":
            total += (current or 1) * 100
            current = 0
        else:
            return None
    return total + current or None


def _take(pattern: re.Pattern[str], text: str) -> tuple[str | None, str]:
    match = pattern.match(text)
    if not match:
        return None, text
    return match.group("v"), text[match.end() :]


def parse_address(raw: str) -> AddressParts:
    """Split an address into administrative parts, road, door number and place name."""
    text = _NOISE.sub("", raw)
    rest = text
    city, rest = _take(_CITY, rest)
    district, rest = _take(_DISTRICT, rest)
    street, rest = _take(_STREET, rest)
    crossing = None
    if m := _CROSSING.match(rest):
        crossing = (m.group("a"), m.group("b"))
        return AddressParts(text, city, district, street, crossing=crossing)
    road = number = lane = None
    if m := _ROAD.search(rest):
        road = m.group("v")
        tail = rest[m.end() :]
        if n := _NUMBER.match(tail) or _NUMBER.search(tail):
            number = cn_number(n.group("v"))
        if lane_match := _LANE.match(tail):
            lane = cn_number(lane_match.group("v"))
            if n := _NUMBER.search(tail[lane_match.end() :]):
                number = cn_number(n.group("v"))
        place = (rest[: m.start()] + _strip_numbers(tail)).strip() or None
    else:
        place = _strip_numbers(rest).strip() or None
    return AddressParts(text, city, district, street, road, number, lane, None, place)


def _strip_numbers(text: str) -> str:
    return _LANE.sub("", _NUMBER.sub("", text))
