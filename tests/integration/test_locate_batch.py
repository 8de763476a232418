"""locate_batch (the intake batch's one vectorised lookup) answers exactly as locate does."""

from __future__ import annotations

import random

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cityops.bootstrap import App
from cityops.demo.city import generate_demo_city
from cityops.demo.gazetteer import generate_gazetteer
from cityops.domain.coords import from_wgs84
from cityops.domain.errors import ValidationFailed
from cityops.service.locating import Place, Where, locate, locate_batch

CITY = generate_demo_city()
_rng = random.Random(3)
INSIDE = [CITY.sample_point(g.code, _rng) for g in CITY.grids[:40]]
GRIDS = [g.code for g in CITY.grids[:5]]
_gazetteer = generate_gazetteer(CITY)
ADDRESSES = [_gazetteer.near(lon, lat)["name"] for lon, lat in INSIDE[:10]]


@st.composite
def wheres(draw: st.DrawFn) -> Where:
    crs = draw(st.sampled_from(["wgs84", "gcj02", "bd09", "cgcs2000", "mercator"]))
    kind = draw(st.sampled_from(["inside", "outside", "none", "lon-only"]))
    lon: float | None
    lat: float | None
    if kind == "inside":
        x, y = draw(st.sampled_from(INSIDE))
        lon, lat = from_wgs84(x, y, crs) if crs != "mercator" else (x, y)
    elif kind == "outside":
        lon, lat = draw(st.floats(70, 140)), draw(st.floats(10, 55))
    else:
        lon, lat = None, None
    if kind == "lon-only":
        lon = 121.0
    grid = draw(st.sampled_from([None, "bad", *GRIDS]))
    address = draw(st.sampled_from([None, "火星路99号", *ADDRESSES]))
    return Where(lon, lat, grid, address, crs)


def _alone(app: App, w: Where) -> Place | tuple[str, str, dict]:
    try:
        return locate(app.reference.get(), w.lon, w.lat, w.grid_code, w.address, crs=w.crs)
    except ValidationFailed as exc:
        return (exc.code, exc.message, exc.details)


def _as_compared(answer: Place | ValidationFailed) -> Place | tuple[str, str, dict]:
    if isinstance(answer, ValidationFailed):
        return (answer.code, answer.message, answer.details)
    return answer


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batch=st.lists(wheres(), max_size=25))
def test_a_batch_is_located_as_each_report_alone(sqlite_app: App, batch: list[Where]) -> None:
    answers = locate_batch(sqlite_app.reference.get(), batch)
    assert [_as_compared(a) for a in answers] == [_alone(sqlite_app, w) for w in batch]


def test_a_batch_mixes_places_queued_addresses_and_refusals(sqlite_app: App) -> None:
    x, y = INSIDE[0]
    answers = locate_batch(sqlite_app.reference.get(), [
        Where(x, y), Where(0.0, 0.0), Where(None, None, address="火星路99号"), Where(None, None),
    ])  # fmt: skip
    assert isinstance(answers[0], Place) and answers[0].grid_code is not None
    assert isinstance(answers[1], ValidationFailed)
    assert answers[1].details.get("reason") == "outside_jurisdiction"
    assert isinstance(answers[2], Place) and answers[2].needs_person
    assert isinstance(answers[3], ValidationFailed) and answers[3].details["field"] == "location"
