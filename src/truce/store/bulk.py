"""Loading whole Arrow tables into the store fast: COPY on PostgreSQL, executemany on SQLite.

Used by the demo company and the benchmarks, where millions of generated rows go in at once.
Values are converted column by column in Arrow, not row by row in Python, and are stored
exactly as the SQLAlchemy column types would store them (UTC timestamps, Decimal money).
"""

from __future__ import annotations

import datetime as dt
import io
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pyarrow.csv as pa_csv
from sqlalchemy import JSON, Boolean, Connection, Date, Integer, text

from truce.store.models import Base
from truce.store.types import Money, Rate, UTCDateTime, to_money
from truce.store.work import wrote

RATE_STEP = Decimal("0.0001")

BATCH_ROWS = 50_000
# SQLite's page cache during a bulk load, in KiB (a negative cache_size counts KiB). The default
# 2 MiB cannot hold the B-trees of a table's unique indexes, so every insert re-reads their pages;
# 256 MiB halves a million-row load. Memory only: durability is untouched.
BULK_CACHE_KIB = 262_144


def _sqlite_column(column: pa.ChunkedArray) -> list:
    kind = column.type
    if pa.types.is_timestamp(kind):
        return _sqlite_text(column).to_pylist()
    if pa.types.is_decimal(kind):
        return [None if v is None else str(v) for v in column.to_pylist()]
    if pa.types.is_date(kind):
        return [None if v is None else v.isoformat() for v in column.to_pylist()]
    return column.to_pylist()


def _sqlite_text(times: pa.ChunkedArray | pa.Array) -> pa.ChunkedArray | pa.Array:
    """SQLAlchemy's SQLite DateTime text, in UTC (UTCDateTime strips the zone there): 2026-11-20 09:30:00.000000.

    A cast does in C what strftime did through a time-zone library, about 20 times faster.
    """
    return times.cast(pa.timestamp("us", tz="UTC")).cast(pa.timestamp("us")).cast(pa.string())


def _driver(conn: Connection) -> Any:
    """The DB-API connection under `conn`, for executemany and COPY past SQLAlchemy."""
    raw = conn.connection.driver_connection
    if raw is None:  # only after the pool has invalidated it; a live Connection always has one
        raise RuntimeError("the database connection is closed")
    return raw


def _insert_sqlite(conn: Connection, name: str, batch: pa.Table) -> None:
    columns = batch.column_names
    values = zip(*(_sqlite_column(batch.column(c)) for c in columns), strict=True)
    placeholders = ", ".join("?" for _ in columns)
    statement = f"INSERT INTO {name} ({', '.join(columns)}) VALUES ({placeholders})"
    _driver(conn).executemany(statement, values)


def _copy_postgres(conn: Connection, name: str, batch: pa.Table) -> None:
    """COPY the batch as CSV that Arrow writes in C: no Python object per value.

    Arrow quotes every text value and leaves nulls as bare empty fields, so PostgreSQL reads
    "" as an empty text and nothing as NULL; timestamps carry their zone (Z), money its scale.
    """
    _copy_postgres_raw(_driver(conn), name, batch)


def _copy_postgres_raw(raw, name: str, batch: pa.Table) -> None:
    text_csv = io.BytesIO()
    pa_csv.write_csv(batch, text_csv, pa_csv.WriteOptions(include_header=False))
    with raw.cursor().copy(f"COPY {name} ({', '.join(batch.column_names)}) FROM STDIN (FORMAT csv)") as copy:
        copy.write(text_csv.getbuffer())


@contextmanager
def roomy_cache(conn: Connection) -> Iterator[None]:
    """A large SQLite page cache for the length of a bulk write, then the connection's own again."""
    if conn.dialect.name != "sqlite":
        yield
        return
    before = conn.exec_driver_sql("PRAGMA cache_size").scalar_one()
    conn.exec_driver_sql(f"PRAGMA cache_size=-{BULK_CACHE_KIB}")
    try:
        yield
    finally:
        conn.exec_driver_sql(f"PRAGMA cache_size={int(before)}")


# Indexes that are no constraint: dropped for a load into empty tables and built again after it.
_SQLITE_INDEXES = "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL AND tbl_name = :table"
_POSTGRES_INDEXES = (
    "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema() AND tablename = :table "
    "AND indexname NOT IN (SELECT conname FROM pg_constraint)"
)


@contextmanager
def indexes_built_after(conn: Connection, tables: list[str]) -> Iterator[None]:
    """Drop the tables' plain indexes, and create them again once the block has loaded the rows.

    One sorted build of an index is cheaper than a million random inserts into it. Only for
    tables the same transaction filled from empty (the demo's fresh store): the indexes come
    back from their own definitions before it commits, and a failure rolls the drop back too.
    """
    listing = _POSTGRES_INDEXES if conn.dialect.name == "postgresql" else _SQLITE_INDEXES
    definitions = [tuple(row) for name in tables for row in conn.execute(text(listing), {"table": name})]
    for index, _ in definitions:
        conn.exec_driver_sql(f'DROP INDEX "{index}"')
    yield
    with roomy_cache(conn):
        for _, definition in definitions:
            conn.exec_driver_sql(definition)


