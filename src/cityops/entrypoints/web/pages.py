"""The pages: one registry line each, one HTML shell for all (docs/web.md, "Add a page").

A page is ``templates/<name>.html`` (its body), ``static/js/pages/<name>.js`` (an ES module) and
optionally ``static/css/<name>.css``. The shell adds the import map for the npm libraries, the
shared stylesheet and a Content-Security-Policy that allows nothing from outside this server
except the configured map tiles.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from cityops.config import Settings
from cityops.entrypoints.web import vendor

WEB_DIR = Path(__file__).resolve().parent
STATIC_DIR = WEB_DIR / "static"
TEMPLATES_DIR = WEB_DIR / "templates"


@dataclass(frozen=True, slots=True)
class Page:
    path: str  # the URL, e.g. "/screen"
    name: str  # templates/<name>.html, static/js/pages/<name>.js, static/css/<name>.css
    title: str  # i18n key of the title
    vendors: tuple[str, ...] = ()  # npm packages whose stylesheets the page links
    theme: str = "light"  # "dark" (cockpit) or "light" (office); a class on <html>
    viewport: tuple[int, int] = (1440, 900)  # the size its screenshot is taken at
    staff: bool = True  # signed-in staff only (the page's script sends others to /login)
    home: bool = True  # listed on the start page
    head: str = ""  # extra markup for <head>, e.g. a web-app manifest link


# Add a page: one line here plus its template and module (see docs/web.md).
PAGES: tuple[Page, ...] = (
    Page("/", "home", "page.home", theme="dark", staff=False, home=False),
    Page("/login", "login", "page.login", theme="dark", staff=False, home=False),
    Page("/screen", "screen", "page.screen", ("leaflet",), "dark", (1920, 1080)),
    Page("/m", "mobile", "page.mobile", ("leaflet",), "light", (390, 844),
         head='<link rel="manifest" href="/m/manifest.webmanifest">'
         '<meta name="theme-color" content="#0b5cad">'),
    Page("/citizen", "citizen", "page.citizen", ("leaflet",), "light", (390, 844), staff=False),
    Page("/console", "console", "page.console", ("leaflet",), "light", (1440, 900)),
)


def strings(lang: str = "zh-CN") -> dict[str, str]:
    text: dict[str, str] = json.loads((STATIC_DIR / "i18n" / f"{lang}.json").read_text("utf-8"))
    return text


def tile_source(settings: Settings) -> str:
    """The CSP source that lets the configured tile server's images in ('' without one)."""
    if not settings.map_tile_url:
        return ""
    parts = urlsplit(settings.map_tile_url.replace("{s}", "*"))
    if not parts.scheme or not parts.netloc:
        return ""  # a relative URL: tiles come from this server ('self')
    if "{" in parts.netloc:  # a template we cannot turn into a host: allow the scheme
        return f"{parts.scheme}:"
    return f"{parts.scheme}://{parts.netloc}"


def _hash(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


def csp(import_map: str, settings: Settings) -> str:
    tiles = tile_source(settings)
    return "; ".join([
        "default-src 'self'",
        f"script-src 'self' {_hash(import_map)}",
        "style-src 'self' 'unsafe-inline'",  # Leaflet and ECharts position with inline styles
        f"img-src 'self' data: blob: {tiles}".rstrip(),
        "connect-src 'self'",
        "font-src 'self' data:",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'self'",
    ])  # fmt: skip


def body_of(page: Page) -> str:
    if page.path == "/":
        return home_body()
    template = TEMPLATES_DIR / f"{page.name}.html"
    return template.read_text("utf-8") if template.is_file() else '<main id="app"></main>'


def home_body() -> str:
    """The start page: a link to every screen that asks to be listed."""
    zh = strings()
    links = "".join(
        f'<li><a href="{p.path}" data-i18n="{p.title}">{html.escape(zh.get(p.title, p.path))}</a>'
        "</li>"
        for p in PAGES
        if p.home
    )
    name = html.escape(zh["app.name"])
    return f'<main class="home"><h1 data-i18n="app.name">{name}</h1><ul>{links}</ul></main>'


def render(page: Page, settings: Settings, vendor_root: Path) -> tuple[str, str]:
    """The page's HTML and its Content-Security-Policy."""
    imports = json.dumps(vendor.import_map(vendor_root), separators=(",", ":"))
    css = [vendor.url(vendor_root, v, f) for v in page.vendors for f in vendor.PACKAGES[v].css]
    css.append("/static/css/base.css")
    if (STATIC_DIR / "css" / f"{page.name}.css").is_file():
        css.append(f"/static/css/{page.name}.css")
    links = "\n".join(f'<link rel="stylesheet" href="{html.escape(h)}">' for h in css)
    title = html.escape(strings().get(page.title, page.name))
    module = f"/static/js/pages/{page.name}.js"
    doc = f"""<!doctype html>
<html lang="zh-CN" class="theme-{page.theme}" data-page="{page.name}" data-title="{page.title}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} · CityOps</title>
<link rel="icon" href="/static/img/favicon.svg" type="image/svg+xml">
<script type="importmap">{imports}</script>
{links}
<script type="module" src="{module}"></script>
{page.head}
</head>
<body class="page-{page.name}">
{body_of(page)}
</body>
</html>
"""
    return doc, csp(imports, settings)
