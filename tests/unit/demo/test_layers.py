"""The demo city's police beats (警务网格): a second layer that tiles 申江市 its own way."""

from __future__ import annotations

from collections import defaultdict

import pytest
import shapely

from cityops.adapters.geo import GridIndex
from cityops.demo.city import DemoCity, generate_demo_city
from cityops.demo.layers import police_beats
from cityops.domain.layers import parse_layer


@pytest.fixture(scope="module")
def city() -> DemoCity:
    return generate_demo_city()


def test_police_beats_tile_the_city_and_pass_the_grid_check(city: DemoCity) -> None:
    layer = parse_layer(police_beats(city))  # raises if invalid, overlapping or gappy
    assert [c.code for c in layer.cells] == [f"JW{n:02d}" for n in range(1, 26)]
    assert layer.cells[0].name == "第1警务区"
    beats = shapely.union_all([c.geometry for c in layer.cells])
    outline = city.region(city.city_code).geometry
    assert shapely.symmetric_difference(beats, outline).area < 1e-12


def test_every_grid_cell_lies_in_one_beat_and_beats_cross_districts(city: DemoCity) -> None:
    index = GridIndex(
        (f["properties"]["code"], f["geometry"]) for f in police_beats(city)["features"]
    )
    districts: dict[str, set[str]] = defaultdict(set)
    for grid in city.grids:
        inside = grid.geometry.representative_point()  # type: ignore[union-attr]
        beat = index.locate(inside.x, inside.y)
        assert beat is not None
        districts[beat].add(grid.code[:6])
    assert len(districts) == 25
    assert any(len(d) > 1 for d in districts.values())  # drawn by the police, not the city


def test_the_beats_are_deterministic(city: DemoCity) -> None:
    assert police_beats(city) == police_beats(generate_demo_city())
