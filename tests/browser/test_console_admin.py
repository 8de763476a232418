"""The console's management and evaluation views in a real browser (static/js/pages/console/
admin-*.js, evaluation.js): the rules tester, a category edit with its validation error, the
evaluation table and its CSV, and every view without console errors. Screenshots of the
rules, evaluation and regions views go to docs/screenshots/console-*.png."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.browser.conftest import Console, signed_in
from tests.browser.server import LiveServer, doc_shot
from tests.helpers import STREET_A, point_in

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]
VIEWS = ("admin-regions", "admin-departments", "admin-users", "admin-taxonomy", "admin-rules",
         "admin-models", "evaluation")  # fmt: skip


def _open(
    context: Any, server: LiveServer, console: Console, view: str, user: str = "admin"
) -> Any:
    page = signed_in(context, server, user, console)
    page.set_viewport_size({"width": 1440, "height": 900})
    page.goto(f"{server.url}/console#/{view}")
    name = view.split("/")[0]
    page.wait_for_selector(f"#view[data-view='{name}'] .adm", timeout=20_000)
    return page


def _shot(page: Any, name: str) -> None:
    page.wait_for_timeout(800)
    doc_shot(page, name)


def test_rules_tester_answers_for_typed_and_clicked_places(
    context: Any, live_server: LiveServer, console: Console
) -> None:
    page = _open(context, live_server, console, "admin-rules")
    page.wait_for_selector(".rules-table tbody tr[data-key]")
    page.fill(".rules-tester input[name='category']", "C0101")
    page.fill(".rules-tester input[name='area']", "319901001001")
    page.press(".rules-tester input[name='area']", "Enter")
    answer = page.locator("[data-testid='rule-answer']")
    answer.wait_for()
    assert "is-found" in (answer.get_attribute("class") or "")
    assert "申江市供水集团" in answer.inner_text()  # the water company, by rule #1
    assert "#1" in answer.inner_text()
    assert page.locator(".rules-table tr.is-selected").get_attribute("data-key") == "1"
    # a click on the map locates the grid cell and asks again
    page.fill(".rules-tester input[name='area']", "")
    page.fill(".rules-tester input[name='category']", "E0102")
    page.wait_for_selector(".rules-map .leaflet-overlay-pane path, .rules-map canvas")
    box = page.locator(".rules-map").bounding_box()
    with page.expect_response(lambda r: "/api/v1/rules/which" in r.url) as resp:
        page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    assert resp.value.status == 200
    area = page.input_value(".rules-tester input[name='area']")
    assert area.isdigit() and len(area) >= 12
    page.wait_for_selector("[data-testid='rule-answer'].is-found")
    _shot(page, "console-rules")
    assert console.errors == []


def test_category_time_limit_saves_and_bad_value_is_shown_on_its_field(
    context: Any, live_server: LiveServer, console: Console
) -> None:
    page = _open(context, live_server, console, "admin-taxonomy/C0102")
    handle = page.locator(".tax-editor input[name='time_limits.handle']")
    handle.wait_for()
    handle.fill("zz")
    page.click(".tax-editor button[type='submit']")
    error = page.locator(".tax-editor [data-field='time_limits.handle'] .adm-field__error")
    error.wait_for()
    assert "zz" in error.inner_text()
    handle.fill("2wd")
    with page.expect_response(lambda r: "/admin/categories/C0102" in r.url) as resp:
        page.click(".tax-editor button[type='submit']")
    assert resp.value.status == 200
    page.wait_for_selector(".c-toast--ok")  # the shell's toast (ctx.toast)
    assert page.locator(".tax-editor input[name='time_limits.handle']").input_value() == "2wd"
    assert page.locator(".tax-editor .is-invalid").count() == 0
    # the browser logs the refused PATCH itself (422); the page raised nothing else
    assert [e for e in console.errors if "status of 422" not in e] == []


def test_evaluation_table_renders_sorts_and_downloads_csv(
    context: Any, live_server: LiveServer, console: Console
) -> None:
    page = _open(context, live_server, console, "evaluation")
    page.wait_for_selector(".eval[data-ready='1'] .eval-table tbody tr")
    assert page.locator(".eval-table tbody tr").count() > 3
    score = page.locator(".eval-table th", has_text="综合评分")
    assert "Σ" in (score.get_attribute("title") or "")  # the formula as the tooltip
    score.locator("button").click()
    assert score.get_attribute("aria-sort") == "descending"
    with page.expect_download() as dl:
        page.click("[data-testid='eval-csv']")
    path = dl.value.path()
    text = Path(path).read_text("utf-8-sig")
    assert text.splitlines()[0].count(",") > 5 and len(text.splitlines()) > 3
    _shot(page, "console-evaluation")
    page.click(".adm-tab >> nth=1")
    page.wait_for_selector(".eval[data-ready='1'] .eval-table tbody tr")
    assert console.errors == []


@pytest.mark.parametrize("view", VIEWS)
def test_each_view_renders_without_console_errors(
    context: Any, live_server: LiveServer, console: Console, view: str
) -> None:
    page = _open(context, live_server, console, view)
    page.wait_for_timeout(1500)
    assert page.locator(".adm-state--error").count() == 0
    if view == "admin-regions":
        page.wait_for_selector(".reg-map .leaflet-overlay-pane canvas, .reg-map path")
        _shot(page, "console-regions")
    assert console.errors == []


def test_auditor_reads_but_cannot_edit(
    context: Any, live_server: LiveServer, console: Console
) -> None:
    page = _open(context, live_server, console, "admin-taxonomy/C0103", user="auditor")
    page.wait_for_selector(".tax-editor input[name='name']")
    assert page.locator(".tax-editor input[name='name']").is_disabled()
    assert page.locator(".tax-editor button[type='submit']").count() == 0
    assert console.errors == []


def test_layer_import_sends_the_file_as_it_is_and_shows_a_refusal(
    context: Any, live_server: LiveServer, console: Console, tmp_path: Path
) -> None:
    """The regions view uploads the GeoJSON text unchanged (api.js request with a contentType),
    and a file the API refuses shows its reason in the dialog, nothing imported."""
    lon, lat, _ = point_in(STREET_A, seed=77)
    d = 0.004  # about 400 m
    ring = [[lon, lat], [lon + d, lat], [lon + d, lat + d], [lon, lat + d], [lon, lat]]
    layer = {"type": "FeatureCollection", "features": [{
        "type": "Feature", "properties": {"code": "JS-1", "name": "前端测试网格"},
        "geometry": {"type": "Polygon", "coordinates": [ring]}}]}  # fmt: skip
    good = tmp_path / "layer.geojson"
    good.write_text(json.dumps(layer, ensure_ascii=False), encoding="utf-8")
    bad = tmp_path / "bad.geojson"
    bad.write_text('{"type": "Feature"}', encoding="utf-8")
    page = _open(context, live_server, console, "admin-regions")
    try:
        for path, code in ((bad, "js-refused"), (good, "js-layer")):
            page.click(".adm-toolbar button:has-text('导入图层')")
            dialog = page.locator("dialog.adm-modal")
            dialog.locator("input[name='code']").fill(code)
            dialog.locator("input[type='file']").set_input_files(str(path))
            with page.expect_response(lambda r: "/admin/layers/" in r.url) as resp:
                dialog.locator("button[type='submit']").click()
            if path is bad:
                assert resp.value.status == 422
                dialog.locator(".adm-result .adm-state--error").wait_for()
                dialog.locator(".adm-modal__head button").click()
        assert resp.value.status == 200
        page.locator(".adm-result .adm-ok").wait_for()
        assert "js-layer" in page.locator(".c-toast--ok").first.inner_text()
        cells = live_server.call("admin", "GET", "/api/v1/admin/layers/js-layer")["features"]
        assert [c["properties"]["name"] for c in cells] == ["前端测试网格"]
        refused = live_server.request("admin", "GET", "/api/v1/admin/layers/js-refused")
        assert refused.status_code == 404
    finally:
        live_server.request("admin", "DELETE", "/api/v1/admin/layers/js-layer")
    assert [e for e in console.errors if "status of 422" not in e] == []
