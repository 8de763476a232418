"""Keys for gateways and devices that post readings (``X-API-Key``), like the channels'
keys in ``service/auth.py``: shown once, only the SHA-256 stored. The gateway's code is the
``{gateway}`` level of the MQTT topic layout and appears in the dead letters' source."""

from __future__ import annotations

import hashlib
import secrets

from sqlalchemy import select

from cityops.adapters.db.lifeline_models import GatewayRow
from cityops.bootstrap import App
from cityops.domain.errors import Conflict, Unauthorized, ValidationFailed
from cityops.domain.lifeline.assets import code_problem

KEY_PREFIX = "cog_"  # channel keys start "cok_"; the prefix tells which check applies


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def create_gateway(app: App, code: str, name: str) -> str:
    if (problem := code_problem(code)) is not None:
        raise ValidationFailed(f"gateway {problem}", field="code")
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    with app.sessions.begin() as s:
        if s.scalars(select(GatewayRow.id).where(GatewayRow.code == code)).first() is not None:
            raise Conflict(f"gateway {code} already exists", code=code)
        s.add(GatewayRow(code=code, name=name, prefix=key[:12], key_hash=_digest(key),
                         active=True, created_at=app.clock()))  # fmt: skip
    return key


def gateway_for_key(app: App, key: str) -> str:
    """The gateway's code, or 401."""
    with app.reads() as s:
        row = s.scalars(select(GatewayRow).where(GatewayRow.key_hash == _digest(key))).first()
    if row is None or not row.active:
        raise Unauthorized("invalid gateway key / 无效的网关密钥")
    return row.code
