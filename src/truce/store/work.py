"""One way to write to the store: the unit of work.

Every write — by any face, service, import or job — goes through `unit_of_work(engine, actor,
origin)`:

- one transaction, committed only when the block finishes (an exception rolls everything back);
  on SQLite it starts with BEGIN IMMEDIATE, so a busy store is waited for before anything is
  read or written, never half-way through;
- the audit entries it records (`record`, `record_many`) carry its actor and its clock;
- it moves the **data revision** when, and only when, a data table changed. Log-ins, a token's
  last use and session writes do not move it, so the report caches keyed on it (truce.web.
  report_cache, truce.analytics.store_read) keep their answers across them;
- a data table written with no audit entry beside it is refused (UnauditedWrite), and a write made
  outside any unit of work is refused too (WriteOutsideWork): a listener on every engine that
  truce.store.db.connect makes watches the statements;
- a store that stays busy for `wait` seconds raises StoreBusy with nothing written; the faces turn
  it into "busy, retry" (503 with Retry-After, a page that keeps the form, one line in the CLI).

Long writers (imports) commit in batches and call `make_way` between them, so that interactive
writers waiting for SQLite's one write lock get it before the next batch (see `make_way`).
"""

from __future__ import annotations

import datetime as dt
import fcntl
import os
import re
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import Connection, Engine, insert, update
from sqlalchemy import exc as sa_exc

from truce.envvars import seconds_from
from truce.store.errors import StoreBusy, UnauditedWrite, WriteOutsideWork
from truce.store.models import AuditEntry, Base, StoreRevision

KEY = "truce_work"
# Who may be logged in or holds a token is not data a report shows: writes here keep the revision.
ACCESS_TABLES = frozenset({"web_sessions", "api_tokens", "login_throttles"})
# The record of who wrote what, and of each import run: a re-import that changed nothing still
# leaves its run on record, and must not throw every computed report away.
BOOKKEEPING_TABLES = frozenset({"audit_log", "store_revision", "import_runs"})
# Messages owed and their delivery, and the scheduler's own records: no report reads them, and a
# job that only tells people something (or only notes that it ran) must not empty every cache.
# A change that causes a message still moves the revision through its own tables.
OPERATIONS_TABLES = frozenset(
    {
        "outbox", "deliveries", "notify_channels", "notification_preferences", "job_runs",
        # A connector's own records (connections, cursors, runs, rejects, write-backs, webhook receipts):
        # the records a sync brings in move the revision through their own tables.
        "crm_connections", "crm_sync_cursors", "crm_sync_runs", "crm_sync_rejects", "crm_writes", "webhook_receipts",
        # The funnel config's versions: the rules reports count by, not data. Caches key on the
        # version in force as well as the revision, and the analytical copy holds no config.
        "funnel_config_versions",
    }
)  # fmt: skip
# Seconds a write waits for a busy store before giving up; TRUCE_BUSY_TIMEOUT_SECONDS overrides.
DEFAULT_WAIT = 8.0
ORIGINS = ("cli", "api", "web", "import", "demo", "job", "rule", "system", "test", "sync", "webhook")

_DML = re.compile(r"^\s*(?:INSERT\s+(?:OR\s+\w+\s+)?INTO|REPLACE\s+INTO|UPDATE|DELETE\s+FROM)\s+\"?(\w+)", re.I)


def busy_wait_seconds() -> float:
    return seconds_from("TRUCE_BUSY_TIMEOUT_SECONDS", DEFAULT_WAIT, 0, 600)


@dataclass
class Work:
    """The write in progress: its connection, who does it, from which face, and what it touched."""

    conn: Connection
    actor: str
    origin: str
    now: dt.datetime
    tables: set[str] = field(default_factory=set)
    audited: int = 0
    revision: int | None = None  # the data revision after commit, when this work moved it
    discarded: bool = False

    def discard(self) -> None:
        """Roll everything back at the end of the block instead of committing (a dry run)."""
        self.discarded = True

    def wrote(self, table: str) -> None:
        self.tables.add(table)

    @property
    def data_tables(self) -> set[str]:
        return self.tables - ACCESS_TABLES - BOOKKEEPING_TABLES - OPERATIONS_TABLES

    def record(
        self,
        action: str,
        entity_type: str,
        entity_id: int | None = None,
        before: dict | None = None,
        after: dict | None = None,
        *,
        actor: str | None = None,
        at: dt.datetime | None = None,
    ) -> None:
        """One audit entry, in this work's name unless `actor` says otherwise."""
        self.record_many(
            [{"action": action, "entity_type": entity_type, "entity_id": entity_id, "before": before, "after": after}],
            actor=actor,
            at=at,
        )

    def record_many(self, entries: Iterable[dict], *, actor: str | None = None, at: dt.datetime | None = None) -> int:
        """Audit entries given as dicts (action, entity_type, entity_id, before, after; optionally actor, at)."""
        rows = [
            {
                "at": entry.get("at") or at or self.now,
                "actor": entry.get("actor") or actor or self.actor,
                "action": entry["action"],
                "entity_type": entry["entity_type"],
                "entity_id": entry.get("entity_id"),
                "before": entry.get("before"),
                "after": entry.get("after"),
            }
            for entry in entries
        ]
        if rows:
            self.conn.execute(insert(AuditEntry), rows)
            self.audited += len(rows)
        return len(rows)


