"""``cityops import assets|devices FILE`` and ``cityops telemetry retention`` (lifeline)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import typer

from cityops.bootstrap import App
from cityops.domain.errors import CityOpsError


def register(
    cli: typer.Typer, imports: typer.Typer, app: Callable[[], App],
    fail: Callable[[CityOpsError], None], read: Callable[[Path], Any],
) -> None:  # fmt: skip
    """Add the lifeline commands to the main CLI (its own helpers are passed in)."""
    group = typer.Typer(help="City lifeline telemetry (城市生命线).", no_args_is_help=True)
    cli.add_typer(group, name="telemetry")

    def _import(kind: str, path: Path) -> None:
        from cityops.domain.lifeline import imports as parse
        from cityops.service.telemetry import assets

        try:
            if path.suffix.lower() == ".csv":
                try:
                    text = path.read_text(encoding="utf-8-sig")
                except (OSError, UnicodeDecodeError) as exc:
                    raise CityOpsError(f"cannot read {path}: {exc}") from exc
                parsed = (parse.parse_asset_csv(text) if kind == "assets"
                          else parse.parse_device_csv(text))  # fmt: skip
            else:
                data = read(path)
                parsed = (parse.parse_asset_features(data) if kind == "assets"
                          else parse.parse_device_items(data))  # fmt: skip
            do = assets.import_assets if kind == "assets" else assets.import_devices
            r = do(app(), parsed[0], parsed[1], "cli")  # type: ignore[arg-type]
        except CityOpsError as exc:
            fail(exc)
            return
        typer.echo(f"{kind}: {r.created} created, {r.updated} updated")

    @imports.command("assets")
    def import_assets(path: Path) -> None:
        """Lifeline assets from GeoJSON or CSV (docs/lifeline.md); all-or-nothing."""
        _import("assets", path)

    @imports.command("devices")
    def import_devices(path: Path) -> None:
        """Sensors and their metrics from JSON/GeoJSON or CSV (one row per metric)."""
        _import("devices", path)

    @group.command("retention")
    def retention() -> None:
        """Delete raw readings and roll-ups past their retention (safe to repeat)."""
        from cityops.service.telemetry.retention import sweep_retention

        r = sweep_retention(app())
        typer.echo(f"raw: {r.raw} {r.raw_unit} removed; roll-ups removed: "
                   f"{r.rollup_1m} (1 min), {r.rollup_1h} (1 h)")  # fmt: skip
