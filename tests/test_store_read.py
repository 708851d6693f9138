"""Reading the store into Arrow (truce.analytics.store_read): the rows Ibis would read, once per version of the data.

Checked against what does not go through that code: Ibis's own read of the same expressions,
row counts and times read with SQLAlchemy, and the data revision moved by an audited write.
"""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pytest
from conftest import writing
from sqlalchemy import func, insert, select, text

from truce import config as truce_config
from truce.analytics import attribution_sources, sources, store_read
from truce.services import demo
from truce.services.economics import roi_report
from truce.services.ingest import ingest
from truce.store import db
from truce.store.models import Account, Contact, Opportunity, StageChange, Touchpoint

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore:The 'future.infer_string'")
CONFIG = truce_config.parse(truce_config.default_text(), "truce.toml")
UTC = dt.UTC
OPPORTUNITY_COLUMNS = (Opportunity.id, Opportunity.amount, Opportunity.created_at, Opportunity.close_date)


@pytest.fixture
def demo_store(engine, monkeypatch):
    # The store's own rows, read and remembered here; the analytical copy has its own tests.
    monkeypatch.setenv("TRUCE_COPY", "off")
    demo.build(engine, contacts=300, seed=5, config=CONFIG)
    store_read.forget()
    yield engine
    store_read.forget()


def _sorted(table: pa.Table) -> pa.Table:
    return table.sort_by([(name, "ascending") for name in table.column_names])


def _count(engine, query) -> int:
    with engine.connect() as conn:
        return conn.execute(query).scalar_one()


def test_it_reads_the_rows_and_types_ibis_reads(demo_store):
    engine = demo_store
    store = sources._connect_store(engine)
    try:
        seconds = sources._store_ts(engine.dialect.name)
        ledger, contacts, accounts = sources._canonical(store, seconds)
        exprs = {
            "touches": attribution_sources._touches(store, seconds),
            "sqls": attribution_sources._stage_entries(store, seconds, ("sql",)),
            "ledger": ledger,
            "contacts": contacts,
            "accounts": accounts,
        }
        fast = store_read.to_arrow(engine, store, exprs)
        for name, expr in exprs.items():
            slow = expr.to_pyarrow()
            assert fast[name].schema.equals(slow.schema), name
            if engine.dialect.name == "sqlite":
                assert fast[name].equals(slow), name  # the same SQL on the same file: the same order too
            else:
                assert _sorted(fast[name]).equals(_sorted(slow)), name  # PostgreSQL promises no order
    finally:
        store.disconnect()
    assert fast["touches"].num_rows == _count(engine, select(func.count()).select_from(Touchpoint)) > 0
    assert fast["ledger"].num_rows == _count(
        engine, select(func.count()).select_from(StageChange).where(StageChange.entity_type == "contact")
    )
    assert fast["accounts"].num_rows == _count(engine, select(func.count()).select_from(Account))


def test_money_and_moments_come_back_exact(demo_store):
    engine = demo_store
    store = sources._connect_store(engine)
    try:
        deals = store.table("opportunities").select("id", "amount", "created_at", "close_date")
        got = store_read.to_arrow(engine, store, {"deals": deals})["deals"]
        assert got.schema.equals(deals.schema().to_pyarrow())
    finally:
        store.disconnect()
    with engine.connect() as conn:
        expected = {r.id: (r.amount, r.created_at, r.close_date) for r in conn.execute(select(*OPPORTUNITY_COLUMNS))}
    found = {r["id"]: (r["amount"], r["created_at"].astimezone(UTC), r["close_date"]) for r in got.to_pylist()}
    assert found == expected and len(found) > 0


def test_times_are_whole_utc_seconds_as_sqlalchemy_reads_them(demo_store):
    engine = demo_store
    touches = attribution_sources.read_store(engine)["touches"]
    with engine.connect() as conn:
        expected = {i: int(at.timestamp()) for i, at in conn.execute(select(Touchpoint.id, Touchpoint.occurred_at))}
    assert dict(zip(touches["id"].to_pylist(), touches["ts"].to_pylist(), strict=True)) == expected


def test_a_remembered_read_is_a_fresh_read_until_a_write_changes_it(demo_store):
    engine = demo_store
    first = attribution_sources.read_store(engine, ("sql",))
    again = attribution_sources.read_store(engine, ("sql",))
    assert again["touches"] is first["touches"] and again["stage_entries"] is first["stage_entries"]
    store_read.forget()
    fresh = attribution_sources.read_store(engine, ("sql",))
    assert fresh["touches"] is not first["touches"]
    for name in attribution_sources.NAMES:
        assert fresh[name].equals(first[name]), name
    assert fresh["labels"] == first["labels"]
    touches = _count(engine, select(func.count()).select_from(Touchpoint))
    assert first["touches"].num_rows == touches

    with engine.connect() as conn:
        contact_id, email = conn.execute(select(Contact.id, Contact.email).order_by(Contact.id).limit(1)).one()
    new_touch = {"external_id": "store-read-1", "contact_email": email, "channel": "webinar", "touch_type": "event"}
    new_touch["occurred_at"] = "2026-03-01T12:00:00+00:00"
    assert ingest(engine, CONFIG, "touchpoints", [new_touch], "revops@example.com")["inserted"] == 1

    after = attribution_sources.read_store(engine, ("sql",))
    assert after["touches"].num_rows == touches + 1 == _count(engine, select(func.count()).select_from(Touchpoint))
    added = after["touches"].filter(pa.compute.equal(after["touches"]["ts"], 1772366400))  # 2026-03-01 12:00 UTC
    assert added["contact_id"].to_pylist() == [contact_id]
    assert added["channel"].to_pylist() == ["webinar"]


