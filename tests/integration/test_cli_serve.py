"""``cityops serve`` says where every screen is, and with the demo city who to sign in as."""

from __future__ import annotations

from cityops.bootstrap import App
from cityops.entrypoints.cli import serve_banner
from cityops.entrypoints.web.pages import PAGES


def test_serve_banner_lists_every_screen_and_the_demo_logins(sqlite_app: App) -> None:
    banner = serve_banner(sqlite_app)
    base = f"http://{sqlite_app.settings.host}:{sqlite_app.settings.port}"
    for path in ("/screen", "/console", "/m", "/citizen", "/docs"):
        assert f"{base}{path} " in f"{banner} ".replace("\n", " ")
    assert {p.path for p in PAGES if p.home} >= {"/screen", "/console", "/m", "/citizen"}
    assert "业务工作台" in banner and "市民随手拍" in banner
    assert "demo logins" in banner and "inspector01" in banner
