"""Engines, sessions and migrations for SQLite (WAL) and PostgreSQL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event, inspect
from sqlalchemy.orm import Session, sessionmaker

MIGRATIONS = Path(__file__).parent / "migrations"


def _json_text(value: Any) -> str:
    # orjson: several times faster than json.dumps on the intake path (JSON columns of every
    # case and event); non-string keys become strings, as json.dumps makes them.
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()


# Both dialects store JSON columns through these.
_JSON = {"json_serializer": _json_text, "json_deserializer": orjson.loads}


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:" and not path.startswith("file:"):
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url, connect_args={"check_same_thread": False, "timeout": 30}, **_JSON
        )

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
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
