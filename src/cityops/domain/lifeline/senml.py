"""SenML (RFC 8428), JSON encoding: a pack of records → points, in one pass.

Resolution (RFC 8428 §4.6): base fields (``bn`` name, ``bt`` time, ``bu`` unit, ``bv`` value,
``bs`` sum) apply to their record and every later one until replaced; the name is base name +
name; the time is base time + time, and a resolved time below 2**28 is relative to *now* (the
receive time): 0 or absent means now, -5 five seconds ago (§4.5.3). ``bver`` above 10 and
unknown must-understand fields (ending in ``_``) reject the pack. Each record carries exactly
one of ``v``/``vs``/``vb``/``vd``, or none but a sum ``s``. Numbers must be finite.

Points: a resolved name is ``{device}:{metric}`` or ``{device}/{metric}`` (split at the last
``:`` or ``/``; a leading ``urn:dev:cityops:`` is ignored), or a bare ``{metric}`` when the
transport names the device. ``v`` is the value; ``vb`` counts as 1/0 (a cover open, a pump
on); a record with only a sum ``s`` (a totaliser) stores the sum; ``vs``/``vd`` are not
numeric and are skipped as problems, as is a name that names no device.

This is the only SenML decoder in the product. The field checks (``field_number``,
``apply_bases``, ``check_unknown``, ``other_value``) are public because the test suite's
reference resolver (tests/unit/domain/lifeline/senml_oracle.py) applies the same rules.
"""

from __future__ import annotations

import math
import re
from typing import Any

from cityops.domain.lifeline.points import (
    NON_NUMERIC,
    UNKNOWN_DEVICE,
    PayloadError,
    PointColumns,
)

SENML_VERSION = 10
RELATIVE_LIMIT = 2.0**28  # resolved times below this are relative to now (§4.5.3)
URN_PREFIX = "urn:dev:cityops:"
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9:./_-]*")
KNOWN_FIELDS = frozenset(
    {"bn", "bt", "bu", "bv", "bs", "bver", "n", "u", "v", "vs", "vb", "vd", "s", "t", "ut"}
)
BASE_FIELDS = frozenset({"bn", "bt", "bu", "bv", "bs", "bver"})
_OTHER_VALUES = ("vs", "vb", "vd")

Value = float | str | bool


class SenMLError(PayloadError):
    """The pack is malformed; ``record`` is the index of the offending record (or None)."""

    def __init__(self, message: str, record: int | None = None, code: str = "malformed_senml"):
        super().__init__(message, record, code)


def split_name(name: str, default_device: str | None) -> tuple[str | None, str]:
    """(device, metric) of a resolved SenML name."""
    cut = max(name.rfind(":"), name.rfind("/"))
    if cut < 0:
        return default_device, name
    device = name[:cut]
    if device.startswith(URN_PREFIX):
        device = device[len(URN_PREFIX) :]
    return device, name[cut + 1 :]


