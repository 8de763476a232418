"""Units of lifeline measurements: SenML (RFC 8428 / 8798) and UCUM codes, and the few
conversions the platform performs.

A device declares one unit per metric; a reading may carry the same unit, an alias of it, or
another unit of the same dimension with an exact linear conversion (kPa → MPa, mm → m,
K → Cel). Anything else is a bad unit: guessing between, say, ppm and %LEL would be dangerous.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Unit:
    code: str  # canonical code
    dimension: str
    factor: float = 1.0  # to the dimension's base unit: base = value * factor + offset
    offset: float = 0.0
    label: str = ""


_UNITS = (
    # pressure (base Pa)
    Unit("Pa", "pressure", 1.0, label="帕"), Unit("hPa", "pressure", 1e2, label="百帕"),
    Unit("kPa", "pressure", 1e3, label="千帕"), Unit("MPa", "pressure", 1e6, label="兆帕"),
    Unit("bar", "pressure", 1e5, label="巴"),
    # temperature (base K)
    Unit("K", "temperature", 1.0, label="开"), Unit("Cel", "temperature", 1.0, 273.15, "℃"),
    # length: water level, settlement, deflection (base m)
    Unit("m", "length", 1.0, label="米"), Unit("cm", "length", 1e-2, label="厘米"),
    Unit("mm", "length", 1e-3, label="毫米"),
    # flow (base m3/s)
    Unit("m3/s", "flow", 1.0), Unit("m3/h", "flow", 1 / 3600, label="立方米/时"),
    Unit("l/s", "flow", 1e-3, label="升/秒"), Unit("l/min", "flow", 1e-3 / 60),
    # vibration velocity (base m/s) and acceleration (base m/s2)
    Unit("m/s", "speed", 1.0), Unit("mm/s", "speed", 1e-3, label="毫米/秒"),
    Unit("m/s2", "acceleration", 1.0), Unit("mm/s2", "acceleration", 1e-3),
    # ratios that are never converted into each other
    Unit("%RH", "humidity", label="相对湿度"), Unit("%{LEL}", "lel", label="爆炸下限"),
    Unit("%vol", "volume_fraction"), Unit("ppm", "ppm"), Unit("%", "percent"),
    Unit("ustrain", "strain", label="微应变"), Unit("deg", "angle", label="度"),
    Unit("Hz", "frequency"), Unit("V", "voltage"), Unit("A", "current"),
    Unit("NTU", "turbidity"), Unit("pH", "ph"), Unit("count", "count"), Unit("1", "ratio"),
    Unit("/", "ratio"), Unit("kg/m3", "density"), Unit("mg/m3", "concentration"),
)  # fmt: skip
UNITS: dict[str, Unit] = {u.code: u for u in _UNITS}
# Spellings seen in the field → canonical code.
ALIASES: dict[str, str] = {
    "%LEL": "%{LEL}", "LEL%": "%{LEL}", "L/s": "l/s", "L/min": "l/min", "°C": "Cel", "℃": "Cel",
    "degC": "Cel", "m³/h": "m3/h", "m3/hr": "m3/h", "με": "ustrain", "ue": "ustrain",
    "%VOL": "%vol", "% vol": "%vol", "Mpa": "MPa", "kpa": "kPa",
}  # fmt: skip


# How people write a unit in a case text (the screens use the same table:
# static/js/pages/console/lifeline-common.js UNIT_LABELS); other codes read as themselves.
_SYMBOLS: dict[str, str] = {
    "%{LEL}": "%LEL", "Cel": "℃", "ustrain": "με", "mm/s2": "mm/s²", "m/s2": "m/s²",
    "m3": "m³", "m3/h": "m³/h", "m3/s": "m³/s", "l/s": "L/s", "l/min": "L/min",
    "kg/m3": "kg/m³", "mg/m3": "mg/m³", "deg": "°", "1": "", "/": "", "count": "",
}  # fmt: skip


def symbol(code: str) -> str:
    """``%{LEL}`` → ``%LEL``, ``Cel`` → ``℃``: a unit code as written for people."""
    return _SYMBOLS.get(code, code)


def canonical(code: str) -> str | None:
    """The canonical code of a known unit or alias, else None."""
    if code in UNITS:
        return code
    return ALIASES.get(code)


class UnitMismatch(ValueError):
    """The reading's unit cannot be turned into the device's declared unit."""


def conversion(source: str, target: str) -> tuple[float, float]:
    """(scale, shift) with ``value_in_target = value_in_source * scale + shift``.

    ``target`` is a canonical code (a device's declared unit).
    """
    src_code = canonical(source)
    if src_code is None:
        raise UnitMismatch(f"unknown unit {source!r}")
    if src_code == target:
        return 1.0, 0.0
    src, dst = UNITS[src_code], UNITS.get(target)
    if dst is None or src.dimension != dst.dimension or src.dimension in _NO_CONVERSION:
        raise UnitMismatch(f"unit {source!r} is not convertible to the declared {target!r}")
    # base = v*fs + os; target = (base - od) / fd
    return src.factor / dst.factor, (src.offset - dst.offset) / dst.factor


# Dimensionless ratios share nothing but the name; converting between them would be a guess.
_NO_CONVERSION = frozenset({"ratio", "percent", "count"})
