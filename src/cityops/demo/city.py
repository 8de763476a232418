"""A deterministic demo city, 申江市, for demos, the simulator and end-to-end tests.

申江市 and its code ``319900`` are fictional on purpose: province prefix 31 is Shanghai's, but
``3199`` is not on the national list, so demo data can never be mistaken for a real jurisdiction.
The structure is modelled on a Shanghai district: 3 districts × 4 streets/towns (街道/镇) ×
5 communities (居委会/村) × 10 grid cells = 600 grids on a slightly irregular lattice over
lon 121.40–121.62, lat 31.12–31.30 (WGS-84). Grid cells share vertices exactly, so they tile
without gaps or overlaps, and every parent polygon is the union of its grids.

Every demo user's password is :data:`DEMO_PASSWORD`.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import shapely
from shapely.geometry import Polygon
from shapely.geometry.base import BaseGeometry
from shapely.ops import unary_union

from cityops.domain.model import DepartmentLevel, RegionLevel, Role
from cityops.domain.regions import RegionSpec
from cityops.domain.taxonomy import Taxonomy, load_default_taxonomy

DEMO_PASSWORD = "cityops-demo"
CITY_CODE = "319900"
CITY_NAME = "申江市"

_LON0, _LON1, _LAT0, _LAT1 = 121.40, 121.62, 31.12, 31.30
_COLS, _ROWS = 30, 20  # grid cells: 3 districts × 10 columns, 2 street rows × 10 rows
_JITTER = 0.18  # of a cell; below 0.25 keeps every quadrilateral convex

# (district suffix, name, pinyin slug, [(street suffix, name)]) — 街道 get 0xx codes, 镇 1xx.
_DISTRICTS: list[tuple[str, str, str, list[tuple[str, str]]]] = [
    ("01", "滨江区", "bj",
     [("001", "外滩湾街道"), ("002", "陆家渡街道"), ("003", "塘桥口街道"), ("004", "花木林街道")]),
    ("02", "浦川区", "pc",
     [("001", "新川街道"), ("002", "华泾街道"), ("003", "龙华湾街道"), ("101", "三林塘镇")]),
    ("03", "海湾新区", "hw",
     [("101", "海港镇"), ("102", "泥湾镇"), ("103", "书苑镇"), ("104", "芦潮港镇")]),
]  # fmt: skip

# 60 community name stems, 5 per street in street order.
_COMMUNITY_STEMS = (
    "海棠", "梧桐", "临江", "望江", "金陵", "云锦", "银杏", "玉兰", "春晖", "秋实",
    "紫藤", "丁香", "芳草", "清波", "景园", "东明", "南码头", "塘西", "长青", "明珠",
    "新川", "川北", "川南", "晨阳", "德勤", "华泾", "港口", "北杨", "馨苑", "景泰",
    "龙华", "云台", "徐浦", "龙吴", "凌云", "三林", "杨思", "东城", "永泰", "懿德",
    "海港", "滴水湖", "临港", "果园", "新芦", "泥城", "彭庙", "公平", "横港", "新泐",
    "书苑", "舒航", "塘北", "洼港", "黄华", "芦潮", "港城", "同乐", "渔港", "东滩",
)  # fmt: skip

ROAD_NAMES = (
    "滨江路", "望江路", "浦川大道", "陆家渡路", "塘桥路", "花木路", "新川路", "华泾路",
    "龙华湾路", "三林路", "海港大道", "泥湾公路", "书苑路", "芦潮港路", "申江大道",
    "东明路", "银杏路", "玉兰路", "临港大道", "海湾路", "沪南公路", "环湖西路", "云锦路",
    "春晖路",
)  # fmt: skip
STREET_NAMES = (
    "梧桐街", "海棠街", "老街", "东市街", "西市街", "码头街", "云台街", "紫藤街", "芳草街",
    "港城街", "渔港街", "书院街",
)  # fmt: skip

# Default owners per owner_hint (see taxonomy.yaml); "{d}" marks one department per district.
_CITY_DEPARTMENTS: list[tuple[str, str, list[str]]] = [
    ("water", "申江市供水集团", ["water"]),
    ("gas", "申江燃气集团", ["gas"]),
    ("power", "国网申江供电公司", ["power"]),
    ("telecom", "申江市通信管线管理办公室", ["telecom"]),
    ("roads", "申江市道路运行管理中心", ["roads"]),
    ("traffic-police", "申江市公安局交通警察支队", ["traffic_police"]),
    ("market", "申江市市场监督管理局", ["market"]),
    ("ecology", "申江市生态环境局", ["ecology"]),
    ("emergency", "申江市应急管理局", ["emergency"]),
    ("housing", "申江市房屋管理局", ["housing"]),
]
_DISTRICT_DEPARTMENTS: list[tuple[str, str, list[str]]] = [
    ("{d}-greening", "{name}绿化和市容管理局", ["sanitation", "greening"]),
    ("{d}-chengguan", "{name}城市管理行政执法局", ["urban_management"]),
]
_NIGHT = {"start": "20:00", "end": "06:00"}  # wraps midnight


@dataclass(frozen=True)
class DemoCity:
    """Everything a demo deployment needs; plain dicts for what the services import."""

    city_code: str
    city_name: str
    regions: tuple[RegionSpec, ...]  # parents before children
    departments: tuple[dict[str, Any], ...]
    rules: tuple[dict[str, Any], ...]
    users: tuple[dict[str, Any], ...]
    road_names: tuple[str, ...] = ROAD_NAMES
    street_names: tuple[str, ...] = STREET_NAMES
    _by_code: dict[str, RegionSpec] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_code", {r.code: r for r in self.regions})

    def region(self, code: str) -> RegionSpec:
        return self._by_code[code]

    def of_level(self, level: RegionLevel) -> list[RegionSpec]:
        return [r for r in self.regions if r.level is level]

    @property
    def grids(self) -> list[RegionSpec]:
        return self.of_level(RegionLevel.GRID)

    def regions_geojson(self) -> dict[str, Any]:
        """A FeatureCollection that :func:`parse_region_features` accepts as is."""
        return {
            "type": "FeatureCollection",
            "features": [
                {
                    "type": "Feature",
                    "properties": {
                        "code": r.code,
                        "name": r.name,
                        "level": r.level.value,
                        "parent": r.parent_code,
                    },
                    # Via JSON so coordinates are lists, as a file read from disk would give.
                    "geometry": json.loads(shapely.to_geojson(r.geometry))
                    if r.geometry is not None
                    else None,
                }
                for r in self.regions
            ],
        }

    def sample_point(self, grid_code: str, rng: random.Random) -> tuple[float, float]:
        """A (lon, lat) strictly inside the grid cell, rounded to ~0.1 m like a GPS fix."""
        geometry = self._by_code[grid_code].geometry
        if geometry is None:
            raise ValueError(f"region {grid_code} has no geometry")
        minx, miny, maxx, maxy = geometry.bounds
        for _ in range(200):
            x, y = round(rng.uniform(minx, maxx), 6), round(rng.uniform(miny, maxy), 6)
            if shapely.contains_xy(geometry, x, y):
                return x, y
        point = geometry.representative_point()  # practically unreachable for convex cells
        return point.x, point.y

    def address(self, grid_code: str, rng: random.Random) -> str:
        """A plausible street address in the grid's street, e.g. ``外滩湾街道滨江路123号``."""
        street = self._by_code[grid_code[:9]]
        # Roads are tied to the community so reports from one place read consistently.
        base = int(grid_code[6:12])
        if rng.random() < 0.8:
            road = self.road_names[(base + rng.randrange(2)) % len(self.road_names)]
            return f"{street.name}{road}{rng.randint(1, 999)}号"
        lane = self.street_names[base % len(self.street_names)]
        return f"{street.name}{lane}{rng.randint(1, 200)}弄{rng.randint(1, 60)}号"


