"""The web foundation: pages and their shell, static files, npm vendor files, UI config, GeoJSON."""

from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path

from fastapi.testclient import TestClient

from cityops.bootstrap import App, bootstrap
from cityops.entrypoints.api.app import create_api
from cityops.entrypoints.web import vendor
from cityops.entrypoints.web.pages import PAGES, STATIC_DIR, TEMPLATES_DIR
from tests.conftest import _settings
from tests.helpers import STREET_A, Api, city, vendor_root_or_skip


def test_every_registered_page_has_its_files_and_a_strict_policy(sqlite_app: App) -> None:
    client = Api(sqlite_app).client
    for page in PAGES:
        assert (STATIC_DIR / "js" / "pages" / f"{page.name}.js").is_file(), page.name
        assert page.path == "/" or (TEMPLATES_DIR / f"{page.name}.html").is_file(), page.name
        r = client.get(page.path)
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
        assert f'src="/static/js/pages/{page.name}.js"' in r.text
        policy = r.headers["content-security-policy"]
        assert "connect-src 'self'" in policy and "default-src 'self'" in policy
        # The inline import map is the only inline script, allowed by its hash.
        import_map = re.search(r'<script type="importmap">(.*?)</script>', r.text, re.S)
        assert import_map, page.name
        digest = base64.b64encode(hashlib.sha256(import_map.group(1).encode()).digest()).decode()
        assert f"'sha256-{digest}'" in policy
        assert "http" not in import_map.group(1)  # libraries come from this server, never a CDN


def test_home_lists_the_screens(sqlite_app: App) -> None:
    r = Api(sqlite_app).client.get("/")
    assert 'href="/screen"' in r.text and "城市运行指挥大屏" in r.text


def test_static_files_are_served_and_always_revalidated(sqlite_app: App) -> None:
    client = Api(sqlite_app).client
    r = client.get("/static/js/api.js")
    assert r.status_code == 200 and "javascript" in r.headers["content-type"]
    assert r.headers["cache-control"] == "no-cache" and r.headers["etag"]
    again = client.get("/static/js/api.js", headers={"If-None-Match": r.headers["etag"]})
    assert again.status_code == 304


def test_vendor_files_come_from_the_installed_npm_packages(sqlite_app: App) -> None:
    root = vendor_root_or_skip(sqlite_app, "leaflet")
    client = Api(sqlite_app).client
    for name, spec in vendor.PACKAGES.items():
        if spec.module:
            r = client.get(vendor.url(root, name, spec.module))
            assert r.status_code == 200 and "javascript" in r.headers["content-type"], name
            assert "immutable" in r.headers["cache-control"]  # versioned by ?v=
    assert client.get("/vendor/leaflet/leaflet.css").headers["cache-control"] == "no-cache"
    assert client.get("/vendor/leaflet/..%2F..%2Fpackage.json").status_code == 404
    assert client.get("/vendor/left-pad/index.js").status_code == 404


def test_missing_npm_packages_are_a_clear_503(sqlite_template: Path, tmp_path: Path) -> None:
    db = tmp_path / "c.db"
    db.write_bytes(sqlite_template.read_bytes())
    settings = _settings(f"sqlite:///{db}").model_copy(update={"web_vendor_dir": tmp_path})
    app = bootstrap(settings)
    try:
        r = TestClient(create_api(app)).get("/vendor/echarts/echarts.esm.min.js")
        assert r.status_code == 503
        assert "npm ci" in r.json()["error"]["message"]
    finally:
        app.dispose()


def test_ui_config_is_public_and_names_the_tile_server(
    sqlite_template: Path, tmp_path: Path
) -> None:
    db = tmp_path / "c.db"
    db.write_bytes(sqlite_template.read_bytes())
    tiles = "https://{s}.tiles.city.example/{z}/{x}/{y}.png"
    settings = _settings(f"sqlite:///{db}").model_copy(update={"map_tile_url": tiles})
    app = bootstrap(settings)
    try:
        client = TestClient(create_api(app))
        config = client.get("/api/v1/ui/config").json()
        assert config["city"] == {"code": "319900", "name": "申江市"}
        west, south, east, north = config["bounds"]
        assert west < east and south < north
        assert config["map"]["tile_url"] == tiles
        policy = client.get("/screen").headers["content-security-policy"]
        assert "img-src 'self' data: blob: https://*.tiles.city.example" in policy
    finally:
        app.dispose()


def test_without_a_tile_server_the_config_says_so(sqlite_app: App) -> None:
    config = Api(sqlite_app).client.get("/api/v1/ui/config").json()
    assert config["map"]["tile_url"] is None


def test_regions_as_geojson_by_level_cached_by_etag(app: App) -> None:
    api = Api(app)
    r = api.get("commander", "/api/v1/geo/regions", params={"level": "grid"})
    assert r.status_code == 200 and r.headers["content-type"] == "application/geo+json"
    body = r.json()
    assert body["type"] == "FeatureCollection"
    assert len(body["features"]) == len(city().grids)
    feature = body["features"][0]
    assert feature["geometry"]["type"] in ("Polygon", "MultiPolygon")
    assert set(feature["properties"]) == {"code", "name", "level", "parent"}
    assert r.headers["content-encoding"] == "gzip"  # the client asked for it
    same = api.get("commander", "/api/v1/geo/regions", params={"level": "grid"},
                   headers={"If-None-Match": r.headers["etag"]})  # fmt: skip
    assert same.status_code == 304
    street = api.get("citizen", "/api/v1/geo/regions", params={"level": "grid", "within": STREET_A})
    codes = [f["id"] for f in street.json()["features"]]
    assert codes and all(c.startswith(STREET_A) for c in codes)
    assert api.client.get("/api/v1/geo/regions").status_code == 401
