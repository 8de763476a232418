"""Grid layer checks before import: invalid cells, overlaps, gaps, slivers."""

from __future__ import annotations

import math

import pytest
from shapely.geometry import Polygon, box
from shapely.geometry.base import BaseGeometry

from cityops.domain.errors import ImportProblem, ImportRejected
from cityops.domain.gridcheck import (
    GridProblem,
    check_grid,
    gaps_between_cells,
    invalid_cells,
    overlapping_cells,
    problems_to_import_rejected,
)

D = 0.001  # about 100 m
LON0, LAT0 = 121.40, 31.20
M_PER_DEG = 6_371_008.8 * math.pi / 180


def _cell(i: float, j: float, w: float = 1, h: float = 1) -> BaseGeometry:
    x, y = LON0 + i * D, LAT0 + j * D
    return box(x, y, x + w * D, y + h * D)


def _block(skip: tuple[int, int] | None = None) -> list[tuple[str, BaseGeometry]]:
    """A 3 × 3 block of touching cells, optionally with one left out (a gap in the middle)."""
    return [
        (f"31011500100{i}{j}", _cell(i, j)) for i in range(3) for j in range(3) if (i, j) != skip
    ]


def _m2(d_lon: float, d_lat: float, lat: float = LAT0) -> float:
    return d_lon * M_PER_DEG * math.cos(math.radians(lat)) * d_lat * M_PER_DEG


def test_a_clean_layer_of_touching_cells_has_no_problems() -> None:
    assert check_grid(_block()) == []


def test_bow_tie_is_invalid_with_the_reason() -> None:
    bow_tie = Polygon([(LON0, LAT0), (LON0 + D, LAT0 + D), (LON0 + D, LAT0), (LON0, LAT0 + D)])
    problems = invalid_cells([("31011500100XX", bow_tie), *_block()])
    assert len(problems) == 1
    assert problems[0].cell_code == "31011500100XX"
    assert problems[0].kind == "invalid"
    assert "Self-intersection" in problems[0].detail


def test_wrong_type_and_empty_are_invalid() -> None:
    problems = check_grid([("A", box(0, 0, 1, 1).boundary), ("B", Polygon())])
    assert [(p.cell_code, p.kind) for p in problems] == [("A", "invalid"), ("B", "invalid")]
    assert "LineString" in problems[0].detail
    assert "empty" in problems[1].detail


def test_overlap_beyond_tolerance_names_both_cells() -> None:
    cells = [*_block(), ("31011500100ZZ", _cell(2.5, 0, w=1))]  # half over cell "…20"
    problems = overlapping_cells(cells)
    assert len(problems) == 1
    (p,) = problems
    assert (p.cell_code, p.other_code, p.kind) == ("3101150010020", "31011500100ZZ", "overlap")
    assert p.area_m2 == pytest.approx(_m2(0.5 * D, D), rel=1e-3)  # ≈ 4,750 m²
    assert "3101150010020" in p.detail and "31011500100ZZ" in p.detail


def test_overlap_below_tolerance_is_ignored_but_counted_with_a_lower_one() -> None:
    # a digitising sliver: 1 mm × 100 m = 0.1 m²
    sliver = 1e-3 / (M_PER_DEG * math.cos(math.radians(LAT0))) / D
    cells = [("A", _cell(0, 0)), ("B", _cell(1 - sliver, 0))]
    assert overlapping_cells(cells) == []
    found = overlapping_cells(cells, tolerance_m2=0.01)
    assert [(p.cell_code, p.other_code) for p in found] == [("A", "B")]
    assert found[0].area_m2 == pytest.approx(0.111, rel=0.05)


def test_cell_inside_another_and_duplicate_cells_overlap() -> None:
    problems = check_grid(
        [("A", _cell(0, 0)), ("B", _cell(0.25, 0.25, 0.5, 0.5)), ("C", _cell(0, 0))]
    )
    pairs = {(p.cell_code, p.other_code) for p in problems if p.kind == "overlap"}
    assert pairs == {("A", "B"), ("A", "C"), ("B", "C")}


def test_touching_cells_are_fine_even_without_matching_vertices() -> None:
    # B's west edge is split in two where A's east edge is not: still no overlap, no gap
    a = _cell(0, 0)
    x = LON0 + D
    b = Polygon([(x, LAT0), (x + D, LAT0), (x + D, LAT0 + D), (x, LAT0 + D), (x, LAT0 + 0.5 * D)])
    assert check_grid([("A", a), ("B", b)]) == []


def test_gap_in_the_middle_is_found_with_its_area_and_place() -> None:
    problems = gaps_between_cells(_block(skip=(1, 1)))
    assert len(problems) == 1
    (gap,) = problems
    assert gap.kind == "gap" and gap.cell_code is None
    assert gap.area_m2 == pytest.approx(_m2(D, D, LAT0 + 1.5 * D), rel=1e-3)  # ≈ 9,530 m²
    assert gap.point is not None
    lon, lat = gap.point
    assert LON0 + D < lon < LON0 + 2 * D and LAT0 + D < lat < LAT0 + 2 * D
    assert "3101150010001" in gap.detail


def test_space_outside_the_outline_is_not_a_gap() -> None:
    # an L-shaped layer: the missing corner is outside the outline, not a hole
    assert check_grid(_block(skip=(2, 2))) == []


def test_sliver_gap_below_tolerance_is_ignored() -> None:
    # the middle cell is 1 mm too narrow: a 0.1 m² sliver, below the 1 m² default
    narrow = 1e-3 / (M_PER_DEG * math.cos(math.radians(LAT0))) / D
    cells = [c for c in _block() if c[0] != "3101150010011"]
    cells.append(("3101150010011", _cell(1, 1, w=1 - narrow)))
    assert check_grid(cells) == []
    assert len(gaps_between_cells(cells, tolerance_m2=0.01)) == 1


def test_problems_become_one_import_rejected() -> None:
    x = LON0 + 10 * D  # away from the block
    bow_tie = Polygon([(x, LAT0), (x + D, LAT0 + D), (x + D, LAT0), (x, LAT0 + D)])
    cells = [*_block(skip=(1, 1)), ("31011500100ZZ", _cell(2.5, 0)), ("BAD", bow_tie)]
    problems = check_grid(cells)
    assert [p.kind for p in problems] == ["invalid", "overlap", "gap"]
    error = problems_to_import_rejected(problems)
    assert isinstance(error, ImportRejected)
    assert "3 problems" in error.message
    assert error.problems[0] == ImportProblem("BAD", f"invalid: {problems[0].detail}")
    assert error.problems[1].item == "3101150010020 / 31011500100ZZ"
    assert error.problems[2].item.startswith("gap at (121.40")
    assert error.details["problems"][1]["reason"].startswith("overlap: cells 3101150010020")


def test_grid_problem_defaults() -> None:
    p = GridProblem("A", "invalid", "why")
    assert (p.area_m2, p.other_code, p.point) == (None, None, None)
