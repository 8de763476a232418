"""Jurisdiction codes and the all-or-nothing region imports (GeoJSON and CSV)."""

from __future__ import annotations

from typing import Any

import pytest

from cityops.domain.errors import ImportRejected, ValidationFailed
from cityops.domain.model import RegionLevel
from cityops.domain.regions import (
    expected_code_length,
    level_of_code,
    parse_region_csv,
    parse_region_features,
    validate_code,
)

SQUARE = [[121.40, 31.20], [121.41, 31.20], [121.41, 31.21], [121.40, 31.21], [121.40, 31.20]]
BOW_TIE = [[121.40, 31.20], [121.41, 31.21], [121.41, 31.20], [121.40, 31.21], [121.40, 31.20]]


def _feature(code: Any, level: str, parent: str | None, ring: Any = None, **props: Any) -> Any:
    geometry = {"type": "Polygon", "coordinates": [ring]} if ring is not None else None
    properties = {"code": code, "name": f"区域{code}", "level": level, "parent": parent, **props}
    return {"type": "Feature", "properties": properties, "geometry": geometry}


def _tree() -> list[Any]:
    # Children first on purpose: the parser must reorder.
    return [
        _feature("31990100100101", "grid", "319901001001", SQUARE),
        _feature("319901001001", "community", "319901001"),
        _feature("319901001", "street", "319901", SQUARE),
        _feature("319901", "district", "319900"),
        _feature("319900", "city", None),
    ]


def _fc(features: list[Any]) -> dict[str, Any]:
    return {"type": "FeatureCollection", "features": features}


def _problems(features: list[Any], **kwargs: Any) -> list[tuple[str, str]]:
    with pytest.raises(ImportRejected) as exc:
        parse_region_features(_fc(features), **kwargs)
    return [(p.item, p.reason) for p in exc.value.problems]


def test_code_rules() -> None:
    assert [expected_code_length(lvl) for lvl in RegionLevel] == [6, 6, 9, 12, 14]
    assert level_of_code("319900") is RegionLevel.CITY
    assert level_of_code("319901") is RegionLevel.DISTRICT
    assert level_of_code("31990100100101") is RegionLevel.GRID
    assert level_of_code("3199") is None
    validate_code("319901", RegionLevel.DISTRICT, "319900")
    validate_code("319901001", RegionLevel.STREET, "319901")
    for code, level, parent in [
        ("319901", RegionLevel.DISTRICT, "318800"),  # different first 4 digits
        ("319900", RegionLevel.DISTRICT, "319900"),  # a city code
        ("319902001", RegionLevel.STREET, "319901"),  # wrong prefix
        ("31990100", RegionLevel.STREET, "319901"),  # wrong length
        ("３１９９０１", RegionLevel.DISTRICT, "319900"),  # full-width digits
        ("319901001", RegionLevel.STREET, None),  # orphan
        ("319900", RegionLevel.CITY, "310000"),  # a city has no parent
    ]:
        with pytest.raises(ValidationFailed):
            validate_code(code, level, parent)


def test_valid_tree_parses_parents_first() -> None:
    specs = parse_region_features(_fc(_tree()))
    assert [s.level for s in specs] == list(RegionLevel)
    assert specs[0].code == "319900"
    grid = specs[-1]
    assert grid.parent_code == "319901001001" and grid.geometry is not None
    assert grid.geometry.geom_type == "Polygon"
    assert specs[1].geometry is None  # optional above grid level


def test_parent_may_already_exist() -> None:
    features = [_feature("31990100100102", "grid", "319901001001", SQUARE)]
    specs = parse_region_features(_fc(features), existing_codes={"319901001001"})
    assert [s.code for s in specs] == ["31990100100102"]


def _replace(index: int, feature: Any) -> list[Any]:
    features = _tree()
    features[index] = feature
    return features


