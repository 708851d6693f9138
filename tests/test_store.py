"""The store: migrations both ways, exact money, UTC time, and a ledger nobody can rewrite."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from conftest import writing
from sqlalchemy import insert, inspect, select, text
from sqlalchemy.exc import DBAPIError

from truce.store import db
from truce.store.models import AuditEntry, Base, Contact, Handoff, Opportunity, SlaEvent, StageChange

NOW = dt.datetime(2026, 11, 20, 10, 30, tzinfo=dt.UTC)


def test_it_upgrades_an_empty_database_and_downgrades_it_again(database_url):
    engine = db.connect(database_url)
    db.downgrade(engine, db.HISTORY_REVISION)  # every migration's own downgrade, down to the first
    assert db.current_revision(engine) == db.HISTORY_REVISION
    db.downgrade(engine, "base")
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    db.upgrade(engine)
    assert set(Base.metadata.tables) <= set(inspect(engine).get_table_names())
    assert db.current_revision(engine) == db.head_revision()
    engine.dispose()


def _history_of_one_move(engine) -> None:
    """One stage move and its audit entry."""
    now = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    with writing(engine) as conn:
        contact_id = _contact(conn)
        conn.execute(
            insert(StageChange),
            {"entity_type": "contact", "entity_id": contact_id, "to_stage": "mql", "changed_at": now,
             "origin": "test", "recorded_at": now},
        )  # fmt: skip
        conn.execute(
            insert(AuditEntry),
            {"at": now, "actor": "test", "action": "stage_move", "entity_type": "contact", "entity_id": contact_id,
             "before": {"stage": "inquiry"}, "after": {"stage": "mql"}},
        )  # fmt: skip


def _history_rows(engine) -> tuple[list, list]:
    with engine.connect() as conn:
        return (
            conn.execute(select(AuditEntry.id, AuditEntry.action)).all(),
            conn.execute(select(StageChange.id, StageChange.to_stage)).all(),
        )


def test_a_downgrade_that_drops_the_trail_and_the_ledger_refuses_while_they_hold_rows(engine):
    _history_of_one_move(engine)
    kept = _history_rows(engine)
    for target in ("base", f"-{int(db.head_revision())}"):  # every migration back, by name and by count
        with pytest.raises(db.HistoryAtStake, match="1 audit entry and 1 stage-ledger row would be lost") as refused:
            db.downgrade(engine, target)
        assert (refused.value.audit_entries, refused.value.ledger_rows) == (1, 1)
        assert db.current_revision(engine) == db.head_revision() and _history_rows(engine) == kept
    db.downgrade(engine, db.HISTORY_REVISION)  # the first migration made them; undoing the others keeps them
    assert _history_rows(engine) == kept
    with pytest.raises(db.HistoryAtStake):
        db.downgrade(engine, "-1")
    db.downgrade(engine, "base", discard_history=True)
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}


def test_a_downgrade_past_0010_refuses_expired_handoffs_and_breaches_the_older_schema_cannot_hold(engine):
    with writing(engine) as conn:
        contact = conn.execute(insert(Contact).returning(Contact.id), {
            "email": "ann@acme.example", "stage": "mql", "created_at": NOW, "updated_at": NOW}).scalar_one()  # fmt: skip
        handoff = conn.execute(insert(Handoff).returning(Handoff.id), {
            "contact_id": contact, "mql_at": NOW, "status": "expired", "created_at": NOW, "updated_at": NOW,
            "first_touch_due_at": NOW, "decision_due_at": NOW}).scalar_one()  # fmt: skip
        conn.execute(insert(SlaEvent), {"handoff_id": handoff, "contact_id": contact, "side": "sales",
                                        "kind": "decision_expired", "due_at": NOW, "detected_at": NOW})  # fmt: skip
    for target in ("0009", "0004"):
        with pytest.raises(db.OlderSchemaCannotHold, match=f"1 expired handoff and 1 decision_expired breach, which "
                                                           f"schema {target} cannot hold"):  # fmt: skip
            db.downgrade(engine, target)
        assert db.current_revision(engine) == db.head_revision()
    db.downgrade(engine, "0010")  # 0011 and later are undone; the rows stay
    assert db.current_revision(engine) == "0010"
    db.downgrade(engine, "base", discard_history=True)  # back to nothing: every table dropped
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}


def test_it_refuses_a_database_without_tables_and_says_how_to_fix_it(tmp_path):
    engine = db.connect(f"sqlite:///{tmp_path / 'empty.db'}")
    with pytest.raises(db.SchemaError, match="truce db upgrade"):
        db.require_current_schema(engine)


def test_it_refuses_an_older_schema(engine):
    with writing(engine) as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '0000'"))
    with pytest.raises(db.SchemaError, match="at schema 0000.*truce db upgrade"):
        db.require_current_schema(engine)


def test_the_newest_migration_file_names_alembics_head():
    # The quick schema check reads the last numbered file; alembic reads the whole chain.
    assert db.newest_migration() == db.head_revision()


def test_it_accepts_a_current_schema_without_asking_alembic(engine, monkeypatch):
    import sys

    db.require_current_schema(engine)  # the engine fixture upgraded it: current, so quiet
    monkeypatch.setitem(sys.modules, "alembic", None)  # importing alembic now fails
    db.require_current_schema(engine)


def test_it_refuses_a_store_stamped_with_two_heads(engine):
    # Two rows in the version table is not "current", even when one of them is the newest.
    with writing(engine) as conn:
        conn.execute(text("INSERT INTO alembic_version (version_num) VALUES ('0000')"))
    with pytest.raises(db.SchemaError, match="more than one head"):  # alembic's words, without a traceback
        db.require_current_schema(engine)


def _contact(conn, email="ann@acme.example", **extra) -> int:
    now = dt.datetime(2026, 1, 5, 9, 30, tzinfo=ZoneInfo("Europe/Berlin"))
    values = {"email": email, "stage": "inquiry", "created_at": now, "updated_at": now, **extra}
    return conn.execute(insert(Contact).returning(Contact.id), values).scalar_one()


def test_it_keeps_money_exact_to_the_cent(engine):
    amounts = [Decimal("0.10"), Decimal("0.20"), Decimal("123456789012.34"), Decimal("99999.99")]
    with writing(engine) as conn:
        now = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
        for amount in amounts:
            conn.execute(
                insert(Opportunity), {"amount": amount, "stage": "Prospecting", "created_at": now, "updated_at": now}
            )
    with engine.connect() as conn:
        stored = conn.execute(select(Opportunity.amount).order_by(Opportunity.id)).scalars().all()
    assert stored == amounts
    assert all(isinstance(value, Decimal) for value in stored)


def test_it_refuses_float_money(engine):
    with pytest.raises(Exception, match="float"):
        with writing(engine) as conn:
            now = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
            conn.execute(insert(Opportunity), {"amount": 0.1, "stage": "x", "created_at": now, "updated_at": now})


def test_it_stores_time_in_utc_and_returns_it_aware(engine):
    with writing(engine) as conn:
        contact_id = _contact(conn)
    with engine.connect() as conn:
        created = conn.execute(select(Contact.created_at).where(Contact.id == contact_id)).scalar_one()
    assert created.utcoffset() == dt.timedelta(0)
    assert created == dt.datetime(2026, 1, 5, 8, 30, tzinfo=dt.UTC)  # 09:30 in Berlin in winter


def test_it_refuses_a_timestamp_without_a_zone(engine):
    with pytest.raises(Exception, match="no time zone"):
        with writing(engine) as conn:
            _contact(conn, created_at=dt.datetime(2026, 1, 1))


def test_it_refuses_two_contacts_with_one_email(engine):
    with writing(engine) as conn:
        _contact(conn)
    with pytest.raises(DBAPIError):
        with writing(engine) as conn:
            _contact(conn)


@pytest.mark.parametrize("statement", ["UPDATE stage_changes SET to_stage = 'customer'", "DELETE FROM stage_changes"])
def test_it_refuses_to_rewrite_the_stage_ledger(engine, statement):
    with writing(engine) as conn:
        contact_id = _contact(conn)
        now = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
        conn.execute(
            insert(StageChange),
            {
                "entity_type": "contact",
                "entity_id": contact_id,
                "to_stage": "inquiry",
                "changed_at": now,
                "origin": "test",
                "recorded_at": now,
            },
        )
    with pytest.raises(DBAPIError, match="append-only"):
        with writing(engine) as conn:
            conn.execute(text(statement))
    with engine.connect() as conn:
        assert conn.execute(select(StageChange.to_stage)).scalars().all() == ["inquiry"]


def test_it_refuses_to_delete_the_audit_trail(engine):
    with writing(engine) as conn:
        conn.execute(
            text("INSERT INTO audit_log (at, actor, action, entity_type) VALUES ('2026-01-01 00:00:00', 'a', 'b', 'c')")
        )
    with pytest.raises(DBAPIError, match="append-only"):
        with writing(engine) as conn:
            conn.execute(text("DELETE FROM audit_log"))


def test_a_bare_path_means_a_sqlite_file():
    assert db.resolve_url("some/where.db") == "sqlite:///some/where.db"
    assert db.resolve_url("postgresql://u@h/d") == "postgresql+psycopg://u@h/d"


def test_the_database_url_comes_from_the_environment_when_not_given(monkeypatch):
    monkeypatch.setenv("TRUCE_DATABASE_URL", "postgresql+psycopg://x@y/z")
    assert db.resolve_url(None) == "postgresql+psycopg://x@y/z"
    monkeypatch.delenv("TRUCE_DATABASE_URL")
    assert db.resolve_url(None) == "sqlite:///truce.db"


def test_it_refuses_to_rewrite_a_recorded_sla_breach(engine):
    with writing(engine) as conn:
        conn.execute(
            text(
                "INSERT INTO sla_events (side, kind, due_at, detected_at) "
                "VALUES ('sales', 'decision_late', '2026-01-01 00:00:00', '2026-01-02 00:00:00')"
            )
        )
    for statement in ("UPDATE sla_events SET side = 'marketing'", "DELETE FROM sla_events"):
        with pytest.raises(DBAPIError, match="append-only"):
            with writing(engine) as conn:
                conn.execute(text(statement))
