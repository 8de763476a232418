"""The case log as the evaluation and the screens read it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True, slots=True)
class LoggedEvent:
    """One immutable entry of a case's log (案卷日志).

    ``action`` is the workflow transition's name (see ``cityops.domain.workflow``), ``data`` holds
    what the transition recorded, e.g. ``{"overdue": True}`` when the stage it ended was late.
    """

    case_id: int
    seq: int
    action: str
    from_state: str | None
    to_state: str
    at: datetime
    actor_id: int | None = None
    actor_role: str | None = None
    department_id: int | None = None
    data: Mapping[str, Any] = field(default_factory=dict)
