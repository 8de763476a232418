"""One error tree for the whole domain; the API maps it to HTTP in one place."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


class CityOpsError(Exception):
    """Base of every error the domain or services raise on purpose."""

    code = "cityops_error"

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class ValidationFailed(CityOpsError):
    """Input is well-formed but not acceptable (unknown category, bad code …)."""

    code = "validation_failed"


class NotFound(CityOpsError):
    code = "not_found"


class Conflict(CityOpsError):
    code = "conflict"


class IllegalTransition(Conflict):
    """The action is not allowed from the case's current state for this role."""

    code = "illegal_transition"

    def __init__(self, message: str, *, state: str, action: str, allowed: Sequence[str]) -> None:
        super().__init__(message, state=state, action=action, allowed=list(allowed))
        self.allowed = list(allowed)


class GuardFailed(Conflict):
    """The transition exists but one of its guards refused (missing reason, wrong department …)."""

    code = "guard_failed"


class ImportRejected(ValidationFailed):
    """An all-or-nothing import found problems; nothing was written.

    ``problems`` names each offending item, so the admin can fix the file in one pass.
    """

    code = "import_rejected"

    def __init__(self, message: str, problems: Sequence[ImportProblem]) -> None:
        super().__init__(message, problems=[p.as_dict() for p in problems])
        self.problems = list(problems)


class ImportProblem:
    """One offending item of an import: where it is (``item``) and what is wrong."""

    __slots__ = ("item", "reason")

    def __init__(self, item: str, reason: str) -> None:
        self.item = item
        self.reason = reason

    def as_dict(self) -> dict[str, str]:
        return {"item": self.item, "reason": self.reason}

    def __repr__(self) -> str:
        return f"ImportProblem({self.item!r}, {self.reason!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ImportProblem) and (self.item, self.reason) == (
            other.item,
            other.reason,
        )

    def __hash__(self) -> int:
        return hash((self.item, self.reason))


class Unauthorized(CityOpsError):
    """No or bad credentials."""

    code = "unauthorized"


class Forbidden(CityOpsError):
    """Authenticated, but the caller's role or jurisdiction does not cover this."""

    code = "forbidden"


class PayloadTooLarge(ValidationFailed):
    """An upload is over its size limit (HTTP 413)."""

    code = "payload_too_large"


class UnsupportedMediaType(ValidationFailed):
    """An upload is not of an accepted type, or not what it claims to be (HTTP 415)."""

    code = "unsupported_media_type"


class CorruptMedia(ValidationFailed):
    """An upload has the right signature but cannot be decoded (truncated, damaged)."""

    code = "corrupt_media"


class RateLimited(CityOpsError):
    """Too many requests from one caller; ``retry_after`` is in seconds (HTTP 429)."""

    code = "rate_limited"


class Unavailable(CityOpsError):
    """Something the request needs (a broker, a peer service) is down for now; nothing was
    written, and ``retry_after`` says in seconds when to send again (HTTP 503)."""

    code = "unavailable"
