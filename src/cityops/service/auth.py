"""Login (argon2 → JWT) and API keys for channels and integrations."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta
from functools import cache

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerifyMismatchError
from sqlalchemy import select

from cityops.adapters.db.models import ApiKeyRow, UserRow
from cityops.bootstrap import App
from cityops.config import Settings
from cityops.domain.errors import Unauthorized, ValidationFailed
from cityops.domain.model import Channel, Role
from cityops.service.principal import Principal

_ALGORITHM = "HS256"


@cache
def _hasher(time_cost: int, memory_kib: int) -> PasswordHasher:
    return PasswordHasher(time_cost=time_cost, memory_cost=memory_kib)


def _hasher_for(settings: Settings) -> PasswordHasher:
    return _hasher(settings.argon2_time_cost, settings.argon2_memory_kib)


@cache
def _dummy_hash(time_cost: int, memory_kib: int) -> str:
    """Checked when the user does not exist, so both paths cost one argon2 verification."""
    return _hasher(time_cost, memory_kib).hash("cityops-timing-equaliser")


def hash_password(password: str, settings: Settings) -> str:
    if len(password) < 8:
        raise ValidationFailed("a password needs at least 8 characters", field="password")
    return _hasher_for(settings).hash(password)


def _principal(user: UserRow) -> Principal:
    return Principal(
        user_id=user.id,
        username=user.username,
        role=Role(user.role),
        scope_code=user.scope_code,
        department_ids=frozenset({user.department_id}) if user.department_id else frozenset(),
    )


def login(app: App, username: str, password: str) -> tuple[str, Principal]:
    with app.reads() as s:
        user = s.scalars(select(UserRow).where(UserRow.username == username)).first()
    try:
        dummy = _dummy_hash(app.settings.argon2_time_cost, app.settings.argon2_memory_kib)
        # Parameters are read from the stored hash, so older hashes keep verifying.
        _hasher_for(app.settings).verify(user.password_hash if user else dummy, password)
    except (VerifyMismatchError, InvalidHashError):
        user = None
    if user is None or not user.active:
        raise Unauthorized("wrong username or password / 用户名或密码错误")
    principal = _principal(user)
    now = app.clock()
    token = jwt.encode(
        {
            "sub": str(user.id),
            "role": user.role,
            "iat": int(now.timestamp()),
            "exp": int((now + timedelta(minutes=app.settings.token_minutes)).timestamp()),
        },
        app.settings.secret_key,
        algorithm=_ALGORITHM,
    )
    return token, principal


def principal_from_token(app: App, token: str) -> Principal:
    try:
        # Expiry is checked against the app's clock (the same one that issued the token).
        claims = jwt.decode(
            token,
            app.settings.secret_key,
            algorithms=[_ALGORITHM],
            options={"verify_exp": False, "verify_iat": False, "require": ["exp", "sub"]},
        )
    except jwt.PyJWTError as exc:
        raise Unauthorized("invalid token / 无效令牌") from exc
    if int(claims["exp"]) <= app.clock().timestamp():
        raise Unauthorized("token expired / 登录已过期")
    with app.reads() as s:
        user = s.get(UserRow, int(claims["sub"]))
    if user is None or not user.active:
        raise Unauthorized("user no longer active / 用户已停用")
    return _principal(user)


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def create_api_key(app: App, name: str, channels: list[Channel]) -> str:
    """Returns the key once; only its hash is kept."""
    key = "cok_" + secrets.token_urlsafe(32)
    with app.sessions.begin() as s:
        s.add(
            ApiKeyRow(
                name=name,
                prefix=key[:12],
                key_hash=_digest(key),
                channels=[c.value for c in channels],
                created_at=app.clock(),
                active=True,
            )
        )
    return key


def principal_from_api_key(app: App, key: str) -> Principal:
    with app.reads() as s:
        row = s.scalars(select(ApiKeyRow).where(ApiKeyRow.key_hash == _digest(key))).first()
    if row is None or not row.active:
        raise Unauthorized("invalid API key / 无效的 API 密钥")
    return Principal(
        user_id=None,
        username=f"apikey:{row.name}",
        role=Role.SYSTEM,
        channels=frozenset(Channel(c) for c in row.channels),
    )
