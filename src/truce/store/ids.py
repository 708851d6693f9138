"""Primary keys reserved ahead of a bulk insert, so thousands of rows go in as one executemany
without RETURNING (which SQLite answers one row per statement)."""

from __future__ import annotations

from sqlalchemy import Connection, text


def reserve_ids(conn: Connection, table, count: int) -> list[int]:
    """New primary keys for `count` rows, safe against concurrent writers.

    PostgreSQL hands out sequence values atomically. SQLite allows one writer at a time, so
    once this transaction holds the write lock, ids above the current maximum are ours.
    """
    if count == 0:
        return []
    name = table.name
    if conn.dialect.name == "postgresql":
        query = text(f"SELECT nextval(pg_get_serial_sequence('{name}', 'id')) FROM generate_series(1, :n)")
        return [row[0] for row in conn.execute(query, {"n": count})]
    # A write that touches nothing still takes SQLite's write lock for this transaction.
    conn.execute(text(f"UPDATE {name} SET id = id WHERE 0"))
    start = conn.execute(text(f"SELECT coalesce(max(id), 0) FROM {name}")).scalar_one() + 1
    return list(range(start, start + count))
