"""City lifeline rules, anomaly detection, alarms and their cases (issue 5 §4–5).

The engine is a telemetry ``BatchListener`` registered by ``telemetry(app)``; ``lifeline(app)``
returns it. See docs/lifeline.md ("Rules", "Alarms").
"""

from __future__ import annotations

from cityops.bootstrap import App
from cityops.domain.errors import Conflict
from cityops.service.lifeline.engine import AlarmEngine


def lifeline(app: App) -> AlarmEngine:
    from cityops.service.telemetry import telemetry

    engine = telemetry(app).alarms
    if engine is None:
        raise Conflict("lifeline alarms are switched off (CITYOPS_LIFELINE_ALARMS=0)")
    return engine
