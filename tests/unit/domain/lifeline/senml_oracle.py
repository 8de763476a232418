"""The reference SenML resolver: RFC 8428 §4.6 written plainly, in two steps (resolve every
record, then split names into points), to hold the product's one-pass ``senml_points`` to.

It shares the per-field checks (``field_number``, ``apply_bases``, ``other_value`` …) and the
name split with the product, so what it checks independently is the order of checks, base
fields, relative times, value kinds and which records become points or problems.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from cityops.domain.lifeline.points import NON_NUMERIC, UNKNOWN_DEVICE, PointColumns
from cityops.domain.lifeline.senml import (
    BASE_FIELDS,
    NAME,
    RELATIVE_LIMIT,
    SenMLError,
    Value,
    apply_bases,
    check_unknown,
    field_number,
    other_value,
    split_name,
)


@dataclass(frozen=True, slots=True)
class ResolvedRecord:
    """One resolved record (§4.6): no base fields, absolute time."""

    name: str
    time: float
    unit: str | None = None
    value: Value | None = None
    sum: float | None = None

    def as_senml(self) -> dict[str, Any]:
        out: dict[str, Any] = {"n": self.name, "t": self.time}
        if self.unit is not None:
            out["u"] = self.unit
        if isinstance(self.value, bool):
            out["vb"] = self.value
        elif isinstance(self.value, str):
            out["vs"] = self.value
        elif self.value is not None:
            out["v"] = self.value
        if self.sum is not None:
            out["s"] = self.sum
        return out


@dataclass(slots=True)
class ResolvedPack:
    """Resolved records as columns; index i of every list is record i of the pack."""

    names: list[str] = field(default_factory=list)
    times: list[float] = field(default_factory=list)  # seconds since the Unix epoch
    units: list[str | None] = field(default_factory=list)
    values: list[Value | None] = field(default_factory=list)  # vs / vd are str, vb bool
    sums: list[float | None] = field(default_factory=list)

    def records(self) -> Iterator[ResolvedRecord]:
        for row in zip(self.names, self.times, self.units, self.values, self.sums, strict=True):
            yield ResolvedRecord(*row)


def parse_pack(pack: Any, now: float) -> ResolvedPack:
    """Resolve a decoded SenML JSON pack; ``now`` (epoch seconds) anchors relative times."""
    if not isinstance(pack, list):
        raise SenMLError("a SenML pack is a JSON array of records")
    out = ResolvedPack()
    bases: list[Any] = ["", 0.0, None, 0.0, 0.0]
    for i, rec in enumerate(pack):
        if type(rec) is not dict:
            raise SenMLError("a record must be a JSON object", i)
        check_unknown(rec, i)
        if not BASE_FIELDS.isdisjoint(rec):
            apply_bases(rec, i, bases)
        bn, bt, bu, bv, bs = bases
        n = rec.get("n")
        if n is not None and type(n) is not str:
            raise SenMLError("n must be a string", i)
        name = bn + (n or "")
        if not name or NAME.fullmatch(name) is None:
            raise SenMLError(f"invalid or missing name {name!r}", i)
        t = bt + (field_number(rec, "t", i) or 0.0)
        s = field_number(rec, "s", i)
        value: Value | None
        if rec.get("v") is not None:
            if any(k in rec for k in ("vs", "vb", "vd")):
                raise SenMLError("more than one value field (v, vs, vb, vd)", i)
            value = bv + (field_number(rec, "v", i) or 0.0)
        else:
            value = other_value(rec, i, s)
        if not math.isfinite(t):
            raise SenMLError("time out of range", i)
        u = rec.get("u")
        if u is not None and type(u) is not str:
            raise SenMLError("u must be a string", i)
        out.names.append(name)
        out.times.append(t + now if t < RELATIVE_LIMIT else t)
        out.units.append(u or bu)
        out.values.append(value)
        out.sums.append(None if s is None else bs + s)
    return out


def resolve(pack: Any, now: float) -> list[ResolvedRecord]:
    """The pack's resolved records (RFC 8428 §4.6)."""
    return list(parse_pack(pack, now).records())


def points_from_senml(pack: ResolvedPack, default_device: str | None = None) -> PointColumns:
    """Resolved records → points: numbers, booleans as 1/0 and lone sums; the rest problems."""
    out = PointColumns()
    for i, (name, t, unit, value, total) in enumerate(
        zip(pack.names, pack.times, pack.units, pack.values, pack.sums, strict=True)
    ):
        if type(value) is float:
            number = value
        elif type(value) is bool:
            number = 1.0 if value else 0.0
        elif value is None and total is not None:
            number = total
        else:
            out.problems.append((i, NON_NUMERIC, f"{name}: a string or data value"))
            continue
        device, metric = split_name(name, default_device)
        if device is None or not metric:
            out.problems.append((i, UNKNOWN_DEVICE, f"{name}: the name names no device"))
            continue
        out.devices.append(device)
        out.metrics.append(metric)
        out.times.append(t)
        out.values.append(number)
        out.units.append(unit)
        out.origin.append(i)
    return out
