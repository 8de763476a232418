"""The mobile app's service worker and web-app manifest (docs/web.md, "The mobile app").

``/m/sw.js`` is ``static/js/pages/mobile/sw.js`` with two constants put in front: the app
shell to cache (the page, its modules, styles, strings and the vendor files it loads) and a
version made from their contents, so any change to the shell installs a new worker. It is
served under ``/m/`` with ``Service-Worker-Allowed: /m`` so its scope covers the page ``/m``.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from cityops.bootstrap import App
from cityops.domain.errors import NotFound
from cityops.entrypoints.web import icons, vendor
from cityops.entrypoints.web.pages import PAGES, STATIC_DIR, TEMPLATES_DIR, strings

router = APIRouter(include_in_schema=False)

SW_SOURCE = STATIC_DIR / "js" / "pages" / "mobile" / "sw.js"
MANIFEST = "/m/manifest.webmanifest"
ICON = {"src": "/static/img/favicon.svg", "sizes": "any", "type": "image/svg+xml", "purpose": "any"}
# PNG icons (what installs ask for), drawn from the favicon by icons.py.
PNG_ICONS = [
    *({"src": f"/m/icon-{n}.png", "sizes": f"{n}x{n}", "type": "image/png", "purpose": "any"}
      for n in icons.SIZES),
    {"src": "/m/icon-maskable-512.png", "sizes": "512x512", "type": "image/png",
     "purpose": "maskable"},
]  # fmt: skip
_SHARED_JS = ("api.js", "i18n.js", "ui.js", "map.js", "relogin.js")


def _static_files() -> list[Path]:
    js = STATIC_DIR / "js"
    files = [js / name for name in _SHARED_JS]
    files.append(js / "pages" / "mobile.js")
    files += sorted(p for p in (js / "pages" / "mobile").glob("*.js") if p.name != "sw.js")
    files += [STATIC_DIR / "css" / "base.css", STATIC_DIR / "css" / "mobile.css"]
    for lang in ("zh-CN", "en"):
        i18n = STATIC_DIR / "i18n"
        files += [i18n / f"{lang}.json", i18n / "mobile" / f"{lang}.json"]
    files.append(STATIC_DIR / "img" / "favicon.svg")
    return files


def shell(root: Path) -> tuple[list[str], str]:
    """The URLs to cache at install and a version that changes whenever one of them does."""
    page = next(p for p in PAGES if p.name == "mobile")
    statics = _static_files()
    urls = [page.path, MANIFEST, *(i["src"] for i in PNG_ICONS)]
    urls += ["/static/" + f.relative_to(STATIC_DIR).as_posix() for f in statics]
    leaflet = vendor.PACKAGES["leaflet"]
    urls += [vendor.url(root, "leaflet", leaflet.module or "")]
    urls += [vendor.url(root, "leaflet", css) for css in leaflet.css]
    digest = hashlib.sha256()
    for f in [*statics, SW_SOURCE, TEMPLATES_DIR / "mobile.html", Path(icons.__file__)]:
        digest.update(f.read_bytes() if f.is_file() else b"-")
    digest.update("\n".join(urls).encode())
    return urls, digest.hexdigest()[:16]


@router.get("/m/sw.js")
def service_worker(request: Request) -> Response:
    app: App = request.app.state.cityops
    urls, version = shell(vendor.vendor_dir(app))
    code = (f"const VERSION = {json.dumps(version)};\n"
            f"const SHELL = {json.dumps(urls)};\n" + SW_SOURCE.read_text("utf-8"))  # fmt: skip
    headers = {"Service-Worker-Allowed": "/m", "Cache-Control": "no-cache",
               "X-Content-Type-Options": "nosniff"}  # fmt: skip
    return Response(code, media_type="text/javascript", headers=headers)


@router.get(MANIFEST)
def manifest() -> JSONResponse:
    zh = strings()
    body = {
        "name": f"{zh['page.mobile']} · {zh['app.short']}",
        "short_name": zh["page.mobile"],
        "lang": "zh-CN",
        "start_url": "/m#tasks",
        "scope": "/m",
        "display": "standalone",
        "orientation": "portrait",
        "background_color": "#f4f6fa",
        "theme_color": "#0b5cad",
        "icons": [ICON, *PNG_ICONS],
    }
    return JSONResponse(body, media_type="application/manifest+json",
                        headers={"Cache-Control": "no-cache"})  # fmt: skip


@router.get("/m/icon-{kind}.png")
def icon(kind: str) -> Response:
    """``icon-192.png``, ``icon-512.png`` and ``icon-maskable-512.png`` of the manifest."""
    found = re.fullmatch(r"(maskable-)?(\d{1,4})", kind)
    if not found or int(found[2]) not in icons.SIZES:
        raise NotFound(f"no icon {kind}.png / 没有该图标", sizes=list(icons.SIZES))
    png = icons.icon_png(int(found[2]), maskable=bool(found[1]))
    return Response(png, media_type="image/png", headers={"Cache-Control": "public, max-age=86400"})
