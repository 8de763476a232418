"""The demo city 申江市: structure, geometry, responsibility coverage and users."""

from __future__ import annotations

import random
from collections import Counter
from datetime import time
from typing import Any

import pytest
import shapely
from shapely.strtree import STRtree

from cityops.demo.city import DEMO_PASSWORD, DemoCity, generate_demo_city
from cityops.domain.model import RegionLevel, Role
from cityops.domain.regions import code_problems, parse_region_features
from cityops.domain.taxonomy import load_default_taxonomy


@pytest.fixture(scope="module")
def city() -> DemoCity:
    return generate_demo_city()


def test_region_counts(city: DemoCity) -> None:
    counts = Counter(r.level for r in city.regions)
    assert counts == {
        RegionLevel.CITY: 1, RegionLevel.DISTRICT: 3, RegionLevel.STREET: 12,
        RegionLevel.COMMUNITY: 60, RegionLevel.GRID: 600,
    }  # fmt: skip
    children = Counter(r.parent_code for r in city.regions)
    assert children[city.city_code] == 3
    assert {children[r.code] for r in city.of_level(RegionLevel.DISTRICT)} == {4}
    assert {children[r.code] for r in city.of_level(RegionLevel.STREET)} == {5}
    assert {children[r.code] for r in city.of_level(RegionLevel.COMMUNITY)} == {10}
    assert city.region("319900").name == "申江市"
    assert len({r.name for r in city.regions}) == len(city.regions)


def test_codes_valid(city: DemoCity) -> None:
    for region in city.regions:
        assert code_problems(region.code, region.level, region.parent_code) == [], region


def test_geojson_round_trips(city: DemoCity) -> None:
    specs = parse_region_features(city.regions_geojson())
    assert [(s.code, s.name, s.level, s.parent_code) for s in specs] == [
        (r.code, r.name, r.level, r.parent_code) for r in city.regions
    ]
    assert all(s.geometry is not None and s.geometry.is_valid for s in specs)


def test_grids_tile_the_city(city: DemoCity) -> None:
    grids: list[Any] = [g.geometry for g in city.grids]
    tree = STRtree(grids)
    for i, grid in enumerate(grids):
        for j in tree.query(grid, predicate="intersects"):
            if j != i:
                assert grid.intersection(grids[j]).area < 1e-12, (i, j)
    city_polygon: Any = city.region(city.city_code).geometry
    union = shapely.union_all(grids)
    assert city_polygon.geom_type == "Polygon" and not city_polygon.interiors  # no gaps
    assert union.area == pytest.approx(city_polygon.area, rel=1e-9)
    assert sum(g.area for g in grids) == pytest.approx(city_polygon.area, rel=1e-9)
    minx, miny, maxx, maxy = city_polygon.bounds
    assert 121.39 < minx < maxx < 121.63 and 31.11 < miny < maxy < 31.31


def test_parents_are_unions_of_children(city: DemoCity) -> None:
    for parent in city.regions:
        if parent.level is RegionLevel.GRID:
            continue
        kids = [r.geometry for r in city.regions if r.parent_code == parent.code]
        assert shapely.union_all(kids).symmetric_difference(parent.geometry).area < 1e-12


def test_generation_is_deterministic() -> None:
    a, b, c = generate_demo_city(7), generate_demo_city(7), generate_demo_city(8)
    assert a.regions_geojson() == b.regions_geojson()
    assert a.rules == b.rules and a.users == b.users
    assert [r.code for r in a.regions] == [r.code for r in c.regions]
    assert a.regions_geojson() != c.regions_geojson()  # the seed moves the lattice


def test_sample_point_and_address(city: DemoCity) -> None:
    rng = random.Random(1)
    for grid in city.grids[::37]:
        lon, lat = city.sample_point(grid.code, rng)
        assert shapely.contains_xy(grid.geometry, lon, lat)
        address = city.address(grid.code, rng)
        assert address.startswith(city.region(grid.code[:9]).name) and address.endswith("号")


def test_departments(city: DemoCity) -> None:
    assert 14 <= len(city.departments) <= 18
    codes = [d["code"] for d in city.departments]
    assert len(set(codes)) == len(codes)
    hints = load_default_taxonomy().owner_hints
    region_codes = {r.code for r in city.regions}
    for dept in city.departments:
        assert set(dept) == {"code", "name", "level", "region_code", "kinds"}
        assert dept["region_code"] in region_codes and set(dept["kinds"]) <= hints
        assert dept["level"] == city.region(dept["region_code"]).level.value


