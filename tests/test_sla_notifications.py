"""The messages the handoff's rules owe: lead routed, due soon, breach, MQL pace, feedback waiting.

Business hours 09:00–17:00 Monday to Friday in Europe/Berlin; reminders at 4 and 1 business hours
left ([sla] remind_hours_left). Each message is owed once, by its key, however often a rule runs.
"""

from __future__ import annotations

import datetime as dt
import threading
from zoneinfo import ZoneInfo

import pytest
from conftest import writing
from sqlalchemy import insert, select

from truce import config as truce_config
from truce.services import handoff
from truce.services.lifecycle import move_contact
from truce.services.sla_rules import feedback_waiting, pace
from truce.services.sla_rules.jobs import feedback_reminders, mql_pace, sla_sweep
from truce.services.sla_rules.rounds import run_round
from truce.store.models import Account, Contact, FeedbackItem, Handoff, OutboxMessage, SlaEvent, Touchpoint, User

SlaEventTable = SlaEvent.__table__

BERLIN = ZoneInfo("Europe/Berlin")
TEXT = truce_config.default_text().replace('timezone = "UTC"', 'timezone = "Europe/Berlin"')
CONFIG = truce_config.parse(TEXT, "truce.toml")


def at(month: int, day: int, hour: int, minute: int = 0, year: int = 2026) -> dt.datetime:
    return dt.datetime(year, month, day, hour, minute, tzinfo=BERLIN)


@pytest.fixture
def company(engine):
    """eva and emil sell EMEA enterprise, lea leads sales, mia and max are in marketing; Acme is EMEA enterprise."""
    now = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    people = [
        ("eva", "sales", "EMEA", "enterprise", False),
        ("emil", "sales", "EMEA", "enterprise", False),
        ("lea", "sales", None, None, True),
        ("mia", "marketing", None, None, True),
        ("max", "marketing", None, None, False),
    ]
    ids = {}
    with writing(engine) as conn:
        for name, team, region, segment, leader in people:
            ids[name] = conn.execute(
                insert(User).returning(User.id),
                {"email": f"{name}@yourco.example", "name": name, "team": team, "region": region,
                 "segment": segment, "active": True, "is_leader": leader, "created_at": now},
            ).scalar_one()  # fmt: skip
        account = conn.execute(
            insert(Account).returning(Account.id),
            {"name": "Acme", "region": "EMEA", "segment": "enterprise", "is_key_account": False,
             "created_at": now, "updated_at": now},
        ).scalar_one()  # fmt: skip
        for name in ("ann", "bob"):
            ids[name] = conn.execute(
                insert(Contact).returning(Contact.id),
                {"email": f"{name}@acme.example", "stage": "inquiry", "account_id": account, "created_at": now,
                 "updated_at": now},
            ).scalar_one()  # fmt: skip
    return ids


def mql(engine, contact_id, when):
    with writing(engine) as conn:
        move_contact(conn, CONFIG, contact_id, "mql", at=when, origin="rule", reason="score")


def owed(engine, kind: str) -> list[tuple]:
    with engine.connect() as conn:
        return conn.execute(
            select(OutboxMessage.user_id, OutboxMessage.key, OutboxMessage.link)
            .where(OutboxMessage.kind == kind)
            .order_by(OutboxMessage.id)
        ).all()


def facts(engine, kind: str) -> list[dict]:
    with engine.connect() as conn:
        return list(
            conn.execute(
                select(OutboxMessage.facts).where(OutboxMessage.kind == kind).order_by(OutboxMessage.id)
            ).scalars()
        )


