"""The mobile app's service worker and manifest: served where their scope covers /m."""

from __future__ import annotations

import io
import json
import re

from PIL import Image

from cityops.bootstrap import App
from tests.helpers import Api


def test_service_worker_covers_the_app_and_caches_a_shell_that_exists(sqlite_app: App) -> None:
    client = Api(sqlite_app).client
    r = client.get("/m/sw.js")
    assert r.status_code == 200 and "javascript" in r.headers["content-type"]
    assert r.headers["service-worker-allowed"] == "/m"
    assert r.headers["cache-control"] == "no-cache"
    version = re.search(r'^const VERSION = "(\w+)";$', r.text, re.M)
    shell = re.search(r"^const SHELL = (\[.*\]);$", r.text, re.M)
    assert version and shell
    urls = json.loads(shell.group(1))
    assert "/m" in urls and "/static/js/pages/mobile.js" in urls
    assert "/static/i18n/mobile/zh-CN.json" in urls and "/static/css/mobile.css" in urls
    for url in urls:
        if url.startswith("/vendor/"):
            continue  # npm packages may be missing here (test_web_pages checks them)
        assert client.get(url).status_code == 200, url
    assert client.get("/m/sw.js").text == r.text  # same files, same worker: no reinstall


def test_the_page_links_its_manifest(sqlite_app: App) -> None:
    client = Api(sqlite_app).client
    page = client.get("/m")
    assert '<link rel="manifest" href="/m/manifest.webmanifest">' in page.text
    assert 'name="theme-color"' in page.text
    manifest = client.get("/m/manifest.webmanifest")
    assert manifest.headers["content-type"].startswith("application/manifest+json")
    body = manifest.json()
    assert body["scope"] == "/m" and body["start_url"].startswith("/m")
    assert body["short_name"] == "移动巡查" and body["icons"]


def test_the_manifest_icons_resolve_with_their_type_and_size(sqlite_app: App) -> None:
    client = Api(sqlite_app).client
    listed = client.get("/m/manifest.webmanifest").json()["icons"]
    pngs = [i for i in listed if i["type"] == "image/png"]
    assert {i["sizes"] for i in pngs} >= {"192x192", "512x512"}
    assert {i["purpose"] for i in pngs} == {"any", "maskable"}
    for icon in listed:
        r = client.get(icon["src"])
        assert r.status_code == 200, icon
        assert r.headers["content-type"].startswith(icon["type"])
        if icon["type"] == "image/png":
            with Image.open(io.BytesIO(r.content)) as img:
                assert img.format == "PNG" and f"{img.width}x{img.height}" == icon["sizes"]
                corner = img.convert("RGBA").getpixel((0, 0))
                # "any" keeps the favicon's rounded corners; "maskable" bleeds to the edge
                assert (corner[3] == 255) is (icon["purpose"] == "maskable")
    worker = client.get("/m/sw.js").text
    assert all(i["src"] in worker for i in pngs)  # the installed app has them offline


def test_an_icon_size_that_is_not_drawn_is_a_404_with_the_sizes(sqlite_app: App) -> None:
    r = Api(sqlite_app).client.get("/m/icon-64.png")
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "not_found"
    assert r.json()["error"]["details"]["sizes"] == [192, 512]
