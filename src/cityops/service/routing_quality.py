"""Routing quality (分拨质量): which responsibility rules send cases to the wrong department.

For a period, every dispatch (派遣 or 改派) that followed the routing proposal is attributed to
what proposed it: a rule of the responsibility list (事项责任清单), or the owner of a component
(部件权属, grouped per category and owner). A dispatch counts as *returned* when the department
later sent the case back (回退, "not ours"), and as *redispatched* when the centre moved it
elsewhere (改派) before that. For those cases, the department the case is with at the end of
its log is where it "finally went"; the most common one other than the rule's own is the hint
for what the rule should probably say.

Dispatches are counted when they happen inside the period; their returns whenever they
happen (a cohort), so the return rate never exceeds 1. Scoped like every read.
"""

from __future__ import annotations

import csv
import io
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select

from cityops.adapters.db.models import CaseEventRow, CaseRow, RuleRow, RuleSetRow
from cityops.bootstrap import App
from cityops.domain.errors import ValidationFailed
from cityops.service.access import visible_cases
from cityops.service.principal import Principal
from cityops.service.reference import Snapshot

_DISPATCHES = ("dispatch", "redispatch")
_CHUNK = 2000
EXAMPLES = 5

Key = tuple[str, str]  # ("rule", "<rule id>") or ("component", "<category>|<department code>")


@dataclass(slots=True)
class _Tally:
    dispatches: int = 0
    returned: int = 0
    redispatched: int = 0
    finals: Counter[int] = field(default_factory=Counter)  # department id → cases
    components: Counter[str] = field(default_factory=Counter)
    examples: list[str] = field(default_factory=list)  # case numbers that were returned


@dataclass(frozen=True, slots=True)
class _Step:
    seq: int
    action: str
    at: datetime
    department_id: int | None
    data: dict[str, Any]


@dataclass(frozen=True, slots=True)
class _Case:
    case_no: str
    category: str | None
    component_code: str | None


def _key(step: _Step, case: _Case) -> Key | None:
    """What proposed the department this dispatch followed, or None if it did not follow one."""
    if step.action not in _DISPATCHES or step.data.get("routing_followed") is not True:
        return None
    rule_id = step.data.get("rule_id")
    if rule_id is not None:
        return ("rule", str(rule_id))
    return ("component", f"{case.category or ''}|{step.data.get('department') or ''}")


def _walk(
    case: _Case, steps: Sequence[_Step], start: datetime, end: datetime, tallies: dict[Key, _Tally]
) -> None:
    current: Key | None = None  # the followed dispatch (counted in the period) the case sits on
    undone: set[Key] = set()
    final: int | None = None
    for step in steps:
        if step.action == "return":
            if current is not None:
                tallies[current].returned += 1
                undone.add(current)
            current, final = None, None
            continue
        key = _key(step, case)
        if step.action == "redispatch" and current is not None and key != current:
            tallies[current].redispatched += 1
            undone.add(current)
        final, current = step.department_id, None
        if key is not None and start <= step.at < end:
            tally = tallies[key]
            tally.dispatches += 1
            if case.component_code and key[0] == "component":
                tally.components[case.component_code] += 1
            current = key
    for key in undone:
        tally = tallies[key]
        if final is not None:
            tally.finals[final] += 1
        if len(tally.examples) < EXAMPLES:
            tally.examples.append(case.case_no)


def routing_quality(app: App, principal: Principal, start: datetime, end: datetime) -> Report:
    if start.tzinfo is None or end.tzinfo is None:
        raise ValidationFailed("from/to need a time zone, e.g. 2026-11-01T00:00:00+08:00")
    if end <= start:
        raise ValidationFailed("'to' must be after 'from'", field="to")
    snap = app.reference.get()
    tallies: dict[Key, _Tally] = defaultdict(_Tally)
    with app.reads() as s:
        case_ids = list(
            s.scalars(
                select(CaseEventRow.case_id)
                .join(CaseRow, CaseRow.id == CaseEventRow.case_id)
                .where(
                    CaseEventRow.action.in_(_DISPATCHES),
                    CaseEventRow.at >= start,
                    CaseEventRow.at < end,
                    visible_cases(principal),
                )
                .distinct()
            )
        )
        for i in range(0, len(case_ids), _CHUNK):
            chunk = case_ids[i : i + _CHUNK]
            cases = {
                r.id: _Case(r.case_no or "", r.category, r.component_code)
                for r in s.execute(
                    select(CaseRow.id, CaseRow.case_no, CaseRow.category, CaseRow.component_code)
                    .where(CaseRow.id.in_(chunk))
                )
            }  # fmt: skip
            steps: dict[int, list[_Step]] = defaultdict(list)
            for e in s.execute(
                select(CaseEventRow.case_id, CaseEventRow.seq, CaseEventRow.action,
                       CaseEventRow.at, CaseEventRow.department_id, CaseEventRow.data)
                .where(CaseEventRow.case_id.in_(chunk),
                       CaseEventRow.action.in_((*_DISPATCHES, "return")))
                .order_by(CaseEventRow.case_id, CaseEventRow.seq)
            ):  # fmt: skip
                steps[e.case_id].append(_Step(e.seq, e.action, e.at, e.department_id, e.data or {}))
            for case_id, case in cases.items():
                _walk(case, steps[case_id], start, end, tallies)
        rule_ids = [int(k[1]) for k in tallies if k[0] == "rule"]
        rules = {
            r.id: (r, version)
            for r, version in s.execute(
                select(RuleRow, RuleSetRow.version)
                .join(RuleSetRow, RuleSetRow.id == RuleRow.ruleset_id)
                .where(RuleRow.id.in_(rule_ids))
            )
        }
        rows = [_row(key, tally, snap, rules) for key, tally in tallies.items()]
    rows.sort(key=lambda r: (-r["returned"], -(r["return_rate"] or 0.0), -r["dispatches"],
                             r["kind"], str(r["rule_id"] or r["department"])))  # fmt: skip
    return Report(start, end, rows)


