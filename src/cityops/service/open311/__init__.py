"""Open311 GeoReport v2 (and the ``servicerequestupdates`` extension) over CityOps.

Services are the taxonomy's active subclasses; a service request is a case reported through the
citizen channel. Every function returns plain data in the spec's shape (the XML structure's
Spark-convention JSON); the router renders it as JSON or XML and maps errors to the spec's
status codes: :class:`NotFound` → 404, :class:`Forbidden` → 403, any other error → 400.

The GET methods are public, so they publish only what is safe: never the reporter's name,
phone or e-mail (also masked inside free text), never internal workflow steps (督办, 延期 …).

Modules: ``formats`` (dates, masking), ``services`` (jurisdiction, discovery, service list),
``requests`` (POST), ``queries`` (GET requests and updates), ``photos`` (published media).
"""

from cityops.service.open311.formats import CONTENT_TYPES, redact, redact_api_key
from cityops.service.open311.photos import media_file, public_media
from cityops.service.open311.queries import find_request, find_requests, find_updates
from cityops.service.open311.requests import MAX_UPLOADS, NewRequest, Upload, create_request
from cityops.service.open311.services import (
    check_jurisdiction,
    discovery,
    service_definition,
    services,
)

__all__ = [
    "CONTENT_TYPES", "MAX_UPLOADS", "NewRequest", "Upload", "check_jurisdiction",
    "create_request", "discovery", "find_request", "find_requests", "find_updates",
    "media_file", "public_media", "redact", "redact_api_key", "service_definition", "services",
]  # fmt: skip
