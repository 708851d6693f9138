"""The store's rows as Arrow: read fast, and once per version of the data.

`to_arrow(engine, store, {name: expr})` runs Ibis table expressions built on the store's own
Ibis connection (`sources._connect_store`). The SQL is the one Ibis would run
(`store.compile`); only the way the rows come back differs, and each table equals
`expr.to_pyarrow()`, types and row order included:

- SQLite: the Ibis connection's own sqlite3 cursor, a batch of rows at a time straight into
  Arrow (`pa.array` of the row tuples as structs), instead of Ibis's round trip through a
  pandas DataFrame: the 546,000 touchpoints of the 100,000-contact demo in 1.4 s, not 1.75 s.
  Not ADBC's SQLite driver, though it takes 0.9 s: it links its own copy of SQLite, and two
  copies in one process release each other's file locks (SQLite's "How To Corrupt An SQLite
  Database File", 2.2.1) — tried here, it read stale rows, then failed with "disk I/O error".
- PostgreSQL: ADBC's PostgreSQL driver (Apache Arrow), which reads the rows as binary COPY
  into Arrow columns in C (the same touchpoints in 0.8 s, not 1.2 s), with the session in
  UTC as `_connect_store` sets it for Ibis. Without the driver installed, Ibis's own read.

`remembered(engine, name, read)` keeps what `read()` returned for the store at its current
revision (truce.store.revision, which every unit of work that changes data moves), so roi, budget, credit and the brief — which each ask for the same tables several
times — and the web app, which computes every report in one process, read the store once per
change of the data. Arrow tables are immutable, so every caller can share them.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any

import pyarrow as pa
from sqlalchemy import Engine

BATCH_ROWS = 65_536
KEEP_ENTRIES = 32
KEEP_BYTES = 512 * 2**20


def to_arrow(engine: Engine, store, exprs: dict) -> dict[str, pa.Table]:
    """name → the rows of an Ibis table expression on `store` as Arrow, typed as Ibis says."""
    if engine.dialect.name == "sqlite":
        return {name: _sqlite_rows(store, expr) for name, expr in exprs.items()}
    connect = _postgres_adbc(engine) if engine.dialect.name == "postgresql" else None
    if connect is None:
        return {name: expr.to_pyarrow() for name, expr in exprs.items()}
    found = {}
    with connect() as conn, conn.cursor() as cursor:
        # Months are UTC months: EXTRACT on a timestamptz follows the session zone.
        cursor.execute("SET TIME ZONE 'UTC'")
        for name, expr in exprs.items():
            cursor.execute(store.compile(expr))
            found[name] = _typed(cursor.fetch_arrow_table(), expr.schema().to_pyarrow())
    return found


def _sqlite_rows(store, expr) -> pa.Table:
    schema = expr.schema().to_pyarrow()
    if not all(pa.types.is_integer(f.type) or pa.types.is_string(f.type) for f in schema):
        return expr.to_pyarrow()  # the reads here are integers and text; anything else as Ibis converts it
    struct = pa.struct(schema)
    cursor = store.con.execute(store.compile(expr))
    try:
        batches = [pa.RecordBatch.from_struct_array(pa.array(rows, type=struct)) for rows in _batches(cursor)]
    finally:
        cursor.close()
    return pa.Table.from_batches(batches, schema=schema)


def _batches(cursor):
    while rows := cursor.fetchmany(BATCH_ROWS):
        yield rows


def _typed(got: pa.Table, schema: pa.Schema) -> pa.Table:
    if got.column_names != schema.names:
        raise RuntimeError(f"the store returned columns {got.column_names}, expected {schema.names}")
    return pa.Table.from_arrays(
        [column.cast(field.type) for column, field in zip(got.columns, schema, strict=True)], schema=schema
    )


def _postgres_adbc(engine: Engine) -> Callable[[], Any] | None:
    try:
        import adbc_driver_postgresql.dbapi as postgresql
    except ImportError:
        return None
    uri = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    return lambda: postgresql.connect(uri)


# ---- one read per version of the data ------------------------------------------------------------


class _Memo:
    """The newest value per (store, name), tagged with the revision it was read at; least recently used go first."""

    def __init__(self, entries: int = KEEP_ENTRIES, max_bytes: int = KEEP_BYTES) -> None:
        self.entries, self.max_bytes = entries, max_bytes
        self.kept: OrderedDict[Hashable, tuple[Any, Any, int]] = OrderedDict()  # key → (revision, value, bytes)
        self.lock = threading.Lock()
        # Striped, so the locks stay few however many stores a process opens (tests open hundreds).
        self.reading = [threading.RLock() for _ in range(16)]
        self.counts = {"hit": 0, "miss": 0}

    def get(self, key: Hashable, revision) -> tuple[bool, Any]:
        with self.lock:
            found = self.kept.get(key)
            if found is None or found[0] != revision:
                return False, None
            self.kept.move_to_end(key)
            self.counts["hit"] += 1
            return True, found[1]

    def keep(self, key: Hashable, revision, value) -> None:
        size = _size(value)
        with self.lock:
            if size > self.max_bytes:
                return
            self.kept.pop(key, None)
            self.kept[key] = (revision, value, size)
            while len(self.kept) > self.entries or sum(s for _, _, s in self.kept.values()) > self.max_bytes:
                self.kept.popitem(last=False)

    def reader_lock(self, key: Hashable) -> threading.RLock:
        return self.reading[hash(key) % len(self.reading)]

    def clear(self) -> None:
        with self.lock:
            self.kept.clear()
            self.counts = {"hit": 0, "miss": 0}


_memo = _Memo()


def remembered(engine: Engine, name: Hashable, read: Callable[[], Any]) -> Any:
    """`read()`, or what it returned before for this store at this revision of its data.

    The value must not be changed by the caller (Arrow tables cannot be).
    """
    from truce.store.revision import data_revision

    if engine.url.get_backend_name() == "sqlite" and engine.url.database in (None, "", ":memory:"):
        return read()  # every in-memory store has the same URL; each read says what it can't do
    key = (store_key(engine), name)
    revision = data_revision(engine)
    hit, value = _memo.get(key, revision)
    if hit:
        return value
    # One reader per key: the web app computes several reports at once after a write.
    with _memo.reader_lock(key):
        hit, value = _memo.get(key, revision)
        if hit:
            return value
        with _memo.lock:
            _memo.counts["miss"] += 1
        value = read()
        # A write during the read may or may not be in what was read: keep it only if there was none.
        if data_revision(engine) == revision:
            _memo.keep(key, revision, value)
    return value


def store_key(engine: Engine) -> str:
    """Which database: the URL with the password, a SQLite path made absolute (tests chdir)."""
    url = engine.url
    if url.get_backend_name() == "sqlite" and url.database:  # an in-memory database has no path
        url = url.set(database=os.path.abspath(url.database))
    return url.render_as_string(hide_password=False)


def forget() -> None:
    """Drop everything remembered (tests; nothing else needs it: a write changes the revision)."""
    _memo.clear()


def memo_counts() -> dict[str, int]:
    return dict(_memo.counts)


def _size(value) -> int:
    if isinstance(value, pa.Table):
        return value.nbytes
    if isinstance(value, dict):
        return sum(_size(v) for v in value.values())
    return 0
