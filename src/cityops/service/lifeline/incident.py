"""Incidents (一事一案): the alarms of one event on one asset and its neighbours share a case.

A rule that is a condition (term) of a coupled rule ``at: adjacent`` measures its neighbour's
trouble: gas in a well beside a gas pipe is the pipe's leak. So an alarm of such a rule, on an
asset next to an asset the coupled rule applies to, belongs to that neighbour's incident — the
case is about the pipe and goes to the pipe's owner — derived from the rule set alone.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from cityops.adapters.db.alarm_models import AlarmEventRow, AlarmRow
from cityops.adapters.db.lifeline_models import LifelineAdjacencyRow, LifelineAssetRow
from cityops.adapters.db.models import CaseRow
from cityops.domain.lifeline.ruleset import Rule, RuleKind, RuleSet
from cityops.domain.model import TERMINAL_STATES

CLOSED = [str(t) for t in TERMINAL_STATES]  # a case over: 结案, 作废, 并案
INCIDENT = "incident"  # the "case" alarm event's fact: the code of the asset the case is about


@dataclass(frozen=True, slots=True)
class Incident:
    subject: LifelineAssetRow  # what the case is about (and whose owner handles it)
    case_id: int | None  # its open lifeline case, if any


def _measures_neighbours_of(ruleset: RuleSet, rule_id: str | None, kind: str) -> list[Rule]:
    """The coupled rules in which ``rule_id`` on an asset of ``kind`` is a condition on the
    neighbours of the rule's own assets."""
    return [c for c in ruleset.rules if c.kind is RuleKind.COUPLED and any(
        t.at == "adjacent" and rule_id in t.rules and (not t.kinds or kind in t.kinds)
        for t in c.terms)]  # fmt: skip


def incident_of(s: Session, ruleset: RuleSet, asset: LifelineAssetRow,
                rule_id: str | None) -> Incident:  # fmt: skip
    """The incident an alarm of ``rule_id`` on ``asset`` belongs to: a neighbour the coupled
    rules apply to (one with an open case first, else the first by code), or the asset."""
    coupled = _measures_neighbours_of(ruleset, rule_id, asset.kind)
    if coupled:
        near = s.scalars(select(LifelineAssetRow).join(
            LifelineAdjacencyRow, LifelineAdjacencyRow.neighbour_id == LifelineAssetRow.id)
            .where(LifelineAdjacencyRow.asset_id == asset.id)
            .order_by(LifelineAssetRow.code)).all()  # fmt: skip
        fits = [n for n in near if any(n.kind in c.asset_kinds or n.code in c.assets
                                       for c in coupled)]  # fmt: skip
        for neighbour in fits:
            case_id = open_case(s, neighbour)
            if case_id is not None:
                return Incident(neighbour, case_id)
        if fits:
            return Incident(fits[0], None)
    return Incident(asset, open_case(s, asset))


def open_case(s: Session, subject: LifelineAssetRow) -> int | None:
    """The oldest open case (not closed, voided or merged) opened or joined for an alarm of
    ``subject``'s incident: the alarms on it and on its neighbours, each linked with a "case"
    event naming the incident (before incidents: the alarm's own asset)."""
    around = select(LifelineAdjacencyRow.neighbour_id).where(
        LifelineAdjacencyRow.asset_id == subject.id)
    rows = s.execute(
        select(AlarmRow.case_id, AlarmRow.asset_id, AlarmEventRow.data)
        .join(CaseRow, CaseRow.id == AlarmRow.case_id)
        .join(AlarmEventRow, (AlarmEventRow.alarm_id == AlarmRow.id)
              & (AlarmEventRow.what == "case"))
        .where((AlarmRow.asset_id == subject.id) | AlarmRow.asset_id.in_(around),
               CaseRow.state.not_in(CLOSED))
        .order_by(AlarmRow.case_id)
    ).all()  # fmt: skip
    for case_id, asset_id, data in rows:
        if (data or {}).get("case_id") != case_id:
            continue  # a case the alarm was linked to before (an earlier raise)
        about = (data or {}).get(INCIDENT)
        if about == subject.code or (about is None and asset_id == subject.id):
            return int(case_id)
    return None


def case_subject(s: Session, case_id: int) -> LifelineAssetRow | None:
    """The asset a lifeline case is about (the gas pipe, when its wells' alarms joined): the
    first "case" event of its alarms names it."""
    about = s.scalar(select(AlarmEventRow.data)
                     .join(AlarmRow, AlarmRow.id == AlarmEventRow.alarm_id)
                     .where(AlarmRow.case_id == case_id, AlarmEventRow.what == "case")
                     .order_by(AlarmEventRow.id).limit(1))  # fmt: skip
    code = (about or {}).get(INCIDENT)
    return s.scalar(select(LifelineAssetRow).where(LifelineAssetRow.code == code)) \
        if code else None  # fmt: skip
