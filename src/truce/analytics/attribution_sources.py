"""The store's rows that attribution reads, handed to the analytics engine as Arrow.

Times leave the store as whole seconds since 1970-01-01 UTC (computed by the store, as for
the funnel), so DuckDB and Spark only ever see integers and the same rules give the same
journeys on both. Tables and columns: see truce.analytics.journeys.

Where the engine reads them: DuckDB as views on the analytical copy (truce.analytics.copy);
Spark from the copy's Parquet files, read by Spark itself (no row passes through Python).
Without a copy (TRUCE_COPY=off, an in-memory store, the copy busy) the rows are read from
the store and handed over as Arrow, as below.

The rows are read once per revision of the data (truce.analytics.store_read): roi, budget,
credit and the brief run attribution several times on the same store, and the web app runs
every report in one process.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from dataclasses import dataclass
from typing import Any

import ibis
import pyarrow as pa
from sqlalchemy import Engine, select

from truce.analytics.sources import _connect_store, _int64, _store_ts, duckdb_connection
from truce.analytics.store_read import remembered, to_arrow
from truce.store.present import present, present_rows

ENGINES = ("duckdb", "spark")
NAMES = ("touches", "contacts", "opportunities", "stage_entries")


@dataclass
class AttributionSources:
    # An Ibis backend (DuckDB or PySpark) and its tables; Ibis is read untyped here.
    con: Any
    touches: Any
    contacts: Any
    opportunities: Any
    stage_entries: Any
    labels: dict  # by → {key value: readable label} for campaigns and people

    def close(self) -> None:
        if self.con.name == "duckdb":
            self.con.disconnect()

    def __enter__(self) -> AttributionSources:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def attribution_sources(engine: Engine, analytics: str = "duckdb", stages: tuple[str, ...] = ()) -> AttributionSources:
    """The four tables on a DuckDB (in process) or Spark connection."""
    if analytics not in ENGINES:
        raise ValueError(f"unknown analytics engine {analytics!r}; choose one of {', '.join(ENGINES)}")
    if analytics == "duckdb":
        on_copy = _on_copy(engine, stages)
        if on_copy is not None:
            return on_copy
    if analytics == "spark":
        on_files = _spark_on_copy(engine, stages)
        if on_files is not None:
            return on_files
    arrow = read_store(engine, stages)
    if analytics == "duckdb":
        con = duckdb_connection()
        # One thread: floats are then always added in the same order, so the same store gives
        # the same credit to the last bit on every run. Stores are small enough not to mind.
        con.raw_sql("SET threads = 1")
        tables = [con.create_table(name, arrow[name]) for name in NAMES]
    else:
        from truce.analytics.spark import hand_over, spark_connection

        con = spark_connection()
        tables = [hand_over(con, f"truce_{name}", arrow[name]) for name in NAMES]
    touches, contacts, opportunities, stage_entries = tables  # in the order of NAMES
    return AttributionSources(con, touches, contacts, opportunities, stage_entries, labels=arrow["labels"])


def _on_copy(engine: Engine, stages: tuple[str, ...]) -> AttributionSources | None:
    """The four tables as views on the analytical copy (truce.analytics.copy): DuckDB reads the
    columns where they lie instead of taking a copy of the rows; None without a copy."""
    from truce.analytics.copy import floor_seconds, ibis_on_copy

    con = ibis_on_copy(engine)
    if con is None:
        return None
    try:
        con.raw_sql("SET threads = 1")  # as on the in-memory connection: the same credit to the last bit
        con.raw_sql(f"CREATE TEMP VIEW truce_opportunities AS {OPPORTUNITIES_ON_COPY}")
        return AttributionSources(
            con,
            touches=_touches(con, floor_seconds),
            contacts=_contacts(con, floor_seconds),
            opportunities=con.table("truce_opportunities"),
            stage_entries=_stage_entries(con, floor_seconds, stages),
            labels=_labels_on_copy(con),
        )
    except BaseException:
        con.disconnect()
        raise


def _spark_on_copy(engine: Engine, stages: tuple[str, ...]) -> AttributionSources | None:
    """The four tables on Spark, read by Spark itself from the analytical copy's Parquet files
    (truce.analytics.copy.parquet_of_copy); None without a copy (the rows are then handed over)."""
    from truce.analytics.copy import floor_seconds, open_copy, parquet_of_copy
    from truce.analytics.spark import ParquetViews, spark_connection

    folder = parquet_of_copy(engine)
    if folder is None:
        return None
    files = ParquetViews(spark_connection(), folder)
    with contextlib.closing(open_copy(engine)) as copy:  # the labels: one small table
        labels = {"campaign": {str(i): name for i, name in copy.execute("SELECT id, name FROM campaigns").fetchall()}}
    return AttributionSources(
        files.con,
        touches=_touches(files, floor_seconds),
        contacts=_contacts(files, floor_seconds),
        opportunities=_opportunities_on_files(files, floor_seconds),
        stage_entries=_stage_entries(files, floor_seconds, stages),
        labels=labels,
    )


def _opportunities_on_files(files, seconds):
    """OPPORTUNITIES_ON_COPY as an Ibis expression, for engines that are not DuckDB."""
    deals = present_rows(files.table("opportunities"))
    return deals.select(
        id=_int64(deals.id),
        contact_id=deals.primary_contact_id.cast("int64"),
        account_id=deals.account_id.cast("int64"),
        amount=deals.amount.cast("float64"),
        status=deals.status,
        created=seconds(deals.created_at),
        closed=seconds(deals.close_date.cast("timestamp")) + 86399,
    )


def read_store(engine: Engine, stages: tuple[str, ...] = ()) -> dict:
    """The store's rows as Arrow tables (NAMES) plus readable labels, read once per revision of the data."""
    store = _Store(engine)
    try:
        found = dict(remembered(engine, "attribution", lambda: _read_base(engine, store)))
        found["stage_entries"] = remembered(
            engine, ("attribution.stage_entries", tuple(stages)), lambda: _read_stage_entries(engine, store, stages)
        )
    finally:
        store.close()
    # Callers may change their labels; the remembered ones stay as read.
    found["labels"] = {by: dict(names) for by, names in found["labels"].items()}
    return found


