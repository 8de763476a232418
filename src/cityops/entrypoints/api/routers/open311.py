"""Open311 GeoReport v2 at ``/open311/v2`` (plus ``servicerequestupdates``), JSON and XML.

The spec has its own error body (``[{"code", "description"}]`` / ``<errors><error>…``), so this
router renders its errors itself, in the format the path asks for: domain errors and HTTP
errors raised on these paths never reach the API-wide ``{"error": …}`` mapper.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable, Coroutine
from typing import Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException as StarletteHTTPException

from cityops.domain.errors import CityOpsError, Forbidden, NotFound, Unauthorized, ValidationFailed
from cityops.entrypoints.api.deps import AppDep
from cityops.service import open311

# XML element of each item of a list, after the Spark convention the spec's JSON follows.
ITEMS = {
    "services": "service", "endpoints": "endpoint", "formats": "format",
    "attributes": "attribute", "values": "value", "service_requests": "request",
    "service_request_updates": "request_update", "errors": "error",
}  # fmt: skip
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")  # not allowed in XML 1.0


def _status(exc: CityOpsError) -> int:
    if isinstance(exc, NotFound):
        return 404
    if isinstance(exc, Forbidden | Unauthorized):
        return 403
    return 400


def render(fmt: str, root: str, data: Any, status: int = 200, **headers: str) -> Response:
    if fmt == "json":
        body = json.dumps(data, ensure_ascii=False).encode()
    else:
        element = ET.Element(root)
        _fill(element, root, data)
        text = ET.tostring(element, encoding="unicode")
        body = ('<?xml version="1.0" encoding="UTF-8"?>\n' + text).encode()
    media_type = f"{open311.CONTENT_TYPES[fmt]}; charset=utf-8"
    return Response(body, status_code=status, media_type=media_type, headers=headers or None)


def _fill(element: ET.Element, tag: str, value: Any) -> None:
    if isinstance(value, list):
        for item in value:
            _fill(ET.SubElement(element, ITEMS[tag]), ITEMS[tag], item)
    elif isinstance(value, dict):
        for key, item in value.items():
            _fill(ET.SubElement(element, key), key, item)
    elif isinstance(value, bool):
        element.text = "true" if value else "false"
    elif value is not None:
        element.text = _CONTROL.sub("", str(value))


def error_response(path: str, status: int, description: str, **headers: str) -> Response:
    fmt = "json" if path.endswith(".json") else "xml"  # XML is the spec's required format
    return render(fmt, "errors", [{"code": status, "description": description}], status, **headers)


class Open311Route(APIRoute):
    """Renders every error raised on an Open311 path in the spec's format."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            path = request.url.path
            try:
                return await handler(request)
            except CityOpsError as exc:
                return error_response(path, _status(exc), exc.message)
            except RequestValidationError:
                return error_response(path, 400, "the request is invalid")
            except StarletteHTTPException as exc:
                return error_response(path, exc.status_code, str(exc.detail))

        return handle


router = APIRouter(prefix="/open311/v2", tags=["open311"], route_class=Open311Route)


def _format(fmt: str) -> str:
    if fmt not in open311.CONTENT_TYPES:
        raise NotFound(f"format .{fmt} is not supported: use .xml or .json")
    return fmt


def _query(request: Request) -> dict[str, str]:
    """Query parameters; a repeated one is joined with commas, as the spec allows."""
    q = request.query_params
    return {key: ",".join(q.getlist(key)) for key in q}


def _base(request: Request) -> str:
    return str(request.base_url)


@router.get("/discovery.{fmt}")
def discovery(fmt: str, request: Request, app: AppDep) -> Response:
    """Service discovery: the endpoint, its formats and how to get an api_key."""
    return render(_format(fmt), "discovery", open311.discovery(app, _base(request)))


@router.get("/services.{fmt}")
def services(fmt: str, request: Request, app: AppDep) -> Response:
    """The service list: one service a taxonomy subclass; group = its major class."""
    fmt = _format(fmt)
    open311.check_jurisdiction(app, request.query_params.get("jurisdiction_id"))
    return render(fmt, "services", open311.services(app))


@router.get("/services/{service_code}.{fmt}")
def service_definition(service_code: str, fmt: str, request: Request, app: AppDep) -> Response:
    fmt = _format(fmt)
    open311.check_jurisdiction(app, request.query_params.get("jurisdiction_id"))
    return render(fmt, "service_definition", open311.service_definition(app, service_code))


@router.get("/requests.{fmt}")
def requests(fmt: str, request: Request, app: AppDep) -> Response:
    """Public: service_request_id, service_code, status (comma lists), start/end_date (≤ 90 d)."""
    fmt = _format(fmt)
    found = open311.find_requests(app, _query(request), _base(request))
    return render(fmt, "service_requests", found)