def load(conn: Connection, name: str, table: pa.Table, progress: Callable[[int], None] | None = None) -> None:
    """Append `table` to store table `name`; its columns must be store column names."""
    known = set(Base.metadata.tables[name].columns.keys())
    unknown = set(table.column_names) - known
    if unknown:
        raise ValueError(f"{name} has no columns {sorted(unknown)}")
    write = _copy_postgres if conn.dialect.name == "postgresql" else _insert_sqlite
    wrote(conn, name)  # past SQLAlchemy, where the unit of work's listener cannot see it
    with roomy_cache(conn):
        for start in range(0, table.num_rows, BATCH_ROWS):
            batch = table.slice(start, BATCH_ROWS)
            write(conn, name, batch)
            if progress:
                progress(batch.num_rows)
    if conn.dialect.name == "postgresql" and "id" in table.column_names and table.num_rows:
        # Rows arrived with their ids; move the sequence past them so later inserts do not collide.
        conn.execute(text(f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), (SELECT max(id) FROM {name}))"))


def _sqlite_time(value: dt.datetime) -> str:
    # The text form SQLAlchemy's SQLite DateTime writes and reads, in UTC.
    if value.tzinfo is not dt.UTC:
        if value.tzinfo is None:
            raise ValueError(f"timestamp {value!r} has no time zone")
        value = value.astimezone(dt.UTC)
    return value.replace(tzinfo=None).isoformat(" ", "microseconds")


def _sqlite_times(values: list) -> list:
    """A whole column of aware datetimes as SQLite text, formatted by Arrow in one pass."""
    if any(v is not None and v.tzinfo is None for v in values):
        raise ValueError("a timestamp has no time zone")
    return _sqlite_text(pa.array(values, pa.timestamp("us", tz="UTC"))).to_pylist()


def _postgres_time(value: dt.datetime) -> dt.datetime:
    if value.tzinfo is None:
        raise ValueError(f"timestamp {value!r} has no time zone")
    return value


def _converter(column_type, dialect: str):
    """How one column's Python values become driver values, as the column type would bind them."""
    sqlite = dialect == "sqlite"
    if isinstance(column_type, UTCDateTime):
        return _sqlite_time if sqlite else _postgres_time
    if isinstance(column_type, Money):
        return (lambda v: str(to_money(v))) if sqlite else to_money
    if isinstance(column_type, Rate):
        return (lambda v: str(Decimal(v).quantize(RATE_STEP))) if sqlite else (lambda v: Decimal(v).quantize(RATE_STEP))
    if isinstance(column_type, Date) and sqlite:
        return dt.date.isoformat
    if isinstance(column_type, Boolean) and sqlite:
        return int
    if isinstance(column_type, JSON):
        return json.dumps
    return None


def _convert_all(values: list, convert) -> list:
    # Runs of one object (an import's own timestamp on every row) are converted once.
    out, previous, previous_out = [], object(), None
    for value in values:
        if value is not previous:
            previous, previous_out = value, None if value is None else convert(value)
        out.append(previous_out)
    return out


def insert_columns(conn: Connection, table, columns: dict[str, list]) -> None:
    """Insert rows given as equal-length columns, at driver speed (executemany or COPY)."""
    names = list(columns)
    if not names or not columns[names[0]]:
        return
    converted = []
    for name in names:
        kind, values = table.c[name].type, columns[name]
        if isinstance(kind, UTCDateTime) and conn.dialect.name == "sqlite":
            converted.append(_sqlite_times(values))
            continue
        convert = _converter(kind, conn.dialect.name)
        converted.append(values if convert is None else _convert_all(values, convert))
    wrote(conn, table.name)  # past SQLAlchemy, where the unit of work's listener cannot see it
    raw = _driver(conn)
    listed = ", ".join(names)
    if conn.dialect.name == "postgresql":
        _copy_columns(raw, table, names, converted)
        return
    placeholders = ", ".join("?" for _ in names)
    raw.executemany(f"INSERT INTO {table.name} ({listed}) VALUES ({placeholders})", zip(*converted, strict=True))


def _arrow_type(column_type) -> pa.DataType:
    """How a column's driver values travel as CSV: numbers and times typed, the rest as their text."""
    for sql_type, arrow in ((UTCDateTime, pa.timestamp("us", tz="UTC")), (Boolean, pa.bool_()), (Integer, pa.int64())):
        if isinstance(column_type, sql_type):
            return arrow
    return pa.date32() if isinstance(column_type, Date) else pa.string()


def _as_arrow(values: list, kind: pa.DataType) -> pa.Array:
    if kind == pa.string():  # money and rates as Decimal text, JSON already dumped
        return pa.array([v if v is None or isinstance(v, str) else str(v) for v in values], kind)
    return pa.array(values, kind)


def _copy_columns(raw, table, names: list[str], converted: list[list]) -> None:
    """COPY the rows as CSV that Arrow writes from whole columns; row by row only for values Arrow refuses."""
    listed = ", ".join(names)
    try:
        batch = pa.table([_as_arrow(v, _arrow_type(table.c[n].type)) for n, v in zip(names, converted, strict=True)], names)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
        with raw.cursor().copy(f"COPY {table.name} ({listed}) FROM STDIN") as copy:
            for row in zip(*converted, strict=True):
                copy.write_row(row)
        return
    _copy_postgres_raw(raw, table.name, batch)
