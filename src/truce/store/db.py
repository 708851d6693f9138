"""Connecting to the store, keeping its schema current, and transactions that roll back by default."""

from __future__ import annotations

import os
import re
from pathlib import Path

from sqlalchemy import Engine, create_engine, event, func, inspect, select, text
from sqlalchemy.engine import make_url

DEFAULT_URL = "sqlite:///truce.db"
MIGRATIONS = Path(__file__).parent / "migrations"
# Undoing this revision drops audit_log and stage_changes, with every row in them.
HISTORY_REVISION = "0001"


class SchemaError(RuntimeError):
    """The database is missing tables or is behind the code; the message says what to run."""


class HistoryAtStake(RuntimeError):
    """A command would drop the audit trail and the stage ledger while they hold rows; nothing was changed."""

    def __init__(self, message: str, audit_entries: int, ledger_rows: int):
        super().__init__(message)
        self.audit_entries = audit_entries
        self.ledger_rows = ledger_rows


class OlderSchemaCannotHold(RuntimeError):
    """Migrating back would undo a migration whose new kinds or statuses rows still use; nothing was changed."""


# Rows that a migration's downgrade cannot carry back: (revision, what they are, the table, the condition).
# 0010 let a handoff expire and a breach be `decision_expired`; the schema before it refuses both, and
# breaches are append-only, so they cannot be rewritten on the way down.
NEWER_ROWS = (
    ("0010", ("expired handoff", "expired handoffs"), "handoffs", "status = 'expired'"),
    ("0010", ("decision_expired breach", "decision_expired breaches"), "sla_events", "kind = 'decision_expired'"),
)


def resolve_url(url: str | None = None) -> str:
    """--db beats TRUCE_DATABASE_URL beats the embedded default `truce.db` here."""
    url = url or os.environ.get("TRUCE_DATABASE_URL") or DEFAULT_URL
    if "://" not in url:  # a bare path is a SQLite file
        url = f"sqlite:///{url}"
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return url


def describe(url: str) -> str:
    """The URL without its password, for messages."""
    return make_url(url).render_as_string(hide_password=True)


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    # WAL lets readers (the web app, a report) run while an import writes.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def connect(url: str | None = None) -> Engine:
    """An engine on the store. Writes go through truce.store.work.unit_of_work, which it enforces.

    Errors never print the values bound to a statement (a session hash, a CSRF token, an email);
    a new SQLite file is created readable by its owner only, and SQLite gives its WAL the same mode.
    """
    from truce.store import work

    url = resolve_url(url)
    options: dict = {"hide_parameters": True}
    if make_url(url).get_backend_name() == "sqlite":
        _create_private(make_url(url).database)
        options["connect_args"] = {"timeout": work.busy_wait_seconds()}
    engine = create_engine(url, **options)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    work.guard(engine)
    return engine


