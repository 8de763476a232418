"""Domain errors → HTTP, in one place; every body is ``{"error": {code, message, details}}``."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from cityops.domain import errors as e

STATUS: list[tuple[type[e.CityOpsError], int]] = [
    (e.Unauthorized, 401),
    (e.Forbidden, 403),
    (e.NotFound, 404),
    (e.Conflict, 409),  # includes IllegalTransition and GuardFailed
    (e.PayloadTooLarge, 413),
    (e.UnsupportedMediaType, 415),
    (e.RateLimited, 429),
    (e.Unavailable, 503),
    (e.ValidationFailed, 422),  # includes ImportRejected and CorruptMedia
]


def error_body(code: str, message: str, details: Any = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": details or {}}}


def install(app: FastAPI) -> None:
    @app.exception_handler(e.CityOpsError)
    async def _domain(_: Request, exc: e.CityOpsError) -> JSONResponse:
        status = next((s for t, s in STATUS if isinstance(exc, t)), 400)
        headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
        if status in (429, 503) and "retry_after" in exc.details:
            headers = {"Retry-After": str(exc.details["retry_after"])}
        return JSONResponse(
            error_body(exc.code, exc.message, exc.details), status_code=status, headers=headers
        )

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [
            {
                "field": ".".join(str(p) for p in err.get("loc", ()) if p != "body"),
                "reason": err.get("msg", ""),
                "type": err.get("type", ""),
            }
            for err in exc.errors()
        ]
        malformed = any(p["type"] == "json_invalid" for p in problems)
        return JSONResponse(
            error_body(
                "malformed_json" if malformed else "invalid_request",
                "the request body is not valid JSON" if malformed else "the request is invalid",
                {"problems": problems},
            ),
            status_code=400 if malformed else 422,
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return JSONResponse(
            error_body(code, str(exc.detail)),
            status_code=exc.status_code,
            headers=getattr(exc, "headers", None),
        )
