"""Time limits (时限) as written in the taxonomy: ``4wh``, ``3wd``, ``2h``."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from cityops.domain.errors import ValidationFailed


class TimeUnit(StrEnum):
    WORKING_HOURS = "wh"  # 工作时 on the official calendar
    WORKING_DAYS = "wd"  # 工作日: N × the length of a working day, in working time
    CALENDAR_HOURS = "h"  # 自然小时, for emergencies


_PATTERN = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(wh|wd|h)\s*$")


@dataclass(frozen=True, slots=True)
class TimeLimit:
    amount: float
    unit: TimeUnit

    def __post_init__(self) -> None:
        object.__setattr__(self, "amount", float(self.amount))  # TimeLimit(1, …) is fine too

    @classmethod
    def parse(cls, text: str) -> TimeLimit:
        match = _PATTERN.match(text)
        if not match or float(match.group(1)) <= 0:
            raise ValidationFailed(
                f"bad time limit {text!r}: expected a positive number followed by "
                "'wh' (working hours), 'wd' (working days) or 'h' (calendar hours)",
                value=text,
            )
        return cls(float(match.group(1)), TimeUnit(match.group(2)))

    def __str__(self) -> str:
        amount = int(self.amount) if self.amount.is_integer() else self.amount
        return f"{amount}{self.unit.value}"
