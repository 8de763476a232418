"""The ``cityops`` command line: init, import, demo, serve, simulate, evaluate, sweep."""

from __future__ import annotations

import json
import sys
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml

from cityops.bootstrap import App, bootstrap
from cityops.config import Settings
from cityops.domain.errors import CityOpsError, ImportRejected
from cityops.domain.evaluation_formulas import Dimension

cli = typer.Typer(
    help="CityOps 一网统管 — city operations from report to evaluation.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
imports = typer.Typer(help="Import reference data (all-or-nothing).", no_args_is_help=True)
cli.add_typer(imports, name="import")


def _app() -> App:
    return bootstrap(Settings())


def _fail(exc: CityOpsError) -> None:
    typer.secho(f"error: {exc.message}", fg=typer.colors.RED, err=True)
    if isinstance(exc, ImportRejected):
        for p in exc.problems:
            typer.echo(f"  - {p.item}: {p.reason}", err=True)
    raise typer.Exit(2)


def _read(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise CityOpsError(f"cannot read {path}: {exc.strerror}") from exc
    try:
        return (
            json.loads(text)
            if path.suffix == ".json" or path.suffix == ".geojson"
            else (yaml.safe_load(text))
        )
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise CityOpsError(f"{path} is not valid {path.suffix[1:]}: {exc}") from exc


@cli.command()
def init() -> None:
    """Create or upgrade the database schema."""
    app = _app()
    typer.echo(f"database ready: {app.engine.url.render_as_string(hide_password=True)}")


@imports.command("regions")
def import_regions(
    path: Path,
    crs: Annotated[str | None, typer.Option(help="wgs84 (default), gcj02, bd09, cgcs2000")] = None,
) -> None:
    """Regions and grid cells from GeoJSON (.geojson/.json) or CSV (code,name,level,parent,wkt)."""
    from cityops.domain.layers import declared_crs
    from cityops.domain.regions import parse_region_csv, parse_region_features
    from cityops.service.admin import import_regions as do_import
    from cityops.service.admin import region_codes

    try:
        app = _app()
        existing = region_codes(app)
        if path.suffix == ".csv":
            system = declared_crs({}, crs)
            specs = parse_region_csv(path.read_text(encoding="utf-8-sig"), existing)
        else:
            data = _read(path)
            system = declared_crs(data if isinstance(data, dict) else {}, crs)
            specs = parse_region_features(data, existing)
        r = do_import(app, specs, "cli", crs=system)
    except CityOpsError as exc:
        _fail(exc)
    typer.echo(f"regions: {r.created} created, {r.updated} updated")


@imports.command("layer")
def import_layer(
    code: Annotated[str, typer.Argument(help="the layer's code, e.g. police or zongzhi")],
    path: Path,
    name: Annotated[str | None, typer.Option(help="display name, e.g. 警务网格")] = None,
    crs: Annotated[str | None, typer.Option(help="wgs84 (default), gcj02, bd09, cgcs2000")] = None,
) -> None:
    """A grid layer beside the city's grid (多格合一) from GeoJSON; replaces the layer whole."""
    from cityops.service.layers import import_layer as do_import

    try:
        r = do_import(_app(), code, _read(path), "cli", name=name, crs=crs)
    except CityOpsError as exc:
        _fail(exc)
    verb = f"replaced {r.replaced} cells with" if r.replaced else "created with"
    typer.echo(f"layer {r.code} ({r.name}): {verb} {r.cells} cells (source CRS {r.crs})")


def _import_list(kind: str, path: Path) -> None:
    from cityops.service import admin

    try:
        app = _app()
        data = _read(path)
        if kind == "taxonomy":
            from cityops.domain.taxonomy import parse_taxonomy

            r = admin.import_taxonomy(app, parse_taxonomy(data), "cli")
        elif kind == "holidays":
            from cityops.domain.calendar import parse_year_schedule

            r = admin.load_holidays(
                app, parse_year_schedule(data, source=f"file {path.name}"), "cli"
            )
        elif kind == "rules":
            r = admin.import_rules(
                app,
                data["rules"],
                str(data["version"]),
                datetime.fromisoformat(str(data["effective_from"])),
                "cli",
            )
        elif kind == "departments":
            r = admin.import_departments(app, data, "cli")
        else:
            r = admin.import_users(app, data, "cli")
    except (KeyError, TypeError) as exc:
        _fail(CityOpsError(f"{path}: missing or malformed field {exc}"))
    except CityOpsError as exc:
        _fail(exc)
    typer.echo(f"{kind}: {r.created} created, {r.updated} updated")


@imports.command("departments")
def import_departments(path: Path) -> None:
    """Departments: a JSON/YAML list of {code, name, level, region_code, kinds}."""
    _import_list("departments", path)


@imports.command("taxonomy")
def import_taxonomy(path: Path) -> None:
    """The GB/T 30428 taxonomy (same format as the packaged default)."""
    _import_list("taxonomy", path)


@imports.command("rules")
def import_rules(path: Path) -> None:
    """A version of the responsibility list: {version, effective_from, rules: [...]}."""
    _import_list("rules", path)


@imports.command("users")
def import_users(path: Path) -> None:
    """Users: a list of {username, display_name, role, scope, department, password}."""
    _import_list("users", path)


@imports.command("holidays")
def import_holidays(path: Path) -> None:
    """A year's official holiday schedule (see docs/holiday-schedule.example.yaml)."""
    _import_list("holidays", path)


@imports.command("cases")
def import_cases(
    path: Path,
    encoding: Annotated[str, typer.Option(help="the file's encoding, e.g. gb18030")] = "utf-8-sig",
) -> None:
    """Historical closed cases from CSV (docs/history-import.md); all-or-nothing."""
    from cityops.service.history import import_history

    try:
        app = _app()
        try:
            text = path.read_text(encoding=encoding)
        except (OSError, LookupError, UnicodeDecodeError) as exc:
            raise CityOpsError(f"cannot read {path} as {encoding}: {exc}") from exc
        r = import_history(app, text, "cli")
    except CityOpsError as exc:
        _fail(exc)
    typer.echo(f"history: {r.created} cases imported ({r.closed} closed, {r.invalid} invalid), "
               f"batch {r.batch}")  # fmt: skip


@cli.command()
def demo(
    days: Annotated[int, typer.Option(help="days of history to simulate")] = 14,
    per_day: Annotated[int, typer.Option(help="reports per simulated day")] = 40,
    lifeline_minutes: Annotated[int, typer.Option(min=0, help="minutes of sensor history")] = 60,
) -> None:
    """Load the demo city 申江市 (once) and simulate its recent history."""
    from cityops.demo.load import is_loaded, load_demo
    from cityops.demo.simulator import Simulator

    app = _app()
    if is_loaded(app):
        typer.echo("demo city already loaded")
        return
    city = load_demo(app)
    typer.echo(
        f"loaded {city.city_name}: {len(city.regions)} regions, "
        f"{len(city.departments)} departments, {len(city.rules)} rules, "
        f"{len(city.users)} users"
    )
    if days > 0:
        end = app.clock()
        n = Simulator(app, city).backfill(end - timedelta(days=days), end, per_day)
        typer.echo(f"simulated {days} days of history: {n} reports")
        _train_demo(app)
    if lifeline_minutes > 0:
        from cityops.entrypoints.lifeline_workers import demo_backfill

        points = demo_backfill(app, timedelta(minutes=lifeline_minutes))
        typer.echo(f"lifeline sensors: {points} readings over the last {lifeline_minutes} min")


def _train_demo(app: App) -> None:
    """A first classifier from the simulated history, so the hotline's texts are classified."""
    from cityops.service.training import train as train_model

    if app.settings.model_dir is None:
        return
    try:
        # Without the term-vector member: `make run` starts a minute sooner; accuracy on the
        # simulated texts is the same. `cityops train` retrains with it.
        r = train_model(app, actor="demo-loader", term_vectors=False)
    except CityOpsError as exc:
        typer.echo(f"no classifier trained yet: {exc.message}")
        return
    m = r.metrics
    # A first model of a young city: few cases per category, so the held-out accuracy says
    # more than a macro-F1 over categories seen once or twice.
    typer.echo(f"classifier {r.version} trained on {r.n_cases} closed cases in {r.labels} "
               f"categories (held-out: accuracy {m.get('accuracy', 0):.2f}, top-3 "
               f"{m.get('top3_accuracy', 0):.2f} on {m.get('n', 0)} cases)")  # fmt: skip


@cli.command()
def train(
    min_per_class: Annotated[int, typer.Option(help="leave out categories with fewer cases")] = 3,
    activate: Annotated[bool, typer.Option(help="serve the new version at once")] = True,
    version: Annotated[str | None, typer.Option(help="version name (default: a timestamp)")] = None,
    embedding_weight: Annotated[
        float, typer.Option(min=0.0, max=0.9, help="share of the sentence-embedding member "
                            "(0: off; ~0.3 adds accuracy but ~50 ms per report)")
    ] = 0.0,
    term_vectors: Annotated[
        bool, typer.Option(help="the term-vector member: better accuracy, free at intake, "
                           "~1 min more training (docs/classification.md)")
    ] = True,
) -> None:
    """Train the report classifier (智能分类) from the closed cases; prints its held-out scores."""
    from cityops.service.training import train as train_model

    try:
        r = train_model(_app(), actor="cli", min_per_class=min_per_class, activate=activate,
                        version=version, embedding_weight=embedding_weight,
                        term_vectors=term_vectors)  # fmt: skip
    except CityOpsError as exc:
        _fail(exc)
    m = r.metrics
    typer.echo(
        f"model {r.version}{' (active)' if r.active else ''}: {r.n_cases} cases, {r.labels} "
        f"categories; held-out macro-F1 {m.get('macro_f1', 0):.3f}, accuracy "
        f"{m.get('accuracy', 0):.3f}, top-3 {m.get('top3_accuracy', 0):.3f}"
    )
    if r.left_out:
        typer.echo(f"left out (fewer than {min_per_class} cases): {', '.join(r.left_out)}")


@cli.command()
def simulate(
    days: Annotated[int, typer.Option(help="days of history to add, ending now")] = 7,
    per_day: Annotated[int, typer.Option()] = 40,
) -> None:
    """Add simulated history (reports and their handling) to a loaded demo city."""
    from cityops.demo.city import generate_demo_city
    from cityops.demo.simulator import Simulator

    app = _app()
    end = app.clock()
    n = Simulator(app, generate_demo_city()).backfill(end - timedelta(days=days), end, per_day)
    typer.echo(f"simulated {n} reports")


@cli.command()
def serve(
    simulate: Annotated[bool, typer.Option(help="keep the demo city moving")] = False,
    rate: Annotated[float, typer.Option(help="simulated reports per second")] = 0.2,
) -> None:
    """Start the API server (and, with --simulate, the live demo traffic; with CITYOPS_MQTT_URL
    set, the MQTT telemetry consumer)."""
    import uvicorn

    from cityops.entrypoints.api.app import create_api
    from cityops.entrypoints.lifeline_workers import lifeline_services

    app = _app()
    stop = threading.Event()
    if simulate:
        from cityops.demo.city import generate_demo_city
        from cityops.demo.simulator import Simulator

        sim = Simulator(app, generate_demo_city())
        threading.Thread(
            target=sim.run_live, args=(stop, rate, app.clock), daemon=True, name="simulator"
        ).start()
    s = app.settings
    typer.echo(serve_banner(app))
    try:
        with lifeline_services(app, simulate):  # sensors, MQTT (docs/lifeline.md)
            # Live streams (SSE) never finish by themselves: give them a moment, then stop.
            uvicorn.run(create_api(app), host=s.host, port=s.port, log_level="info",
                        timeout_graceful_shutdown=3)  # fmt: skip
    finally:
        stop.set()


def serve_banner(app: App) -> str:
    """Where everything is: each screen of the start page, the API docs, and who to sign in as."""
    from cityops.entrypoints.web.pages import PAGES, strings

    s, zh = app.settings, strings()
    base = f"http://{s.host}:{s.port}"
    lines = [f"\nCityOps 一网统管 on {base}"]
    lines += [f"  {p.name:<9} {base}{p.path:<10} {zh.get(p.title, '')}" for p in PAGES if p.home]
    lines += [f"  {'API docs':<9} {base}/docs", f"  {'health':<9} {base}/healthz"]
    return "\n".join(lines + _demo_logins(app))


def _demo_logins(app: App) -> list[str]:
    from cityops.demo.city import DEMO_PASSWORD
    from cityops.demo.load import is_loaded

    if not is_loaded(app):
        return []
    lines = [f"  demo logins (password {DEMO_PASSWORD}):"]
    for user, role in (
        ("admin", "系统管理员 admin"), ("commander", "指挥长 commander"),
        ("acceptor", "受理员 acceptor"), ("dispatcher", "派遣员 dispatcher"),
        ("leader", "值班长 shift leader"), ("inspector01", "监督员 grid inspector (street 1)"),
        ("handler-roads", "处置员 handler, 道路运行管理中心"), ("auditor", "审计员 auditor"),
        ("citizen", "市民 citizen"),
    ):  # fmt: skip
        lines.append(f"    {user:<16} {role}")
    hint = "  /m: inspector01 or a handler-*; /citizen needs no sign-in; the rest: any staff login"
    return [*lines, hint, ""]


@cli.command()
def evaluate(
    start: Annotated[datetime, typer.Option("--from", help="start (local date/time)")],
    end: Annotated[datetime, typer.Option("--to", help="end, exclusive")],
    dimension: Annotated[Dimension, typer.Option()] = Dimension.DEPARTMENT,
    csv: Annotated[bool, typer.Option("--csv", help="print CSV instead of a table")] = False,
    weights: Annotated[str | None, typer.Option(help="e.g. close_rate:0.4,rework_rate:0.2")] = None,
) -> None:
    """综合评价 for a period, by department, street, grid or inspector."""
    from cityops.service.evaluation import parse_weights, run_evaluation

    app = _app()
    tz = app.settings.tz
    start_at = start.replace(tzinfo=tz) if start.tzinfo is None else start
    end_at = end.replace(tzinfo=tz) if end.tzinfo is None else end
    try:
        result = run_evaluation(
            app, dimension, start_at.astimezone(UTC), end_at.astimezone(UTC), parse_weights(weights)
        )
    except CityOpsError as exc:
        _fail(exc)
    if csv:
        sys.stdout.write(result.csv())
        return
    typer.echo(f"{'name':<28}{'score':>7}{'立案':>6}{'结案':>6}{'按期处置率':>10}{'返工率':>8}")
    for row in result.rows:
        m = row.metrics
        name = result.names.get(row.key, row.key)[:26]
        rate = m.get("on_time_handle_rate")
        rework = m.get("rework_rate")
        typer.echo(
            f"{name:<28}{row.score if row.score is not None else '-':>7}"
            f"{m.get('opened', 0):>6}{m.get('closed', 0):>6}"
            f"{'-' if rate is None else f'{rate:.0%}':>10}"
            f"{'-' if rework is None else f'{rework:.0%}':>8}"
        )


@cli.command()
def sweep() -> None:
    """Mark overdue stages and escalate (safe to run any number of times)."""
    from cityops.service.sweeper import sweep as do_sweep

    r = do_sweep(_app())
    typer.echo(f"marked overdue: {r.marked_overdue}, escalated: {r.escalated}")


@cli.command()
def notify(
    limit: Annotated[int, typer.Option(help="at most this many notifications")] = 200,
) -> None:
    """Deliver pending notifications (结案 notices to reporters); safe to run any time."""
    from cityops.service.notify import deliver

    r = deliver(_app(), limit=limit)
    typer.echo(f"sent: {r.sent}, to retry: {r.retrying}, failed: {r.failed}")


def _register_lifeline() -> None:
    from cityops.entrypoints import cli_lifeline, cli_telemetry

    cli_telemetry.register(cli, imports, _app, _fail, _read)
    cli_lifeline.register(cli, _app)  # `mqtt`, `simulate-lifeline`


_register_lifeline()  # `import assets|devices`, `telemetry retention` (docs/lifeline.md)


def main() -> None:
    cli()
