"""The analytical copy: the store's main tables as a DuckDB file that follows the data revision.

Reports that read many rows (the funnel, attribution and everything built on it) run their
Ibis expressions on this copy instead of pulling the rows out of SQLite or PostgreSQL into
Python: DuckDB scans the columns it needs, in C, and only the small results travel. A fresh
process — every CLI report — opens the file and finds it current, so a cold report costs a
columnar scan, not a read of the whole store.

Where it lives: beside a SQLite store (`truce.db` → `truce.db.columns.duckdb`); for a
PostgreSQL store under `$TRUCE_COPY_DIR`, else `~/.cache/truce`, named by a hash of the URL
(never the URL itself: it may hold a password). `TRUCE_COPY=off` turns it off; the reports
then read the store as before, with the same answers.

When it is current: the file records the store's data revision and the moment that revision
was made (truce.store.revision). A unit of work that changes data moves both, so a copy that
carries both is the store's data at that revision; a store rebuilt from scratch that reaches
the same revision number has another moment. When they differ, the copy is rebuilt whole
from the store (one columnar read per table, with the same types for SQLite and PostgreSQL)
into a new file that replaces the old one in one rename: a process reading the old file
keeps reading it, the next one opens the new. Two processes that find it stale at once
rebuild it once (a lock file); one that cannot take the lock within a moment reads the
store instead of waiting (busy, not broken).

What it holds: the tables and columns of COPIED — every column but secrets (a user's
password hash never leaves the store). The file is created readable by its owner only, like
the SQLite store, since it holds the same people's names and e-mail addresses.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import hashlib
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pyarrow as pa
from sqlalchemy import Boolean, Date, Engine, Integer, Table, select

from truce.envvars import switch_from
from truce.store.models import Base, StoreRevision
from truce.store.types import Money, Rate, UTCDateTime

# The tables reports read by the hundred thousand, and the small ones they join to.
COPIED = (
    "accounts",
    "contacts",
    "campaigns",
    "touchpoints",
    "opportunities",
    "stage_changes",
    "handoffs",
    "sla_events",
    "users",
)
SECRET_COLUMNS = {"users": frozenset({"password_hash"})}
# Moves when COPIED, the columns or their types change, so a newer truce never reads an older copy.
COPY_FORMAT = 1
LOCK_WAIT_SECONDS = 2.0
READ_BATCH_ROWS = 65_536


class CopyUnavailable(Exception):
    """The copy cannot be used here (turned off, an in-memory store, or another process is rebuilding it)."""


def copy_folder(engine: Engine) -> Path | None:
    """Where this store's copies live, or None when it has none (turned off, or an in-memory SQLite)."""
    if not switch_from("TRUCE_COPY", default=True):
        return None
    url = engine.url
    if url.get_backend_name() == "sqlite":
        if url.database in (None, "", ":memory:"):
            return None
        return Path(os.path.abspath(url.database + ".columns"))
    from truce.analytics.store_read import store_key

    folder = Path(os.environ.get("TRUCE_COPY_DIR") or Path.home() / ".cache" / "truce")
    digest = hashlib.sha256(store_key(engine).encode()).hexdigest()[:20]
    return folder / f"{url.get_backend_name()}-{digest}.columns"


def copy_path(engine: Engine, stamp: tuple[int, str] | None = None) -> Path | None:
    """The file of the copy at `stamp` (default: the store's present), or None without copies.

    The name carries the stamp: DuckDB keeps one open database per path in a process, so a
    copy rebuilt under the old name would be read as the old one by a process that had it open.
    """
    folder = copy_folder(engine)
    if folder is None:
        return None
    return _file_in(folder, stamp or store_stamp(engine))


def _file_in(folder: Path, stamp: tuple[int, str]) -> Path:
    revision, made_at = stamp
    return folder / f"r{revision}-{hashlib.sha256(made_at.encode()).hexdigest()[:12]}.duckdb"


def open_copy(engine: Engine) -> duckdb.DuckDBPyConnection:
    """A read-only DuckDB connection on a copy that holds the store's data as it is now.

    Raises CopyUnavailable when there is none to be had; the caller then reads the store.
    """
    folder = copy_folder(engine)
    if folder is None:
        raise CopyUnavailable("no analytical copy for this store")
    stamp = store_stamp(engine)
    path = _file_in(folder, stamp)
    con = _open_if_current(path, stamp)
    if con is not None:
        return con
    with _rebuild_lock(folder):
        con = _open_if_current(path, stamp)  # another process may have rebuilt it while we waited
        if con is not None:
            return con
        made = rebuild(engine, folder)
    con = _open_if_current(_file_in(folder, made), made)
    if con is None:
        raise CopyUnavailable("the analytical copy could not be opened after its rebuild")
    return con


def store_stamp(engine: Engine) -> tuple[int, str]:
    """What the copy must carry to be current: (data revision, the moment it was made | the schema's
    migration | the copy's own format). A migration adds columns without moving the data revision."""
    with engine.connect() as conn:
        return _stamp_in(conn)


