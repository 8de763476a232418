"""Chinese address parsing and gazetteer geocoding."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cityops.domain.address import cn_number, parse_address
from cityops.domain.geocode import Geocoder, Place


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("申江市滨江区外滩湾街道滨江路123号",
         {"city": "申江市", "district": "滨江区", "street": "外滩湾街道", "road": "滨江路",
          "number": 123}),
        ("滨江路123号附近", {"road": "滨江路", "number": 123, "district": None}),
        ("浦川区花木路88弄12号",
         {"district": "浦川区", "road": "花木路", "lane": 88, "number": 12}),
        ("临港大道一百二十号门口", {"road": "临港大道", "number": 120}),
        ("海湾新区泥湾镇海港大道7号", {"district": "海湾新区", "street": "泥湾镇", "number": 7}),
        ("望江路与滨江路交叉口", {"crossing": ("望江路", "滨江路"), "road": None}),
        ("望江公园东门", {"place": "望江公园东门", "road": None}),
        ("花木菜市场", {"place": "花木菜市场", "city": None}),
    ],
)  # fmt: skip
def test_parse_address(text: str, expected: dict[str, object]) -> None:
    parts = parse_address(text)
    for key, value in expected.items():
        assert getattr(parts, key) == value, key


@pytest.mark.parametrize(
    ("text", "value"),
    [("7", 7), ("十", 10), ("十二", 12), ("二十", 20), ("一百零五", 105), ("两百", 200),
     ("号", None)],
)
def test_cn_number(text: str, value: int | None) -> None:
    assert cn_number(text) == value


@given(st.text(max_size=40))
def test_parse_never_crashes(text: str) -> None:
    parts = parse_address(text)
    assert parts.number is None or parts.number >= 0


ROAD = Place("road", "滨江路", 121.5, 31.13, road="滨江路",
             line=((121.40, 31.13), (121.60, 31.13)))  # fmt: skip
CROSS = Place("road", "申江大道", 121.45, 31.2, road="申江大道",
              line=((121.45, 31.10), (121.45, 31.30)))  # fmt: skip
PLATES = [
    Place("address", f"滨江路{n}号", 121.40 + n * 0.001, 31.1301 if n % 2 else 31.1299,
          district="滨江区" if n < 100 else "浦川区", road="滨江路", number=n)
    for n in range(1, 200)
]  # fmt: skip
POIS = [Place("poi", "望江公园", 121.41, 31.25), Place("poi", "望江公园管理处", 121.42, 31.25),
        Place("poi", "滨江区人民医院", 121.43, 31.21)]  # fmt: skip
GEO = Geocoder([ROAD, CROSS, *PLATES, *POIS])


def test_door_plate_and_lane() -> None:
    hit = GEO.geocode("滨江路15号旁边")
    assert hit is not None and hit.method == "door_plate" and hit.confidence >= 0.9
    assert (hit.lon, hit.lat) == (PLATES[14].lon, PLATES[14].lat)
    lane = GEO.geocode("滨江路15弄3号")
    assert lane is not None and lane.method == "lane" and lane.matched == "滨江路15号"


def test_district_filters_candidates() -> None:
    assert GEO.geocode("浦川区滨江路15号") is not None  # road known; plate 15 is in 滨江区 …
    assert GEO.geocode("浦川区滨江路15号").method != "door_plate"  # type: ignore[union-attr]
    hit = GEO.geocode("浦川区滨江路150号")
    assert hit is not None and hit.method == "door_plate"


def test_interpolation_crossing_poi_and_road() -> None:
    sparse = Geocoder([p for p in PLATES if p.number in (11, 21)] + [ROAD])
    hit = sparse.geocode("滨江路15号")
    assert hit is not None and hit.method == "interpolated" and 0.6 < hit.confidence < 0.9
    assert PLATES[10].lon < hit.lon < PLATES[20].lon
    cross = GEO.geocode("滨江路与申江大道交叉口")
    assert cross is not None and cross.method == "crossing"
    assert (round(cross.lon, 6), round(cross.lat, 6)) == (121.45, 31.13)
    park = GEO.geocode("望江公园管理处门口")
    assert park is not None and park.matched == "望江公园管理处"  # the longer name wins
    hospital = GEO.geocode("滨江区人民医院急诊")
    assert hospital is not None and hospital.matched == "滨江区人民医院"
    road = GEO.geocode("滨江路9999号")
    assert road is not None and road.method == "road" and road.confidence < 0.6


def test_unknown_address_is_none() -> None:
    assert GEO.geocode("火星路1号") is None
    assert GEO.geocode("") is None
