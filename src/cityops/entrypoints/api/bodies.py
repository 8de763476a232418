"""Request bodies that are not JSON: CSV uploads decoded by their declared charset."""

from __future__ import annotations

from cityops.domain.errors import ValidationFailed

CSV_TYPES = frozenset({"text/csv", "application/csv"})


def media_type(content_type: str) -> tuple[str, str]:
    """``"text/csv; charset=gb18030"`` → (``"text/csv"``, ``"gb18030"``); UTF-8 by default."""
    ctype, _sep, params = content_type.partition(";")
    charset = "utf-8"
    for param in params.split(";"):
        name, _eq, value = param.strip().partition("=")
        if name.lower() == "charset" and value:
            charset = value.strip('"')
    return ctype.strip().lower(), charset


def decode_csv(raw: bytes, charset: str) -> str:
    try:
        return raw.decode(charset)
    except (LookupError, UnicodeDecodeError) as exc:
        raise ValidationFailed(
            f"the CSV is not valid {charset}; save it as UTF-8 or declare its charset "
            "(text/csv; charset=gb18030) / CSV 编码错误",
            field="body",
        ) from exc
