"""The demo's store content is pinned: making the load faster must not change one value in it.

The expected digests were computed from the store `truce demo --contacts 5000 --as-of 2026-11-20`
built at commit 46b6c49, before the bulk load used COPY of Arrow CSV, a larger SQLite page
cache or set-based writes, by the same hashing as `table_digests` below. A change to what the
demo contains (its cast, months, SLA stories) shows here too, and must update these on purpose.
"""

from __future__ import annotations

import datetime as dt
import decimal
import hashlib
import json

from sqlalchemy import select

from truce.services import demo as demo_service
from truce.store.models import Base

# Written with the wall clock (audit times, the data revision's stamp): not the demo's content.
CLOCKED = frozenset({"audit_log", "store_revision"})
# table: (rows, digest on SQLite, digest on PostgreSQL when it differs). The meeting's decisions
# record indicators measured on each backend; their JSON differs in number formatting only.
PINNED = {
    "account_plans": (25, "de4c43231d4a7188"),
    "accounts": (1250, "5b015719116b0d78"),
    "campaigns": (243, "5ad1db96d62c963a"),
    "contacts": (5000, "ec88a0d6a6e6952f"),
    "decisions": (3, "5cf6cb90d2463801", "1fff0118525d9934"),
    "discount_approvals": (3, "c8893bcfa947932e"),
    "feedback_items": (286, "4b8c866333522161"),
    "handoffs": (1947, "34022ecf50c5e1ff"),
    "initiatives": (1, "2e6da035d844e4a5"),
    "meeting_agenda_items": (3, "5bf1e1e7cfaa3b03"),
    "meeting_attendees": (5, "5f4253c45b4f157e"),
    "meetings": (1, "1ba42eeca90a5a4e"),
    "opportunities": (703, "2d476c7580eae9b2"),
    "sla_events": (1672, "75ced32cf16c8a67"),
    "stage_changes": (14410, "ceefd87a7824393e"),
    "survey_responses": (40, "d6157f530026a31f"),
    "survey_rounds": (2, "b3ca356ed2dfc846"),
    "targets": (34, "f86d473bc9767b96"),
    "touchpoints": (29313, "4e3fd85025aefc66"),
    "users": (24, "87e129d040bc8284"),
}


def _plain(value):
    """One spelling per value on both backends: naive UTC ISO times, decimals and dates as text."""
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(dt.UTC).replace(tzinfo=None)
        return value.isoformat()
    if isinstance(value, dt.date | decimal.Decimal):
        return str(value)
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True, default=str)
    return value


def table_digests(engine) -> dict[str, tuple[int, str]]:
    """Rows and a digest of every non-empty table, read in primary-key order."""
    found = {}
    with engine.connect() as conn:
        for name, table in sorted(Base.metadata.tables.items()):
            if name in CLOCKED:
                continue
            sha, rows = hashlib.sha256(), 0
            for row in conn.execute(select(table).order_by(*table.primary_key.columns)):
                sha.update(repr(tuple(_plain(v) for v in row)).encode())
                rows += 1
            if rows:
                found[name] = (rows, sha.hexdigest()[:16])
    return found


def expected(backend: str) -> dict[str, tuple[int, str]]:
    index = 2 if backend == "postgresql" else 1
    return {name: (pin[0], pin[min(index, len(pin) - 1)]) for name, pin in PINNED.items()}


def test_the_demo_at_a_fixed_seed_and_day_holds_the_pinned_content(engine, default_config):
    demo_service.build(engine, contacts=5000, seed=7, until=dt.date(2026, 11, 20), config=default_config)

    assert table_digests(engine) == expected(engine.dialect.name)


def index_definitions(engine) -> set[tuple]:
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            query = "SELECT tablename, indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema()"
        else:
            query = "SELECT tbl_name, name, sql FROM sqlite_master WHERE type = 'index'"
        return {tuple(row) for row in conn.exec_driver_sql(query)}


def test_the_demo_leaves_every_index_the_migrations_made(engine, default_config):
    """The load drops plain indexes and builds them after; the store must end with the same ones."""
    migrated = index_definitions(engine)

    demo_service.build(engine, contacts=300, seed=7, until=dt.date(2026, 11, 20), config=default_config)

    assert index_definitions(engine) == migrated
    assert any(name == "ix_touchpoints_contact_at" for _, name, _ in migrated)
