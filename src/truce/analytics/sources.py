"""Where the analytics tables come from. Every source gives the metrics the same columns:

    ledger    id, entity_id, from_stage, to_stage, ts, month, team_after, reason
              contact moves only (stage_changes with entity_type 'contact');
              reason = the move's own reason; a move without one, made on the day a deal
              whose primary contact is the contact closed lost, takes that deal's
              loss_reason (the smallest, if several closed lost that day): the CRM and the
              demo record why a deal was lost on the deal, not on the contact's move;
              ts = changed_at as seconds since 1970-01-01 UTC, cut to the whole second;
              month = the UTC calendar month of changed_at as year * 100 + month (202603)
    contacts  id, account_id, source_channel
    accounts  id, segment

Engines, by name:

- "duckdb" (default): DuckDB in process. The store's rows are read as Arrow, with the SQL
  Ibis compiles for the store (truce.analytics.store_read: once per revision of the data)
  and handed to DuckDB. (DuckDB's sqlite/postgres scanner extensions download at run time
  and fail offline; see STACK.md.)
- "store": the same expressions run by the store itself, SQLite or PostgreSQL, through Ibis.

`from_parquet` reads Parquet files that carry the store's column names into DuckDB, for
benchmarks and notebooks. Time arithmetic happens here, once, so the metric expressions
never depend on a backend's time-zone or date functions.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import ibis
import ibis.expr.types as ir
from sqlalchemy import Engine

from truce.analytics.store_read import remembered, to_arrow
from truce.store.present import present_rows

ENGINES = ("duckdb", "store", "spark")
TABLES = ("ledger", "contacts", "accounts")


@dataclass
class Sources:
    """The three tables on one Ibis connection; close it (or use `with`) when done."""

    con: ibis.BaseBackend
    ledger: ir.Table
    contacts: ir.Table
    accounts: ir.Table

    @property
    def engine_name(self) -> str:
        return self.con.name

    def close(self) -> None:
        if self.con.name != "pyspark":  # Spark's session is the process's, shared (truce.analytics.spark)
            self.con.disconnect()

    def __enter__(self) -> Sources:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def from_store(engine: Engine, analytics: str = "duckdb") -> Sources:
    """The store's tables, for the metrics to run on DuckDB ("duckdb") or on the store ("store")."""
    if analytics not in ENGINES:
        raise ValueError(f"unknown analytics engine {analytics!r}; choose one of {', '.join(ENGINES)}")
    if analytics == "store":
        store = _connect_store(engine)
        try:
            return Sources(store, *_canonical(store, _store_ts(engine.dialect.name)))
        except BaseException:
            store.disconnect()
            raise
    if analytics == "spark":
        return _on_spark(engine)
    on_copy = _from_copy(engine)
    if on_copy is not None:
        return on_copy
    arrow = remembered(engine, "funnel", lambda: _read_canonical(engine))
    duck = duckdb_connection()
    try:
        return Sources(duck, *[duck.create_table(name, arrow[name]) for name in TABLES])
    except BaseException:
        duck.disconnect()
        raise


def _from_copy(engine: Engine) -> Sources | None:
    """The three tables as views on the analytical copy (truce.analytics.copy), or None without one."""
    from truce.analytics.copy import ibis_on_copy

    duck = ibis_on_copy(engine)
    if duck is None:
        return None
    try:
        duck.raw_sql(f"CREATE TEMP VIEW ledger AS {COPY_LEDGER}")
        contacts = present_rows(duck.table("contacts"))
        contacts = contacts.select(id=contacts.id, account_id=contacts.account_id, source_channel=contacts.source_channel)
        accounts = present_rows(duck.table("accounts"))
        return Sources(duck, duck.table("ledger"), contacts, accounts.select(id=accounts.id, segment=accounts.segment))
    except BaseException:
        duck.disconnect()
        raise


