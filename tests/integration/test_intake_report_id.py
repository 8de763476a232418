"""Intake answers with the id of the report its idempotency key names, on every path: a new
case, a repeated key, a merge (并案), and each of these inside a batch."""

from __future__ import annotations

from dataclasses import replace

from sqlalchemy import select

from cityops.adapters.db.models import ReportRow
from cityops.bootstrap import App
from cityops.domain.model import Channel
from cityops.service import portal
from cityops.service.intake import ReportInput, Submitted, submit, submit_batch
from cityops.service.principal import SYSTEM
from tests.conftest import Clock
from tests.helpers import STREET_A, point_in

LON, LAT, _ = point_in(STREET_A, seed=11)
FAR_LON, FAR_LAT, _ = point_in(STREET_A, seed=3)


def _input(key: str, text: str = "小区门口垃圾堆积，气味很大", dx_m: float = 0.0,
           far: bool = False) -> ReportInput:  # fmt: skip
    lon, lat = (FAR_LON, FAR_LAT) if far else (LON, LAT)
    lon += dx_m / 95_000
    return ReportInput(channel=Channel.CITIZEN, source_id=key, raw=f'{{"k": "{key}"}}',
                       description=text, category="E0102", lon=lon, lat=lat)  # fmt: skip


def _rows(app: App) -> dict[str, tuple[int, int | None, bool]]:
    """source id → (report id, case id, merged) of every citizen report."""
    with app.reads() as s:
        found = s.execute(
            select(ReportRow.source_id, ReportRow.id, ReportRow.case_id, ReportRow.merged)
            .where(ReportRow.channel == Channel.CITIZEN.value)
        ).all()  # fmt: skip
    return {key: (rid, case_id, merged) for key, rid, case_id, merged in found}


def test_single_reports_name_their_report(app: App, clock: Clock) -> None:
    first = submit(app, _input("one-1"), SYSTEM)
    again = submit(app, _input("one-1"), SYSTEM)  # the same key: the same case and report
    clock.advance(hours=1)
    merged = submit(app, _input("one-2", "小区门口垃圾堆积，味道很大", dx_m=15), SYSTEM)
    after = submit(app, _input("one-3", far=True), SYSTEM)  # ids still fresh after a merge
    rows = _rows(app)
    assert (first.created, again.created, merged.merged, after.created) == (True, False, True, True)
    assert first.report_id == again.report_id == rows["one-1"][0]
    assert merged.report_id == rows["one-2"][0] and rows["one-2"][1:] == (first.case_id, True)
    assert after.report_id == rows["one-3"][0] and rows["one-3"][1] == after.case_id
    assert len({first.report_id, merged.report_id, after.report_id}) == 3


def test_a_batch_names_each_report(app: App, clock: Clock) -> None:
    known = submit(app, _input("b-0"), SYSTEM)
    clock.advance(hours=1)
    batch = [
        _input("b-0"),  # known before the batch
        _input("b-1", "小区门口垃圾堆积，味道很大", dx_m=15),  # merges into b-0's case
        _input("b-2", far=True),
        _input("b-2", far=True),  # a repeat of a key new in this very batch
        replace(_input("b-3"), category="NOPE"),  # refused: no report, no id
        _input("b-4", "另一处垃圾没人清理", far=True, dx_m=500),
    ]
    results = submit_batch(app, batch, SYSTEM)
    rows = _rows(app)
    submitted = [r for r in results if isinstance(r, Submitted)]
    assert len(submitted) == 5 and len(results) == 6
    by_key = dict(zip(["b-0", "b-1", "b-2", "b-2", "b-4"], submitted, strict=True))
    for key, result in by_key.items():
        report_id, case_id, _ = rows[key]
        assert (result.report_id, result.case_id) == (report_id, case_id), key
    assert by_key["b-0"].report_id == known.report_id and by_key["b-1"].merged
    assert submitted[2].created and not submitted[3].created
    assert submitted[2].report_id == submitted[3].report_id
    assert "b-3" not in rows


def test_the_portal_code_is_issued_for_the_new_report(app: App) -> None:
    fields = {"description": "小区门口有暴露垃圾", "category": "E0102", "lon": FAR_LON,
              "lat": FAR_LAT}  # fmt: skip
    answer = portal.submit(app, fields, "k-1", "{}")
    report_id = _rows(app)["portal:k-1"][0]
    assert answer["tracking_code"] == portal.tracking_code(app, report_id)
    assert portal.submit(app, fields, "k-1", "{}") == {**answer, "created": False}
    mine = portal.track(app, answer["case_no"], answer["tracking_code"])["mine"]
    assert mine is not None and mine["merged"] is False