def _department(snap: Snapshot, dept_id: int | None) -> dict[str, Any] | None:
    dept = snap.departments_by_id.get(dept_id or -1)
    return None if dept is None else {"code": dept.code, "name": dept.name}


def _row(
    key: Key, tally: _Tally, snap: Snapshot, rules: dict[int, tuple[RuleRow, str]]
) -> dict[str, Any]:
    kind = key[0]
    out: dict[str, Any] = {"kind": kind, "rule_id": None, "ruleset": None, "window": None}
    if kind == "rule":
        rule, version = rules.get(int(key[1]), (None, None))
        out.update(rule_id=int(key[1]), ruleset=version)
        category = rule.category if rule else None
        area = rule.area if rule else None
        dept_code = rule.department_code if rule else None
        if rule and rule.window_start and rule.window_end:
            out["window"] = f"{rule.window_start}–{rule.window_end}"
    else:
        category, _, dept_code = key[1].partition("|")
        area = None
    dept = snap.departments_by_code.get(dept_code or "")
    cat = snap.categories.get(category or "")
    out.update(
        category=category,
        category_name=cat.name if cat else None,
        area=area,
        area_name=snap.region_names.get(area or ""),
        department=dept_code,
        department_name=dept.name if dept else None,
        dispatches=tally.dispatches,
        returned=tally.returned,
        return_rate=round(tally.returned / tally.dispatches, 4) if tally.dispatches else None,
        redispatched=tally.redispatched,
    )
    own = dept.id if dept else None
    finals = [(d, n) for d, n in tally.finals.most_common() if d != own]
    hint = _department(snap, finals[0][0]) if finals else None
    out["hint"] = None if hint is None else {**hint, "cases": finals[0][1]}
    out["final_departments"] = [
        {**(_department(snap, d) or {"code": None, "name": None}), "cases": n}
        for d, n in tally.finals.most_common(3)
    ]
    out["examples"] = list(tally.examples)
    if kind == "component":
        out["components"] = [c for c, _ in tally.components.most_common(5)]
    return out


CSV_COLUMNS = (
    "kind", "rule_id", "ruleset", "category", "category_name", "area", "area_name", "window",
    "department", "department_name", "dispatches", "returned", "return_rate", "redispatched",
    "hint_department", "hint_department_name", "hint_cases", "examples",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Report:
    start: datetime
    end: datetime
    rows: list[dict[str, Any]]

    def as_dict(self) -> dict[str, Any]:
        return {
            "from": self.start.isoformat(),
            "to": self.end.isoformat(),
            "explanation": (
                "按责任清单规则（及部件权属）统计派遣与回退：回退率 = 回退 / 按规则派遣；"
                "“建议部门”为回退或改派后案件最终所在的最常见部门 / dispatches that followed "
                "each rule (or component owner) in the period, how many came back (回退) or "
                "were moved (改派), and where those cases finally went"
            ),
            "rows": self.rows,
        }

    def csv(self) -> str:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(CSV_COLUMNS)
        for r in self.rows:
            hint = r["hint"] or {}
            cells = {**r, "hint_department": hint.get("code"),
                     "hint_department_name": hint.get("name"), "hint_cases": hint.get("cases"),
                     "examples": " ".join(r["examples"])}  # fmt: skip
            writer.writerow(["" if cells.get(c) is None else cells[c] for c in CSV_COLUMNS])
        return out.getvalue()