def _on_spark(engine: Engine) -> Sources:
    """The three tables on Spark: read by Spark from the analytical copy's Parquet files
    (truce.analytics.copy.parquet_of_copy), or, without a copy, handed over from the store's rows."""
    from truce.analytics.copy import floor_seconds, parquet_of_copy
    from truce.analytics.spark import ParquetViews, hand_over, spark_connection

    con = spark_connection()
    folder = parquet_of_copy(engine)
    if folder is not None:
        return Sources(con, *_canonical(ParquetViews(con, folder), floor_seconds))
    arrow = remembered(engine, "funnel", lambda: _read_canonical(engine))
    return Sources(con, *[hand_over(con, f"truce_funnel_{name}", arrow[name]) for name in TABLES])


def _read_canonical(engine: Engine) -> dict:
    """TABLES as Arrow, read from the store."""
    store = _connect_store(engine)
    try:
        tables = _canonical(store, _store_ts(engine.dialect.name))
        return to_arrow(engine, store, dict(zip(TABLES, tables, strict=True)))
    finally:
        store.disconnect()


def from_parquet(folder: str | Path) -> Sources:
    """stage_changes.parquet, contacts.parquet and accounts.parquet (store column names) in DuckDB,
    and opportunities.parquet when there is one: lost deals lend their loss reasons to the ledger's
    moves into the lost stage (without it, the ledger's own reasons stand)."""
    duck = duckdb_connection()
    folder = Path(folder)
    for name in ("stage_changes", "contacts", "accounts"):
        duck.read_parquet(folder / f"{name}.parquet", table_name=name)
    if (folder / "opportunities.parquet").is_file():
        duck.read_parquet(folder / "opportunities.parquet", table_name="opportunities")
    else:
        duck.raw_sql(NO_DEALS)
    _, contacts, accounts = _canonical(duck, lambda at: at.epoch_seconds())
    present = "AND deleted_at IS NULL" if "deleted_at" in duck.table("opportunities").columns else ""
    # A view, not con.sql(): Ibis 12's con.sql() calls a cursor method DuckDB 2.0 no longer has.
    duck.raw_sql(f"CREATE VIEW ledger AS {PARQUET_LEDGER.format(present=present)}")
    return Sources(duck, duck.table("ledger"), contacts, accounts)


# What _with_loss_reasons reads of the deals, empty: a folder of moves without deals.
NO_DEALS = """
CREATE TABLE opportunities (status VARCHAR, loss_reason VARCHAR, primary_contact_id BIGINT, close_date DATE)
"""

# Seconds and month straight from the TIMESTAMPTZ: Ibis's epoch_seconds and month() go through
# a cast to TIMESTAMP and the time-zone library, which costs more than the rest of the reading.
# A move without a reason on the day its contact's deal closed lost reads the deal's loss reason,
# as _with_loss_reasons does for the store (the day is the UTC day, as there).
PARQUET_LEDGER = """
WITH lost AS (
    SELECT CAST(primary_contact_id AS BIGINT) AS contact, close_date AS day, min(loss_reason) AS loss_reason
    FROM opportunities
    WHERE status = 'lost' AND loss_reason IS NOT NULL AND primary_contact_id IS NOT NULL
          AND close_date IS NOT NULL {present}
    GROUP BY 1, 2
)
SELECT m.id, m.entity_id, m.from_stage, m.to_stage, m.ts,
       CAST(year(m.day) * 100 + month(m.day) AS BIGINT) AS month, m.team_after,
       coalesce(m.reason, lost.loss_reason) AS reason
FROM (
    SELECT *, DATE '1970-01-01' + CAST(floor(ts / 86400) AS INTEGER) AS day
    FROM (
        SELECT CAST(id AS BIGINT) AS id, CAST(entity_id AS BIGINT) AS entity_id, from_stage, to_stage,
               CAST(floor(epoch(changed_at)) AS BIGINT) AS ts, team_after, reason
        FROM stage_changes
        WHERE entity_type = 'contact'
    )
) AS m
LEFT JOIN lost ON m.reason IS NULL AND lost.contact = m.entity_id AND lost.day = m.day
"""


# The ledger on the analytical copy: PARQUET_LEDGER over the moves of contacts still present
# (as _canonical's semi-join) and the loss reasons of deals still present.
COPY_LEDGER = PARQUET_LEDGER.replace(
    "WHERE entity_type = 'contact'",
    "WHERE entity_type = 'contact' AND entity_id IN (SELECT id FROM contacts WHERE deleted_at IS NULL)",
).format(present="AND deleted_at IS NULL")


