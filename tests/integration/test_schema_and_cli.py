"""The migrations build exactly the models' schema; the CLI's imports are all-or-nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import func, select
from typer.testing import CliRunner

from cityops.adapters.db.models import Base, RegionRow
from cityops.bootstrap import App
from cityops.entrypoints.cli import cli


def test_migrations_match_the_models(app: App) -> None:
    with app.engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []


def _regions(app: App) -> int:
    with app.reads() as s:
        return s.scalar(select(func.count()).select_from(RegionRow)) or 0


def test_cli_region_import_rejects_the_whole_file(
    sqlite_app: App, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CITYOPS_DATABASE_URL", str(sqlite_app.engine.url))
    before = _regions(sqlite_app)
    ok = {"type": "Feature", "properties": {"code": "31990100100199", "name": "新网格",
          "level": "grid", "parent": "319901001001"},
          "geometry": {"type": "Polygon", "coordinates": [[[0, 0], [0.001, 0], [0.001, 0.001],
                                                           [0, 0.001], [0, 0]]]}}
    bad = {"type": "Feature", "properties": {"code": "123", "name": "坏网格", "level": "grid",
           "parent": "999999999999"}, "geometry": None}
    path = tmp_path / "grids.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [ok, bad]}))
    result = CliRunner().invoke(cli, ["import", "regions", str(path)])
    assert result.exit_code == 2
    assert "features[1]" in result.output
    assert _regions(sqlite_app) == before  # nothing imported


def test_cli_holidays_and_unreadable_file(
    sqlite_app: App, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CITYOPS_DATABASE_URL", str(sqlite_app.engine.url))
    good = tmp_path / "2027.yaml"
    good.write_text("year: 2027\nholidays:\n  - name: 元旦\n    dates: ['2027-01-01']\n",
                    encoding="utf-8")
    runner = CliRunner()
    ok = runner.invoke(cli, ["import", "holidays", str(good)])
    missing = runner.invoke(cli, ["import", "holidays", str(tmp_path / "nope.yaml")])
    broken = tmp_path / "broken.yaml"
    broken.write_text("year: [unclosed", encoding="utf-8")
    malformed = runner.invoke(cli, ["import", "holidays", str(broken)])
    assert ok.exit_code == 0, ok.output
    assert missing.exit_code == 2 and "cannot read" in missing.output
    assert malformed.exit_code == 2
