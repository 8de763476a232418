"""The case workflow table and ``decide``: every legal step, every illegal one, every guard.

The table (``TRANSITIONS``) is the specification; these tests walk it exhaustively and then
check the process facts of GB/T 30428 (terminal states, 回退/返工/挂账/升级 …) on top of it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import pytest
from hypothesis import Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from cityops.domain.errors import GuardFailed, IllegalTransition
from cityops.domain.model import TERMINAL_STATES, CaseState, Channel, Role, Urgency
from cityops.domain.workflow import (
    BY_ACTION,
    ESCALATION_LEVELS,
    EVENT_NAMES,
    GUARDS,
    MERGEABLE_STATES,
    PREVIOUS,
    STAY,
    TRANSITIONS,
    Actor,
    CaseView,
    Command,
    Decision,
    MergeTarget,
    Transition,
    allowed_actions,
    decide,
    next_level,
    offered_actions,
)

S = CaseState
R = Role

DEPT, OTHER_DEPT = 7, 8
USER, OTHER_USER = 100, 200
RESUME_TO = S.HANDLING  # the state a SUSPENDED case was in before 挂账
EXTENSION_STATES = frozenset({S.DISPATCHED, S.HANDLING, S.SUSPENDED})
# states a case may be in without an assigned department
UNASSIGNED_OK = frozenset({S.REPORTED, S.ACCEPTED, S.INVALID, S.VERIFIED, S.OPENED, S.MERGED})
DEAD_ENDS = frozenset({S.INVALID, S.MERGED})  # nothing follows 作废 or 已并案
OPEN_TARGET = MergeTarget("20261118000042", S.DISPATCHED)

ACTIONS = tuple(t.action for t in TRANSITIONS)
TABLE = frozenset((t.action, s, r) for t in TRANSITIONS for s in t.from_states for r in t.roles)

Triple = tuple[CaseView, Actor, Command]


# --------------------------------------------------------------------------- builders


def satisfying(t: Transition, state: CaseState, role: Role) -> Triple:
    """A case, actor and command for which every guard of ``t`` holds (and nothing more is set)."""
    g = set(t.guards)
    case = CaseView(
        state=state,
        # verified_on_site: either the case was verified (state) or an inspector reported it
        channel=Channel.INSPECTOR if state is not S.VERIFIED else Channel.HOTLINE,
        urgency=Urgency.URGENT if "urgent" in g else Urgency.NORMAL,
        category="E0102",
        department_id=DEPT,
        reporter_user_id=USER,
        level="street",
        resume_state=RESUME_TO if state is S.SUSPENDED else None,
        extension_pending="pending_extension" in g,
        past_due="past_due" in g,
        duplicate_suggested="suggestion" in g,
    )
    actor = Actor(USER, role, frozenset({DEPT}))
    cmd = Command(
        t.action,
        note="现场已核实 / checked on site" if "note" in g else None,
        department_id=OTHER_DEPT if "department" in g else None,
        rating=4 if "rating" in g else None,
        extension="2wd" if "extension_limit" in g else None,
        data={"category": "E0102"} if "amendment" in g else {},
        target=OPEN_TARGET if "merge_target" in g else None,
    )
    return case, actor, cmd


Violator = Callable[[CaseView, Actor, Command], Triple | None]


def _case(**changes: object) -> Violator:
    return lambda c, a, m: (dataclasses.replace(c, **changes), a, m)  # type: ignore[arg-type]


def _cmd(**changes: object) -> Violator:
    return lambda c, a, m: (c, a, dataclasses.replace(m, **changes))  # type: ignore[arg-type]


def _not_verified(c: CaseView, a: Actor, m: Command) -> Triple | None:
    if c.state is S.VERIFIED:  # a verified case always passes: nothing to violate
        return None
    return dataclasses.replace(c, channel=Channel.HOTLINE), a, m


def _other_reporter(c: CaseView, a: Actor, m: Command) -> Triple | None:
    if a.role is not R.CITIZEN:  # staff may record a rating on the reporter's behalf
        return None
    return c, dataclasses.replace(a, user_id=OTHER_USER), m


# How to break exactly one guard, starting from ``satisfying``; None when it cannot be broken.
VIOLATIONS: dict[str, Violator] = {
    "note": _cmd(note=None),
    "department": _cmd(department_id=None),
    "extension_limit": _cmd(extension=None),
    "urgent": _case(urgency=Urgency.NORMAL),
    "verified_on_site": _not_verified,
    "category": _case(category=None),
    "assignee": lambda c, a, m: (c, dataclasses.replace(a, department_ids=frozenset({9})), m),
    "rating": _cmd(rating=None),
    "reporter": _other_reporter,
    "no_pending_extension": _case(extension_pending=True),
    "pending_extension": _case(extension_pending=False),
    "amendment": _cmd(data={}),
    "past_due": _case(past_due=False),
    "below_city": _case(level="city"),
    "merge_target": _cmd(target=None),
    "target_open": _cmd(target=MergeTarget("20261118000042", S.CLOSED)),
    "suggestion": _case(duplicate_suggested=False),
    "plan_done": _case(open_plan_steps=((2, "疏散周边人员"),)),
}


def expected_to_state(t: Transition, case: CaseView) -> CaseState:
    if t.to_state == STAY:
        return case.state
    if t.to_state == PREVIOUS:
        assert case.resume_state is not None
        return case.resume_state
    return CaseState(t.to_state)


def _legal_params() -> list[object]:
    return [
        pytest.param(t, s, r, id=f"{t.action}-{s.value}-{r.value}")
        for t in TRANSITIONS
        for s in sorted(t.from_states)
        for r in sorted(t.roles)
    ]


def _illegal_params() -> list[object]:
    return [
        pytest.param(a, s, r, id=f"{a}-{s.value}-{r.value}")
        for a in ACTIONS
        for s in CaseState
        for r in Role
        if (a, s, r) not in TABLE
    ]


def _guard_params() -> list[object]:
    params = []
    for t in TRANSITIONS:
        for g in t.guards:
            for s in sorted(t.from_states):
                for r in sorted(t.roles):
                    if VIOLATIONS[g](*satisfying(t, s, r)) is not None:
                        params.append(pytest.param(t, g, s, r, id=f"{t.action}-{g}-{s}-{r}"))
    return params


def ok(case: CaseView, role: Role, action: str, **cmd: object) -> Decision:
    actor = Actor(USER, role, frozenset({DEPT}))
    return decide(case, actor, Command(action, **cmd))  # type: ignore[arg-type]


def view(state: CaseState, **kw: object) -> CaseView:
    base: dict[str, object] = {
        "channel": Channel.HOTLINE,
        "urgency": Urgency.NORMAL,
        "category": "E0102",
        "department_id": DEPT,
        "reporter_user_id": USER,
    }
    base.update(kw)
    return CaseView(state, **base)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- the table itself


def test_table_is_well_formed() -> None:
    assert len(BY_ACTION) == len(TRANSITIONS), "action names are unique"
    used = {g for t in TRANSITIONS for g in t.guards}
    assert used == set(GUARDS), "every guard is used and every used guard exists"
    assert set(VIOLATIONS) == set(GUARDS)
    assert set(ACTIONS) <= set(EVENT_NAMES)
    for t in TRANSITIONS:
        assert t.from_states and t.roles and t.label_zh
        assert t.to_state in (STAY, PREVIOUS) or CaseState(t.to_state) in CaseState
        assert TERMINAL_STATES.isdisjoint(t.from_states) or t.action in ("rate", "reopen")


def test_every_guard_can_be_violated_somewhere() -> None:
    for t in TRANSITIONS:
        for g in t.guards:
            assert any(
                VIOLATIONS[g](*satisfying(t, s, r)) is not None
                for s in t.from_states
                for r in t.roles
            ), (t.action, g)


# --------------------------------------------------------------------------- 1. legal steps


@pytest.mark.parametrize(("t", "state", "role"), _legal_params())
def test_every_legal_step_reaches_its_target(t: Transition, state: CaseState, role: Role) -> None:
    case, actor, cmd = satisfying(t, state, role)
    decision = decide(case, actor, cmd)
    assert decision.transition is t
    assert decision.from_state is state
    assert decision.to_state is expected_to_state(t, case)
    assert t.action in allowed_actions(case, role)


# --------------------------------------------------------------------------- 2. illegal steps


@pytest.mark.parametrize(("action", "state", "role"), _illegal_params())
def test_every_step_outside_the_table_is_illegal(action: str, state: CaseState, role: Role) -> None:
    case, actor, cmd = satisfying(BY_ACTION[action], state, role)
    with pytest.raises(IllegalTransition) as info:
        decide(case, actor, cmd)
    # The refusal lists what this actor is offered: the table's steps less case-guarded ones.
    assert info.value.allowed == offered_actions(case, actor)
    assert set(info.value.allowed) <= set(allowed_actions(case, role))
    assert action not in info.value.allowed
    assert info.value.details["allowed"] == info.value.allowed
    assert info.value.details["state"] == state.value
    assert info.value.details["action"] == action


@pytest.mark.parametrize("action", ["submit", "teleport", "", "ACCEPT"])
def test_unknown_actions_are_illegal(action: str) -> None:
    case = view(S.REPORTED)
    with pytest.raises(IllegalTransition) as info:
        ok(case, R.SHIFT_LEADER, action)
    assert set(allowed_actions(case, R.SHIFT_LEADER)) == {
        "accept",
        "invalidate",
        "fast_track",
        "supervise",
        "escalate",
        "amend",
        "merge",
        "reject_duplicate",
    }
    # What the refusal offers leaves out the steps this case's guards would refuse: no fast
    # track for a normal case, no 不予并案 without a suggestion.
    assert info.value.allowed == ["accept", "invalidate", "supervise", "escalate", "amend",
                                  "merge"]  # fmt: skip


def test_allowed_actions_follow_table_order() -> None:
    for s in CaseState:
        for r in Role:
            expected = [t.action for t in TRANSITIONS if (t.action, s, r) in TABLE]
            assert allowed_actions(view(s), r) == expected


# --------------------------------------------------------------------------- 3. guards


@pytest.mark.parametrize(("t", "guard", "state", "role"), _guard_params())
def test_each_guard_alone_refuses(t: Transition, guard: str, state: CaseState, role: Role) -> None:
    broken = VIOLATIONS[guard](*satisfying(t, state, role))
    assert broken is not None
    with pytest.raises(GuardFailed) as info:
        decide(*broken)
    reasons = info.value.details["reasons"]
    assert reasons == [GUARDS[guard](*broken)]
    assert len(reasons) == 1 and reasons[0]
    assert info.value.details["action"] == t.action
    assert info.value.details["state"] == state.value


def test_all_failing_guards_are_reported_together() -> None:
    t = BY_ACTION["request_extension"]
    case, actor, cmd = satisfying(t, S.HANDLING, R.HANDLER)
    case = dataclasses.replace(case, extension_pending=True)
    actor = dataclasses.replace(actor, department_ids=frozenset())
    cmd = dataclasses.replace(cmd, note=None, extension=None)
    with pytest.raises(GuardFailed) as info:
        decide(case, actor, cmd)
    assert len(info.value.details["reasons"]) == len(t.guards) == 4


@pytest.mark.parametrize("note", ["", "   ", "\t\n"])
def test_blank_note_counts_as_missing(note: str) -> None:
    with pytest.raises(GuardFailed):
        ok(view(S.REPORTED), R.ACCEPTOR, "invalidate", note=note)


@pytest.mark.parametrize("rating", [0, 6, -1, None])
def test_rating_must_be_one_to_five(rating: int | None) -> None:
    with pytest.raises(GuardFailed):
        ok(view(S.CLOSED), R.CITIZEN, "rate", rating=rating)


@pytest.mark.parametrize("rating", [1, 2, 3, 4, 5])
def test_ratings_one_to_five_are_accepted(rating: int) -> None:
    assert ok(view(S.CLOSED), R.CITIZEN, "rate", rating=rating).to_state is S.CLOSED


def test_amend_accepts_a_new_location_instead_of_a_category() -> None:
    d = ok(view(S.OPENED), R.DISPATCHER, "amend", data={"location": [121.4, 31.2]})
    assert d.to_state is S.OPENED
    with pytest.raises(GuardFailed):
        ok(view(S.OPENED), R.DISPATCHER, "amend", data={"category": "", "location": None})


# --------------------------------------------------------------------------- 4. process facts


@pytest.mark.parametrize("state", sorted(DEAD_ENDS))
def test_invalid_and_merged_are_dead_ends(state: CaseState) -> None:
    assert state in TERMINAL_STATES
    for r in Role:
        assert allowed_actions(view(state), r) == []
    for a in ACTIONS:
        for r in Role:
            case, actor, cmd = satisfying(BY_ACTION[a], state, r)
            with pytest.raises(IllegalTransition):
                decide(case, actor, cmd)


def test_closed_allows_only_rating_and_reopening() -> None:
    possible = {a for r in Role for a in allowed_actions(view(S.CLOSED), r)}
    assert possible == {"rate", "reopen"}
    assert ok(view(S.CLOSED), R.SHIFT_LEADER, "reopen", note="复发").to_state is S.OPENED
    assert ok(view(S.CLOSED), R.ACCEPTOR, "reopen", note="复发").to_state is S.OPENED


@pytest.mark.parametrize(
    ("action", "state"),
    [
        ("start", S.DISPATCHED),
        ("complete", S.HANDLING),
        ("return", S.DISPATCHED),
        ("return", S.HANDLING),
        ("request_extension", S.HANDLING),
    ],
)
def test_handler_of_another_department_is_refused(action: str, state: CaseState) -> None:
    case = view(state, department_id=DEPT)
    cmd = Command(action, note="说明", extension="2wd")
    outsider = Actor(USER, R.HANDLER, frozenset({OTHER_DEPT}))
    with pytest.raises(GuardFailed) as info:
        decide(case, outsider, cmd)
    assert info.value.details["reasons"] == [GUARDS["assignee"](case, outsider, cmd)]
    # a handler of several departments including the assigned one may act
    insider = Actor(USER, R.HANDLER, frozenset({OTHER_DEPT, DEPT}))
    assert decide(case, insider, cmd).from_state is state
    # an unassigned case cannot be worked at all
    with pytest.raises(GuardFailed):
        decide(view(state, department_id=None), insider, cmd)


def test_citizen_rates_only_their_own_case() -> None:
    closed = view(S.CLOSED, reporter_user_id=USER)
    assert decide(closed, Actor(USER, R.CITIZEN), Command("rate", rating=5)).to_state is S.CLOSED
    for stranger in (Actor(OTHER_USER, R.CITIZEN), Actor(None, R.CITIZEN)):
        with pytest.raises(GuardFailed):
            decide(closed, stranger, Command("rate", rating=5))
    anonymous = view(S.CLOSED, reporter_user_id=None)
    with pytest.raises(GuardFailed):
        decide(anonymous, Actor(None, R.CITIZEN), Command("rate", rating=5))
    # an acceptor records the rating given on the hotline for anyone's case
    d = decide(anonymous, Actor(OTHER_USER, R.ACCEPTOR), Command("rate", rating=3))
    assert d.to_state is S.CLOSED
    # and nobody rates an open case
    with pytest.raises(IllegalTransition):
        decide(view(S.CHECKED), Actor(USER, R.CITIZEN), Command("rate", rating=5))


def test_escalation_climbs_to_city_and_stops_there() -> None:
    assert ESCALATION_LEVELS == ("street", "district", "city")
    assert next_level("street") == "district"
    assert next_level("district") == "city"
    assert next_level("city") == "city"
    assert ok(view(S.DISPATCHED, level="street"), R.COMMANDER, "escalate").to_state is S.DISPATCHED
    assert ok(view(S.HANDLING, level="district"), R.SYSTEM, "escalate").to_state is S.HANDLING
    with pytest.raises(GuardFailed) as info:
        ok(view(S.HANDLING, level="city"), R.SHIFT_LEADER, "escalate")
    assert len(info.value.details["reasons"]) == 1


@pytest.mark.parametrize("before", [S.OPENED, S.DISPATCHED, S.HANDLING])
def test_resume_returns_to_the_state_before_suspension(before: CaseState) -> None:
    suspended = ok(view(before), R.SHIFT_LEADER, "suspend", note="等待审批")
    assert suspended.to_state is S.SUSPENDED
    case = view(S.SUSPENDED, resume_state=before)
    assert ok(case, R.SHIFT_LEADER, "resume").to_state is before


@pytest.mark.parametrize(
    "state", [s for s in CaseState if s not in (S.OPENED, S.DISPATCHED, S.HANDLING)]
)
def test_only_work_states_can_be_suspended(state: CaseState) -> None:
    with pytest.raises(IllegalTransition):
        ok(view(state, resume_state=S.OPENED), R.SHIFT_LEADER, "suspend", note="x")


def test_a_suspended_case_cannot_be_worked_or_amended() -> None:
    case = view(S.SUSPENDED, resume_state=S.HANDLING)
    for role, action in [
        (R.HANDLER, "complete"),
        (R.HANDLER, "return"),
        (R.DISPATCHER, "amend"),
        (R.SYSTEM, "overdue"),
        (R.SHIFT_LEADER, "suspend"),
    ]:
        with pytest.raises(IllegalTransition):
            ok(case, role, action, note="x", data={"category": "E0102"})
    # but it can still be supervised and escalated
    assert ok(case, R.COMMANDER, "supervise", note="尽快").to_state is S.SUSPENDED
    assert ok(case, R.COMMANDER, "escalate").to_state is S.SUSPENDED


def test_happy_path() -> None:
    case = view(S.REPORTED, department_id=None)  # as submitted: 上报
    steps: list[tuple[Role, str, dict[str, object], CaseState]] = [
        (R.ACCEPTOR, "accept", {}, S.ACCEPTED),
        (R.INSPECTOR, "verify", {}, S.VERIFIED),
        (R.ACCEPTOR, "open", {}, S.OPENED),
        (R.DISPATCHER, "dispatch", {"department_id": DEPT}, S.DISPATCHED),
        (R.HANDLER, "start", {}, S.HANDLING),
        (R.HANDLER, "complete", {"note": "已清理"}, S.HANDLED),
        (R.INSPECTOR, "check_pass", {}, S.CHECKED),
        (R.ACCEPTOR, "close", {}, S.CLOSED),
        (R.CITIZEN, "rate", {"rating": 5}, S.CLOSED),
    ]
    for role, action, kw, target in steps:
        d = ok(case, role, action, **kw)
        assert (d.from_state, d.to_state) == (case.state, target), action
        case = dataclasses.replace(case, state=d.to_state)
        if action == "dispatch":
            case = dataclasses.replace(case, department_id=DEPT)
    assert case.state is S.CLOSED


def test_open_from_accepted_needs_an_inspector_report() -> None:
    # a hotline case must be verified on site first; an inspector's own report need not be
    with pytest.raises(GuardFailed):
        ok(view(S.ACCEPTED, channel=Channel.HOTLINE), R.ACCEPTOR, "open")
    assert ok(view(S.ACCEPTED, channel=Channel.INSPECTOR), R.ACCEPTOR, "open").to_state is S.OPENED
    with pytest.raises(GuardFailed):
        ok(view(S.VERIFIED, category=None), R.ACCEPTOR, "open")


def test_fast_track_only_for_urgent_cases() -> None:
    urgent = view(S.REPORTED, urgency=Urgency.URGENT)
    assert ok(urgent, R.SYSTEM, "fast_track").to_state is S.OPENED
    with pytest.raises(GuardFailed):
        ok(view(S.REPORTED), R.SYSTEM, "fast_track")


def test_check_fail_sends_the_case_back_to_handling() -> None:
    d = ok(view(S.HANDLED), R.INSPECTOR, "check_fail", note="未清理干净")
    assert d.to_state is S.HANDLING
    with pytest.raises(GuardFailed):
        ok(view(S.HANDLED), R.INSPECTOR, "check_fail")


@pytest.mark.parametrize("state", [S.DISPATCHED, S.HANDLING])
def test_return_goes_back_to_opened(state: CaseState) -> None:
    d = ok(view(state), R.HANDLER, "return", note="不属于本部门")
    assert d.to_state is S.OPENED


def test_extension_request_then_decision() -> None:
    case = view(S.HANDLING)
    assert (
        ok(case, R.HANDLER, "request_extension", note="材料未到", extension="2wd").to_state
        is S.HANDLING
    )
    pending = dataclasses.replace(case, extension_pending=True)
    with pytest.raises(GuardFailed):  # one request at a time
        ok(pending, R.HANDLER, "request_extension", note="再延", extension="1wd")
    assert ok(pending, R.SHIFT_LEADER, "approve_extension").to_state is S.HANDLING
    assert ok(pending, R.SHIFT_LEADER, "deny_extension", note="不予延期").to_state is S.HANDLING
    with pytest.raises(GuardFailed):  # nothing to decide on
        ok(case, R.SHIFT_LEADER, "approve_extension")
    with pytest.raises(IllegalTransition):  # a handler cannot approve their own request
        ok(pending, R.HANDLER, "approve_extension")


def test_overdue_is_marked_by_the_system_only_when_past_due() -> None:
    assert ok(view(S.OPENED, past_due=True), R.SYSTEM, "overdue").to_state is S.OPENED
    with pytest.raises(GuardFailed):
        ok(view(S.OPENED, past_due=False), R.SYSTEM, "overdue")
    with pytest.raises(IllegalTransition):
        ok(view(S.OPENED, past_due=True), R.SHIFT_LEADER, "overdue")


@pytest.mark.parametrize(
    ("action", "state", "target"),
    [
        ("complete", S.HANDLING, S.HANDLED),
        ("return", S.HANDLING, S.OPENED),
        ("return", S.DISPATCHED, S.OPENED),
    ],
)
def test_a_pending_extension_does_not_outlive_its_stage(
    action: str, state: CaseState, target: CaseState
) -> None:
    case = view(state, extension_pending=True)
    try:
        d = ok(case, R.HANDLER, action, note="说明")
    except GuardFailed:
        return  # refusing to leave the stage while the request is open is correct too
    assert d.to_state in EXTENSION_STATES, (
        f"{action} took the case to {d.to_state} with an extension request still pending"
    )


def test_merge_only_before_dispatch_by_the_centre() -> None:
    for state in MERGEABLE_STATES:
        for role in (R.ACCEPTOR, R.SHIFT_LEADER, R.DISPATCHER):
            d = ok(view(state, department_id=None), role, "merge", target=OPEN_TARGET)
            assert d.to_state is S.MERGED
    for state in (S.DISPATCHED, S.HANDLING, S.SUSPENDED, S.CHECKED, S.CLOSED):
        with pytest.raises(IllegalTransition) as info:
            ok(view(state), R.SHIFT_LEADER, "merge", target=OPEN_TARGET)
        assert "merge" not in info.value.allowed
    for role in (R.INSPECTOR, R.HANDLER, R.CITIZEN, R.COMMANDER, R.SYSTEM):
        with pytest.raises(IllegalTransition):
            ok(view(S.ACCEPTED), role, "merge", target=OPEN_TARGET)


@pytest.mark.parametrize("state", [S.REPORTED, S.DISPATCHED, S.HANDLING, S.SUSPENDED, S.CHECKED])
def test_any_open_case_may_be_the_target(state: CaseState) -> None:
    target = MergeTarget("20261118000042", state)
    assert ok(view(S.ACCEPTED), R.ACCEPTOR, "merge", target=target).to_state is S.MERGED


@pytest.mark.parametrize("state", sorted(TERMINAL_STATES))
def test_a_finished_target_is_refused_and_named(state: CaseState) -> None:
    target = MergeTarget("20261118000042", state, "20261118000007")
    with pytest.raises(GuardFailed) as info:
        ok(view(S.ACCEPTED), R.ACCEPTOR, "merge", target=target)
    [reason] = info.value.details["reasons"]
    assert "20261118000042" in reason
    # a target that was itself merged points on to the case that holds it (no chains, no cycles)
    assert ("20261118000007" in reason) == (state is S.MERGED)


def test_merge_needs_a_target() -> None:
    with pytest.raises(GuardFailed) as info:
        ok(view(S.ACCEPTED), R.ACCEPTOR, "merge")
    assert info.value.details["reasons"] == ["name the case to merge into / 需要指定并入的案卷"]


def test_completing_with_open_plan_steps_needs_a_reason_and_names_them() -> None:
    steps = ((2, "疏散周边人员"), (5, "关闭上游阀门"))
    case = view(S.HANDLING, open_plan_steps=steps)
    with pytest.raises(GuardFailed) as info:
        ok(case, R.HANDLER, "complete", note="已处置")
    assert info.value.details["guards"] == ["plan_done"]
    assert info.value.details["open_plan_steps"] == [
        {"no": 2, "text": "疏散周边人员"}, {"no": 5, "text": "关闭上游阀门"}]  # fmt: skip
    assert "2、5" in info.value.message
    blank = {"plan_note": "  "}
    with pytest.raises(GuardFailed):
        ok(case, R.HANDLER, "complete", note="已处置", data=blank)
    reason = {"plan_note": "阀门由燃气公司关闭，不归本部门"}
    assert ok(case, R.HANDLER, "complete", note="已处置", data=reason).to_state is S.HANDLED
    assert ok(view(S.HANDLING), R.HANDLER, "complete", note="已处置").to_state is S.HANDLED
    # Only the plan's refusal carries the steps.
    with pytest.raises(GuardFailed) as other:
        ok(view(S.HANDLING), R.HANDLER, "complete")
    assert other.value.details["guards"] == ["note"]
    assert "open_plan_steps" not in other.value.details


def test_rejecting_a_suggestion_needs_one_and_a_reason() -> None:
    suggested = view(S.DISPATCHED, duplicate_suggested=True)
    assert ok(suggested, R.DISPATCHER, "reject_duplicate", note="两处不同的垃圾点").to_state is (
        S.DISPATCHED
    )
    with pytest.raises(GuardFailed):
        ok(suggested, R.DISPATCHER, "reject_duplicate")
    with pytest.raises(GuardFailed):
        ok(view(S.DISPATCHED), R.DISPATCHER, "reject_duplicate", note="不是同一问题")
    with pytest.raises(IllegalTransition):
        ok(view(S.MERGED, duplicate_suggested=True), R.ACCEPTOR, "reject_duplicate", note="x")


# --------------------------------------------------------------------------- 5. stateful


MOSTLY_TRUE = st.sampled_from([True, True, True, False])
NOTES = st.sampled_from([None, "", "  ", "现场已处理"])
DEPTS = st.sampled_from([None, DEPT, OTHER_DEPT])
RATINGS = st.sampled_from([None, 0, 1, 4, 5, 6])
EXTENSIONS = st.sampled_from([None, "2wd", ""])
DATA = st.sampled_from([{}, {"category": "E0201"}, {"location": [121.4, 31.2]}])
USERS = st.sampled_from([None, USER, OTHER_USER])
TARGETS = st.sampled_from([None, OPEN_TARGET, *(MergeTarget("20261118000042", s, "20261118000007")
                                                  for s in sorted(TERMINAL_STATES))])  # fmt: skip
MEMBERSHIPS = st.sampled_from(
    [frozenset(), frozenset({DEPT}), frozenset({OTHER_DEPT}), frozenset({DEPT, OTHER_DEPT})]
)


class WorkflowMachine(RuleBasedStateMachine):
    """A model case driven by random (action, role, command) choices through ``decide``."""

    check_extension_invariant = False

    def __init__(self) -> None:
        super().__init__()
        self.case = view(S.REPORTED, department_id=None)
        self.finished = False  # reached a dead end (作废, 已并案)

    @initialize(
        # every state, with the busy middle of the process (派遣/处置) twice as likely
        state=st.sampled_from([*CaseState, S.DISPATCHED, S.HANDLING]),
        resume=st.sampled_from(sorted({S.OPENED, S.DISPATCHED, S.HANDLING})),
        channel=st.sampled_from(Channel),
        urgency=st.sampled_from(Urgency),
        category=st.sampled_from([None, "E0102"]),
        dept=DEPTS,
        level=st.sampled_from(ESCALATION_LEVELS),
        pending=st.booleans(),
        suggested=st.booleans(),
    )
    def start(
        self,
        state: CaseState,
        resume: CaseState,
        channel: Channel,
        urgency: Urgency,
        category: str | None,
        dept: int | None,
        level: str,
        pending: bool,
        suggested: bool,
    ) -> None:
        # a consistent starting point anywhere in the process (department set once dispatched)
        self.case = CaseView(
            state=state,
            channel=channel,
            urgency=urgency,
            category=category,
            department_id=dept
            if (resume if state is S.SUSPENDED else state) in UNASSIGNED_OK
            else DEPT,
            reporter_user_id=USER,
            level=level,
            resume_state=resume if state is S.SUSPENDED else None,
            # a request belongs to a handling stage, also one suspended from it (not 立案)
            extension_pending=pending
            and (resume if state is S.SUSPENDED else state) in EXTENSION_STATES - {S.SUSPENDED},
            duplicate_suggested=suggested and state not in TERMINAL_STATES,
        )
        self.finished = state in DEAD_ENDS

    @rule()
    def deadline_passes(self) -> None:
        self.case = dataclasses.replace(self.case, past_due=True)

    @rule()
    def a_similar_report_arrives(self) -> None:  # intake suggests a 并案 on an open case
        if self.case.state not in TERMINAL_STATES:
            self.case = dataclasses.replace(self.case, duplicate_suggested=True)

    @rule(
        data=st.data(),
        legal=MOSTLY_TRUE,
        cooperative=MOSTLY_TRUE,
        note=NOTES,
        dept=DEPTS,
        rating=RATINGS,
        extension=EXTENSIONS,
        payload=DATA,
        user=USERS,
        member_of=MEMBERSHIPS,
        into=TARGETS,  # "target" is hypothesis's own keyword
    )
    def act(
        self,
        data: st.DataObject,
        legal: bool,
        cooperative: bool,
        note: str | None,
        dept: int | None,
        rating: int | None,
        extension: str | None,
        payload: dict[str, object],
        user: int | None,
        member_of: frozenset[int],
        into: MergeTarget | None,
    ) -> None:
        case = self.case
        choices = sorted((a, r) for a, s, r in TABLE if s is case.state)
        if legal and choices:
            action, role = data.draw(st.sampled_from(choices))
        else:
            action = data.draw(st.sampled_from(ACTIONS))
            role = data.draw(st.sampled_from(Role))
        if cooperative:  # a well-formed request by the right people, so the walk gets far
            own = frozenset({case.department_id}) if case.department_id else member_of
            actor = Actor(case.reporter_user_id, role, own)
            cmd = Command(
                action,
                note="现场已处理",
                department_id=dept or DEPT,
                rating=4,
                extension="2wd",
                data={"category": "E0201"},
                target=OPEN_TARGET,
            )
        else:
            actor = Actor(user, role, member_of)
            cmd = Command(
                action,
                note=note,
                department_id=dept,
                rating=rating,
                extension=extension,
                data=payload,
                target=into,
            )
        in_table = (action, case.state, role) in TABLE
        try:
            decision = decide(case, actor, cmd)
        except IllegalTransition as e:
            assert not in_table
            assert e.allowed == offered_actions(case, actor)
            assert action not in e.allowed
            return
        except GuardFailed as e:
            assert in_table
            t = BY_ACTION[action]
            expected = [r for g in t.guards if (r := GUARDS[g](case, actor, cmd)) is not None]
            assert e.details["reasons"] == expected and expected
            return
        assert in_table, (action, case.state, role)
        assert not self.finished, "nothing succeeds once the case is invalid or merged"
        t = BY_ACTION[action]
        assert decision.transition is t and decision.from_state is case.state
        assert decision.to_state is expected_to_state(t, case)
        self._apply(decision, cmd)

    def _apply(self, decision: Decision, cmd: Command) -> None:
        c = self.case
        changes: dict[str, object] = {"state": decision.to_state}
        action = cmd.action
        if action in ("dispatch", "redispatch"):
            changes["department_id"] = cmd.department_id
        elif action == "return":
            changes["department_id"] = None
        elif action == "suspend":
            changes["resume_state"] = c.state
        elif action == "resume":
            changes["resume_state"] = None
        elif action == "request_extension":
            changes["extension_pending"] = True
        elif action in ("approve_extension", "deny_extension"):
            changes["extension_pending"] = False
        elif action == "escalate":
            changes["level"] = next_level(c.level)
        elif action == "amend":
            changes["category"] = cmd.data.get("category") or c.category
        elif action == "overdue":
            changes["past_due"] = False
        elif action in ("merge", "reject_duplicate"):  # the suggestion is decided either way
            changes["duplicate_suggested"] = False
        if decision.to_state is not c.state:
            changes["past_due"] = False  # a new stage, a new clock
        self.case = dataclasses.replace(c, **changes)  # type: ignore[arg-type]
        if decision.to_state in DEAD_ENDS:
            self.finished = True

    @invariant()
    def state_is_a_case_state(self) -> None:
        assert isinstance(self.case.state, CaseState)
        assert self.case.level in ESCALATION_LEVELS

    @invariant()
    def suspended_case_knows_where_to_resume(self) -> None:
        if self.case.state is S.SUSPENDED:
            assert self.case.resume_state is not None
            assert self.case.resume_state is not S.SUSPENDED
        else:
            assert self.case.resume_state is None

    @invariant()
    def invalid_and_merged_are_final(self) -> None:
        assert self.finished == (self.case.state in DEAD_ENDS)

    @invariant()
    def merging_decides_the_suggestion(self) -> None:
        # (a closed case may keep one: it is moot there and comes back with 重新打开)
        if self.case.state is S.MERGED:
            assert not self.case.duplicate_suggested

    @invariant()
    def assigned_while_being_worked(self) -> None:
        if self.case.state in (S.HANDLING, S.HANDLED):
            assert self.case.department_id is not None

    @invariant()
    def pending_extension_only_while_handling(self) -> None:
        if self.check_extension_invariant and self.case.extension_pending:
            assert self.case.state in EXTENSION_STATES, self.case


class WorkflowMachineWithExtensions(WorkflowMachine):
    check_extension_invariant = True


MACHINE_SETTINGS = settings(
    max_examples=200, stateful_step_count=30, deadline=None, derandomize=True, database=None
)

TestWorkflowMachine = WorkflowMachine.TestCase
TestWorkflowMachine.settings = MACHINE_SETTINGS

TestWorkflowMachineWithExtensions = WorkflowMachineWithExtensions.TestCase
TestWorkflowMachineWithExtensions.settings = settings(
    MACHINE_SETTINGS, phases=[Phase.explicit, Phase.generate]
)


def test_offered_actions_leave_out_what_a_case_guard_would_refuse() -> None:
    leader = Actor(user_id=1, role=Role.SHIFT_LEADER)
    handling = view(CaseState.HANDLING, department_id=5)
    offered = offered_actions(handling, leader)
    assert "approve_extension" not in offered and "reject_duplicate" not in offered
    assert set(offered) <= set(allowed_actions(handling, Role.SHIFT_LEADER))
    pending = view(CaseState.HANDLING, department_id=5, extension_pending=True,
                   duplicate_suggested=True)  # fmt: skip
    assert {"approve_extension", "reject_duplicate"} <= set(offered_actions(pending, leader))
    # A handler is offered only its own department's steps; command fields are not judged.
    mine = Actor(user_id=2, role=Role.HANDLER, department_ids=frozenset({5}))
    other = Actor(user_id=3, role=Role.HANDLER, department_ids=frozenset({6}))
    assert "complete" in offered_actions(handling, mine)
    assert "complete" not in offered_actions(handling, other)
