"""The default taxonomy and the all-or-nothing taxonomy import."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from cityops.domain.errors import ImportRejected, ValidationFailed
from cityops.domain.model import Stage, Urgency
from cityops.domain.taxonomy import CategoryKind, load_default_taxonomy, parse_taxonomy
from cityops.domain.timelimit import TimeLimit, TimeUnit

NORMAL_LIMITS = {"accept": "1wh", "verify": "2wh", "dispatch": "1wh", "handle": "2wd",
                 "check": "4wh"}  # fmt: skip
URGENT_LIMITS = {"accept": "0.25h", "verify": "0.5h", "dispatch": "0.25h", "handle": "4h",
                 "check": "2h"}  # fmt: skip


def _sub(kind: str, code: str, name: str, **extra: Any) -> dict[str, Any]:
    item: dict[str, Any] = {
        "kind": kind, "major": code[:2], "code": code, "name": name, "urgency": "normal",
        "filing_condition": "立案条件", "closing_condition": "结案条件",
        "time_limits": dict(NORMAL_LIMITS), "keywords": ["关键词"], "owner_hint": "roads",
    }  # fmt: skip
    item.update(extra)
    return item


def _doc() -> dict[str, Any]:
    return {
        "version": "test v1",
        "majors": [
            {"kind": "component", "code": "01", "name": "公用设施"},
            {"kind": "event", "code": "01", "name": "市容环境"},
            {"kind": "event", "code": "04", "name": "突发事件"},
        ],
        "subclasses": [
            _sub("component", "0101", "上水井盖"),
            _sub("event", "0102", "暴露垃圾"),
            _sub("event", "0401", "路面塌陷", urgency="urgent", time_limits=dict(URGENT_LIMITS)),
        ],
    }


def _reasons(data: dict[str, Any]) -> list[tuple[str, str]]:
    with pytest.raises(ImportRejected) as exc:
        parse_taxonomy(data)
    return [(p.item, p.reason) for p in exc.value.problems]


def test_default_taxonomy_loads_with_all_majors() -> None:
    taxonomy = load_default_taxonomy()
    assert taxonomy.version == "GB/T 30428.2-2016 default v1"
    assert len(taxonomy) >= 60
    majors = {m.key: m.name for m in taxonomy.majors}
    assert majors == {
        "C01": "公用设施", "C02": "道路交通", "C03": "市容环境", "C04": "园林绿化",
        "C05": "房屋土地", "C06": "其他设施", "C07": "扩展",
        "E01": "市容环境", "E02": "宣传广告", "E03": "施工管理", "E04": "突发事件",
        "E05": "街面秩序", "E06": "其他事件",
    }  # fmt: skip
    assert all(taxonomy.by_major(key) for key in majors)


def test_default_taxonomy_keys_and_lookups() -> None:
    taxonomy = load_default_taxonomy()
    manhole = taxonomy.require("C0101")
    assert (manhole.name, manhole.kind, manhole.major_key) == ("上水井盖", "component", "C01")
    assert taxonomy.require("C0110").name == "路灯"
    assert taxonomy.require("E0502").name == "占道经营"
    assert taxonomy.get("E9999") is None and "E9999" not in taxonomy
    with pytest.raises(ValidationFailed):
        taxonomy.require("E9999")
    assert all(c.key.startswith("E05") for c in taxonomy.by_major("E05"))
    assert len({c.key for c in taxonomy}) == len(taxonomy)
    assert CategoryKind.EVENT.label_zh == "事件" and CategoryKind.COMPONENT.label_zh == "部件"


def test_default_categories_are_complete() -> None:
    taxonomy = load_default_taxonomy()
    for category in taxonomy:
        assert set(category.time_limits) == set(Stage), category.key
        assert category.filing_condition and category.closing_condition
        assert category.keywords, category.key
        assert category.owner_hint in taxonomy.owner_hints, category.key
        assert category.code.startswith(category.major_code)


def test_urgent_categories_run_on_calendar_hours() -> None:
    taxonomy = load_default_taxonomy()
    urgent = {c.name: c for c in taxonomy if c.urgency is Urgency.URGENT}
    assert {"路面塌陷", "燃气泄漏", "自来水管破裂", "井盖缺失"} <= set(urgent)
    assert len(urgent) < len(taxonomy) / 5  # a handful, not the norm
    for category in urgent.values():
        assert all(lim.unit is TimeUnit.CALENDAR_HOURS for lim in category.time_limits.values())
    assert taxonomy.require("E0403").limit(Stage.HANDLE) == TimeLimit(2, TimeUnit.CALENDAR_HOURS)


def test_minimal_document_parses() -> None:
    taxonomy = parse_taxonomy(_doc())
    assert [c.key for c in taxonomy] == ["C0101", "E0102", "E0401"]
    assert taxonomy.require("E0401").urgency is Urgency.URGENT


def _set(index: int, **changes: Any) -> Any:
    def mutate(doc: dict[str, Any]) -> None:
        doc["subclasses"][index].update(changes)

    return mutate


def _drop(index: int, key: str, stage: str | None = None) -> Any:
    def mutate(doc: dict[str, Any]) -> None:
        target = doc["subclasses"][index]
        del (target["time_limits"] if stage else target)[stage or key]

    return mutate


@pytest.mark.parametrize(
    ("mutate", "item", "reason"),
    [
        (_set(0, code="01A1"), "subclasses[0] 上水井盖", "4-digit string"),
        (_set(0, code=101), "subclasses[0] 上水井盖", "quote it in YAML"),
        (_set(1, major="07", code="0702"), "subclasses[1] E0702 暴露垃圾", "unknown major E07"),
        (_set(1, code="0402"), "subclasses[1] E0402 暴露垃圾", "does not begin with its major"),
        (_set(1, code="0401", major="04"), "subclasses[2] E0401 路面塌陷", "duplicate key E0401"),
        (_set(0, name="  "), "subclasses[0] C0101", "missing name"),
        (_drop(0, "filing_condition"), "subclasses[0] C0101 上水井盖", "filing_condition"),
        (_drop(0, "closing_condition"), "subclasses[0] C0101 上水井盖", "closing_condition"),
        (_set(1, urgency="asap"), "subclasses[1] E0102 暴露垃圾", "unknown urgency 'asap'"),
        (_drop(1, "time_limits", "check"), "subclasses[1] E0102 暴露垃圾", "stage check"),
        (_set(1, time_limits={**NORMAL_LIMITS, "handle": "3 days"}),
         "subclasses[1] E0102 暴露垃圾", "stage handle: bad time limit '3 days'"),
        (_set(2, time_limits={**URGENT_LIMITS, "handle": "4wh"}),
         "subclasses[2] E0401 路面塌陷", "urgent category must use calendar hours"),
        (_set(0, owner_hint="plumbers"), "subclasses[0] C0101 上水井盖", "unknown owner_hint"),
        (_set(0, kind="thing"), "subclasses[0] 上水井盖", "unknown kind 'thing'"),
    ],
)  # fmt: skip
def test_each_problem_is_named(mutate: Any, item: str, reason: str) -> None:
    doc = _doc()
    mutate(doc)
    problems = _reasons(doc)
    assert any(i == item and reason in r for i, r in problems), problems


def test_all_problems_reported_at_once() -> None:
    doc = _doc()
    doc["majors"].append({"kind": "event", "code": "01", "name": "重复"})
    doc["subclasses"][0]["code"] = "ABCD"
    doc["subclasses"][1]["urgency"] = "whenever"
    doc["subclasses"][2]["time_limits"] = {**URGENT_LIMITS, "verify": "2wh"}
    del doc["subclasses"][2]["time_limits"]["check"]
    doc["subclasses"].append(copy.deepcopy(doc["subclasses"][1]))
    problems = _reasons(doc)
    items = {i for i, _ in problems}
    assert items == {
        "majors[3] E01 重复",
        "subclasses[0] 上水井盖",
        "subclasses[1] E0102 暴露垃圾",
        "subclasses[2] E0401 路面塌陷",
        "subclasses[3] E0102 暴露垃圾",
    }
    reasons = " | ".join(r for _, r in problems)
    for fragment in ("duplicate major E01", "4-digit", "unknown urgency", "calendar hours",
                     "missing time limit for stage check", "duplicate key E0102"):  # fmt: skip
        assert fragment in reasons


def test_document_level_problems() -> None:
    problems = _reasons({"majors": [], "subclasses": "none"})
    assert {i for i, _ in problems} == {"version", "majors", "subclasses"}