@router.get("/requests/{service_request_id}.{fmt}")
def one_request(service_request_id: str, fmt: str, request: Request, app: AppDep) -> Response:
    fmt = _format(fmt)
    found = open311.find_request(app, service_request_id, _query(request), _base(request))
    return render(fmt, "service_requests", found)


@router.get("/servicerequestupdates.{fmt}")
def updates(fmt: str, request: Request, app: AppDep) -> Response:
    """The servicerequestupdates extension: public workflow steps between start and end_date."""
    fmt = _format(fmt)
    found = open311.find_updates(app, _query(request), _base(request))
    return render(fmt, "service_request_updates", found)


@router.get("/media/{name}")
def media(name: str, app: AppDep) -> Response:
    """A photo uploaded with a request (the ``media_url`` of the requests it belongs to)."""
    path, content_type = open311.media_file(app, name)
    # A name's bytes never change; these photos are public by the spec.
    headers = {"X-Content-Type-Options": "nosniff",
               "Cache-Control": "public, max-age=31536000, immutable"}  # fmt: skip
    return FileResponse(path, media_type=content_type, headers=headers)


@router.post("/requests.{fmt}")
async def create_request(fmt: str, request: Request, app: AppDep) -> Response:
    """Form-urlencoded (the spec), multipart/form-data (with media files) or JSON."""
    fmt = _format(fmt)
    pairs: list[tuple[str, str]] = list(request.query_params.multi_items())
    uploads: list[open311.Upload] = []
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    form = None
    try:
        if ctype == "multipart/form-data":
            form = await request.form(max_files=open311.MAX_UPLOADS, max_fields=200)
            fields, files = [], []
            for key, value in form.multi_items():
                if isinstance(value, UploadFile):
                    if value.filename or value.size:  # an empty file input sends an empty part
                        ctype_in = value.content_type or ""
                        uploads.append(open311.Upload(value.filename or "", ctype_in, value.file))
                        files.append({"field": key, "filename": value.filename,
                                      "content_type": ctype_in, "size": value.size})  # fmt: skip
                else:
                    pairs.append((key, value))
                    fields.append([key, "[redacted]" if key == "api_key" else value])
            summary = {"content_type": ctype, "fields": fields, "files": files}
            raw = json.dumps(summary, ensure_ascii=False)
        else:
            text = (await request.body()).decode("utf-8", errors="replace")
            raw = open311.redact_api_key(text)
            if ctype == "application/json":
                pairs += _json_pairs(text)
            elif ctype in ("application/x-www-form-urlencoded", ""):
                pairs += _form_pairs(text)
            else:
                raise ValidationFailed(f"unsupported content type {ctype}")
        params: dict[str, str] = {}
        attributes: dict[str, list[str]] = {}
        for key, value in pairs:
            m = re.fullmatch(r"attribute\[([^\]]+)\](\[\])?", key)
            if m:
                attributes.setdefault(m.group(1), []).append(value)
            else:
                params[key] = value
        idem = request.headers.get("x-idempotency-key") or request.headers.get("idempotency-key")
        new = open311.NewRequest(params, attributes, raw, uploads, idem)
        created = await run_in_threadpool(open311.create_request, app, new)
    finally:
        if form is not None:
            await form.close()
    return render(fmt, "service_requests", created)


def _form_pairs(text: str) -> list[tuple[str, str]]:
    try:
        return parse_qsl(text, keep_blank_values=True, max_num_fields=200)
    except ValueError as exc:
        raise ValidationFailed("too many form fields") from exc


def _json_pairs(text: str) -> list[tuple[str, str]]:
    try:
        data = json.loads(text) if text.strip() else {}
    except ValueError as exc:
        raise ValidationFailed("the request body is not valid JSON") from exc
    if not isinstance(data, dict):
        raise ValidationFailed("the JSON body must be an object")
    out: list[tuple[str, str]] = []
    for key, value in data.items():
        if key == "attribute" and isinstance(value, dict):
            for code, given in value.items():
                for item in given if isinstance(given, list) else [given]:
                    out.append((f"attribute[{code}]", _scalar(f"attribute[{code}]", item)))
        elif value is not None:
            out.append((key, _scalar(key, value)))
    return out


def _scalar(name: str, value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    raise ValidationFailed(f"{name} must be a string or a number")


_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


@router.api_route("/{rest:path}", methods=_METHODS, include_in_schema=False)
def unknown(rest: str, request: Request) -> Response:
    """Anything else under /open311/v2: 405 on a known path, else 404, in the spec's format."""
    path = request.url.path
    allowed = sorted({
        method
        for route in router.routes
        if isinstance(route, APIRoute) and route.endpoint is not unknown
        and route.path_regex.match(path)
        for method in route.methods or ()
    })  # fmt: skip
    if allowed:
        message = f"{request.method} is not allowed here; use {', '.join(allowed)}"
        return error_response(path, 405, message, Allow=", ".join(allowed))
    return error_response(path, 404, f"no Open311 resource at {path}")
