"""What each evaluation metric (综合评价, after GB/T 30428.4) means, and the composite score.

Kept apart from the counting so the API can publish ``FORMULAS`` next to the numbers, and
so the weights live in one documented place (see docs/evaluation.md).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from enum import StrEnum

from cityops.domain.errors import ValidationFailed


class Dimension(StrEnum):
    DEPARTMENT = "department"  # 部门: what happened while the case was assigned to it
    STREET = "street"  # 街道: by the case's location
    GRID = "grid"  # 网格: by the case's location
    INSPECTOR = "inspector"  # 监督员: the cases they reported


DIMENSION_LABELS: dict[Dimension, str] = {
    Dimension.DEPARTMENT: "部门",
    Dimension.STREET: "街道",
    Dimension.GRID: "网格",
    Dimension.INSPECTOR: "监督员",
}


@dataclass(frozen=True, slots=True)
class Formula:
    label_zh: str
    label_en: str
    formula_text: str


# Insertion order is the column order of reports and CSV exports.
FORMULAS: dict[str, Formula] = {
    "reported": Formula("上报数", "reports", "期内上报的案件数 / cases reported in the period"),
    "opened": Formula(
        "立案数",
        "cases opened",
        "期内立案事件数（立案、紧急立案、重新打开）/ open + fast_track + reopen events",
    ),
    "invalid": Formula(
        "作废数", "invalidated", "期内作废事件数（作废、核实不属实）/ invalidate + refute events"
    ),
    "dispatched": Formula(
        "派遣数", "dispatches", "期内派遣与改派次数 / dispatch + redispatch events"
    ),
    "handled": Formula("处置数", "completions", "期内处置完成次数 / complete events"),
    "returned": Formula("回退数", "returns", "期内回退次数 / return events"),
    "reworked": Formula("返工数", "reworks", "期内核查不通过次数 / check_fail events"),
    "closed": Formula("结案数", "cases closed", "期内结案事件数 / close events"),
    "close_rate": Formula(
        "结案率",
        "close rate",
        "结案数 ÷ 立案数（部门：÷ 派遣数）/ closed ÷ opened (departments: ÷ dispatched)",
    ),
    "on_time_close_rate": Formula(
        "按期结案率",
        "on-time close rate",
        "未超总时限的结案数 ÷ 结案数 / closes not overdue ÷ closed",
    ),
    "on_time_handle_rate": Formula(
        "按期处置率",
        "on-time handling rate",
        "未超处置时限的处置完成数 ÷ 处置数 / completes not overdue ÷ completes",
    ),
    "rework_rate": Formula("返工率", "rework rate", "返工数 ÷ 处置数 / check_fail ÷ completes"),
    "return_rate": Formula("回退率", "return rate", "回退数 ÷ 派遣数 / returns ÷ dispatches"),
    "overdue": Formula(
        "超期数",
        "overdue cases",
        "期内有超期记录或超期完成某一环节的案件数（按案件去重）"
        " / distinct cases with an overdue event or a stage finished late in the period",
    ),
    "extended": Formula("延期数", "extensions", "期内批准延期次数 / approve_extension events"),
    "mean_handle_hours": Formula(
        "平均处置时长(小时)",
        "mean handling hours",
        "每次处置完成距最近一次派遣的小时数的平均值"
        " / mean elapsed hours from the latest dispatch to each complete",
    ),
    "median_handle_hours": Formula(
        "处置时长中位数(小时)",
        "median handling hours",
        "同上，取中位数 / median of the same durations",
    ),
    "satisfaction": Formula(
        "满意率", "satisfaction", "评分≥4 的评价数 ÷ 评价数 / ratings ≥ 4 ÷ ratings"
    ),
    "score": Formula(
        "综合评分",
        "composite score",
        "100 × Σ 权重ᵢ × 指标ᵢ ÷ Σ 权重ᵢ；返工率、回退率取 1 − 值；分母为零的指标不参与"
        " / 100 × Σ wᵢ·mᵢ ÷ Σ wᵢ over rates that exist; rework and return rates as 1 − rate",
    ),
}

METRIC_KEYS: tuple[str, ...] = tuple(key for key in FORMULAS if key != "score")

# Rates where a lower value is better; the score uses 1 − rate.
INVERTED_RATES = frozenset({"rework_rate", "return_rate"})


@dataclass(frozen=True, slots=True)
class ScoreWeights:
    """Weights of the rates in the composite score; only their ratios matter."""

    on_time_handle_rate: float = 0.35
    close_rate: float = 0.25
    rework_rate: float = 0.15  # inverted
    return_rate: float = 0.10  # inverted
    on_time_close_rate: float = 0.15
    satisfaction: float = 0.0  # off by default: few cases get rated

    def __post_init__(self) -> None:
        weights = self.as_dict()
        bad = [k for k, w in weights.items() if not math.isfinite(w) or w < 0]
        if bad or sum(weights.values()) <= 0:
            raise ValidationFailed(
                "评分权重须为非负数且不全为零 / score weights must be non-negative "
                "and not all zero",
                weights=weights,
            )

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


DEFAULT_WEIGHTS = ScoreWeights()


def ratio(numerator: int, denominator: int) -> float | None:
    """A rate, or None when nothing happened that it could be a rate of."""
    return numerator / denominator if denominator else None


def composite_score(
    metrics: Mapping[str, float | int | None], weights: ScoreWeights = DEFAULT_WEIGHTS
) -> float | None:
    """0–100; rates that are None are left out and the remaining weights renormalised."""
    total = weighted = 0.0
    for key, weight in weights.as_dict().items():
        value = metrics.get(key)
        if value is None or weight == 0:
            continue
        # close_rate can exceed 1 over a period (cases opened earlier closed now): clamp.
        normalised = min(max(float(value), 0.0), 1.0)
        if key in INVERTED_RATES:
            normalised = 1.0 - normalised
        total += weight
        weighted += weight * normalised
    return 100.0 * weighted / total if total else None
