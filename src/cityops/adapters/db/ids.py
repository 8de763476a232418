"""Allocate primary keys before inserting, so rows can be written with one multi-row INSERT."""

from __future__ import annotations

from functools import cache

from sqlalchemy import Select, Table, func, select, text
from sqlalchemy.orm import Session


@cache
def _max_id(table: Table) -> Select[tuple[int]]:
    return select(func.coalesce(func.max(table.c.id), 0))


def allocate_ids(session: Session, table: Table, n: int) -> list[int]:
    """``n`` fresh ids for ``table`` inside the caller's write transaction."""
    if n <= 0:
        return []
    conn = session.connection()
    if conn.dialect.name == "postgresql":
        sequence = conn.scalar(
            text("SELECT pg_get_serial_sequence(:table, 'id')"), {"table": table.name}
        )
        ids = conn.scalars(
            text("SELECT nextval(:seq) FROM generate_series(1, :n)"), {"seq": sequence, "n": n}
        )
        return sorted(int(i) for i in ids)
    # SQLite: write sessions begin IMMEDIATE, so no other writer can take these ids meanwhile.
    start = int(conn.scalar(_max_id(table)) or 0)
    return list(range(start + 1, start + 1 + n))
