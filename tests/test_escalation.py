"""Escalation past the decision deadline: the leader is told, then the lead is re-routed or nurtured.

The company: eva sells EMEA enterprise, nick NA smb, lea leads sales, mia is in marketing; Acme
is an EMEA enterprise account. Business hours 09:00–17:00 Monday to Friday in Europe/Berlin, and
the default [sla.escalation]: leader told 8 business hours after the decision deadline, lead taken
away after 16, re-routed once, then nurtured.

ann becomes an MQL on Monday 16 November 2026 at 09:00: routed to eva (territory), decision due
Wednesday 18th 17:00 (24 business hours), leader told Thursday 19th 17:00, taken away Friday
20th 17:00.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
from zoneinfo import ZoneInfo

import pytest
from conftest import writing
from sqlalchemy import insert, select
from typer.testing import CliRunner

from truce import config as truce_config
from truce.cli import app
from truce.services import custody, handoff, sla_report
from truce.services.lifecycle import move_contact
from truce.services.sla_rules.rounds import run_round
from truce.store.models import Account, AuditEntry, Contact, Handoff, OutboxMessage, SlaEvent, StageChange, User

BERLIN = ZoneInfo("Europe/Berlin")
TEXT = truce_config.default_text().replace('timezone = "UTC"', 'timezone = "Europe/Berlin"')
CONFIG = truce_config.parse(TEXT, "truce.toml")
NURTURING = truce_config.parse(TEXT.replace('action = "reroute"', 'action = "nurture"'), "truce.toml")
MQL_AT = dt.datetime(2026, 11, 16, 9, tzinfo=BERLIN)


def at(day: int, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(2026, 11, day, hour, minute, tzinfo=BERLIN)


TOLD_AT, TAKEN_AT = at(19, 17), at(20, 17)


@pytest.fixture
def company(engine):
    now = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
    people = [
        ("eva@seller.example", "sales", "EMEA", "enterprise", False),
        ("nick@seller.example", "sales", "NA", "smb", False),
        ("lea@seller.example", "sales", None, None, True),
        ("mia@marketing.example", "marketing", None, None, False),
    ]
    ids = {}
    with writing(engine) as conn:
        for email, team, region, segment, leader in people:
            ids[email.split("@")[0]] = conn.execute(
                insert(User).returning(User.id),
                {"email": email, "name": email, "team": team, "region": region, "segment": segment,
                 "active": True, "is_leader": leader, "created_at": now},
            ).scalar_one()  # fmt: skip
        account = conn.execute(
            insert(Account).returning(Account.id),
            {"name": "Acme", "region": "EMEA", "segment": "enterprise", "is_key_account": False,
             "created_at": now, "updated_at": now},
        ).scalar_one()  # fmt: skip
        for name in ("ann", "bob", "cat", "dan", "eve", "fay"):
            ids[name] = conn.execute(
                insert(Contact).returning(Contact.id),
                {"email": f"{name}@acme.example", "stage": "inquiry", "account_id": account, "created_at": now,
                 "updated_at": now},
            ).scalar_one()  # fmt: skip
    return ids


def mql(engine, *contact_ids, config=CONFIG):
    for contact_id in contact_ids:
        with writing(engine) as conn:
            move_contact(conn, config, contact_id, "mql", at=MQL_AT, origin="rule", reason="score")


def handoffs(engine) -> list:
    with engine.connect() as conn:
        return conn.execute(select(Handoff).order_by(Handoff.id)).mappings().all()


def messages(engine, kind: str) -> list[tuple[int, str]]:
    with engine.connect() as conn:
        return conn.execute(
            select(OutboxMessage.user_id, OutboxMessage.subject).where(OutboxMessage.kind == kind).order_by(
                OutboxMessage.id)
        ).all()  # fmt: skip


def breaches(engine) -> list[tuple]:
    with engine.connect() as conn:
        return conn.execute(select(SlaEvent.handoff_id, SlaEvent.kind, SlaEvent.user_id).order_by(SlaEvent.id)).all()


def test_it_tells_the_leader_eight_business_hours_after_the_deadline_once(engine, company):
    mql(engine, company["ann"])
    assert run_round(engine, CONFIG, at(19, 16, 59))["leaders_told"] == 0
    assert messages(engine, "sla_escalated") == []
    assert run_round(engine, CONFIG, TOLD_AT)["leaders_told"] == 1
    assert run_round(engine, CONFIG, at(19, 17, 30))["leaders_told"] == 0
    assert messages(engine, "sla_escalated") == [
        (company["lea"], "Escalation: ann@acme.example waits past its decision deadline")
    ]
    (waiting,) = handoffs(engine)
    assert waiting["escalation"] == "leader_told" and waiting["status"] == "open"
    assert waiting["escalation_due_at"] == TAKEN_AT


def test_it_reroutes_to_the_next_seller_by_the_rules_never_the_same_one(engine, company):
    mql(engine, company["ann"])
    done = run_round(engine, CONFIG, TAKEN_AT)  # the worker was off on Thursday: straight to the last step
    assert (done["rerouted"], done["nurtured"]) == (1, 0)
    expired, fresh = handoffs(engine)
    assert (expired["owner_id"], expired["status"], expired["escalation"]) == (company["eva"], "expired", "rerouted")
    assert expired["rejection_reason"] == "sla_expired" and expired["escalation_due_at"] is None
    # Without eva, no seller matches the territory or the segment: the rules fall through to anyone.
    assert fresh["owner_id"] == company["nick"]
    assert fresh["routing_rule"] == "re-routed: any seller, round robin"
    assert fresh["previous_handoff_id"] == expired["id"] and fresh["status"] == "open"
    assert fresh["mql_at"] == MQL_AT, "the lead became an MQL once"
    # Fresh clocks from Friday 17:00: first touch Monday 23rd 13:00, decision Wednesday 25th 17:00.
    assert (fresh["first_touch_due_at"], fresh["decision_due_at"]) == (at(23, 13), at(25, 17))
    with engine.connect() as conn:
        assert (
            conn.execute(select(Contact.owner_id).where(Contact.id == company["ann"])).scalar_one() == company["nick"]
        )
    assert (expired["id"], "decision_expired", company["eva"]) in breaches(engine)
    assert messages(engine, "lead_routed")[-1] == (company["nick"], "A lead was re-routed to you: ann@acme.example")
    assert sorted(u for u, _ in messages(engine, "sla_escalated")) == sorted([company["eva"], company["lea"]])


def test_the_custody_record_keeps_the_breach_of_the_seller_who_let_it_expire(engine, company):
    mql(engine, company["ann"])
    run_round(engine, CONFIG, TAKEN_AT)
    kinds = [kind for _, kind, _ in breaches(engine)]
    assert kinds == ["first_touch_late", "decision_late", "decision_expired"]
    report = custody.cold_leads(engine, CONFIG, at(20, 17) + dt.timedelta(days=30))
    (cold,) = [lead for lead in report["leads"] if lead["email"] == "ann@acme.example"]
    assert cold["sla_broken"] == ["decision_expired", "decision_late", "first_touch_late"]


def test_a_rerouted_lead_is_one_mql_in_the_sla_report(engine, company):
    mql(engine, company["ann"], company["bob"])
    run_round(engine, CONFIG, TAKEN_AT)
    month = sla_report.report(engine, CONFIG, TAKEN_AT, with_queue=False)["marketing"]["by_month"]
    assert [(m["month"], m["mqls"]) for m in month] == [("2026-11", 2)]


def test_a_lead_rerouted_once_goes_to_nurture_at_its_next_expiry(engine, company):
    mql(engine, company["ann"])
    run_round(engine, CONFIG, TAKEN_AT)
    # nick's clock: decision due Wednesday 25th 17:00, taken away 16 business hours later, Friday 27th 17:00.
    assert run_round(engine, CONFIG, at(27, 16, 59))["nurtured"] == 0
    done = run_round(engine, CONFIG, at(27, 17))
    assert (done["rerouted"], done["nurtured"]) == (0, 1)
    assert [h["status"] for h in handoffs(engine)] == ["expired", "expired"]
    assert handoffs(engine)[1]["escalation"] == "nurtured"
    _assert_nurtured(engine, company["ann"], at(27, 17))
    assert (handoffs(engine)[1]["id"], "decision_expired", company["nick"]) in breaches(engine)


def _assert_nurtured(engine, contact_id, when):
    with engine.connect() as conn:
        assert conn.execute(select(Contact.stage).where(Contact.id == contact_id)).scalar_one() == "recycled"
        last = conn.execute(
            select(StageChange).where(StageChange.entity_id == contact_id).order_by(StageChange.id.desc())
        ).first()
    assert (last.from_stage, last.to_stage, last.reason, last.origin) == ("mql", "recycled", "sla_expired", "rule")
    assert (last.team_before, last.team_after) == ("sales", "marketing")
    assert last.changed_at == when


def test_with_action_nurture_the_lead_goes_back_to_marketing(engine, company):
    mql(engine, company["ann"], config=NURTURING)
    done = run_round(engine, NURTURING, TAKEN_AT)
    assert (done["rerouted"], done["nurtured"]) == (0, 1)
    (expired,) = handoffs(engine)
    assert (expired["status"], expired["escalation"]) == ("expired", "nurtured")
    _assert_nurtured(engine, company["ann"], TAKEN_AT)
    assert messages(engine, "lead_routed") == [(company["eva"], "A lead was routed to you: ann@acme.example")]


def test_a_lead_nobody_else_could_take_goes_to_nurture(engine, company):
    with writing(engine) as conn:  # nick left; lea, the leader, only reads (leads go to those who decide)
        conn.execute(User.__table__.update().where(User.id == company["nick"]).values(active=False))
        conn.execute(User.__table__.update().where(User.id == company["lea"]).values(access="viewer"))
    mql(engine, company["ann"])
    assert run_round(engine, CONFIG, TAKEN_AT)["nurtured"] == 1
    _assert_nurtured(engine, company["ann"], TAKEN_AT)


def test_a_decision_stops_the_escalation(engine, company):
    mql(engine, company["ann"])
    handoff.accept(engine, CONFIG, "ann@acme.example", "eva@seller.example", at=at(19, 10))
    assert run_round(engine, CONFIG, TAKEN_AT + dt.timedelta(days=30))["leaders_told"] == 0
    (decided,) = handoffs(engine)
    assert (decided["status"], decided["escalation"], decided["escalation_due_at"]) == ("accepted", None, None)


def test_each_escalation_is_in_the_audit_trail(engine, company):
    mql(engine, company["ann"], company["bob"])
    run_round(engine, CONFIG, TAKEN_AT, actor="cron@yourco.example")
    with engine.connect() as conn:
        (entry,) = conn.execute(select(AuditEntry).where(AuditEntry.action == "sla_escalate")).all()
    expired = [h["id"] for h in handoffs(engine) if h["status"] == "expired"]
    fresh = [h["id"] for h in handoffs(engine) if h["previous_handoff_id"] is not None]
    assert entry.actor == "cron@yourco.example"
    assert (entry.after["rerouted"], entry.after["nurtured"], entry.after["leaders_told"]) == (2, 0, 0)
    assert entry.after["rerouted_handoff_id_ranges"] == [[min(expired), max(expired)]]
    assert entry.after["new_handoff_id_ranges"] == [[min(fresh), max(fresh)]]


def test_two_sweeps_at_once_escalate_each_lead_once(engine, company):
    leads = [company[name] for name in ("ann", "bob", "cat", "dan", "eve", "fay")]
    mql(engine, *leads)
    results, errors = [], []

    def sweep():
        try:
            results.append(run_round(engine, CONFIG, TAKEN_AT))
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=sweep) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sum(r["rerouted"] for r in results) == 6
    assert len([h for h in handoffs(engine) if h["status"] == "expired"]) == 6
    assert len([h for h in handoffs(engine) if h["status"] == "open"]) == 6
    assert [kind for _, kind, _ in breaches(engine)].count("decision_expired") == 6
    with engine.connect() as conn:
        keys = conn.execute(select(OutboxMessage.key)).scalars().all()
    assert len(keys) == len(set(keys))


def test_truce_sla_sweep_reports_the_escalations_as_counts(database_url, engine, company):
    mql(engine, company["ann"])
    result = CliRunner().invoke(app, ["sla", "sweep", "--db", database_url, "--at", "2026-12-31T12:00Z", "--json"])
    assert result.exit_code == 0, result.output
    done = json.loads(result.output)
    assert {k: done[k] for k in ("breaches_recorded", "leaders_told", "rerouted", "nurtured")} == {
        "breaches_recorded": 2, "leaders_told": 0, "rerouted": 1, "nurtured": 0}  # fmt: skip
    assert isinstance(done["reminders_owed"], int) and isinstance(done["escalation_messages"], int)
    assert done["escalation_messages"] == 2  # lea and eva
