"""Request dependencies: the App, and who is calling."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Header, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from cityops.bootstrap import App
from cityops.domain.errors import Forbidden, Unauthorized
from cityops.domain.model import Role
from cityops.service.auth import principal_from_api_key, principal_from_token
from cityops.service.nearby import MAX_RADIUS_M
from cityops.service.principal import Principal

_bearer = HTTPBearer(auto_error=False)


def get_app(request: Request) -> App:
    app: App = request.app.state.cityops
    return app


AppDep = Annotated[App, Depends(get_app)]

# Query parameters several routers take, declared once so their bounds agree.
Lon = Annotated[float, Query(ge=-180, le=180)]
Lat = Annotated[float, Query(ge=-90, le=90)]
CategoryKey = Annotated[str, Query(pattern=r"^[CE]\d{4}$")]  # a taxonomy subclass, e.g. E0101
RadiusM = Annotated[float, Query(gt=0, le=MAX_RADIUS_M)]  # metres, for "nearby" lookups


def get_principal(
    app: AppDep,
    creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    x_api_key: Annotated[str | None, Header()] = None,
) -> Principal:
    if x_api_key:
        return principal_from_api_key(app, x_api_key)
    if creds is None:
        raise Unauthorized("login required / 请先登录")
    return principal_from_token(app, creds.credentials)


PrincipalDep = Annotated[Principal, Depends(get_principal)]


def require(*roles: Role) -> Callable[[Principal], Principal]:
    def check(principal: PrincipalDep) -> Principal:
        if principal.role not in roles:
            raise Forbidden(
                f"role {principal.role.value} may not do this / 无权限",
                allowed_roles=[r.value for r in roles],
            )
        return principal

    return check
