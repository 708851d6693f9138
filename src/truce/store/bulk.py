"""Loading whole Arrow tables into the store fast: COPY on PostgreSQL, executemany on SQLite.

Used by the demo company and the benchmarks, where millions of generated rows go in at once.
Values are converted column by column in Arrow, not row by row in Python, and are stored
exactly as the SQLAlchemy column types would store them (UTC timestamps, Decimal money).
"""

from __future__ import annotations

from collections.abc import Callable

import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import Connection, text

from truce.store.models import Base

BATCH_ROWS = 50_000


def _sqlite_column(column: pa.ChunkedArray) -> list:
    kind = column.type
    if pa.types.is_timestamp(kind):
        # SQLAlchemy's SQLite DateTime format, in UTC (UTCDateTime strips the zone there).
        return pc.strftime(column, "%Y-%m-%d %H:%M:%S").to_pylist()
    if pa.types.is_decimal(kind):
        return [None if v is None else str(v) for v in column.to_pylist()]
    if pa.types.is_date(kind):
        return [None if v is None else v.isoformat() for v in column.to_pylist()]
    return column.to_pylist()


def _insert_sqlite(conn: Connection, name: str, batch: pa.Table) -> None:
    columns = batch.column_names
    values = zip(*(_sqlite_column(batch.column(c)) for c in columns), strict=True)
    placeholders = ", ".join("?" for _ in columns)
    statement = f"INSERT INTO {name} ({', '.join(columns)}) VALUES ({placeholders})"
    conn.connection.driver_connection.executemany(statement, values)


def _copy_postgres(conn: Connection, name: str, batch: pa.Table) -> None:
    columns = batch.column_names
    raw = conn.connection.driver_connection
    with raw.cursor().copy(f"COPY {name} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in zip(*(batch.column(c).to_pylist() for c in columns), strict=True):
            copy.write_row(row)


def load(conn: Connection, name: str, table: pa.Table, progress: Callable[[int], None] | None = None) -> None:
    """Append `table` to store table `name`; its columns must be store column names."""
    known = set(Base.metadata.tables[name].columns.keys())
    unknown = set(table.column_names) - known
    if unknown:
        raise ValueError(f"{name} has no columns {sorted(unknown)}")
    write = _copy_postgres if conn.dialect.name == "postgresql" else _insert_sqlite
    for start in range(0, table.num_rows, BATCH_ROWS):
        batch = table.slice(start, BATCH_ROWS)
        write(conn, name, batch)
        if progress:
            progress(batch.num_rows)
    if conn.dialect.name == "postgresql" and "id" in table.column_names and table.num_rows:
        # Rows arrived with their ids; move the sequence past them so later inserts do not collide.
        conn.execute(text(f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), (SELECT max(id) FROM {name}))"))