class _Migrating:
    """Stands in for a unit of work while Alembic migrates: schema changes are not data writes."""

    def wrote(self, table: str) -> None:
        pass


MIGRATING = _Migrating()


def work_of(conn: Connection) -> Work:
    """The unit of work `conn` belongs to; WriteOutsideWork when it belongs to none."""
    work = conn.info.get(KEY)
    if not isinstance(work, Work):
        raise WriteOutsideWork("this connection is not inside a unit of work (truce.store.work.unit_of_work)")
    return work


def record(conn: Connection, action: str, entity_type: str, entity_id=None, before=None, after=None, **who) -> None:
    """An audit entry in the unit of work `conn` belongs to (for helpers handed only a connection)."""
    work_of(conn).record(action, entity_type, entity_id, before, after, **who)


def record_many(conn: Connection, entries: Iterable[dict], **who) -> int:
    return work_of(conn).record_many(entries, **who)


def wrote(conn: Connection, table: str) -> None:
    """Tell the unit of work about a write made past SQLAlchemy (COPY, the driver's executemany)."""
    work = conn.info.get(KEY)
    if work is None:
        raise WriteOutsideWork(f"a bulk write to {table} outside a unit of work")
    work.wrote(table)


# ---- the unit of work -----------------------------------------------------------------------------


@contextmanager
def unit_of_work(
    engine: Engine, actor: str, origin: str = "cli", *, wait: float | None = None, announce: bool = True
) -> Iterator[Work]:
    """A transaction that records its audit entries and moves the data revision when data changed.

    `wait` is how many seconds to wait for a busy store (default busy_wait_seconds()); past it,
    StoreBusy and nothing written. An exception inside the block rolls everything back.
    `announce=False` is for a long writer that gives way itself (an import): it does not count
    among the writers waiting, so it can ask whether anyone else is (`waiting_writers`).
    """
    if not actor:
        raise ValueError("a unit of work needs an actor: who is writing")
    wait = busy_wait_seconds() if wait is None else wait
    with _waiting_writer(engine) if announce else nullcontext(), _busy_is_retry(engine, wait):
        with engine.connect() as conn:
            if KEY in conn.info:
                raise RuntimeError("a unit of work is already open on this connection")
            work = Work(conn, actor, origin, dt.datetime.now(dt.UTC))
            conn.info[KEY] = work
            try:
                with conn.begin() as transaction:
                    _begin(conn, wait)
                    yield work
                    if work.discarded:
                        transaction.rollback()
                    else:
                        _finish(work)
            finally:
                conn.info.pop(KEY, None)


def _begin(conn: Connection, wait: float) -> None:
    if conn.dialect.name == "sqlite":
        # The write lock up front: the busy timeout waits here, before anything is read, and a
        # read-then-write never fails half-way because another writer got in between.
        conn.exec_driver_sql(f"PRAGMA busy_timeout = {int(wait * 1000)}")
        conn.exec_driver_sql("BEGIN IMMEDIATE")
    elif conn.dialect.name == "postgresql":
        conn.exec_driver_sql(f"SET LOCAL lock_timeout = '{int(wait * 1000)}ms'")


def _finish(work: Work) -> None:
    changed = work.data_tables
    if not changed:
        return
    if "audit_log" not in work.tables:  # written by record(), or in bulk by an import
        raise UnauditedWrite(
            f"{work.actor} ({work.origin}) changed {', '.join(sorted(changed))} without an audit entry; nothing was written"
        )
    # Last, so that on PostgreSQL the revision row is locked only for the moment before commit.
    revision = work.conn.execute(
        update(StoreRevision)
        .where(StoreRevision.id == 1)
        .values(revision=StoreRevision.revision + 1, changed_at=work.now)
        .returning(StoreRevision.revision)
    ).scalar_one_or_none()
    if revision is None:
        raise RuntimeError("the store has no revision row; run: truce db upgrade")
    work.revision = revision