def senml_points(pack: Any, now: float, default_device: str | None = None) -> PointColumns:
    """The pack's points; raises :class:`SenMLError` naming the first malformed record.

    One loop, no intermediate records: the ingest path decodes tens of thousands of records a
    second, and each distinct name is validated and split once per pack (a pack repeats a few
    names many times). A record that is well formed but not a number, or whose name names no
    device, is a problem of its own; the pack's other points are kept.
    """
    if not isinstance(pack, list):
        raise SenMLError("a SenML pack is a JSON array of records")
    out = PointColumns()
    devices, metrics, times, values, units, origin, problems = (
        out.devices, out.metrics, out.times, out.values, out.units, out.origin, out.problems
    )  # fmt: skip
    bases: list[Any] = ["", 0.0, None, 0.0, 0.0]
    bn, bt, bu, bv, bs = bases
    names: dict[str, tuple[str | None, str]] = {}  # name → (device, metric), checked
    isfinite, known, base_keys = math.isfinite, KNOWN_FIELDS, BASE_FIELDS
    for i, rec in enumerate(pack):
        if type(rec) is not dict:
            raise SenMLError("a record must be a JSON object", i)
        if not known.issuperset(rec):
            check_unknown(rec, i)
        if not base_keys.isdisjoint(rec):
            apply_bases(rec, i, bases)
            bn, bt, bu, bv, bs = bases
        n = rec.get("n")
        if n is None:
            name = bn
        elif type(n) is str:
            name = bn + n
        else:
            raise SenMLError("n must be a string", i)
        parts = names.get(name)
        if parts is None:
            if not name or NAME.fullmatch(name) is None:
                raise SenMLError(f"invalid or missing name {name!r}", i)
            parts = names[name] = split_name(name, default_device)
        t = rec.get("t")
        if t is None:
            t = bt
        elif (type(t) is float or type(t) is int) and isfinite(t):
            t = bt + t
        else:
            field_number(rec, "t", i)  # raises with the precise reason
        s = field_number(rec, "s", i) if "s" in rec else None
        v = rec.get("v")
        if v is not None:
            if "vs" in rec or "vb" in rec or "vd" in rec:
                raise SenMLError("more than one value field (v, vs, vb, vd)", i)
            if (type(v) is not float and type(v) is not int) or not isfinite(v):
                field_number(rec, "v", i)  # raises with the precise reason
            number: float | None = float(bv + v)
        else:
            other = other_value(rec, i, s)
            if type(other) is bool:
                number = 1.0 if other else 0.0
            elif other is None:  # only a sum: a totaliser
                number = None if s is None else bs + s
            else:
                number = None
        if not isfinite(t):
            raise SenMLError("time out of range", i)
        u = rec.get("u")
        if u is not None and type(u) is not str:
            raise SenMLError("u must be a string", i)
        if number is None:
            problems.append((i, NON_NUMERIC, f"{name}: a string or data value"))
            continue
        device, metric = parts
        if device is None or not metric:
            problems.append((i, UNKNOWN_DEVICE, f"{name}: the name names no device"))
            continue
        devices.append(device)
        metrics.append(metric)
        times.append(t + now if t < RELATIVE_LIMIT else t)
        values.append(number)
        units.append(u or bu)
        origin.append(i)
    return out


# The field checks, off the common path: a record reaches them when it has base fields,
# unknown fields, a value other than ``v``, or an error.


def field_number(record: dict[str, Any], key: str, i: int) -> float | None:
    """``record[key]`` as a finite number (None when absent)."""
    x = record.get(key)
    if x is None:
        return None
    if type(x) is not float and type(x) is not int:  # bool is an int: refuse it too
        raise SenMLError(f"{key} must be a number, not {type(x).__name__}", i)
    if not math.isfinite(x):
        raise SenMLError(f"{key} must be finite", i, "not_finite")
    return float(x)


def _field_string(record: dict[str, Any], key: str, i: int) -> str | None:
    x = record.get(key)
    if x is not None and type(x) is not str:
        raise SenMLError(f"{key} must be a string", i)
    return x


def check_unknown(record: dict[str, Any], i: int) -> None:
    """Refuse unknown must-understand fields (RFC 8428 §4.4); other unknown fields pass."""
    for key in record.keys() - KNOWN_FIELDS:
        if key.endswith("_"):
            raise SenMLError(f"unknown must-understand field {key!r}", i)


def apply_bases(rec: dict[str, Any], i: int, bases: list[Any]) -> None:
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
        bases[0] = _field_string(rec, "bn", i) or ""
    if "bt" in rec:
        bases[1] = field_number(rec, "bt", i) or 0.0
    if "bu" in rec:
        bases[2] = _field_string(rec, "bu", i)
    if "bv" in rec:
        bases[3] = field_number(rec, "bv", i) or 0.0
    if "bs" in rec:
        bases[4] = field_number(rec, "bs", i) or 0.0


def other_value(rec: dict[str, Any], i: int, s: float | None) -> Value | None:
    """The value of a record without a numeric ``v``: ``vs``/``vd`` text, ``vb`` a bool, or
    None for a record with only a sum."""
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
    text = rec[present[0]]
    if type(text) is not str:  # null too: it used to slip through as "no value"
        raise SenMLError(f"{present[0]} must be a string", i)
    return text
