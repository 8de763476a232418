"""Engines, sessions and migrations for SQLite (WAL) and PostgreSQL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event, inspect, make_url
from sqlalchemy.orm import Session, sessionmaker

from cityops.adapters.db import checkpoint

MIGRATIONS = Path(__file__).parent / "migrations"


def _json_text(value: Any) -> str:
    # orjson: several times faster than json.dumps on the intake path (JSON columns of every
    # case and event); non-string keys become strings, as json.dumps makes them.
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()


# Both dialects store JSON columns through these.
_JSON = {"json_serializer": _json_text, "json_deserializer": orjson.loads}


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        path = make_url(url).database or ""
        on_file = bool(path) and path != ":memory:" and not path.startswith("file:")
        if on_file:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url, connect_args={"check_same_thread": False, "timeout": 30}, **_JSON
        )
        # A file database checkpoints its WAL from a thread of its own (adapters/db/
        # checkpoint.py), not on whichever commit finds the log full.
        checkpointer = checkpoint.attach(engine, path) if on_file else None

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            if checkpointer is not None:
                cur.execute("PRAGMA wal_autocheckpoint=0")
                cur.execute("PRAGMA journal_size_limit=67108864")  # a restarted log: ≤ 64 MiB
            cur.close()
            # pysqlite's own transaction handling must be off for our BEGIN below to count.
            dbapi_conn.isolation_level = None


        @event.listens_for(engine, "begin")
        def _begin(conn: Any) -> None:
            # Writers take the lock up front so two never deadlock upgrading a read lock;
            # readers begin deferred and, under WAL, never wait for a writer.
            write = conn.get_execution_options().get("cityops_write", False)
            conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=10, **_JSON)


def session_factory(engine: Engine, *, write: bool) -> sessionmaker[Session]:
    """Sessions for writes (SQLite: BEGIN IMMEDIATE) or for reads (deferred)."""
    bind = engine.execution_options(cityops_write=True) if write else engine
    return sessionmaker(bind, expire_on_commit=False)


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest revision (idempotent)."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")


def is_initialised(engine: Engine) -> bool:
    return inspect(engine).has_table("cases")