def duckdb_connection() -> ibis.BaseBackend:
    con = ibis.duckdb.connect()
    # Months are UTC months: a TIMESTAMPTZ's year and month follow the session zone.
    con.raw_sql("SET TimeZone = 'UTC'")
    # Every result is sorted in Python; row order inside the engine buys nothing.
    con.raw_sql("SET preserve_insertion_order = false")
    # Its progress bar would write over ours (and into captured output). In a notebook without
    # ipywidgets DuckDB starts with it off and refuses to be told so again: ask first.
    if con.raw_sql("SELECT current_setting('enable_progress_bar')").fetchall()[0][0]:  # all: no unfinished result
        con.raw_sql("SET enable_progress_bar = false")
    return con


def _store_ts(dialect: str):
    if dialect == "sqlite":
        # strftime('%s') already cuts to the second, and not every SQLite has FLOOR.
        return lambda at: at.epoch_seconds()
    return lambda at: at.epoch_seconds().floor().cast("int64")


def _canonical(con, epoch_seconds) -> tuple[ir.Table, ir.Table, ir.Table]:
    # Contacts and accounts deleted or merged away in the CRM leave every report (truce.store.present);
    # their moves stay in the store, but not in the ledger the reports count.
    contacts = present_rows(con.table("contacts"))
    moves = con.table("stage_changes")
    moves = moves.filter(moves.entity_type == "contact")
    if "deleted_at" in con.table("contacts").columns:
        moves = moves.semi_join(contacts, moves.entity_id == contacts.id)
    moves = _with_loss_reasons(con, moves)
    at = moves.changed_at
    ledger = moves.select(
        id=_int64(moves.id),
        entity_id=_int64(moves.entity_id),
        from_stage=moves.from_stage,
        to_stage=moves.to_stage,
        ts=_int64(epoch_seconds(at)),
        month=(at.year() * 100 + at.month()).cast("int64"),
        team_after=moves.team_after,
        reason=moves.reason,
    )
    contacts = contacts.select(
        id=_int64(contacts.id),
        account_id=_int64(contacts.account_id),
        source_channel=contacts.source_channel,
    )
    accounts = present_rows(con.table("accounts"))
    accounts = accounts.select(id=_int64(accounts.id), segment=accounts.segment)
    return ledger, contacts, accounts


def _with_loss_reasons(con, moves: ir.Table) -> ir.Table:
    """The moves, each with the reason the ledger reads (see the module's docstring)."""
    deals = present_rows(con.table("opportunities"))
    lost = deals.filter(
        deals.status == "lost",
        deals.loss_reason.notnull(),
        deals.primary_contact_id.notnull(),
        deals.close_date.notnull(),
    )
    lost = lost.group_by(contact=lost.primary_contact_id, day=lost.close_date).aggregate(
        loss_reason=lost.loss_reason.min()
    )
    joined = moves.left_join(
        lost, [moves.reason.isnull(), moves.entity_id == lost.contact, moves.changed_at.date() == lost.day]
    )
    return joined.select(
        *(c for c in moves.columns if c != "reason"), reason=ibis.coalesce(joined.reason, joined.loss_reason)
    )


def _int64(column: ir.IntegerValue) -> ir.IntegerValue:
    # A cast on a key would keep SQLite from using its index in the joins that follow.
    return column if column.type().is_int64() else column.cast("int64")


def _connect_store(engine: Engine) -> ibis.BaseBackend:
    url = engine.url
    if url.get_backend_name() == "sqlite":
        if url.database in (None, "", ":memory:"):
            raise ValueError("an in-memory SQLite store cannot be opened a second time for analytics")
        return ibis.sqlite.connect(url.database)
    if url.get_backend_name() == "postgresql":
        con = ibis.postgres.connect(
            host=url.host,
            port=url.port or 5432,
            user=url.username,
            password=url.password,
            database=url.database,
            **dict(url.query),
        )
        # Months are UTC months: EXTRACT on a timestamptz follows the session zone.
        con.raw_sql("SET TIME ZONE 'UTC'").close()
        return con
    raise ValueError(f"funnel analytics read SQLite or PostgreSQL stores, not {url.get_backend_name()}")