def _create_private(database: str | None) -> None:
    if not database or database == ":memory:" or database.startswith("file:"):
        return
    try:
        handle = os.open(database, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    except OSError:  # a folder that is not there or not ours: SQLite will say so in its own words
        return
    os.close(handle)


def _alembic_config(engine: Engine | None):
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["engine"] = engine
    return config


def head_revision() -> str:
    from alembic.script import ScriptDirectory

    config = _alembic_config(None)
    head = ScriptDirectory.from_config(config).get_current_head()
    if head is None:  # only a package installed without its migrations has none
        raise RuntimeError(f"no migrations in {MIGRATIONS}")
    return head


# Every command checks the schema first, and importing alembic to do it cost each one about 0.3 s
# (it pulls in mako and pygments). A store stamped with the newest migration file's revision is
# the common case and needs neither; anything else goes to alembic, which explains it.
_REVISION_LINE = re.compile(r"^revision = ['\"]([^'\"]+)['\"]$", re.M)


def newest_migration() -> str | None:
    """The revision named in the last migration file (they are numbered, one after another);
    tests/test_store.py holds it equal to alembic's head."""
    files = sorted((MIGRATIONS / "versions").glob("[0-9][0-9][0-9][0-9]_*.py"))
    found = _REVISION_LINE.search(files[-1].read_text(encoding="utf-8")) if files else None
    return found.group(1) if found else None


def _stamped_with_newest_migration(engine: Engine) -> bool:
    from sqlalchemy.exc import DBAPIError

    newest = newest_migration()
    try:
        with engine.connect() as conn:
            stamped = conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
    except DBAPIError:  # no version table: alembic says what that means
        return False
    return newest is not None and stamped == [newest]


def current_revision(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(engine: Engine, revision: str = "head") -> None:
    from alembic import command

    command.upgrade(_alembic_config(engine), revision)


def downgrade(engine: Engine, revision: str, *, discard_history: bool = False) -> None:
    """Migrate back to `revision`.

    Refuses with HistoryAtStake, before changing anything, when that would drop an audit trail
    or a stage ledger holding rows, unless `discard_history`: they are the record of who did
    what, and no command may lose them by accident.
    """
    from alembic import command

    if not discard_history and drops_history(engine, revision):
        audit_entries, ledger_rows = history_rows(engine)
        if audit_entries or ledger_rows:
            raise HistoryAtStake(
                f"downgrading {describe(str(engine.url))} to {revision} drops the audit trail and the stage "
                f"ledger: {plural(audit_entries, 'audit entry', 'audit entries')} and "
                f"{plural(ledger_rows, 'stage-ledger row', 'stage-ledger rows')} would be lost; nothing was changed",
                audit_entries,
                ledger_rows,
            )
    if revision == "base":
        # Every table goes: dropping them is the same end, and it does not stop at rows that an
        # intermediate schema could not hold.
        drop_every_table(engine)
        return
    _refuse_rows_the_older_schema_cannot_hold(engine, revision)
    command.downgrade(_alembic_config(engine), revision)


def _refuse_rows_the_older_schema_cannot_hold(engine: Engine, revision: str) -> None:
    from sqlalchemy import text

    undone = set(undone_revisions(engine, revision))
    tables = set(inspect(engine).get_table_names())
    found = []
    with engine.connect() as conn:
        for step, what, table, condition in NEWER_ROWS:
            if step in undone and table in tables:
                count = conn.execute(text(f"SELECT COUNT(*) FROM {table} WHERE {condition}")).scalar_one()
                if count:
                    found.append(plural(count, *what))
    if found:
        raise OlderSchemaCannotHold(
            f"{describe(str(engine.url))} holds {' and '.join(found)}, which schema {revision} cannot hold "
            f"(they came with migration 0010); nothing was changed. Keep this schema, or downgrade to base "
            "to start again without them"
        )


# The PostgreSQL function behind the append-only triggers (migration 0001); a table's triggers go with it.
APPEND_ONLY_FUNCTION = "truce_refuse_change"


def drop_every_table(engine: Engine) -> None:
    """Drop every table truce made, alembic's own included, so the next upgrade starts from nothing.

    Not through the migrations' downgrades: those were written for the data of their day and refuse
    rows that newer kinds and statuses allow (an escalated breach, an expired handoff). Tables that
    are not truce's are left alone.
    """
    from sqlalchemy import MetaData

    from truce.store.models import Base
    from truce.store.work import KEY, MIGRATING

    ours = set(Base.metadata.tables) | {"alembic_version"}
    found = MetaData()
    found.reflect(engine, only=lambda name, _meta: name in ours)
    with engine.connect() as conn:
        conn.info[KEY] = MIGRATING  # a schema change, not a user's write
        try:
            if conn.dialect.name == "sqlite":
                _drop_on_sqlite(conn, found)
            else:
                _drop_on_postgresql(conn, found)
        finally:
            conn.info.pop(KEY, None)


def _drop_on_sqlite(conn, found) -> None:
    # Foreign keys would make each DROP delete the rows first, in an order SQLite does not choose.
    conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
    try:
        for table in found.tables.values():
            conn.exec_driver_sql(f'DROP TABLE IF EXISTS "{table.name}"')
        conn.commit()
    finally:
        conn.exec_driver_sql("PRAGMA foreign_keys=ON")


def _drop_on_postgresql(conn, found) -> None:
    # CASCADE: the tables' foreign keys point at one another, whatever order they are dropped in.
    for table in found.tables.values():
        conn.exec_driver_sql(f'DROP TABLE IF EXISTS "{table.name}" CASCADE')
    conn.exec_driver_sql(f"DROP FUNCTION IF EXISTS {APPEND_ONLY_FUNCTION}() CASCADE")
    conn.commit()


def drops_history(engine: Engine, revision: str) -> bool:
    """Whether migrating back to `revision` undoes the migration that created audit_log and stage_changes."""
    return HISTORY_REVISION in undone_revisions(engine, revision)


def undone_revisions(engine: Engine, revision: str) -> list[str]:
    """The migrations that migrating back to `revision` would undo (none when alembic cannot reach it)."""
    from alembic.script import ScriptDirectory
    from alembic.script.revision import RevisionError
    from alembic.util import CommandError

    current = current_revision(engine)
    if current is None:
        return []
    script = ScriptDirectory.from_config(_alembic_config(engine))
    try:
        undone = list(script.iterate_revisions(current, revision, select_for_downgrade=True))
    except (CommandError, RevisionError):  # not a target alembic can reach: command.downgrade says why
        return []
    return [step.revision for step in undone]


def history_rows(engine: Engine, audit_where=(), ledger_where=()) -> tuple[int, int]:
    """(audit entries, stage-ledger rows) the store holds, of those matching the conditions given.

    A table the store does not have (yet) holds none.
    """
    from truce.store.models import AuditEntry, StageChange

    tables = set(inspect(engine).get_table_names())
    counts = []
    with engine.connect() as conn:
        for model, where in ((AuditEntry, audit_where), (StageChange, ledger_where)):
            if model.__tablename__ not in tables:
                counts.append(0)
                continue
            counts.append(conn.execute(select(func.count()).select_from(model).where(*where)).scalar_one())
    return counts[0], counts[1]


def plural(count: int, one: str, many: str) -> str:
    return f"{count:,} {one if count == 1 else many}"


def require_current_schema(engine: Engine) -> None:
    """Refuse to work on a database whose schema is missing or older than this code."""
    if _stamped_with_newest_migration(engine):
        return
    from alembic.util.exc import CommandError

    try:
        current = current_revision(engine)
    except CommandError as exc:  # more than one version stamped: alembic cannot say which is current
        raise SchemaError(f"{describe(str(engine.url))}: {exc}") from None
    head = head_revision()
    if current == head:
        return
    where = describe(str(engine.url))
    if current is None and not inspect(engine).get_table_names():
        raise SchemaError(f"{where} has no truce tables yet. Run: truce db upgrade")
    raise SchemaError(f"{where} is at schema {current or 'unknown'}, this truce needs {head}. Run: truce db upgrade")


