"""The case workflow (GB/T 30428 process) as data, and the one function that applies it.

上报 → 受理 → 核实 → 立案 → 派遣 → 处置中 → 处置完成 → 核查 → 结案 → 评价, with 回退, 返工, 延期,
挂账, 督办, 升级, 重新打开 and 并案 (a duplicate joins another case before dispatch). Each
:class:`Transition` names the states it leaves from, the state it enters, the roles that may
take it and the guards (by name) that must hold. ``decide`` is pure: the service layer locks
the case row, calls it, and writes the result plus one immutable event.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from cityops.domain.errors import GuardFailed, IllegalTransition
from cityops.domain.model import TERMINAL_STATES, CaseState, Channel, Role, Urgency

S = CaseState
R = Role

STAY = "stay"  # to_state marker: the case keeps its state (督办, 延期, 评价 …)
PREVIOUS = "previous"  # to_state marker: back to the state before 挂账

OPEN_STATES = frozenset(set(CaseState) - TERMINAL_STATES)
WORK_STATES = frozenset({S.OPENED, S.DISPATCHED, S.HANDLING})
# 并案 by hand only before dispatch: afterwards a department holds the case and its clock.
MERGEABLE_STATES = frozenset({S.REPORTED, S.ACCEPTED, S.VERIFIED, S.OPENED})
CENTRE = {R.ACCEPTOR, R.SHIFT_LEADER, R.DISPATCHER}  # the command centre's desk roles


@dataclass(frozen=True, slots=True)
class Transition:
    action: str
    label_zh: str
    from_states: frozenset[CaseState]
    to_state: str  # a CaseState value, STAY or PREVIOUS
    roles: frozenset[Role]
    guards: tuple[str, ...] = ()


def _t(
    action: str,
    label: str,
    sources: set[CaseState] | frozenset[CaseState],
    to: str,
    roles: set[Role],
    *guards: str,
) -> Transition:
    return Transition(action, label, frozenset(sources), to, frozenset(roles), guards)


# fmt: off
TRANSITIONS: tuple[Transition, ...] = (
    _t("accept", "受理", {S.REPORTED}, S.ACCEPTED, {R.ACCEPTOR, R.SHIFT_LEADER}),
    _t("invalidate", "作废", {S.REPORTED, S.ACCEPTED}, S.INVALID,
       {R.ACCEPTOR, R.SHIFT_LEADER}, "note"),
    _t("verify", "核实", {S.ACCEPTED}, S.VERIFIED, {R.INSPECTOR, R.SHIFT_LEADER}),
    _t("refute", "核实不属实", {S.ACCEPTED}, S.INVALID, {R.INSPECTOR}, "note"),
    _t("fast_track", "紧急立案", {S.REPORTED, S.ACCEPTED}, S.OPENED,
       {R.SYSTEM, R.ACCEPTOR, R.SHIFT_LEADER}, "urgent"),
    _t("open", "立案", {S.VERIFIED, S.ACCEPTED}, S.OPENED,
       {R.ACCEPTOR, R.SHIFT_LEADER}, "verified_on_site", "category"),
    _t("dispatch", "派遣", {S.OPENED}, S.DISPATCHED,
       {R.DISPATCHER, R.SHIFT_LEADER, R.SYSTEM}, "department"),
    _t("redispatch", "改派", {S.DISPATCHED}, S.DISPATCHED,
       {R.DISPATCHER, R.SHIFT_LEADER}, "department", "note"),
    _t("start", "签收处置", {S.DISPATCHED}, S.HANDLING, {R.HANDLER}, "assignee"),
    # A pending 延期 request belongs to its stage: it is decided before the stage ends.
    _t("return", "回退", {S.DISPATCHED, S.HANDLING}, S.OPENED, {R.HANDLER},
       "assignee", "note", "no_pending_extension"),
    # An emergency plan's open steps are finished first, or left with a reason (plan_note).
    _t("complete", "处置完成", {S.HANDLING}, S.HANDLED, {R.HANDLER},
       "assignee", "note", "no_pending_extension", "plan_done"),
    _t("check_pass", "核查通过", {S.HANDLED}, S.CHECKED, {R.INSPECTOR, R.SHIFT_LEADER}),
    _t("check_fail", "核查不通过（返工）", {S.HANDLED}, S.HANDLING,
       {R.INSPECTOR, R.SHIFT_LEADER}, "note"),
    _t("close", "结案", {S.CHECKED}, S.CLOSED, {R.ACCEPTOR, R.SHIFT_LEADER}),
    _t("rate", "评价", {S.CLOSED}, STAY, {R.CITIZEN, R.ACCEPTOR}, "rating", "reporter"),
    _t("request_extension", "延期申请", {S.DISPATCHED, S.HANDLING}, STAY,
       {R.HANDLER}, "assignee", "note", "no_pending_extension", "extension_limit"),
    _t("approve_extension", "批准延期", {S.DISPATCHED, S.HANDLING}, STAY,
       {R.SHIFT_LEADER}, "pending_extension"),
    _t("deny_extension", "驳回延期", {S.DISPATCHED, S.HANDLING}, STAY,
       {R.SHIFT_LEADER}, "pending_extension", "note"),
    _t("suspend", "挂账", WORK_STATES, S.SUSPENDED, {R.SHIFT_LEADER}, "note"),
    _t("resume", "恢复", {S.SUSPENDED}, PREVIOUS, {R.SHIFT_LEADER}),
    _t("supervise", "督办", OPEN_STATES, STAY, {R.COMMANDER, R.SHIFT_LEADER}, "note"),
    _t("escalate", "升级", OPEN_STATES, STAY,
       {R.SHIFT_LEADER, R.COMMANDER, R.SYSTEM}, "below_city"),
    _t("reopen", "重新打开", {S.CLOSED}, S.OPENED, {R.SHIFT_LEADER, R.ACCEPTOR}, "note"),
    _t("amend", "补正", OPEN_STATES - {S.SUSPENDED}, STAY, CENTRE, "amendment"),
    _t("merge", "并案", MERGEABLE_STATES, S.MERGED, CENTRE, "merge_target", "target_open"),
    _t("reject_duplicate", "不予并案", OPEN_STATES, STAY, CENTRE, "suggestion", "note"),
    _t("overdue", "超期", OPEN_STATES - {S.SUSPENDED}, STAY, {R.SYSTEM}, "past_due"),
)

# Past-tense names under which each action is published on the event bus.
EVENT_NAMES: Mapping[str, str] = {
    "submit": "ReportSubmitted", "accept": "CaseAccepted", "invalidate": "CaseInvalidated",
    "verify": "CaseVerified",
    "refute": "CaseRefuted", "fast_track": "CaseFastTracked", "open": "CaseOpened",
    "dispatch": "CaseDispatched", "redispatch": "CaseRedispatched", "start": "CaseStarted",
    "return": "CaseReturned", "complete": "CaseCompleted", "check_pass": "CaseCheckPassed",
    "check_fail": "CaseCheckFailed", "close": "CaseClosed", "rate": "CaseRated",
    "request_extension": "ExtensionRequested", "approve_extension": "ExtensionApproved",
    "deny_extension": "ExtensionDenied", "suspend": "CaseSuspended", "resume": "CaseResumed",
    "supervise": "CaseSupervised", "escalate": "CaseEscalated", "reopen": "CaseReopened",
    "amend": "CaseAmended", "overdue": "CaseOverdue", "merge": "CaseMerged",
    "reject_duplicate": "DuplicateRejected",
}
# fmt: on

BY_ACTION: Mapping[str, Transition] = {t.action: t for t in TRANSITIONS}
ESCALATION_LEVELS = ("street", "district", "city")


@dataclass(frozen=True, slots=True)
class CaseView:
    """What the workflow needs to know about a case to decide."""

    state: CaseState
    channel: Channel
    urgency: Urgency
    category: str | None
    department_id: int | None
    reporter_user_id: int | None
    level: str = "street"  # escalation level: street → district → city
    resume_state: CaseState | None = None
    extension_pending: bool = False
    past_due: bool = False  # the running stage's deadline has passed and is not yet marked
    duplicate_suggested: bool = False  # intake suggested a 并案 nobody has decided yet
    # The emergency plan's (应急预案) steps not yet done, as (step number, text)
    open_plan_steps: tuple[tuple[int, str], ...] = ()


@dataclass(frozen=True, slots=True)
class MergeTarget:
    """The case a duplicate is to be merged into, as the service found it."""

    case_no: str
    state: CaseState
    merged_into: str | None = None  # when it was itself merged: the case that holds it now


@dataclass(frozen=True, slots=True)
class Actor:
    user_id: int | None
    role: Role
    department_ids: frozenset[int] = frozenset()


@dataclass(frozen=True, slots=True)
class Command:
    action: str
    note: str | None = None
    department_id: int | None = None
    rating: int | None = None
    extension: str | None = None  # a TimeLimit string, for request_extension
    media: tuple[str, ...] = ()
    data: Mapping[str, Any] = field(default_factory=dict)
    target: MergeTarget | None = None  # for merge


@dataclass(frozen=True, slots=True)
class Decision:
    transition: Transition
    from_state: CaseState
    to_state: CaseState


Guard = Callable[[CaseView, Actor, Command], str | None]  # returns the refusal, or None


def _needs(attr: str, message: str) -> Guard:
    def guard(case: CaseView, actor: Actor, cmd: Command) -> str | None:
        value = getattr(cmd, attr)
        return message if value is None or (isinstance(value, str) and not value.strip()) else None

    return guard


def _target_open(c: CaseView, a: Actor, m: Command) -> str | None:
    t = m.target
    if t is None or t.state not in TERMINAL_STATES:
        return None  # a missing target is merge_target's refusal
    if t.state is S.MERGED:  # following it would chain merges; name the case that holds it
        return (
            f"case {t.case_no} was itself merged into {t.merged_into}; merge into that case "
            f"/ 目标案卷 {t.case_no} 已并入 {t.merged_into}"
        )
    return f"case {t.case_no} is {t.state.value}, not open / 目标案卷 {t.case_no} 已结束"


def _plan_done(c: CaseView, a: Actor, m: Command) -> str | None:
    if not c.open_plan_steps or str(m.data.get("plan_note") or "").strip():
        return None
    numbers = "、".join(str(no) for no, _ in c.open_plan_steps)
    return (
        f"emergency plan steps {numbers} are not done: finish them or give plan_note "
        f"/ 预案步骤 {numbers} 未完成，请先完成或说明原因"
    )


GUARDS: Mapping[str, Guard] = {
    "note": _needs("note", "a note (reason or result) is required / 需要填写说明"),
    "department": _needs("department_id", "a department is required / 需要指定处置部门"),
    "extension_limit": _needs("extension", "the requested extension is required / 需要延期时长"),
    "urgent": lambda c, a, m: (
        None
        if c.urgency is Urgency.URGENT
        else "only urgent categories take the fast path / 仅紧急类事项可直接立案"
    ),
    "verified_on_site": lambda c, a, m: (
        None
        if c.state is S.VERIFIED or c.channel is Channel.INSPECTOR
        else "the case must be verified on site first / 需先由监督员核实"
    ),
    "category": lambda c, a, m: (
        None if c.category else "the case has no category yet / 案件尚未分类"
    ),
    "assignee": lambda c, a, m: (
        None
        if c.department_id is not None and c.department_id in a.department_ids
        else "only the assigned department may do this / 仅承办部门可操作"
    ),
    "rating": lambda c, a, m: (
        None
        if m.rating is not None and 1 <= m.rating <= 5
        else "a rating from 1 to 5 is required / 需要 1–5 分评价"
    ),
    "reporter": lambda c, a, m: (
        None
        if a.role is not R.CITIZEN or (a.user_id is not None and a.user_id == c.reporter_user_id)
        else "only the reporter may rate this case / 仅上报人可评价"
    ),
    "no_pending_extension": lambda c, a, m: (
        None
        if not c.extension_pending
        else "an extension request is already pending / 已有待审批的延期申请"
    ),
    "pending_extension": lambda c, a, m: (
        None if c.extension_pending else "no extension request is pending / 没有待审批的延期申请"
    ),
    "amendment": lambda c, a, m: (
        None
        if m.data.get("category") or m.data.get("location")
        else "give a new category or location / 需要提供新的分类或位置"
    ),
    "past_due": lambda c, a, m: (
        None if c.past_due else "the stage is not past its deadline / 未超期"
    ),
    "below_city": lambda c, a, m: (
        None
        if c.level != ESCALATION_LEVELS[-1]
        else "the case is already at city level / 已升级至市级"
    ),
    "merge_target": lambda c, a, m: (
        None if m.target is not None else "name the case to merge into / 需要指定并入的案卷"
    ),
    "target_open": _target_open,
    "plan_done": _plan_done,
    "suggestion": lambda c, a, m: (
        None if c.duplicate_suggested else "the case has no 并案 suggestion / 该案卷没有并案建议"
    ),
}


def allowed_actions(case: CaseView, role: Role) -> list[str]:
    """Actions the role may take from the case's state (guards not yet applied)."""
    return [t.action for t in TRANSITIONS if case.state in t.from_states and role in t.roles]