def _lattice(rng: random.Random) -> list[list[tuple[float, float]]]:
    """Vertex [col][row]; all but the 4 corners jitter, so the outline is irregular too."""
    dx, dy = (_LON1 - _LON0) / _COLS, (_LAT1 - _LAT0) / _ROWS
    vertices = []
    for i in range(_COLS + 1):
        column = []
        for j in range(_ROWS + 1):
            corner = i in (0, _COLS) and j in (0, _ROWS)
            jx = 0.0 if corner else rng.uniform(-_JITTER, _JITTER)
            jy = 0.0 if corner else rng.uniform(-_JITTER, _JITTER)
            # Rounded once here, so neighbouring cells share bit-identical vertices.
            column.append((round(_LON0 + (i + jx) * dx, 6), round(_LAT0 + (j + jy) * dy, 6)))
        vertices.append(column)
    return vertices


def _union(geometries: Iterable[BaseGeometry]) -> BaseGeometry:
    return shapely.orient_polygons(unary_union(list(geometries)))


def _build_regions(rng: random.Random) -> list[RegionSpec]:
    v = _lattice(rng)
    stems = iter(_COMMUNITY_STEMS)
    regions: list[RegionSpec] = []
    districts: list[RegionSpec] = []
    for d, (d_suffix, d_name, _slug, streets) in enumerate(_DISTRICTS):
        d_code = CITY_CODE[:4] + d_suffix
        street_specs: list[RegionSpec] = []
        for s, (s_suffix, s_name) in enumerate(streets):
            s_code = d_code + s_suffix
            town = s_name.endswith("镇")
            # Streets sit 2×2 in a district, north-west first; each is 5 columns × 10 rows.
            col0, row0 = d * 10 + (s % 2) * 5, (1 - s // 2) * 10
            community_specs: list[RegionSpec] = []
            for m in range(5):
                # Towns keep 2 residents' committees (0xx) and 3 villages (2xx), as in Shanghai.
                village = town and m >= 2
                m_code = s_code + (f"{201 + m - 2}" if village else f"{m + 1:03d}")
                m_name = next(stems) + ("村" if village else "居委会")
                top = row0 + 10 - 2 * m  # communities run north to south, 2 rows each
                grid_specs = []
                for g in range(10):
                    c, r = col0 + g % 5, top - 1 - g // 5
                    cell = Polygon([v[c][r], v[c + 1][r], v[c + 1][r + 1], v[c][r + 1]])
                    grid_specs.append(
                        RegionSpec(
                            f"{m_code}{g + 1:02d}", f"{m_name}第{g + 1}网格",
                            RegionLevel.GRID, m_code, cell,
                        )
                    )  # fmt: skip
                community_specs.append(
                    RegionSpec(
                        m_code, m_name, RegionLevel.COMMUNITY, s_code,
                        _union(x.geometry for x in grid_specs),
                    )
                )  # fmt: skip
                regions += grid_specs
            street_specs.append(
                RegionSpec(
                    s_code, s_name, RegionLevel.STREET, d_code,
                    _union(x.geometry for x in community_specs),
                )
            )  # fmt: skip
            regions += community_specs
        districts.append(
            RegionSpec(
                d_code, d_name, RegionLevel.DISTRICT, CITY_CODE,
                _union(x.geometry for x in street_specs),
            )
        )  # fmt: skip
        regions += street_specs
    city = RegionSpec(
        CITY_CODE, CITY_NAME, RegionLevel.CITY, None, _union(x.geometry for x in districts)
    )
    regions += [*districts, city]
    depth = list(RegionLevel)
    return sorted(regions, key=lambda r: (depth.index(r.level), r.code))


def _department(
    code: str, name: str, level: DepartmentLevel, region: str, kinds: list[str]
) -> dict[str, Any]:
    return {"code": code, "name": name, "level": level.value, "region_code": region, "kinds": kinds}


def _build_departments() -> list[dict[str, Any]]:
    departments = [
        _department(code, name, DepartmentLevel.CITY, CITY_CODE, kinds)
        for code, name, kinds in _CITY_DEPARTMENTS
    ]
    for d_suffix, d_name, slug, _streets in _DISTRICTS:
        for code, name, kinds in _DISTRICT_DEPARTMENTS:
            departments.append(
                _department(
                    code.format(d=slug), name.format(name=d_name), DepartmentLevel.DISTRICT,
                    CITY_CODE[:4] + d_suffix, kinds,
                )
            )  # fmt: skip
    # Special units that exist for the overrides below, not as default owners.
    departments.append(_department(
        "bj-night-squad", "滨江区城管执法局夜间中队", DepartmentLevel.DISTRICT, "319901",
        ["urban_management"],
    ))  # fmt: skip
    departments.append(_department(
        "wtw-squad", "外滩湾街道城管中队", DepartmentLevel.STREET, "319901001",
        ["urban_management"],
    ))  # fmt: skip
    return departments


def _rule(
    category: str, area: str, department: str, window: dict[str, str] | None = None
) -> dict[str, Any]:
    return {"category": category, "area": area, "department": department, "window": window}


def _build_rules(taxonomy: Taxonomy, departments: list[dict[str, Any]]) -> list[dict[str, Any]]:
    special = {"bj-night-squad", "wtw-squad"}
    owners: dict[str, list[dict[str, Any]]] = {}
    for dept in departments:
        if dept["code"] not in special:
            for kind in dept["kinds"]:
                owners.setdefault(kind, []).append(dept)
    rules: list[dict[str, Any]] = []
    for category in taxonomy:
        for dept in owners.get(category.owner_hint or "", []):
            rules.append(_rule(category.key, dept["region_code"], dept["code"]))
    # No "*" fallback on purpose: routing ranks area depth before category, so a district-wide
    # "*" would outrank every city-level owner (gas, water …) in that district.
    rules += [
        # Night markets are policed by the night squad; daytime stays with the bureau.
        _rule("E0502", "319901", "bj-night-squad", _NIGHT),  # 占道经营
        _rule("E0506", "319901", "bj-night-squad", _NIGHT),  # 露天烧烤
        # 外滩湾 runs its own squad for advertising and bicycle parking on the Bund-side streets.
        _rule("E02", "319901001", "wtw-squad"),  # 宣传广告 (whole major class)
        _rule("E0505", "319901001", "wtw-squad"),  # 非机动车乱停放
    ]
    return rules


def _user(
    username: str, display_name: str, role: Role, scope: str | None = None,
    department: str | None = None,
) -> dict[str, Any]:  # fmt: skip
    return {
        "username": username,
        "display_name": display_name,
        "role": role.value,
        "scope": scope,
        "department": department,
        "password": DEMO_PASSWORD,
    }


def _build_users(
    regions: list[RegionSpec], departments: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    users = [
        _user("admin", "系统管理员", Role.ADMIN),
        _user("commander", "城运中心指挥长 周明", Role.COMMANDER, CITY_CODE),
        _user("dispatcher", "派遣员 李娜", Role.DISPATCHER, CITY_CODE),
        _user("acceptor", "受理员 王芳", Role.ACCEPTOR, CITY_CODE),
        _user("leader", "值班长 陈刚", Role.SHIFT_LEADER, CITY_CODE),
        _user("auditor", "审计员 赵敏", Role.AUDITOR),
        _user("citizen", "市民 张小明", Role.CITIZEN),
    ]
    streets = [r for r in regions if r.level is RegionLevel.STREET]
    users += [
        _user(f"inspector{n:02d}", f"监督员（{s.name}）", Role.INSPECTOR, s.code)
        for n, s in enumerate(streets, start=1)
    ]
    users += [
        _user(f"handler-{d['code']}", f"处置员（{d['name']}）", Role.HANDLER, d["region_code"],
              d["code"])
        for d in departments
    ]  # fmt: skip
    return users


def generate_demo_city(seed: int = 7, taxonomy: Taxonomy | None = None) -> DemoCity:
    """Build 申江市; the same seed always gives the same geometry (names never vary)."""
    taxonomy = taxonomy or load_default_taxonomy()
    regions = _build_regions(random.Random(seed))
    departments = _build_departments()
    return DemoCity(
        city_code=CITY_CODE,
        city_name=CITY_NAME,
        regions=tuple(regions),
        departments=tuple(departments),
        rules=tuple(_build_rules(taxonomy, departments)),
        users=tuple(_build_users(regions, departments)),
    )