@pytest.mark.parametrize(
    ("features", "item", "reason"),
    [
        (_replace(2, _feature("3199010A1", "street", "319901")), "features[2] 3199010A1",
         "digits only"),
        (_replace(2, _feature("3199010011", "street", "319901")), "features[2] 3199010011",
         "a street code has 9 digits"),
        (_replace(2, _feature(None, "street", "319901")), "features[2]", "missing code"),
        (_replace(2, _feature("319901001", "town", "319901")), "features[2] 319901001",
         "unknown level 'town'"),
        ([*_tree(), _feature("319901001", "street", "319901")], "features[5] 319901001",
         "duplicate code 319901001 (first at features[2])"),
        (_replace(0, _feature("31990100100201", "grid", "319901001002", SQUARE)),
         "features[0] 31990100100201", "unknown parent 319901001002"),
        (_replace(0, _feature("31990100100001", "grid", "319901001", SQUARE)),
         "features[0] 31990100100001", "parent 319901001 is a street"),
        (_replace(2, _feature("319902001", "street", "319901")), "features[2] 319902001",
         "does not begin with its parent's code 319901"),
        (_replace(0, _feature("31990100100101", "grid", "319901001001")),
         "features[0] 31990100100101", "needs a polygon"),
        (_replace(2, {**_feature("319901001", "street", "319901"),
                      "geometry": {"type": "Point", "coordinates": [121.4, 31.2]}}),
         "features[2] 319901001", "must be Polygon or MultiPolygon, got 'Point'"),
        (_replace(2, _feature("319901001", "street", "319901",
                              [[x * 10, y] for x, y in SQUARE])),
         "features[2] 319901001", "outside lon/lat range"),
        (_replace(2, _feature("319901001", "street", "319901", SQUARE[:2])),
         "features[2] 319901001", "malformed Polygon"),
        (_replace(4, _feature("319900", "city", "310000")), "features[4] 319900",
         "a city has no parent"),
        (_replace(3, _feature("319901", "district", None)), "features[3] 319901",
         "missing parent"),
        (_replace(3, _feature("319901", "district", "319900", name=" ")), "features[3] 319901",
         "missing name"),
    ],
)  # fmt: skip
def test_each_problem_is_named(features: list[Any], item: str, reason: str) -> None:
    problems = _problems(features)
    assert any(i == item and reason in r for i, r in problems), problems


def test_bow_tie_polygon_is_rejected_with_reason() -> None:
    problems = _problems(_replace(0, _feature("31990100100101", "grid", "319901001001", BOW_TIE)))
    assert len(problems) == 1
    item, reason = problems[0]
    assert item == "features[0] 31990100100101"
    assert reason.startswith("invalid polygon: Self-intersection")


def test_all_problems_reported_at_once() -> None:
    features = _tree()
    features[0] = _feature("31990100100101", "grid", "319901001001", BOW_TIE)
    features[2]["properties"]["parent"] = "319999"
    features.append(_feature("31990100100101", "grid", "319901001001", SQUARE))
    features.append(_feature("31990100100102", "grid", "319901001001"))
    items = {i for i, _ in _problems(features)}
    assert items == {
        "features[0] 31990100100101",
        "features[2] 319901001",
        "features[5] 31990100100101",
        "features[6] 31990100100102",
    }


def test_not_a_feature_collection() -> None:
    with pytest.raises(ImportRejected) as exc:
        parse_region_features({"type": "Feature"})
    assert exc.value.problems[0].item == "file"


CSV_TEXT = (
    "\ufeffcode,name,level,parent,wkt\n"
    "319900,申江市,city,,\n"
    "31990100100101,第1网格,grid,319901001001,"
    '"POLYGON ((121.40 31.20, 121.41 31.20, 121.41 31.21, 121.40 31.21, 121.40 31.20))"\n'
    "319901001001,海棠居委会,community,319901001,\n"
    "319901001,外滩湾街道,street,319901,\n"
    "319901,滨江区,district,319900,\n"
)


def test_csv_parses_parents_first() -> None:
    specs = parse_region_csv(CSV_TEXT)
    assert [s.code for s in specs] == [
        "319900", "319901", "319901001", "319901001001", "31990100100101",
    ]  # fmt: skip
    assert specs[0].parent_code is None and specs[0].name == "申江市"
    assert specs[-1].geometry is not None and specs[-1].geometry.area > 0


def test_csv_problems_name_lines() -> None:
    text = CSV_TEXT.replace("121.41 31.20, 121.41 31.21", "121.41 31.21, 121.41 31.20")
    text += "31990100100102,第2网格,grid,319901001001,\n"
    text += "31990100100103,第3网格,grid,319901001001,POLYGON ((1 2\n"
    text += "319901002,陆家渡街道,street,319909,\n"
    with pytest.raises(ImportRejected) as exc:
        parse_region_csv(text)
    problems = {p.item: p.reason for p in exc.value.problems}
    assert set(problems) == {
        "line 3 31990100100101", "line 7 31990100100102", "line 8 31990100100103",
        "line 9 319901002",
    }  # fmt: skip
    assert "Self-intersection" in problems["line 3 31990100100101"]
    assert "needs a polygon" in problems["line 7 31990100100102"]
    assert "malformed WKT" in problems["line 8 31990100100103"]
    assert "unknown parent 319909" in problems["line 9 319901002"]


def test_csv_missing_columns() -> None:
    with pytest.raises(ImportRejected) as exc:
        parse_region_csv("code,name\n319900,申江市\n")
    assert exc.value.problems[0].item == "line 1"
    assert "level, parent" in exc.value.problems[0].reason


def test_csv_parent_in_existing_codes() -> None:
    specs = parse_region_csv("code,name,level,parent\n319901002,陆家渡街道,street,319901\n",
                             existing_codes=["319901"])  # fmt: skip
    assert specs[0].parent_code == "319901" and specs[0].geometry is None