def _stamp_in(conn) -> tuple[int, str]:
    row = conn.execute(
        select(StoreRevision.revision, StoreRevision.changed_at).where(StoreRevision.id == 1)
    ).one_or_none()
    schema = conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar_one_or_none()
    if row is None:
        return (0, f"|{schema}|{COPY_FORMAT}")
    return (int(row[0]), f"{_utc_text(row[1])}|{schema}|{COPY_FORMAT}")


def _open_if_current(path: Path, stamp: tuple[int, str]) -> duckdb.DuckDBPyConnection | None:
    if not path.is_file():
        return None
    try:
        con = duckdb.connect(str(path), read_only=True)
    except duckdb.Error:
        return None  # half-written by a process that died, or written by another DuckDB: rebuild it
    try:
        found = con.execute("SELECT revision, changed_at FROM truce_copy").fetchone()
    except duckdb.Error:
        found = None
    if found is None or (int(found[0]), found[1]) != stamp:
        con.close()
        return None
    _session(con)
    return con


def _session(con: duckdb.DuckDBPyConnection) -> None:
    # Months and days are UTC ones, as the store's own SQL reads them.
    con.execute("SET TimeZone = 'UTC'")
    # Its progress bar would write over ours; ask first (see sources.duckdb_connection).
    if con.execute("SELECT current_setting('enable_progress_bar')").fetchall()[0][0]:
        con.execute("SET enable_progress_bar = false")


@contextlib.contextmanager
def _rebuild_lock(folder: Path) -> Iterator[None]:
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    with open(folder / "rebuild.lock", "a+") as lock:
        deadline = time.monotonic() + LOCK_WAIT_SECONDS
        while True:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise CopyUnavailable("another process is rebuilding the analytical copy") from None
                time.sleep(0.05)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def rebuild(engine: Engine, folder: Path) -> tuple[int, str]:
    """Write the copy of the store as it is now into `folder`, drop the older ones, return its stamp.

    A process reading an older copy keeps its open file; only the name goes.
    """
    fd, temporary = tempfile.mkstemp(prefix="rebuild-", suffix=".tmp", dir=folder)
    os.close(fd)
    os.unlink(temporary)  # DuckDB makes the file itself; mkstemp only chose a private, unused name
    try:
        with _store_snapshot(engine) as read:
            stamp = read.stamp
            con = duckdb.connect(temporary)
            try:
                _session(con)
                for name in COPIED:
                    _copy_table(con, name, read.table(name))
                con.execute("CREATE TABLE truce_copy (revision BIGINT, changed_at VARCHAR, copied_at TIMESTAMPTZ)")
                con.execute("INSERT INTO truce_copy VALUES (?, ?, now())", [stamp[0], stamp[1]])
                con.execute("CHECKPOINT")
            finally:
                con.close()
        os.chmod(temporary, 0o600)
        path = _file_in(folder, stamp)
        os.replace(temporary, path)
    finally:
        for leftover in (temporary, temporary + ".wal"):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(leftover)
    for older in folder.glob("r*.duckdb"):
        if older != path:
            with contextlib.suppress(FileNotFoundError):
                older.unlink()
    for older in folder.glob("r*.parquet"):
        shutil.rmtree(older, ignore_errors=True)  # the files of an older copy (parquet_of_copy)
    return stamp


def _copy_table(con: duckdb.DuckDBPyConnection, name: str, rows: pa.Table) -> None:
    table = Base.metadata.tables[name]
    columns = _copied_columns(table)
    casts = ", ".join(f'CAST("{c.name}" AS {_duckdb_type(c)}) AS "{c.name}"' for c in columns)
    con.register("incoming", rows)
    try:
        con.execute(f'CREATE TABLE "{name}" AS SELECT {casts} FROM incoming')
    finally:
        con.unregister("incoming")


def _copied_columns(table: Table) -> list:
    secret = SECRET_COLUMNS.get(table.name, frozenset())
    return [c for c in table.columns if c.name not in secret]


def _duckdb_type(column) -> str:
    kind = column.type
    if isinstance(kind, UTCDateTime):
        return "TIMESTAMPTZ"
    if isinstance(kind, Money):
        return "DECIMAL(18, 2)"
    if isinstance(kind, Rate):
        return "DECIMAL(7, 4)"
    if isinstance(kind, Boolean):
        return "BOOLEAN"
    if isinstance(kind, Date):
        return "DATE"
    if isinstance(kind, Integer):  # BigInteger too
        return "BIGINT"
    return "VARCHAR"


class _Snapshot:
    """Reads every copied table of a SQLite store from one consistent view (one read transaction)."""

    def __init__(self, engine: Engine, conn) -> None:
        self.engine, self.conn = engine, conn
        self.stamp = _stamp_in(conn)

    def table(self, name: str) -> pa.Table:
        return _sqlite_columns(self.conn, name, _copied_columns(Base.metadata.tables[name]))


@contextlib.contextmanager
def _store_snapshot(engine: Engine) -> Iterator[_Snapshot | _AdbcSnapshot]:
    if engine.dialect.name == "postgresql":
        with _postgres_snapshot(engine) as snapshot:
            yield snapshot
        return
    with engine.connect() as conn:
        # In WAL mode the first read fixes what this transaction sees until it ends.
        conn.exec_driver_sql("BEGIN")
        try:
            yield _Snapshot(engine, conn)
        finally:
            conn.rollback()


