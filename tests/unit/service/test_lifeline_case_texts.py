"""The texts a lifeline case is read by: the level its title names, and how a dispatch to an
asset's owner explains itself."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from cityops.domain.lifeline.alarms import Alarm
from cityops.service.lifeline.policy import _reading, level_name, title_level
from cityops.service.routing import owner_dispatch


@given(st.integers(1, 4), st.text(max_size=30))
def test_a_title_names_the_level_it_was_written_with(level: int, rest: str) -> None:
    assert title_level(level_name(level) + rest) == level


def test_a_title_without_a_level_names_none() -> None:
    assert title_level("井盖破损：滨江路") == 0


def test_an_owner_routed_dispatch_says_it_went_to_the_owner() -> None:
    owner = {"department": "gas", "department_id": 7, "department_name": "申江燃气集团",
             "rule_id": None, "asset": "滨江路第1段中压燃气管（SJ-GP-0001）",
             "explanation": "按设施权属：…"}  # fmt: skip
    why = owner_dispatch(owner)
    assert why is not None and why.startswith("按设施权属派遣给其权属单位申江燃气集团：滨江路第1段")
    assert "责任清单" not in why and why.endswith(": gas")
    component = {**owner, "asset": None, "component": "GS0001"}
    assert (owner_dispatch(component) or "").startswith("按部件权属派遣给其权属单位")
    assert owner_dispatch({**owner, "rule_id": 3}) is None  # the responsibility list's
    assert owner_dispatch(None) is None


def test_a_reading_is_written_with_its_unit_as_people_write_it() -> None:
    def alarm(value: float, unit: str) -> Alarm:
        facts = {"device": "SJ-CH4-0001", "metric": "ch4", "value": value, "unit": unit}
        return Alarm(("asset:SJ-WL-0001", "gas_leak"), 4, 0, 0, facts=facts)

    assert _reading(alarm(31.0, "%{LEL}")) == "SJ-CH4-0001:ch4 = 31 %LEL"
    assert _reading(alarm(23.5, "Cel")) == "SJ-CH4-0001:ch4 = 23.5℃"
    assert _reading(alarm(0.3, "MPa")) == "SJ-CH4-0001:ch4 = 0.3 MPa"  # a code as it is
    assert _reading(alarm(1.0, "1")) == "SJ-CH4-0001:ch4 = 1"  # dimensionless