class _Store:
    """Where the rows are read, opened on first use (a remembered read needs none): the analytical
    copy when there is one (truce.analytics.copy), else the store's own Ibis connection."""

    def __init__(self, engine: Engine) -> None:
        self.engine, self.con = engine, None
        self.seconds = _store_ts(engine.dialect.name)

    def get(self):
        if self.con is None:
            from truce.analytics.copy import floor_seconds, ibis_on_copy

            self.con = ibis_on_copy(self.engine)
            if self.con is not None:
                self.seconds = floor_seconds
            else:
                self.con = _connect_store(self.engine)
        return self.con

    @property
    def on_copy(self) -> bool:
        return self.get().name == "duckdb"

    def arrow(self, exprs: dict) -> dict[str, pa.Table]:
        if self.on_copy:
            from truce.analytics.spark import to_arrow as result_of

            return {name: result_of(expr) for name, expr in exprs.items()}
        return to_arrow(self.engine, self.get(), exprs)

    def close(self) -> None:
        if self.con is not None:
            self.con.disconnect()


def _read_base(engine: Engine, store: _Store) -> dict:
    con = store.get()
    found = store.arrow({"touches": _touches(con, store.seconds), "contacts": _contacts(con, store.seconds)})
    if store.on_copy:
        return {**found, "opportunities": _opportunities_on_copy(con), "labels": _labels_on_copy(con)}
    return {**found, "opportunities": _opportunities(engine), "labels": _labels(engine)}


def _read_stage_entries(engine: Engine, store: _Store, stages: tuple[str, ...]) -> pa.Table:
    con = store.get()
    entries = _stage_entries(con, store.seconds, stages)
    if not stages:
        # Deal conversions need no stage entries; asking the store for none still scans every move.
        return entries.schema().to_pyarrow().empty_table()
    return store.arrow({"stage_entries": entries})["stage_entries"]