@contextlib.contextmanager
def _postgres_snapshot(engine: Engine) -> Iterator[_Snapshot | _AdbcSnapshot]:
    """One REPEATABLE READ transaction for the stamp and every table, through ADBC's PostgreSQL
    driver (binary COPY straight into Arrow columns)."""
    from truce.analytics.store_read import _postgres_adbc

    connect = _postgres_adbc(engine)
    if connect is None:  # a base dependency; without it the reports read the store itself
        raise CopyUnavailable("the ADBC PostgreSQL driver is not installed")
    with connect() as adbc, adbc.cursor() as cursor:
        cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        cursor.execute("SET LOCAL TIME ZONE 'UTC'")
        try:
            yield _AdbcSnapshot(cursor)
        finally:
            adbc.rollback()


class _AdbcSnapshot:
    """_Snapshot's reads on an ADBC cursor: every value as text, typed by DuckDB's CAST after."""

    def __init__(self, cursor) -> None:
        self.cursor = cursor
        cursor.execute("SELECT revision, changed_at FROM store_revision WHERE id = 1")
        row = cursor.fetchone()
        cursor.execute("SELECT version_num FROM alembic_version")
        schema = (cursor.fetchone() or [None])[0]
        made = "" if row is None else _utc_text(row[1])
        self.stamp = (0 if row is None else int(row[0]), f"{made}|{schema}|{COPY_FORMAT}")

    def table(self, name: str) -> pa.Table:
        columns = _copied_columns(Base.metadata.tables[name])
        self.cursor.execute(f'SELECT {", ".join(f"{_q(c.name)}::text" for c in columns)} FROM {_q(name)}')
        return self.cursor.fetch_arrow_table()


def _utc_text(moment) -> str:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(dt.UTC).isoformat()


def _q(name: str) -> str:
    return f'"{name}"'


def _sqlite_columns(conn, name: str, columns: list) -> pa.Table:
    """SQLite's rows as Arrow: integers as integers, everything else as the text SQLite holds.

    SQLite keeps timestamps, dates and decimals as text (truce.store.types); DuckDB reads that
    text into typed columns in one CAST (_copy_table), which is faster than Python parsing it.
    """
    integer = [isinstance(c.type, Integer | Boolean) for c in columns]
    selected = ", ".join(f'"{c.name}"' if whole else f'CAST("{c.name}" AS TEXT)' for c, whole in zip(columns, integer, strict=True))
    schema = pa.schema([(c.name, pa.int64() if whole else pa.string()) for c, whole in zip(columns, integer, strict=True)])
    struct = pa.struct(schema)
    cursor = conn.connection.driver_connection.execute(f'SELECT {selected} FROM "{name}"')
    try:
        batches = []
        while rows := cursor.fetchmany(READ_BATCH_ROWS):
            batches.append(pa.RecordBatch.from_struct_array(pa.array(rows, type=struct)))
    finally:
        cursor.close()
    return pa.Table.from_batches(batches, schema=schema)


def parquet_of_copy(engine: Engine) -> Path | None:
    """The current copy's tables as Parquet files, `<table>.parquet` in one folder named like the
    copy, or None when there is no copy to be had.

    For engines that read files rather than a DuckDB database: Spark's executors read them
    where they lie (on a cluster, put the copies on storage every executor sees with
    $TRUCE_COPY_DIR). Written once per copy, into a private folder renamed into place, and
    removed with the copy when the next one replaces it.
    """
    folder = copy_folder(engine)
    if folder is None:
        return None
    try:
        con = open_copy(engine)
    except CopyUnavailable:
        return None
    try:
        # open_copy checked this row: a copy without it is never opened.
        revision, made_at = con.execute("SELECT revision, changed_at FROM truce_copy").fetchone() or (0, "")
        target = _file_in(folder, (int(revision), made_at)).with_suffix(".parquet")
        if not target.is_dir():
            with _rebuild_lock(folder):
                if not target.is_dir():
                    _write_parquet(con, target)
    finally:
        con.close()
    return target


def _write_parquet(con: duckdb.DuckDBPyConnection, target: Path) -> None:
    writing = Path(tempfile.mkdtemp(prefix="parquet-", dir=target.parent))
    try:
        for name in COPIED:
            file = str(writing / f"{name}.parquet").replace("'", "''")
            con.execute(f"COPY \"{name}\" TO '{file}' (FORMAT parquet)")
        os.replace(writing, target)
    finally:
        shutil.rmtree(writing, ignore_errors=True)


def ibis_on_copy(engine: Engine):
    """An Ibis DuckDB backend on the current copy, or None when the store must be read instead."""
    import ibis

    try:
        con = open_copy(engine)
    except CopyUnavailable:
        return None
    return ibis.duckdb.from_connection(con)


def floor_seconds(at):
    """A TIMESTAMPTZ as whole seconds since 1970 UTC, cut as the store's own SQL cuts it."""
    return at.epoch_seconds().floor().cast("int64")
