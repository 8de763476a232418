"""What decoders produce: points in columns, and the errors that reject a whole message."""

from __future__ import annotations

from dataclasses import dataclass, field


class PayloadError(ValueError):
    """A message that cannot be read at all; it is dead-lettered whole.

    ``code`` is the dead-letter reason code; ``record`` the offending record's index, if any.
    """

    def __init__(self, message: str, record: int | None = None, code: str = "malformed") -> None:
        super().__init__(f"record {record}: {message}" if record is not None else message)
        self.message = message
        self.record = record
        self.code = code


# Per-point rejection reasons; the message's good points are still accepted.
UNKNOWN_DEVICE = "unknown_device"
UNKNOWN_METRIC = "unknown_metric"
BAD_UNIT = "bad_unit"
NON_NUMERIC = "non_numeric"
OUT_OF_RANGE = "out_of_range"
TOO_OLD = "too_old"
FUTURE = "future_timestamp"


@dataclass(slots=True)
class PointColumns:
    """Decoded points of one message, as parallel lists (no object per point).

    ``origin`` is the index of the record (SenML) or object (plain JSON) each point came from,
    so a rejection can name it. ``problems`` are records skipped while decoding, as
    (origin, reason code, message).
    """

    devices: list[str] = field(default_factory=list)
    metrics: list[str] = field(default_factory=list)
    times: list[float] = field(default_factory=list)  # epoch seconds
    values: list[float] = field(default_factory=list)
    units: list[str | None] = field(default_factory=list)
    origin: list[int] = field(default_factory=list)
    problems: list[tuple[int, str, str]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.values)
