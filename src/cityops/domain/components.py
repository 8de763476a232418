"""部件 (city components): their 16-digit codes after GB/T 30428.

A code is 6 digits of the county (district) it stands in, 2 of the major class, 2 of the
subclass, and a 6-digit serial: ``319901 01 10 000123`` is street lamp (路灯, 0110) no. 123 in
district 319901.
"""

from __future__ import annotations

import re
from collections.abc import Collection

_CODE = re.compile(r"^\d{16}$")
STATUSES = ("normal", "damaged", "missing", "removed")  # 完好 / 损坏 / 丢失 / 拆除


def component_code_problems(
    code: str, category_key: str, district_codes: Collection[str]
) -> list[str]:
    """Why ``code`` is not a valid code for a component of ``category_key``; [] if it is."""
    if not _CODE.match(code or ""):
        return ["a component code has 16 digits (6 county + 2 major + 2 sub + 6 serial)"]
    problems = []
    if code[:6] not in district_codes:
        problems.append(f"unknown county/district {code[:6]} in the code")
    if not category_key.startswith("C") or code[6:10] != category_key[1:]:
        problems.append(
            f"digits 7–10 ({code[6:10]}) must be the 部件 subclass code of {category_key}"
        )
    if code[10:] == "000000":
        problems.append("the serial number 000000 is not used")
    return problems


def category_of_code(code: str) -> str:
    """The 部件 category key a valid code belongs to (``C`` + its digits 7–10)."""
    return "C" + code[6:10]
