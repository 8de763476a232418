"""SenML (RFC 8428), JSON encoding: a pack of records → resolved records, in columns.

Resolution (RFC 8428 §4.6): base fields (``bn`` name, ``bt`` time, ``bu`` unit, ``bv`` value,
``bs`` sum) apply to their record and every later one until replaced; the name is base name +
name; the time is base time + time, and a resolved time below 2**28 is relative to *now* (the
receive time): 0 or absent means now, -5 five seconds ago (§4.5.3). ``bver`` above 10 and
unknown must-understand fields (ending in ``_``) reject the pack. Each record carries exactly
one of ``v``/``vs``/``vb``/``vd``, or none but a sum ``s``. Numbers must be finite.

The output is columnar (parallel lists), not an object per record: a gateway's message holds
hundreds of records and the ingest path decodes tens of thousands a second.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from cityops.domain.lifeline.points import PayloadError

SENML_VERSION = 10
RELATIVE_LIMIT = 2.0**28  # resolved times below this are relative to now (§4.5.3)
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9:./_-]*")
_KNOWN = frozenset(
    {"bn", "bt", "bu", "bv", "bs", "bver", "n", "u", "v", "vs", "vb", "vd", "s", "t", "ut"}
)


class SenMLError(PayloadError):
    """The pack is malformed; ``record`` is the index of the offending record (or None)."""

    def __init__(self, message: str, record: int | None = None, code: str = "malformed_senml"):
        super().__init__(message, record, code)


Value = float | str | bool


@dataclass(slots=True)
class ResolvedPack:
    """Resolved records as columns; index i of every list is record i of the pack."""

    names: list[str] = field(default_factory=list)
    times: list[float] = field(default_factory=list)  # seconds since the Unix epoch
    units: list[str | None] = field(default_factory=list)
    values: list[Value | None] = field(default_factory=list)  # vs / vd are str, vb bool
    sums: list[float | None] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.names)

    def records(self) -> Iterator[ResolvedRecord]:
        for row in zip(self.names, self.times, self.units, self.values, self.sums, strict=True):
            yield ResolvedRecord(*row)


@dataclass(frozen=True, slots=True)
class ResolvedRecord:
    """One resolved record (§4.6): no base fields, absolute time. For tests and tools."""

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


def _number(record: dict[str, Any], key: str, i: int) -> float | None:
    x = record.get(key)
    if x is None:
        return None
    if type(x) is not float and type(x) is not int:  # bool is an int: refuse it too
        raise SenMLError(f"{key} must be a number, not {type(x).__name__}", i)
    if not math.isfinite(x):
        raise SenMLError(f"{key} must be finite", i, "not_finite")
    return float(x)


def _string(record: dict[str, Any], key: str, i: int) -> str | None:
    x = record.get(key)
    if x is not None and type(x) is not str:
        raise SenMLError(f"{key} must be a string", i)
    return x


def _check_unknown(record: dict[str, Any], i: int) -> None:
    for key in record.keys() - _KNOWN:
        if key.endswith("_"):
            raise SenMLError(f"unknown must-understand field {key!r}", i)


_BASE = frozenset({"bn", "bt", "bu", "bv", "bs", "bver"})
_OTHER_VALUES = ("vs", "vb", "vd")


def _base(rec: dict[str, Any], i: int, bases: list[Any]) -> None:
    """Apply a record's base fields to ``bases`` = [bn, bt, bu, bv, bs] (rare: usually once)."""
    if "bver" in rec:
        ver = rec["bver"]
        if type(ver) is not int or ver < 1:
            raise SenMLError("bver must be a positive integer", i)
        if ver > SENML_VERSION:
            raise SenMLError(
                f"SenML version {ver} is newer than {SENML_VERSION}", i, "unsupported_version"
            )
    if "bn" in rec:
        bases[0] = _string(rec, "bn", i) or ""
    if "bt" in rec:
        bases[1] = _number(rec, "bt", i) or 0.0
    if "bu" in rec:
        bases[2] = _string(rec, "bu", i)
    if "bv" in rec:
        bases[3] = _number(rec, "bv", i) or 0.0
    if "bs" in rec:
        bases[4] = _number(rec, "bs", i) or 0.0


def parse_pack(pack: Any, now: float) -> ResolvedPack:
    """Resolve a decoded SenML JSON pack; ``now`` (epoch seconds) anchors relative times."""
    if not isinstance(pack, list):
        raise SenMLError("a SenML pack is a JSON array of records")
    out = ResolvedPack()
    names, times, units, values, sums = out.names, out.times, out.units, out.values, out.sums
    bases: list[Any] = ["", 0.0, None, 0.0, 0.0]
    bn, bt, bu, bv, bs = bases
    valid_names: set[str] = set()  # names already checked in this pack
    isfinite = math.isfinite
    for i, rec in enumerate(pack):
        if type(rec) is not dict:
            raise SenMLError("a record must be a JSON object", i)
        if not _KNOWN.issuperset(rec):
            _check_unknown(rec, i)
        if not _BASE.isdisjoint(rec):
            _base(rec, i, bases)
            bn, bt, bu, bv, bs = bases
        n = rec.get("n")
        if n is None:
            name = bn
        elif type(n) is str:
            name = bn + n
        else:
            raise SenMLError("n must be a string", i)
        if name not in valid_names:
            if not name or _NAME.fullmatch(name) is None:
                raise SenMLError(f"invalid or missing name {name!r}", i)
            valid_names.add(name)
        t = rec.get("t")
        if t is None:
            t = bt
        elif (type(t) is float or type(t) is int) and isfinite(t):
            t = bt + t
        else:
            _number(rec, "t", i)  # raises with the precise reason
        s = _number(rec, "s", i) if "s" in rec else None
        value: Value | None
        v = rec.get("v")
        if v is not None:
            if "vs" in rec or "vb" in rec or "vd" in rec:
                raise SenMLError("more than one value field (v, vs, vb, vd)", i)
            if (type(v) is not float and type(v) is not int) or not isfinite(v):
                _number(rec, "v", i)  # raises with the precise reason
            value = bv + v
        else:
            value = _other_value(rec, i, s)
        if not isfinite(t):
            raise SenMLError("time out of range", i)
        names.append(name)
        times.append(t + now if t < RELATIVE_LIMIT else t)
        u = rec.get("u")
        if u is not None and type(u) is not str:
            raise SenMLError("u must be a string", i)
        units.append(u or bu)
        values.append(value)
        sums.append(None if s is None else bs + s)
    return out


def _other_value(rec: dict[str, Any], i: int, s: float | None) -> Value | None:
    if "v" in rec:
        raise SenMLError("v must be a number, not null", i)
    present = [k for k in _OTHER_VALUES if k in rec]
    if len(present) > 1:
        raise SenMLError("more than one value field (v, vs, vb, vd)", i)
    if not present:
        if s is None:
            raise SenMLError("record has neither a value nor a sum", i)
        return None
    if present[0] == "vb":
        if type(rec["vb"]) is not bool:
            raise SenMLError("vb must be true or false", i)
        value: Value = rec["vb"]
        return value
    text = _string(rec, present[0], i)
    assert text is not None
    return text


def resolve(pack: Any, now: float) -> list[ResolvedRecord]:
    """The pack's resolved records (RFC 8428 §4.6)."""
    return list(parse_pack(pack, now).records())
