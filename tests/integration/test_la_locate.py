"""Real data: LA 311 requests (Dec 2017) located in the 2019 neighbourhood-council polygons.

Each geocoded request carries the city's own answer in ``NC`` (the council id, ``nc_id`` in the
polygons). About 98.9% of them fall in the polygon of their own council (boundaries moved a
little between 2017 and 2019, two councils created since have ``nc_id`` 0, and ~1% of the
geocodes fall in no polygon). The data lives outside the repository (see
../shared/data/README.md); without it these tests skip, unless CITYOPS_REQUIRE_DATA=1.
"""

from __future__ import annotations

import csv
import json
import os
from functools import cache
from pathlib import Path

import numpy as np
import pytest

from cityops.adapters.geo import GridIndex

REPO = Path(__file__).resolve().parents[2]
DATA = Path(os.environ.get("CITYOPS_SHARED_DATA", REPO.parent / "shared" / "data"))
LA = DATA / "la311"
COUNCILS = LA / "la_neighborhood_councils_2019.geojson"
REQUESTS = LA / "MyLA311_Service_Request_Data_2017_Subset.csv"


def _require_data() -> None:
    missing = [p for p in (COUNCILS, REQUESTS) if not p.is_file()]
    if missing:
        message = (
            f"shared data not found ({', '.join(str(p) for p in missing)}); set "
            "CITYOPS_SHARED_DATA to the folder holding la311/ to run the real-data tests"
        )
        if os.environ.get("CITYOPS_REQUIRE_DATA") == "1":
            pytest.fail(f"CITYOPS_REQUIRE_DATA=1 but {message}")
        pytest.skip(message)


def _council_id(text: str) -> str | None:
    """'47', '47.0', ' 47 ' → '47'; blank → None (NC and nc_id are written differently)."""
    text = text.strip()
    return str(int(float(text))) if text else None


@cache
def _councils() -> GridIndex:
    features = json.loads(COUNCILS.read_text(encoding="utf-8"))["features"]
    return GridIndex((_council_id(f["properties"]["nc_id"]) or "", f["geometry"]) for f in features)


@cache
def _requests() -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Longitude, latitude and NC of every request that has all three (no zero coordinates)."""
    lons, lats, ncs = [], [], []
    with REQUESTS.open(encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f):
            lat, lon, nc = row["Latitude"].strip(), row["Longitude"].strip(), row["NC"]
            council = _council_id(nc)
            if not lat or not lon or council is None or float(lat) == 0 or float(lon) == 0:
                continue
            lons.append(float(lon))
            lats.append(float(lat))
            ncs.append(council)
    return np.array(lons), np.array(lats), ncs


def test_requests_fall_in_their_own_neighbourhood_council() -> None:
    _require_data()
    index = _councils()
    lons, lats, ncs = _requests()
    assert len(index) == 99
    assert len(ncs) > 8000
    found = index.locate_many(lons, lats)
    agree = sum(f == nc for f, nc in zip(found, ncs, strict=True)) / len(ncs)
    outside = sum(f is None for f in found) / len(ncs)
    assert agree >= 0.98, f"only {agree:.2%} of requests located in their own council"
    assert outside < 0.02


def test_batched_and_single_point_locate_agree_on_real_polygons() -> None:
    _require_data()
    index = _councils()
    lons, lats, _ = _requests()
    batched = index.locate_many(lons, lats)
    single = [index.locate(x, y) for x, y in zip(lons.tolist(), lats.tolist(), strict=True)]
    assert batched == single


def test_nearest_council_for_a_point_off_the_coast() -> None:
    _require_data()
    code, metres = _councils().nearest(-118.60, 33.90)  # Santa Monica Bay
    assert code
    assert 1_000 < metres < 30_000
