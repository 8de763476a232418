"""Points/s for point → grid cell: ``GridIndex`` vs PostGIS ``ST_Contains``, same data, same run.

Two layers:
(a) the 99 Los Angeles neighbourhood councils (2019) with the geocoded MyLA311 requests of
    27–31 Dec 2017, repeated to ~1M points (read from ../shared/data; skipped when absent);
(b) a generated 100k-cell grid (400 × 250 jittered quads sharing their vertices, seeded) with
    1M uniform random points.

Ours: ``GridIndex.locate_many`` on numpy arrays, answers as a list of codes (median of 3 runs
after the index is built; build time is reported on its own line). Single-point rate: a Python
loop of ``GridIndex.locate``.
Peer: PostgreSQL 15 + PostGIS 3 on 127.0.0.1:5432 (user postgres), in a throwaway database. The
cells are loaded with COPY and a GiST index; the points with COPY and a GiST index too (not
timed: with it the planner may loop over the cells and let PostGIS reuse each prepared polygon,
7× faster on the LA councils than probing the cells point by point); timed is only
``CREATE UNLOGGED TABLE hits AS SELECT pts.id, cells.code FROM pts JOIN cells ON
ST_Contains(cells.geom, pts.geom)`` (server side, no transfer; PostgreSQL may use its parallel
workers, so the peer gets both cores while ours runs on one). Single-point rate: one prepared
``SELECT … WHERE ST_Contains(geom, point) ORDER BY code LIMIT 1`` per point.
Agreement: the fraction of points with the same answer (PostGIS's smallest code per point).
ST_Contains leaves out boundary points, which ours gives to the smallest code: with random or
geocoded points that almost never matters.

Set-up installs PostGIS with apt-get when ``CREATE EXTENSION postgis`` fails (root needed).
Prints one JSON object per line: name, value, unit, peer, peer_value, ratio (ours / peer).
Usage: python bench/locate.py [--quick] [--no-postgis]
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import shapely

from cityops.adapters.geo import GridIndex

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("CITYOPS_SHARED_DATA", REPO.parent / "shared" / "data"))
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def emit(name: str, value: float, unit: str, peer: str, peer_value: float | None) -> None:
    def r(v: float) -> float:
        return round(v, 4 if abs(v) < 10 else 1)

    line = {"name": name, "value": r(value), "unit": unit, "peer": peer,
            "peer_value": None if peer_value is None else r(peer_value),
            "ratio": round(value / peer_value, 4) if peer_value else None}  # fmt: skip
    print(json.dumps(line), flush=True)


# -- data ------------------------------------------------------------------------------------


def la_layer(n_points: int) -> tuple[list[tuple[str, Any]], np.ndarray, np.ndarray, list[str]]:
    """The councils as (nc_id, geometry) and the request points repeated to ``n_points``."""
    councils = json.loads((DATA / "la311/la_neighborhood_councils_2019.geojson").read_text())
    cells = [
        (str(int(float(f["properties"]["nc_id"]))), f["geometry"]) for f in councils["features"]
    ]
    lons, lats, ncs = [], [], []
    with (DATA / "la311/MyLA311_Service_Request_Data_2017_Subset.csv").open(newline="") as f:
        for row in csv.DictReader(f):
            lat, lon = row["Latitude"].strip(), row["Longitude"].strip()
            if not lat or not lon or float(lat) == 0 or float(lon) == 0:
                continue
            lons.append(float(lon))
            lats.append(float(lat))
            ncs.append(str(int(float(row["NC"]))) if row["NC"].strip() else "")
    repeat = -(-n_points // len(lons))
    return cells, np.tile(lons, repeat)[:n_points], np.tile(lats, repeat)[:n_points], ncs


def lattice_layer(
    nx: int, ny: int, n_points: int
) -> tuple[list[tuple[str, Any]], np.ndarray, np.ndarray]:
    """``nx × ny`` quads over part of Shanghai, inner vertices jittered by up to ±25% of a cell
    (neighbours share vertices, so the cells tile the extent), and uniform random points."""
    rng = np.random.default_rng(20240601)
    x0, x1, y0, y1 = 121.0, 121.8, 31.0, 31.5
    dx, dy = (x1 - x0) / nx, (y1 - y0) / ny
    gx, gy = np.meshgrid(np.arange(nx + 1), np.arange(ny + 1), indexing="ij")
    vx = x0 + (gx + rng.uniform(-0.25, 0.25, gx.shape)) * dx
    vy = y0 + (gy + rng.uniform(-0.25, 0.25, gy.shape)) * dy
    vx[0, :], vx[-1, :], vy[:, 0], vy[:, -1] = x0, x1, y0, y1
    i, j = (a.ravel() for a in np.meshgrid(np.arange(nx), np.arange(ny), indexing="ij"))
    corners = [(i, j), (i + 1, j), (i + 1, j + 1), (i, j + 1), (i, j)]
    rings = np.stack([np.stack([vx[a, b], vy[a, b]], axis=-1) for a, b in corners], axis=1)
    polys = shapely.polygons(rings)
    geojson = [json.loads(g) for g in shapely.to_geojson(polys)]
    cells = [
        (f"G{a:03d}{b:03d}", g) for a, b, g in zip(i.tolist(), j.tolist(), geojson, strict=True)
    ]
    return cells, rng.uniform(x0, x1, n_points), rng.uniform(y0, y1, n_points)


# -- ours ------------------------------------------------------------------------------------


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def ours(
    cells: list[tuple[str, Any]], lons: np.ndarray, lats: np.ndarray, singles: int
) -> dict[str, Any]:
    build, index = timed(lambda: GridIndex(cells).prepare())
    runs = [timed(lambda: index.locate_many(lons, lats)) for _ in range(3)]
    batch = statistics.median(t for t, _ in runs)
    xs, ys = lons[:singles].tolist(), lats[:singles].tolist()
    single, _ = timed(lambda: [index.locate(x, y) for x, y in zip(xs, ys, strict=True)])
    return {"build_s": build, "batch_pps": len(lons) / batch, "single_pps": singles / single,
            "answers": runs[0][1], "index": index}  # fmt: skip


# -- PostGIS ---------------------------------------------------------------------------------


def ensure_postgis(conn: Any) -> None:
    import psycopg

    try:
        conn.execute("CREATE EXTENSION IF NOT EXISTS postgis")
        return
    except psycopg.Error as exc:
        log(f"CREATE EXTENSION postgis failed ({exc.__class__.__name__}); installing PostGIS")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "-q", "postgresql-15-postgis-3"]
    if subprocess.run(install, env=env, stdout=sys.stderr, check=False).returncode != 0:
        subprocess.run(["apt-get", "update", "-q"], env=env, stdout=sys.stderr, check=True)
        subprocess.run(install, env=env, stdout=sys.stderr, check=True)
    conn.execute("CREATE EXTENSION IF NOT EXISTS postgis")


@contextmanager
def throwaway_database() -> Iterator[Any]:
    import psycopg

    name = f"cityops_bench_locate_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        with psycopg.connect(PG_ADMIN.rsplit("/", 1)[0] + f"/{name}", autocommit=True) as conn:
            ensure_postgis(conn)
            yield conn
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def copy_rows(conn: Any, sql: str, text: str) -> None:
    with conn.cursor() as cur, cur.copy(sql) as copy:
        copy.write(text)


def postgis(conn: Any, tag: str, cells: list[tuple[str, Any]], lons: np.ndarray, lats: np.ndarray,
            singles: int) -> dict[str, Any]:  # fmt: skip
    conn.execute("DROP TABLE IF EXISTS cells, pts, hits")
    conn.execute(
        "CREATE TABLE cells (id serial PRIMARY KEY, code text, geom geometry(Geometry, 4326))"
    )
    conn.execute(
        "CREATE TABLE pts (id integer PRIMARY KEY, lon float8, lat float8, "
        "geom geometry(Point, 4326))"
    )
    geoms = shapely.set_srid(shapely.from_geojson([json.dumps(g) for _, g in cells]), 4326)
    wkb = shapely.to_wkb(geoms, hex=True, include_srid=True)
    text = "".join(f"{code}\t{hexwkb}\n" for (code, _), hexwkb in zip(cells, wkb, strict=True))
    start = time.perf_counter()
    copy_rows(conn, "COPY cells (code, geom) FROM STDIN", text)
    conn.execute("CREATE INDEX cells_geom ON cells USING gist (geom)")
    conn.execute("ANALYZE cells")
    build = time.perf_counter() - start
    buf = io.StringIO()
    np.savetxt(
        buf,
        np.column_stack([np.arange(len(lons)), lons, lats]),
        fmt=["%d", "%.17g", "%.17g"],
        delimiter="\t",
    )
    copy_rows(conn, "COPY pts (id, lon, lat) FROM STDIN", buf.getvalue())
    conn.execute("UPDATE pts SET geom = ST_SetSRID(ST_MakePoint(lon, lat), 4326)")
    conn.execute("CREATE INDEX pts_geom ON pts USING gist (geom)")  # lets the planner pick
    conn.execute("VACUUM ANALYZE pts")  # cells outer (PostGIS then caches each prepared cell)
    conn.execute("SELECT count(*) FROM pts").fetchone()  # warm the buffer cache
    log(f"  postgis {tag}: joining {len(lons):,} points with {len(cells):,} cells …")
    query, _ = timed(lambda: conn.execute(
        "CREATE UNLOGGED TABLE hits AS SELECT pts.id, cells.code FROM pts "
        "JOIN cells ON ST_Contains(cells.geom, pts.geom)"))  # fmt: skip
    answers: list[str | None] = [None] * len(lons)
    for pid, code in conn.execute("SELECT id, min(code) FROM hits GROUP BY id"):
        answers[pid] = code
    sql = ("SELECT code FROM cells WHERE ST_Contains(geom, ST_SetSRID(ST_MakePoint(%s, %s), 4326)) "
           "ORDER BY code LIMIT 1")  # fmt: skip
    pairs = list(zip(lons[:singles].tolist(), lats[:singles].tolist(), strict=True))
    with conn.cursor() as cur:
        cur.execute(sql, pairs[0], prepare=True)
        start = time.perf_counter()
        for pair in pairs:
            cur.execute(sql, pair, prepare=True)
            cur.fetchone()
        single = time.perf_counter() - start
    return {"build_s": build, "batch_pps": len(lons) / query, "single_pps": singles / single,
            "answers": answers}  # fmt: skip


# -- the run ---------------------------------------------------------------------------------


def compare(tag: str, cells: list[tuple[str, Any]], lons: np.ndarray, lats: np.ndarray,
            singles: int, pg_singles: int, conn: Any | None) -> dict[str, Any]:  # fmt: skip
    log(f"{tag}: {len(cells):,} cells, {len(lons):,} points")
    mine = ours(cells, lons, lats, singles)
    peer = postgis(conn, tag, cells, lons, lats, pg_singles) if conn is not None else None
    name, pg = f"locate_{tag}", "postgis_st_contains"
    emit(f"{name}_batch", mine["batch_pps"], "points/s", f"{pg}_join", peer and peer["batch_pps"])
    emit(f"{name}_single", mine["single_pps"], "points/s", f"{pg}_prepared_query",
         peer and peer["single_pps"])  # fmt: skip
    emit(
        f"{name}_build", mine["build_s"], "s", "postgis_copy_gist_analyze", peer and peer["build_s"]
    )
    if peer is not None:
        same = sum(a == b for a, b in zip(mine["answers"], peer["answers"], strict=True))
        emit(f"{name}_agreement", same / len(lons), "fraction", pg, 1.0)
    return mine


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="200k points, a 200 × 125 grid")
    parser.add_argument("--no-postgis", action="store_true")
    args = parser.parse_args()
    n = 200_000 if args.quick else 1_000_000
    nx, ny = (200, 125) if args.quick else (400, 250)
    singles, pg_singles = (20_000, 1_000) if args.quick else (200_000, 5_000)

    @contextmanager
    def database() -> Iterator[Any]:
        if args.no_postgis:
            yield None
        else:
            with throwaway_database() as conn:
                yield conn

    with database() as conn:
        if (DATA / "la311").is_dir():
            cells, lons, lats, ncs = la_layer(n)
            mine = compare("la_councils", cells, lons, lats, singles, pg_singles, conn)
            first = mine["answers"][: len(ncs)]
            with_nc = [(a, nc) for a, nc in zip(first, ncs, strict=True) if nc]
            emit("locate_la_councils_agreement_with_nc_field",
                 sum(a == nc for a, nc in with_nc) / len(with_nc), "fraction",
                 "readme_expected_about", 0.989)  # fmt: skip
        else:
            log(f"{DATA / 'la311'} not found: skipping the Los Angeles layer")
        cells, lons, lats = lattice_layer(nx, ny, n)
        compare(f"grid_{len(cells) // 1000}k", cells, lons, lats, singles, pg_singles, conn)


if __name__ == "__main__":
    main()
