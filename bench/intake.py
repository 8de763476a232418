"""Reports/s end to end: classify + locate (coordinates or address) + dedupe + route + persist.

The mix is what a city's intake sees: 12345 calls with free text and no category (the
classifier decides), a third of them placed only by an address (the gazetteer geocodes it), the
rest with GCJ-02 phone coordinates; grid inspectors' reports with a category; nearby repeats
that 并案 folds into open cases. The classifier is trained first (not timed) on texts of the
same kind. Each run starts from a fresh demo city.

Side by side in the same run: the goal (1,000 reports/s on SQLite), the raw batched INSERT of
the very rows the pipeline wrote (the limit of the database, as in bench/case_throughput.py),
and the classifier and geocoder alone, so the cost of each stage is visible.

Prints one JSON object per line: name, value, unit, peer, peer_value, ratio.
Usage: python bench/intake.py [--n 2000]
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from pathlib import Path

from benchdb import emit
from case_throughput import _raw_insert, feed, written_rows
from sqlalchemy import func, select

from cityops.adapters.db.models import CaseRow, ReportRow
from cityops.bootstrap import App, bootstrap
from cityops.classify import ModelStore, train_from_rows
from cityops.config import Settings
from cityops.demo.city import generate_demo_city
from cityops.demo.gazetteer import generate_gazetteer
from cityops.demo.load import load_demo
from cityops.demo.phrases import category_weights, report_text
from cityops.domain.coords import wgs84_to_gcj02
from cityops.domain.model import Channel
from cityops.domain.taxonomy import load_default_taxonomy
from cityops.service.intake import ReportInput


def _reports(n: int, seed: int) -> list[ReportInput]:
    city, rng = generate_demo_city(), random.Random(seed)
    gazetteer = generate_gazetteer(city)
    categories = list(load_default_taxonomy().categories)
    weights = category_weights(categories)
    grids = [g.code for g in city.grids]
    out: list[ReportInput] = []
    for i in range(n):
        category = rng.choices(categories, weights=weights)[0]
        grid = rng.choice(grids)
        lon, lat = city.sample_point(grid, rng)
        plate = gazetteer.near(lon, lat)
        hotline = rng.random() < 0.6
        text = report_text(category, rng, plate["name"], not hotline)
        by_address = hotline and rng.random() < 0.33
        x, y = wgs84_to_gcj02(lon, lat)
        out.append(ReportInput(
            channel=Channel.HOTLINE if hotline else Channel.INSPECTOR,
            source_id=f"bench-{seed}-{i}", raw=json.dumps({"i": i, "t": text}, ensure_ascii=False),
            description=text, category=None if hotline else category.key,
            lon=None if by_address else x, lat=None if by_address else y, crs="gcj02",
            address=f"{plate['district'] or ''}{plate['street'] or ''}{plate['name']}",
            reporter_name="王先生" if hotline else None,
            reporter_phone="13800000000" if hotline else None,
        ))  # fmt: skip
    return out


def _train(folder: Path) -> None:
    taxonomy = list(load_default_taxonomy().categories)
    weights = category_weights(taxonomy)
    rng = random.Random(99)
    rows = []
    for _ in range(4000):
        c = rng.choices(taxonomy, weights=weights)[0]
        rows.append((report_text(c, rng, "人民路100号", rng.random() < 0.4), c.key))
    counts: dict[str, int] = {}
    for _, label in rows:
        counts[label] = counts.get(label, 0) + 1
    rows = [(t, label) for t, label in rows if counts[label] >= 3]
    model, _ = train_from_rows(rows, version="bench")
    ModelStore(folder).save(model, activate=True)


def _app(url: str, models: Path) -> App:
    app = bootstrap(Settings(database_url=url, model_dir=models))
    load_demo(app)
    app.reference.get()  # warm the caches as a running server has them
    app.classifier.model()
    return app


def _pipeline(url: str, models: Path, reports: list[ReportInput], batch: int) -> dict:
    app = _app(url, models)
    seconds = feed(app, reports, batch)
    with app.reads() as s:
        cases = s.scalar(select(func.count()).select_from(CaseRow)) or 0
        merged = s.scalar(select(func.count()).where(ReportRow.merged.is_(True))) or 0
        auto = s.scalar(
            select(func.count()).where(CaseRow.classification["auto"].as_boolean().is_(True))
        ) or 0
        triage = dict(
            s.execute(select(CaseRow.triage, func.count()).group_by(CaseRow.triage)).all()
        )
    rows = written_rows(app)
    app.dispose()
    return {"rate": len(reports) / seconds, "cases": cases, "merged": merged, "auto": auto,
            "triage": {str(k): v for k, v in triage.items()}, "rows": rows}  # fmt: skip


def _stage_rates(url: str, models: Path, reports: list[ReportInput]) -> dict[str, float]:
    app = _app(url, models)
    snap = app.reference.get()
    texts = [r.description for r in reports if r.category is None]
    start = time.perf_counter()
    for i in range(0, len(texts), 200):
        app.classifier.classify(snap, texts[i : i + 200])
    classify = len(texts) / (time.perf_counter() - start)
    addresses = [r.address or "" for r in reports if r.lon is None]
    start = time.perf_counter()
    for a in addresses:
        snap.geocoder.geocode(a)
    geocode = len(addresses) / (time.perf_counter() - start)
    app.dispose()
    return {"classify": classify, "geocode": geocode}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=2000)
    args = parser.parse_args()
    reports = _reports(args.n, seed=7)
    with tempfile.TemporaryDirectory() as tmp:
        models = Path(tmp) / "models"
        _train(models)
        counter = iter(range(100))

        def fresh() -> str:
            return f"sqlite:///{tmp}/bench{next(counter)}.db"

        for batch in (1, 200):
            label = "single" if batch == 1 else f"batch{batch}"
            run = _pipeline(fresh(), models, reports, batch)
            facts = {"cases": run["cases"], "merged": run["merged"],
                     "auto_classified": run["auto"], "triage": run["triage"]}  # fmt: skip
            emit(f"intake_e2e_sqlite_{label}_vs_goal", run["rate"], "reports/s", "goal", 1000,
                  **facts)  # fmt: skip
            raw = _raw_insert(fresh(), run["rows"], args.n)
            emit(f"intake_e2e_sqlite_{label}", run["rate"], "reports/s",
                  "raw_batched_insert_sqlite", raw)  # fmt: skip
        stages = _stage_rates(fresh(), models, reports)
        emit("classify_batch200", stages["classify"], "texts/s", "goal", 1000)
        emit("geocode_single", stages["geocode"], "addresses/s", "goal", 1000)


if __name__ == "__main__":
    main()