def _touches(store, seconds):
    touches = store.table("touchpoints")
    users = store.table("users")
    contacts = present_rows(store.table("contacts")).select(contact=ibis._.id, contact_account=ibis._.account_id)
    # A touch belongs to its contact's account now, whatever account the touch row carried.
    joined = touches.join(contacts, touches.contact_id == contacts.contact).left_join(
        users, touches.user_id == users.id
    )
    return joined.select(
        id=_int64(joined.id),
        contact_id=_int64(joined.contact_id),
        account_id=_int64(joined.contact_account),
        ts=_int64(seconds(joined.occurred_at)),
        channel=joined.channel,
        team=joined.kind,
        campaign=joined.campaign_id.cast("int64").cast("string"),
        person=joined.email,
    )


def _contacts(store, seconds):
    contacts = present_rows(store.table("contacts"))
    return contacts.select(
        id=_int64(contacts.id),
        account_id=_int64(contacts.account_id),
        created=_int64(seconds(contacts.created_at)),
    )


def _stage_entries(store, seconds, stages: tuple[str, ...]):
    moves = store.table("stage_changes")
    contacts = present_rows(store.table("contacts"))
    moves = moves.filter((moves.entity_type == "contact") & moves.to_stage.isin(list(stages) or ["-"]))
    first = moves.group_by(contact_id=moves.entity_id, stage=moves.to_stage).aggregate(at=moves.changed_at.min())
    joined = first.join(contacts, first.contact_id == contacts.id)
    return joined.select(
        contact_id=_int64(joined.contact_id),
        account_id=_int64(joined.account_id),
        stage=joined.stage,
        ts=_int64(seconds(joined.at)),
    )


def _opportunities(engine: Engine) -> pa.Table:
    from truce.store.models import Opportunity

    columns = (
        Opportunity.id,
        Opportunity.primary_contact_id,
        Opportunity.account_id,
        Opportunity.amount,
        Opportunity.status,
        Opportunity.created_at,
        Opportunity.close_date,
    )
    with engine.connect() as conn:
        rows = conn.execute(select(*columns).where(present(Opportunity)).order_by(Opportunity.id)).all()
    return pa.table(
        {
            "id": pa.array([r[0] for r in rows], pa.int64()),
            "contact_id": pa.array([r[1] for r in rows], pa.int64()),
            "account_id": pa.array([r[2] for r in rows], pa.int64()),
            "amount": pa.array([float(r[3]) for r in rows], pa.float64()),
            "status": pa.array([r[4] for r in rows], pa.string()),
            "created": pa.array([int(r[5].timestamp()) for r in rows], pa.int64()),
            "closed": pa.array([_end_of_day(r[6]) for r in rows], pa.int64()),
        }
    )


# _opportunities' columns, read by DuckDB from the copy: the amount as the nearest double (as
# float(Decimal)), times cut to the second, a close day read as its last second (UTC).
OPPORTUNITIES_ON_COPY = """
SELECT CAST(id AS BIGINT) AS id, CAST(primary_contact_id AS BIGINT) AS contact_id,
       CAST(account_id AS BIGINT) AS account_id, CAST(amount AS DOUBLE) AS amount, status,
       CAST(floor(epoch(created_at)) AS BIGINT) AS created,
       CAST(epoch(CAST(close_date AS TIMESTAMP)) AS BIGINT) + 86399 AS closed
FROM opportunities WHERE deleted_at IS NULL ORDER BY id
"""


def _opportunities_on_copy(con) -> pa.Table:
    return con.con.sql(OPPORTUNITIES_ON_COPY).to_arrow_table()


def _labels_on_copy(con) -> dict:
    rows = con.con.sql("SELECT id, name FROM campaigns").fetchall()
    return {"campaign": {str(i): name for i, name in rows}}


def _end_of_day(day: dt.date | None) -> int | None:
    if day is None:
        return None
    return int(dt.datetime(day.year, day.month, day.day, 23, 59, 59, tzinfo=dt.UTC).timestamp())


def _labels(engine: Engine) -> dict:
    from truce.store.models import Campaign

    with engine.connect() as conn:
        campaigns = {str(i): name for i, name in conn.execute(select(Campaign.id, Campaign.name))}
    return {"campaign": campaigns}
