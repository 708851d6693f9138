"""The SLA sweep and the history rebuild name what they recorded in the audit trail, in the same transaction.

tests/test_audit_every_write.py checks the entries `truce sla sweep` and `truce sla rebuild`
leave through the CLI; here are the parts a command line cannot show: batches, rollback
together, and the runs of ids the entries use.
"""

from __future__ import annotations

import datetime as dt

import pytest
from conftest import writing
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import insert, select

from truce import config as truce_config
from truce.services import handoff_history, records, sla
from truce.services.logins import add_user
from truce.store.models import AuditEntry, Contact, Handoff, SlaEvent, StageChange

CONFIG = truce_config.parse(truce_config.default_text(), "truce.toml")
LATE = dt.datetime(2030, 1, 7, 12, tzinfo=dt.UTC)  # long after every deadline here


@pytest.fixture
def waiting(engine) -> list[int]:
    """Three leads handed to sales at MQL, never touched or decided: each will break both promises."""
    revops = add_user(engine, email="ria@yourco.example", team="revops", actor="setup")
    return [
        records.create_record(
            engine, CONFIG, "contacts", {"email": f"{name}@acme.example", "stage": "mql"}, actor_id=revops,
            actor="setup",
        )["id"]
        for name in ("ann", "bob", "cy")
    ]  # fmt: skip


def _entries(engine, action: str) -> list:
    with engine.connect() as conn:
        return conn.execute(select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)).all()


def _ids(engine, model) -> list[int]:
    with engine.connect() as conn:
        return list(conn.execute(select(model.id).order_by(model.id)).scalars())


def _expand(ranges: list[list[int]]) -> list[int]:
    return [record_id for first, last in ranges for record_id in range(first, last + 1)]


def _no_trail(*args, **kwargs):
    raise RuntimeError("the trail is unavailable")


def test_ids_are_named_as_runs_of_consecutive_ids():
    assert sla.id_ranges([]) == []
    assert sla.id_ranges([5]) == [[5, 5]]
    assert sla.id_ranges([9, 3, 1, 2, 7, 8, 12, 2]) == [[1, 3], [7, 9], [12, 12]]


@given(st.lists(st.integers(min_value=1, max_value=200)))
def test_the_runs_name_every_id_once_and_nothing_else(ids):
    runs = sla.id_ranges(ids)
    assert _expand(runs) == sorted(set(ids))
    assert all(later[0] > earlier[1] + 1 for earlier, later in zip(runs, runs[1:], strict=False))


def test_each_sweep_transaction_names_the_breaches_it_recorded(engine, waiting):
    recorded = sla.sweep(engine, CONFIG, now=LATE, batch=2, actor="cron@yourco.example")
    assert len(recorded) == 6  # three leads, first touch and decision each
    entries = _entries(engine, "sla_sweep")
    assert len(entries) == 2, "a batch of two handoffs, then one of one: two transactions"
    named = [_expand(e.after["sla_event_id_ranges"]) for e in entries]
    assert sorted(sum(named, [])) == _ids(engine, SlaEvent) == sorted(b["id"] for b in recorded)
    assert [len(ids) for ids in named] == [4, 2]
    assert [e.after["breaches_by_side"] for e in entries] == [{"sales": 4}, {"sales": 2}]
    assert {e.actor for e in entries} == {"cron@yourco.example"}
    assert all((e.entity_type, e.entity_id, e.before) == ("sla_events", None, None) for e in entries)


def test_a_sweep_whose_audit_entry_fails_records_no_breach(engine, waiting, monkeypatch):
    monkeypatch.setattr(sla, "write_audit", _no_trail)
    with pytest.raises(RuntimeError, match="the trail is unavailable"):
        sla.sweep(engine, CONFIG, now=LATE)
    assert _ids(engine, SlaEvent) == [] and _entries(engine, "sla_sweep") == []
    monkeypatch.undo()
    assert len(sla.sweep(engine, CONFIG, now=LATE)) == 6, "the rolled-back handoffs are still due"


def _moved_to_mql_without_a_handoff(engine) -> int:
    """A lead whose move into the handoff stage is in the ledger, as an import leaves it: no handoff."""
    now = dt.datetime(2026, 11, 2, 9, tzinfo=dt.UTC)
    with writing(engine) as conn:
        contact = conn.execute(
            insert(Contact).returning(Contact.id),
            {"email": "dee@acme.example", "stage": "mql", "created_at": now, "updated_at": now},
        ).scalar_one()
        conn.execute(
            insert(StageChange),
            {"entity_type": "contact", "entity_id": contact, "from_stage": "inquiry", "to_stage": "mql",
             "changed_at": now, "origin": "import", "recorded_at": now},
        )  # fmt: skip
    return contact


def test_a_rebuild_names_the_handoffs_and_breaches_it_created(engine):
    contact = _moved_to_mql_without_a_handoff(engine)
    result = handoff_history.rebuild(engine, CONFIG, now=LATE, actor="ria@yourco.example")
    (entry,) = _entries(engine, "sla_rebuild")
    with engine.connect() as conn:
        handoffs = conn.execute(select(Handoff.id).where(Handoff.contact_id == contact)).scalars().all()
    assert (entry.actor, entry.entity_type, entry.before) == ("ria@yourco.example", "handoffs", None)
    assert _expand(entry.after["handoff_id_ranges"]) == handoffs and len(handoffs) == 1
    assert _expand(entry.after["sla_event_id_ranges"]) == _ids(engine, SlaEvent)
    assert entry.after["breaches_by_kind"] == {"decision_late": 1, "first_touch_late": 1}
    assert result == {"handoffs_created": 1, "breaches_recorded": 2}
    assert handoff_history.rebuild(engine, CONFIG, now=LATE)["handoffs_created"] == 0
    assert len(_entries(engine, "sla_rebuild")) == 1, "a rebuild that created nothing wrote to the trail"


def test_a_rebuild_whose_audit_entry_fails_creates_nothing(engine, monkeypatch):
    _moved_to_mql_without_a_handoff(engine)
    monkeypatch.setattr(sla, "write_audit", _no_trail)
    with pytest.raises(RuntimeError, match="the trail is unavailable"):
        handoff_history.rebuild(engine, CONFIG, now=LATE)
    assert _ids(engine, Handoff) == [] and _ids(engine, SlaEvent) == []