def test_labels_changed_by_a_caller_stay_as_read_for_the_next(demo_store):
    first = attribution_sources.read_store(demo_store)
    name = next(iter(first["labels"]["campaign"]))
    first["labels"]["campaign"][name] = "changed by a caller"
    assert attribution_sources.read_store(demo_store)["labels"]["campaign"][name] != "changed by a caller"


def test_roi_reads_the_store_once_for_its_three_attribution_runs(demo_store):
    cold = roi_report(demo_store, CONFIG)
    # Three attribution reports in one reading (services.attribution.one_reading): the tables
    # and stage entries are asked for once, read once.
    assert store_read.memo_counts() == {"miss": 2, "hit": 0}
    warm = roi_report(demo_store, CONFIG)
    assert warm == cold
    assert store_read.memo_counts() == {"miss": 2, "hit": 2}  # the next command finds them remembered


def test_the_funnel_tables_are_read_once_per_revision(demo_store):
    with sources.from_store(demo_store) as first:
        rows = first.ledger.count().to_pyarrow().as_py()
    with sources.from_store(demo_store) as second:
        assert second.ledger.count().to_pyarrow().as_py() == rows
    assert store_read.memo_counts() == {"miss": 1, "hit": 1}
    with sources.from_store(demo_store, "store") as on_store:  # the store itself: never remembered
        assert on_store.ledger.count().to_pyarrow().as_py() == rows
    assert rows == _count(
        demo_store, select(func.count()).select_from(StageChange).where(StageChange.entity_type == "contact")
    )


def _store_with_touches(path, touches: int):
    engine = db.connect(f"sqlite:///{path}")
    db.upgrade(engine)
    at = dt.datetime(2026, 3, 1, tzinfo=UTC)
    with writing(engine) as conn:
        conn.execute(
            insert(Contact), [{"id": 1, "email": "a@x.example", "stage": "inquiry", "created_at": at, "updated_at": at}]
        )
        rows = [
            {"contact_id": 1, "channel": "web", "kind": "marketing", "touch_type": "form", "occurred_at": at}
        ] * touches
        conn.execute(insert(Touchpoint), rows)
    engine.dispose()


def test_two_stores_at_the_same_relative_path_are_told_apart(tmp_path, monkeypatch):
    # Both stores are at their first revision: nothing written yet. Only the path tells them apart.
    for folder, touches in (("one", 2), ("two", 3)):
        (tmp_path / folder).mkdir()
        _store_with_touches(tmp_path / folder / "truce.db", touches)
    store_read.forget()
    try:
        for folder, touches in (("one", 2), ("two", 3), ("one", 2)):
            monkeypatch.chdir(tmp_path / folder)
            engine = db.connect("sqlite:///truce.db")
            assert attribution_sources.read_store(engine)["touches"].num_rows == touches
            engine.dispose()
    finally:
        store_read.forget()


@pytest.mark.postgres
def test_funnel_months_are_utc_months_whatever_the_database_time_zone(postgres_url):
    engine = db.connect(postgres_url)
    database = engine.url.database
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text(f"ALTER DATABASE \"{database}\" SET timezone TO 'Pacific/Auckland'"))
    engine.dispose()
    engine = db.connect(postgres_url)
    at = dt.datetime(2026, 1, 31, 23, 30, tzinfo=UTC)  # 1 February, 12:30 in Auckland
    with writing(engine) as conn:
        assert conn.execute(text("SHOW TIME ZONE")).scalar_one() == "Pacific/Auckland"
        conn.execute(
            insert(Contact), [{"id": 1, "email": "a@x.example", "stage": "mql", "created_at": at, "updated_at": at}]
        )
        conn.execute(
            insert(StageChange),
            [
                {
                    "entity_type": "contact",
                    "entity_id": 1,
                    "to_stage": "mql",
                    "changed_at": at,
                    "origin": "import",
                    "recorded_at": at,
                }
            ],
        )
    store_read.forget()
    try:
        with sources.from_store(engine) as tables:
            ledger = tables.ledger.to_pyarrow()
        assert ledger["month"].to_pylist() == [202601]
        assert ledger["ts"].to_pylist() == [int(at.timestamp())]
    finally:
        store_read.forget()
        engine.dispose()


def test_an_in_memory_store_is_still_refused_with_its_reason():
    engine = db.connect("sqlite://")
    with pytest.raises(ValueError, match="in-memory SQLite store cannot be opened a second time"):
        attribution_sources.read_store(engine)
    engine.dispose()