def test_rules_are_unique_and_reference_departments(city: DemoCity) -> None:
    keys = [(r["category"], r["area"], str(r["window"])) for r in city.rules]
    assert len(set(keys)) == len(keys)
    departments = {d["code"] for d in city.departments}
    region_codes = {r.code for r in city.regions}
    assert all(r["department"] in departments and r["area"] in region_codes for r in city.rules)
    night = [r for r in city.rules if r["window"]]
    assert night and all(r["window"] == {"start": "20:00", "end": "06:00"} for r in night)


def _ancestors_or_self(city: DemoCity, code: str) -> list[str]:
    chain = [code]
    while (parent := city.region(chain[-1]).parent_code) is not None:
        chain.append(parent)
    return chain


def test_every_category_in_every_street_is_covered(city: DemoCity) -> None:
    taxonomy = load_default_taxonomy()
    kinds = {d["code"]: set(d["kinds"]) for d in city.departments}
    for street in city.of_level(RegionLevel.STREET):
        areas = set(_ancestors_or_self(city, street.code))
        for category in taxonomy:
            matching = [
                r for r in city.rules
                if r["area"] in areas and r["category"] in {category.key, category.major_key, "*"}
            ]  # fmt: skip
            assert matching, (street.code, category.key)
            # Beyond the "*" fallback, an all-day rule names a department of the right kind.
            assert any(
                r["window"] is None and r["category"] != "*"
                and category.owner_hint in kinds[r["department"]]
                for r in matching
            ), (street.code, category.key)  # fmt: skip


def test_rules_route_every_category_to_its_owner(city: DemoCity) -> None:
    """Through the real routing engine, whose specificity order the rules must respect."""
    from cityops.domain.routing import ResponsibilityRule, RuleIndex, TimeWindow, check_rules

    def window(w: dict[str, str] | None) -> TimeWindow | None:
        if w is None:
            return None
        return TimeWindow(time.fromisoformat(w["start"]), time.fromisoformat(w["end"]))

    rules = [
        ResponsibilityRule(r["category"], r["area"], r["department"], window(r["window"]))
        for r in city.rules
    ]
    check_rules(rules)
    index = RuleIndex(rules)
    kinds = {d["code"]: set(d["kinds"]) for d in city.departments}
    for grid in city.grids[::10]:  # one grid per community
        for category in load_default_taxonomy():
            for at in (time(10, 0), time(23, 0)):
                routing = index.resolve(category.key, grid.code, at)
                assert routing is not None, (grid.code, category.key)
                assert category.owner_hint in kinds[routing.department], (grid.code, category.key)

    def department(category: str, grid: str, at: time) -> str | None:
        routing = index.resolve(category, grid, at)
        return routing.department if routing else None

    night_grid = "31990100200101"  # 滨江区 陆家渡街道
    assert department("E0502", night_grid, time(22, 30)) == "bj-night-squad"
    assert department("E0502", night_grid, time(10, 0)) == "bj-chengguan"
    assert department("E0502", "31990210100101", time(22, 30)) == "pc-chengguan"
    assert department("E0201", "31990100100101", time(10, 0)) == "wtw-squad"  # street override
    assert department("E0403", "31990310100101", time(3, 0)) == "gas"


def test_users_cover_every_role(city: DemoCity) -> None:
    roles = {u["role"] for u in city.users}
    assert roles == {r.value for r in Role} - {Role.SYSTEM.value}
    usernames = [u["username"] for u in city.users]
    assert len(set(usernames)) == len(usernames)
    assert {"admin", "commander", "dispatcher", "acceptor", "leader", "inspector01",
            "handler-water"} <= set(usernames)  # fmt: skip
    assert all(u["password"] == DEMO_PASSWORD for u in city.users)
    departments = {d["code"] for d in city.departments}
    inspectors = [u for u in city.users if u["role"] == Role.INSPECTOR]
    assert sorted(u["scope"] for u in inspectors) == sorted(
        r.code for r in city.of_level(RegionLevel.STREET)
    )
    for user in city.users:
        assert (user["department"] is not None) == (user["role"] == Role.HANDLER), user
        assert user["department"] is None or user["department"] in departments
