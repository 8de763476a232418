"""What the benchmarks share: throwaway databases and the JSON line they print."""

from __future__ import annotations

import json
import tempfile
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"


@contextmanager
def sqlite_urls() -> Iterator[Callable[[], str]]:
    """A factory of fresh SQLite database URLs in a temporary folder."""
    with tempfile.TemporaryDirectory() as tmp:
        counter = iter(range(10_000))
        yield lambda: f"sqlite:///{tmp}/bench{next(counter)}.db"


@contextmanager
def postgres_urls() -> Iterator[Callable[[], str]]:
    """A factory of fresh PostgreSQL databases, all dropped at the end."""
    import psycopg

    created: list[str] = []

    def fresh() -> str:
        name = f"cityops_bench_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{name}"')
        created.append(name)
        return f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"

    try:
        yield fresh
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
            for name in created:
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def emit(name: str, value: float, unit: str, peer: str, peer_value: float, **extra: object) -> None:
    """One result: the measured value beside its peer (a limit, a goal or a rival) and the ratio."""
    line = {"name": name, "value": round(value, 1), "unit": unit, "peer": peer,
            "peer_value": round(peer_value, 1),
            "ratio": round(value / peer_value, 4) if peer_value else None,
            **extra}  # fmt: skip
    print(json.dumps(line, ensure_ascii=False), flush=True)