# Guards that read only the case and the actor, not what the command carries: they can be
# judged before anyone fills in a form.
_CASE_GUARDS = frozenset({
    "urgent", "verified_on_site", "category", "assignee", "no_pending_extension",
    "pending_extension", "past_due", "below_city", "suggestion",
})  # fmt: skip
_NO_COMMAND = Command("")


def offered_actions(case: CaseView, actor: Actor) -> list[str]:
    """The steps to offer this actor now: the table's, less those a case guard would refuse
    (批准延期 with no request pending, 不予并案 with no suggestion …)."""
    return [
        t.action
        for t in TRANSITIONS
        if case.state in t.from_states
        and actor.role in t.roles
        and not any(
            GUARDS[g](case, actor, _NO_COMMAND) for g in t.guards if g in _CASE_GUARDS
        )
    ]


def check_allowed(case: CaseView, actor: Actor, action: str) -> Transition:
    """The table row for the step, or IllegalTransition with the steps the actor is offered."""
    transition = BY_ACTION.get(action)
    role = actor.role
    if (
        transition is None
        or case.state not in transition.from_states
        or role not in transition.roles
    ):
        raise IllegalTransition(
            f"'{action}' is not allowed for {role.value} in state {case.state.value}",
            state=case.state.value,
            action=action,
            allowed=offered_actions(case, actor),
        )
    return transition


