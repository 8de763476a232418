"""Front-end libraries from npm (web/package.json), served from node_modules under /vendor.

No build step and no CDN: ``npm ci`` in web/ installs them at set-up and this module serves a
chosen folder of each package. Pages import them by bare name through the import map below.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import FileResponse

from cityops.bootstrap import App

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class VendorPackage:
    npm: str  # the package's name in web/package.json
    folder: str  # the folder inside it that is served: /vendor/<npm>/<file> → <folder>/<file>
    module: str | None = None  # the ES module the import map names "<npm>"
    css: tuple[str, ...] = ()  # stylesheets a page using it links


# Add a library: `npm install --prefix web NAME`, then one line here.
PACKAGES: dict[str, VendorPackage] = {
    "leaflet": VendorPackage("leaflet", "dist", "leaflet-src.esm.js", ("leaflet.css",)),
    "echarts": VendorPackage("echarts", "dist", "echarts.esm.min.js"),
    # The API docs (/docs): classic scripts that FastAPI's pages load, no import map.
    "swagger-ui-dist": VendorPackage("swagger-ui-dist", "."),
}


def version(root: Path, name: str) -> str:
    """The installed version, so URLs change when the package does (cached for a year)."""
    try:
        return str(json.loads((root / name / "package.json").read_text())["version"])
    except (OSError, ValueError, KeyError):
        return "missing"


def url(root: Path, name: str, file: str) -> str:
    return f"/vendor/{name}/{file}?v={version(root, name)}"


def import_map(root: Path) -> dict[str, dict[str, str]]:
    return {"imports": {n: url(root, n, p.module) for n, p in PACKAGES.items() if p.module}}


def vendor_dir(app: App) -> Path:
    """The node_modules folder: the setting, else web/ beside the source tree, else ./web."""
    if app.settings.web_vendor_dir is not None:
        return app.settings.web_vendor_dir
    beside_source = Path(__file__).resolve().parents[4] / "web" / "node_modules"
    return beside_source if beside_source.is_dir() else Path("web/node_modules").resolve()


router = APIRouter(include_in_schema=False)


@router.get("/vendor/{package}/{path:path}")
def vendor_file(package: str, path: str, request: Request) -> FileResponse:
    spec = PACKAGES.get(package)
    if spec is None:
        raise HTTPException(404, f"no front-end package {package!r}")
    app: App = request.app.state.cityops
    root = (vendor_dir(app) / spec.npm / spec.folder).resolve()
    if not root.is_dir():
        log.error("front-end package %s is not installed under %s: run `make` (npm ci in web/)",
                  spec.npm, root)  # fmt: skip
        raise HTTPException(
            503, f"front-end package {spec.npm} is not installed: run `npm ci` in web/ "
            "(make run / make test do it) or set CITYOPS_WEB_VENDOR_DIR",
        )  # fmt: skip
    file = (root / path).resolve()
    if not file.is_relative_to(root) or not file.is_file():
        raise HTTPException(404, f"{package}/{path} not found")
    # Versioned URLs (?v=, from the import map and page links) never change; others may.
    cache = "public, max-age=31536000, immutable" if "v" in request.query_params else "no-cache"
    return FileResponse(file, headers={"Cache-Control": cache})