@contextmanager
def _busy_is_retry(engine: Engine, wait: float) -> Iterator[None]:
    try:
        yield
    except sa_exc.DBAPIError as exc:
        if not is_busy(exc):
            raise
        raise StoreBusy(_busy_message(wait), retry_after=_retry_after(wait)) from None
    except sa_exc.TimeoutError:  # no pooled connection came free in time
        raise StoreBusy(_busy_message(wait), retry_after=_retry_after(wait)) from None


def is_busy(exc: BaseException) -> bool:
    """Whether a database error means "someone else holds what this write needs; try again"."""
    orig = getattr(exc, "orig", exc)
    text = str(orig).lower()
    if type(orig).__module__.startswith("sqlite3"):
        return "locked" in text or "busy" in text
    sqlstate = getattr(orig, "sqlstate", None)
    # lock_not_available, serialization_failure, deadlock_detected, query_canceled (a lock wait ran out)
    return sqlstate in {"55P03", "40001", "40P01"} or (sqlstate == "57014" and "lock timeout" in text)


def _retry_after(wait: float) -> int:
    return max(1, min(30, round(wait / 2) or 1))


def _busy_message(wait: float) -> str:
    return (
        f"the database is busy: another write (an import, a sweep) held it for more than {wait:g} s; "
        "nothing was saved — try again in a moment"
    )


# ---- making way for interactive writers (SQLite) --------------------------------------------------
#
# SQLite has one write lock and no queue: a writer that finds it taken sleeps and polls. An import
# that committed a batch and began the next at once would win almost every time, and a seller's
# click would wait for the whole import. So every writer says it is waiting (a shared lock on a
# small file next to the database) while it waits and writes; between batches a long writer takes
# that lock exclusively — which it gets only once nobody is waiting — and releases it at once.


def _intent_path(engine: Engine) -> Path | None:
    if engine.dialect.name != "sqlite":
        return None
    database = engine.url.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database).with_name(Path(database).name + "-writers")


def _open_intent(path: Path) -> int | None:
    try:
        return os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError:  # a read-only folder: no hand-over, SQLite's own waiting still applies
        return None


@contextmanager
def _waiting_writer(engine: Engine) -> Iterator[None]:
    path = _intent_path(engine)
    handle = _open_intent(path) if path else None
    if handle is None:
        yield
        return
    try:
        fcntl.flock(handle, fcntl.LOCK_SH)
        yield
    finally:
        os.close(handle)  # closing drops the lock


def waiting_writers(engine: Engine) -> bool:
    """Whether another writer is waiting for the store (or writing). SQLite only; elsewhere False."""
    path = _intent_path(engine)
    handle = _open_intent(path) if path else None
    if handle is None:
        return False
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return False
    except BlockingIOError:
        return True
    finally:
        os.close(handle)


def make_way(engine: Engine, longest: float = 2.0) -> float:
    """Between two batches of a long write: let writers that are waiting go first (SQLite only).

    Returns the seconds spent waiting for them (at most `longest`, so a stream of writers cannot
    stall an import for ever).
    """
    path = _intent_path(engine)
    handle = _open_intent(path) if path else None
    if handle is None:
        return 0.0
    started = time.monotonic()
    try:
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return time.monotonic() - started
            except BlockingIOError:
                if time.monotonic() - started >= longest:
                    return time.monotonic() - started
                time.sleep(0.002)
    finally:
        os.close(handle)


def guard(engine: Engine) -> None:
    """Watch every statement `engine` runs: note the tables a unit of work writes, refuse writes outside one."""
    from sqlalchemy import event

    guarded = frozenset(Base.metadata.tables)

    @event.listens_for(engine, "before_cursor_execute")
    def _watch(conn, cursor, statement, parameters, context, executemany):
        found = _DML.match(statement)
        if found is None:
            return
        table = found.group(1).lower()
        work = conn.info.get(KEY)
        if work is not None:
            work.wrote(table)
        elif table in guarded:
            raise WriteOutsideWork(
                f"a write to {table} outside a unit of work; open one with truce.store.work.unit_of_work"
            )
