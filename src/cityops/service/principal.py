"""Who is calling: a user (from a JWT) or an integration (from an API key)."""

from __future__ import annotations

from dataclasses import dataclass

from cityops.domain.model import Channel, Role


@dataclass(frozen=True, slots=True)
class Principal:
    user_id: int | None
    username: str
    role: Role
    scope_code: str | None = None  # jurisdiction (region code prefix); None = whole city
    department_ids: frozenset[int] = frozenset()
    channels: frozenset[Channel] = frozenset()  # for API keys: the channels it may submit to

    @property
    def sees_personal_data(self) -> bool:
        """Reporters' names and phones are shown only to those who call them back."""
        return self.role in (Role.ACCEPTOR, Role.SHIFT_LEADER)


SYSTEM = Principal(user_id=None, username="system", role=Role.SYSTEM)
