"""The city's vocabulary: roles, case states, channels, levels (no framework imports)."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    ADMIN = "admin"
    COMMANDER = "commander"  # 城市指挥长 / city commander
    DISPATCHER = "dispatcher"  # 派遣员
    ACCEPTOR = "acceptor"  # 受理员
    SHIFT_LEADER = "shift_leader"  # 值班长
    HANDLER = "handler"  # 处置人员 of a department
    INSPECTOR = "inspector"  # 监督员 (grid inspector)
    AUDITOR = "auditor"
    CITIZEN = "citizen"
    SYSTEM = "system"  # the platform itself (fast path, sweeper)


class CaseState(StrEnum):
    REPORTED = "reported"  # 上报
    ACCEPTED = "accepted"  # 受理
    INVALID = "invalid"  # 作废
    VERIFIED = "verified"  # 核实
    OPENED = "opened"  # 立案
    DISPATCHED = "dispatched"  # 派遣
    HANDLING = "handling"  # 处置中
    HANDLED = "handled"  # 处置完成
    CHECKED = "checked"  # 核查通过
    CLOSED = "closed"  # 结案
    SUSPENDED = "suspended"  # 挂账
    MERGED = "merged"  # 已并案: a duplicate whose reports joined another case (并案)


TERMINAL_STATES = frozenset({CaseState.INVALID, CaseState.CLOSED, CaseState.MERGED})

STATE_LABELS_ZH: dict[CaseState, str] = {
    CaseState.REPORTED: "上报",
    CaseState.ACCEPTED: "受理",
    CaseState.INVALID: "作废",
    CaseState.VERIFIED: "核实",
    CaseState.OPENED: "立案",
    CaseState.DISPATCHED: "派遣",
    CaseState.HANDLING: "处置中",
    CaseState.HANDLED: "处置完成",
    CaseState.CHECKED: "核查通过",
    CaseState.CLOSED: "结案",
    CaseState.SUSPENDED: "挂账",
    CaseState.MERGED: "已并案",
}


class Stage(StrEnum):
    """A timed stage of the process; each has its own clock (时限)."""

    ACCEPT = "accept"  # 受理
    VERIFY = "verify"  # 核实
    DISPATCH = "dispatch"  # 派遣
    HANDLE = "handle"  # 处置
    CHECK = "check"  # 核查


# Which stage's clock runs while a case is in a state; states not listed run no clock.
STAGE_OF_STATE: dict[CaseState, Stage] = {
    CaseState.REPORTED: Stage.ACCEPT,
    CaseState.ACCEPTED: Stage.VERIFY,
    CaseState.VERIFIED: Stage.DISPATCH,
    CaseState.OPENED: Stage.DISPATCH,
    CaseState.DISPATCHED: Stage.HANDLE,
    CaseState.HANDLING: Stage.HANDLE,
    CaseState.HANDLED: Stage.CHECK,
    CaseState.CHECKED: Stage.CHECK,
}


class Channel(StrEnum):
    HOTLINE = "hotline"  # 12345 热线工单
    INSPECTOR = "inspector"  # 监督员上报
    CITIZEN = "citizen"  # 市民上报
    MANUAL = "manual"  # 受理员录入
    VIDEO = "video"  # 视频AI告警
    IOT = "iot"  # 物联感知告警 (lifeline alarms)


class Urgency(StrEnum):
    NORMAL = "normal"
    URGENT = "urgent"  # 紧急: fast path, calendar-hour deadlines


class RegionLevel(StrEnum):
    CITY = "city"
    DISTRICT = "district"
    STREET = "street"
    COMMUNITY = "community"
    GRID = "grid"


REGION_DEPTH: dict[RegionLevel, int] = {lvl: i for i, lvl in enumerate(RegionLevel)}


class DepartmentLevel(StrEnum):
    CITY = "city"
    DISTRICT = "district"
    STREET = "street"


class Priority(StrEnum):
    NORMAL = "normal"
    HIGH = "high"  # raised by 督办
    CRITICAL = "critical"
