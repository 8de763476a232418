"""Login → JWT; the caller's own profile."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from cityops.entrypoints.api.deps import AppDep, PrincipalDep
from cityops.service.auth import login

router = APIRouter(prefix="/api/v1/auth", tags=["auth 登录"])


class LoginIn(BaseModel):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=200)


class TokenOut(BaseModel):
    access_token: str
    token_type: str = "bearer"
    role: str
    username: str


@router.post("/token", response_model=TokenOut)
def token(body: LoginIn, app: AppDep) -> TokenOut:
    jwt_token, principal = login(app, body.username, body.password)
    return TokenOut(access_token=jwt_token, role=principal.role.value, username=body.username)


@router.get("/me")
def me(principal: PrincipalDep) -> dict[str, Any]:
    return {
        "username": principal.username,
        "role": principal.role.value,
        "scope_code": principal.scope_code,
        "department_ids": sorted(principal.department_ids),
    }
