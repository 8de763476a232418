"""The mobile app's service worker and manifest: served where their scope covers /m."""

from __future__ import annotations

import json
import re

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