def handoff_id(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(select(Handoff.id).order_by(Handoff.id.desc())).scalars().first()


# ---- lead routed ------------------------------------------------------------------------------------


def test_the_seller_hears_when_a_lead_is_routed_and_assigned_to_them(engine, company):
    mql(engine, company["ann"], at(11, 16, 9))
    handoff.assign(engine, CONFIG, "ann@acme.example", "emil@yourco.example", "lea@yourco.example")
    opened = handoff_id(engine)
    assert owed(engine, "lead_routed") == [
        (
            company["eva"],
            f"lead_routed:handoff:{opened}:owner:{company['eva']}:user:{company['eva']}",
            f"/handoffs#handoff-{opened}",
        ),
        (
            company["emil"],
            f"lead_routed:handoff:{opened}:owner:{company['emil']}:user:{company['emil']}",
            f"/handoffs#handoff-{opened}",
        ),
    ]


# ---- due soon ---------------------------------------------------------------------------------------


def test_it_reminds_the_seller_at_one_hour_left_to_touch_and_at_four_and_one_to_decide(engine, company):
    # MQL Monday 16 November 09:00: first touch due 13:00, decision due Wednesday 18th 17:00.
    mql(engine, company["ann"], at(11, 16, 9))
    ident = handoff_id(engine)
    schedule = [
        (at(11, 16, 11, 59), 0),  # 1 h 1 min to touch; the 4-hour reminder is as long as the clock: none
        (at(11, 16, 12), 1),  # first touch, 1 h
        (at(11, 16, 12, 30), 0),
        (at(11, 18, 12, 59), 0),  # decision: 4 h 1 min left
        (at(11, 18, 13), 1),  # decision, 4 h
        (at(11, 18, 15, 59), 0),
        (at(11, 18, 16), 1),  # decision, 1 h
        (at(11, 18, 16, 30), 0),
    ]
    for moment, expected in schedule:
        assert run_round(engine, CONFIG, moment)["reminders_owed"] == expected, moment
    assert [key for _, key, _ in owed(engine, "sla_due_soon")] == [
        f"sla_due_soon:handoff:{ident}:first_touch:1h:user:{company['eva']}",
        f"sla_due_soon:handoff:{ident}:decision:4h:user:{company['eva']}",
        f"sla_due_soon:handoff:{ident}:decision:1h:user:{company['eva']}",
    ]


def test_a_touched_lead_needs_no_reminder_to_touch(engine, company):
    mql(engine, company["ann"], at(11, 16, 9))
    with writing(engine) as conn:
        conn.execute(
            insert(Touchpoint),
            {"contact_id": company["ann"], "channel": "sales_call", "kind": "sales", "touch_type": "call",
             "occurred_at": at(11, 16, 10), "user_id": company["eva"]},
        )  # fmt: skip
    assert run_round(engine, CONFIG, at(11, 16, 12))["reminders_owed"] == 0


def test_the_reminder_waits_over_the_weekend(engine, company):
    # MQL Friday 20 November 15:00: first touch due Monday 23rd 11:00 (2 h Friday + 2 h Monday);
    # one hour is left from Monday 10:00.
    mql(engine, company["ann"], at(11, 20, 15))
    assert run_round(engine, CONFIG, at(11, 20, 16, 59))["reminders_owed"] == 0
    assert run_round(engine, CONFIG, at(11, 22, 12))["reminders_owed"] == 0
    assert run_round(engine, CONFIG, at(11, 23, 9, 59))["reminders_owed"] == 0
    assert run_round(engine, CONFIG, at(11, 23, 10))["reminders_owed"] == 1


def test_the_reminder_follows_the_march_clock_change(engine, company):
    # MQL Friday 26 March 2027 14:00 CET: 3 h on Friday, so the first touch is due Monday 29th
    # 10:00 CEST = 08:00 UTC, and one hour is left from Friday's close, 17:00 CET = 16:00 UTC.
    mql(engine, company["ann"], at(3, 26, 14, year=2027))
    assert run_round(engine, CONFIG, dt.datetime(2027, 3, 26, 15, 59, tzinfo=dt.UTC))["reminders_owed"] == 0
    assert run_round(engine, CONFIG, dt.datetime(2027, 3, 26, 16, 0, tzinfo=dt.UTC))["reminders_owed"] == 1
    (fact,) = facts(engine, "sla_due_soon")
    assert fact["due_at"] == "2027-03-29T08:00:00+00:00"


# ---- breaches ---------------------------------------------------------------------------------------


def test_the_seller_and_the_sales_leaders_hear_of_a_breach_once(engine, company):
    mql(engine, company["ann"], at(11, 16, 9))
    run_round(engine, CONFIG, at(11, 16, 13, 1))  # no touch by 13:00
    run_round(engine, CONFIG, at(11, 16, 13, 2))
    assert sorted(user for user, _, _ in owed(engine, "sla_breach")) == sorted([company["eva"], company["lea"]])


def test_a_decision_made_late_is_a_breach_the_seller_and_the_leaders_hear_of_at_once(engine, company):
    mql(engine, company["ann"], at(11, 16, 9))  # Monday 09:00: 24 business hours (9–17) run out Thursday 09:00
    handoff.accept(engine, CONFIG, "ann@acme.example", "eva@yourco.example", at=at(11, 20, 10))  # Friday
    with engine.connect() as conn:
        breach = conn.execute(select(SlaEvent.id, SlaEvent.kind)).one()
    assert breach.kind == "decision_late"
    assert owed(engine, "sla_breach") == [
        (company["eva"], f"sla_breach:event:{breach.id}:user:{company['eva']}", "/sla"),
        (company["lea"], f"sla_breach:event:{breach.id}:user:{company['lea']}", "/sla"),
    ]


def test_two_sweep_jobs_at_once_owe_each_message_once(engine, company):
    mql(engine, company["ann"], at(11, 16, 9))
    mql(engine, company["bob"], at(11, 16, 9))
    errors = []

    def run():
        try:
            sla_sweep(engine, CONFIG, at(11, 16, 13, 1))
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    # ann went to eva and bob to emil (round robin); each missed the first touch. Every breach is
    # told to its seller and to lea exactly once, alone or in a message naming several.
    with engine.connect() as conn:
        rows = conn.execute(select(OutboxMessage.user_id, OutboxMessage.facts).where(
            OutboxMessage.kind == "sla_breach")).all()  # fmt: skip
        seller_of = dict(conn.execute(select(SlaEventTable.c.id, SlaEventTable.c.user_id)).all())
    told: dict[int, list[int]] = {}
    for user, fact in rows:
        told.setdefault(user, []).extend(
            [fact["sla_event_id"]] if "sla_event_id" in fact else fact["sla_events"]["ids"]
        )
    assert len(seller_of) == 2
    assert {user: sorted(ids) for user, ids in told.items()} == {
        **{seller: [event] for event, seller in seller_of.items()},
        company["lea"]: sorted(seller_of),
    }
    assert set(seller_of.values()) == {company["eva"], company["emil"]}


# ---- MQL pace ---------------------------------------------------------------------------------------


def _handoffs_in(engine, contact_id: int, count: int, when: dt.datetime, previous: int | None = None) -> None:
    row = {"contact_id": contact_id, "mql_at": when, "status": "accepted", "first_touch_due_at": when,
           "decision_due_at": when, "attempts": 0, "created_at": when, "updated_at": when}  # fmt: skip
    with writing(engine) as conn:
        first = conn.execute(insert(Handoff).returning(Handoff.id), [row]).scalar_one()
        if count > 1:
            conn.execute(insert(Handoff), [row] * (count - 1))
        if previous is not None:
            conn.execute(insert(Handoff), [dict(row, previous_handoff_id=first)] * previous)


def test_marketing_hears_once_a_day_when_mqls_are_behind_pace(engine, company):
    # November 2026: 168 business hours; Wednesday 11th 09:00 is a third of them: 33 expected of 100.
    _handoffs_in(engine, company["ann"], 32, at(11, 3, 10), previous=5)  # 5 re-routes count for nothing
    done = mql_pace(engine, CONFIG, at(11, 11, 9))
    assert done == {"mqls_expected": 33, "mqls_actual": 32, "behind": 1, "pace_messages": 2}
    assert mql_pace(engine, CONFIG, at(11, 11, 15))["pace_messages"] == 0, "once a day"
    assert mql_pace(engine, CONFIG, at(11, 12, 9))["pace_messages"] == 2
    assert sorted(user for user, _, _ in owed(engine, "mql_pace")) == sorted([company["mia"], company["max"]] * 2)


def test_marketing_on_pace_hears_nothing(engine, company):
    _handoffs_in(engine, company["ann"], 33, at(11, 3, 10))
    assert pace.check_pace(engine, CONFIG, at(11, 11, 9))["behind"] == 0
    assert owed(engine, "mql_pace") == []


# ---- feedback waiting -------------------------------------------------------------------------------


def test_marketing_hears_of_feedback_unanswered_for_a_week_once_a_day(engine, company):
    given = dt.datetime(2026, 11, 2, 10, tzinfo=dt.UTC)
    with writing(engine) as conn:
        for status in ("new", "new", "acknowledged"):
            conn.execute(
                insert(FeedbackItem),
                {"kind": "lead_quality", "text": "Leads from the webinar were students", "author_id": company["eva"],
                 "status": status, "created_at": given},
            )  # fmt: skip
    assert feedback_reminders(engine, CONFIG, given + dt.timedelta(days=6, hours=23)) == {
        "feedback_waiting": 0, "feedback_messages": 0}  # fmt: skip
    assert feedback_waiting.remind(engine, CONFIG, given + dt.timedelta(days=7)) == {
        "feedback_waiting": 2, "feedback_messages": 2}  # fmt: skip
    assert feedback_reminders(engine, CONFIG, given + dt.timedelta(days=7, hours=3))["feedback_messages"] == 0
    assert sorted(user for user, _, _ in owed(engine, "feedback_waiting")) == sorted([company["mia"], company["max"]])
    assert {link for _, _, link in owed(engine, "feedback_waiting")} == {"/feedback"}
