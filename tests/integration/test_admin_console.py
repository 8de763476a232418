"""The console's management reads and the keyword edit (routers/admin_console.py)."""

from __future__ import annotations

from cityops.bootstrap import App
from tests.helpers import Api


def test_all_categories_lists_retired_ones_with_keywords(app: App) -> None:
    api = Api(app)
    r = api._send("PATCH", "admin", "/api/v1/admin/categories/C0101", json={"active": False})
    assert r.status_code == 200, r.text
    rows = api.get("auditor", "/api/v1/admin/categories").json()
    assert len(rows) >= 110
    c0101 = next(c for c in rows if c["key"] == "C0101")
    assert c0101["active"] is False
    assert c0101["major_key"] == "C01" and isinstance(c0101["keywords"], list)
    public = {c["key"] for c in api.get("admin", "/api/v1/categories").json()}
    assert "C0101" not in public
    assert api.get("commander", "/api/v1/admin/categories").status_code == 403


def test_keywords_are_replaced_checked_and_audited(app: App) -> None:
    api = Api(app)
    path = "/api/v1/admin/categories/E0102/keywords"
    r = api._send("PUT", "admin", path, json={"keywords": [" 垃圾 ", "暴露垃圾"]})
    assert r.status_code == 200, r.text
    assert r.json()["keywords"] == ["垃圾", "暴露垃圾"]
    bad = api._send("PUT", "admin", path, json={"keywords": ["垃圾", "", "垃圾"]})
    assert bad.status_code == 422
    items = [p["item"] for p in bad.json()["error"]["details"]["problems"]]
    assert items == ["keywords[1]", "keywords[2]"]
    rows = api.get("admin", "/api/v1/admin/categories").json()
    assert next(c for c in rows if c["key"] == "E0102")["keywords"] == ["垃圾", "暴露垃圾"]
    audit = api.get("admin", "/api/v1/admin/audit", params={"limit": 5}).json()
    assert any(a["target"] == "E0102" and "keywords" in a["detail"] for a in audit)
    assert api._send("PUT", "auditor", path, json={"keywords": []}).status_code == 403
    missing = api._send("PUT", "admin", "/api/v1/admin/categories/E9999/keywords",
                        json={"keywords": []})  # fmt: skip
    assert missing.status_code == 404
