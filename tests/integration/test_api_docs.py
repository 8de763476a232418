"""/docs loads Swagger UI from this server's npm package, never a CDN; /redoc is not served
(FastAPI's default would load ReDoc from a CDN)."""

from __future__ import annotations

import re

from cityops.bootstrap import App
from tests.helpers import Api, vendor_root_or_skip

_URL = re.compile(r"""(?:src|href|url)\s*[=:]\s*['"]([^'"]+)['"]""")


def test_api_docs_reference_only_this_server(sqlite_app: App) -> None:
    page = "/docs"
    vendor_root_or_skip(sqlite_app, "swagger-ui-dist")
    client = Api(sqlite_app).client
    r = client.get(page)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    urls = _URL.findall(r.text)
    assert any(u.startswith("/vendor/") for u in urls), urls
    assert "/openapi.json" in urls
    for u in urls:
        assert u.startswith("/") and not u.startswith("//"), f"{page} loads {u} from elsewhere"
        answer = client.get(u)
        assert answer.status_code == 200, u
    assert "http" not in r.text  # no absolute URL at all: no CDN, no web fonts


def test_swagger_ui_oauth2_redirect_is_served(sqlite_app: App) -> None:
    r = Api(sqlite_app).client.get("/docs/oauth2-redirect")
    assert r.status_code == 200 and "oauth2" in r.text.lower()


def test_no_redoc_page_that_would_load_from_a_cdn(sqlite_app: App) -> None:
    assert Api(sqlite_app).client.get("/redoc").status_code == 404