def decide(case: CaseView, actor: Actor, cmd: Command) -> Decision:
    """Check the command against the table; raise with the allowed next steps when refused."""
    transition = check_allowed(case, actor, cmd.action)
    failed = {g: r for g in transition.guards if (r := GUARDS[g](case, actor, cmd)) is not None}
    if failed:
        refusals = list(failed.values())
        # Which guards refused, by name; the open plan steps too, for the client to list them.
        extra: dict[str, Any] = {"guards": list(failed)}
        if "plan_done" in failed:
            extra["open_plan_steps"] = [{"no": no, "text": text}
                                        for no, text in case.open_plan_steps]  # fmt: skip
        raise GuardFailed(
            "; ".join(refusals), action=cmd.action, state=case.state.value, reasons=refusals,
            **extra,
        )  # fmt: skip
    if transition.to_state == STAY:
        to_state = case.state
    elif transition.to_state == PREVIOUS:
        to_state = case.resume_state or S.OPENED
    else:
        to_state = CaseState(transition.to_state)
    return Decision(transition, case.state, to_state)


def next_level(level: str) -> str:
    index = ESCALATION_LEVELS.index(level) if level in ESCALATION_LEVELS else 0
    return ESCALATION_LEVELS[min(index + 1, len(ESCALATION_LEVELS) - 1)]
