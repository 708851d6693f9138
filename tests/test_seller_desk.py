"""The seller's desk on the store: cards, my standing, logging a touch, claiming, undoing — and who may."""

from __future__ import annotations

import datetime as dt

import pytest
from conftest import writing
from sqlalchemy import insert, select, update

from truce import config as truce_config
from truce.domain.access import Forbidden
from truce.services import desk, handoff
from truce.services.handoff import HandoffRefused
from truce.services.lifecycle import move_contact
from truce.store.models import Account, AuditEntry, Campaign, Contact, Handoff, SlaEvent, StageChange, Touchpoint, User

CONFIG = truce_config.parse(truce_config.default_text(), "truce.toml")  # UTC, 09:00–17:00 Mon–Fri, 4 h and 24 h


def at(day: int, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(2026, 11, day, hour, minute, tzinfo=dt.UTC)  # 16 November 2026 is a Monday


@pytest.fixture
def company(engine):
    """Eva sells EMEA enterprise, Nick NA smb; Acme (EMEA enterprise) has three inquiries, one with a campaign touch."""
    ids = {}
    with writing(engine) as conn:
        for email, region, segment in (
            ("eva@seller.example", "EMEA", "enterprise"),
            ("nick@seller.example", "NA", "smb"),
        ):
            ids[email] = conn.execute(insert(User).returning(User.id), {
                "email": email, "name": email.split("@")[0].title(), "team": "sales", "region": region,
                "segment": segment, "active": True, "is_leader": False, "created_at": at(1, 9)}).scalar_one()  # fmt: skip
        account = conn.execute(insert(Account).returning(Account.id), {
            "name": "Acme Analytics", "domain": "acme.example", "region": "EMEA", "segment": "enterprise",
            "is_key_account": True, "created_at": at(1, 9), "updated_at": at(1, 9)}).scalar_one()  # fmt: skip
        for first, title in (("ann", "CFO"), ("bob", None), ("cat", None)):
            ids[first] = conn.execute(insert(Contact).returning(Contact.id), {
                "email": f"{first}@acme.example", "first_name": first.title(), "last_name": "Fischer",
                "title": title, "stage": "inquiry", "account_id": account, "source_channel": "organic_search",
                "created_at": at(1, 9), "updated_at": at(1, 9)}).scalar_one()  # fmt: skip
        webinar, fair = (
            conn.execute(insert(Campaign).returning(Campaign.id), {"name": name, "channel": channel}).scalar_one()
            for name, channel in (("Fall webinar", "webinar"), ("Spring fair", "events"))
        )
        conn.execute(insert(Touchpoint), [
            {"contact_id": ids["ann"], "campaign_id": fair, "channel": "events", "kind": "marketing",
             "touch_type": "event", "occurred_at": at(2, 10)},
            {"contact_id": ids["ann"], "campaign_id": webinar, "channel": "webinar", "kind": "marketing",
             "touch_type": "webinar", "occurred_at": at(13, 10)},
            # after the MQL: not what made her one
            {"contact_id": ids["ann"], "campaign_id": fair, "channel": "events", "kind": "marketing",
             "touch_type": "event", "occurred_at": at(17, 10)},
        ])  # fmt: skip
    return ids


def mql(engine, contact_id, when):
    with writing(engine) as conn:
        move_contact(conn, CONFIG, contact_id, "mql", at=when, origin="rule", reason="score")


def open_handoff(engine, contact_id):
    with engine.connect() as conn:
        return (
            conn.execute(select(Handoff).where(Handoff.contact_id == contact_id).order_by(Handoff.id.desc()))
            .mappings()
            .first()
        )


# ---- cards ------------------------------------------------------------------------------------------


def test_it_shows_who_the_lead_is_and_the_campaign_that_made_it_an_mql(engine, company):
    mql(engine, company["ann"], at(16, 9))
    (card,) = desk.cards(engine, CONFIG, at(16, 12, 15))
    assert (card["name"], card["title"], card["company"], card["segment"]) == (
        "Ann Fischer",
        "CFO",
        "Acme Analytics",
        "enterprise",
    )
    assert card["source_channel"] == "organic_search"
    assert card["campaign"]["name"] == "Fall webinar"  # the last campaign touch before 16 Nov 09:00, not the fair after
    assert card["owner"] == "eva@seller.example"


def test_it_reads_both_clocks_in_words_and_tone(engine, company):
    mql(engine, company["ann"], at(16, 9))
    # Monday 09:00: first touch due 13:00, decision due Wednesday 17:00 (3 × 8 business hours).
    (card,) = desk.cards(engine, CONFIG, at(16, 12, 15))
    assert (card["first_touch"]["words"], card["first_touch"]["tone"]) == ("45 business minutes left", "soon")
    # 4.75 h Monday + 8 Tuesday + 8 Wednesday = 20.75 h = 2.6 working days: on time
    assert (card["decision"]["words"], card["decision"]["tone"]) == ("2 business days left", "ok")
    (card,) = desk.cards(engine, CONFIG, at(19, 10))
    # first touch: Monday 13:00 → Thursday 10:00 is 21 business hours, past a day: calendar 2 days 21 h
    assert (card["first_touch"]["words"], card["first_touch"]["tone"]) == ("2 days overdue", "overdue")
    # decision: Wednesday 17:00 → Thursday 10:00 is one business hour
    assert (card["decision"]["words"], card["decision"]["tone"]) == ("1 business hour overdue", "overdue")


# ---- log a touch ------------------------------------------------------------------------------------


def test_a_touch_in_time_stops_the_first_touch_clock_without_a_breach(engine, company):
    mql(engine, company["ann"], at(16, 9))
    done = desk.log_touch(engine, CONFIG, "ann@acme.example", "call", "eva@seller.example", at=at(16, 11), origin="web")
    assert (done.first_touch, done.late) == (True, False)
    found = open_handoff(engine, company["ann"])
    assert found["first_touch_at"] == at(16, 11)
    assert found["sla_due_at"] == at(18, 17)  # only the decision is left to judge
    with engine.connect() as conn:
        touch = conn.execute(select(Touchpoint).where(Touchpoint.kind == "sales")).mappings().one()
        assert (touch["touch_type"], touch["channel"], touch["user_id"]) == (
            "call",
            "sales_call",
            company["eva@seller.example"],
        )
        assert conn.execute(select(SlaEvent)).all() == []
        assert conn.execute(select(AuditEntry.action).where(AuditEntry.action == "handoff_touch")).scalar_one()
    (card,) = desk.cards(engine, CONFIG, at(19, 10))
    assert card["first_touch"] is None  # kept: no clock left on the card


def test_a_late_first_touch_is_a_breach_at_once(engine, company):
    mql(engine, company["bob"], at(16, 9))
    done = desk.log_touch(engine, CONFIG, "bob@acme.example", "email", "eva@seller.example", at=at(16, 14))
    assert (done.first_touch, done.late) == (True, True)
    with engine.connect() as conn:
        ((kind, detail),) = conn.execute(select(SlaEvent.kind, SlaEvent.detail)).all()
    assert kind == "first_touch_late" and detail.endswith("1.0 business hours late")  # due 13:00, touched 14:00


def test_a_second_touch_leaves_the_first_touch_where_it_was(engine, company):
    mql(engine, company["ann"], at(16, 9))
    desk.log_touch(engine, CONFIG, "ann@acme.example", "call", "eva@seller.example", at=at(16, 10))
    again = desk.log_touch(engine, CONFIG, "ann@acme.example", "meeting", "eva@seller.example", at=at(16, 15))
    assert again.first_touch is False
    assert open_handoff(engine, company["ann"])["first_touch_at"] == at(16, 10)


def test_it_refuses_a_touch_on_another_sellers_lead_naming_the_owner(engine, company):
    mql(engine, company["ann"], at(16, 9))
    with pytest.raises(Forbidden, match="eva@seller.example's lead"):
        desk.log_touch(engine, CONFIG, "ann@acme.example", "call", "nick@seller.example", at=at(16, 10))
    with pytest.raises(HandoffRefused, match="kind"):
        desk.log_touch(engine, CONFIG, "ann@acme.example", "fax", "eva@seller.example", at=at(16, 10))


# ---- my standing ------------------------------------------------------------------------------------


def test_my_standing_counts_promises_kept_this_month_and_what_is_due_soon(engine, company):
    mql(engine, company["ann"], at(16, 9))
    mql(engine, company["bob"], at(16, 9))
    mql(engine, company["cat"], at(19, 9))
    desk.log_touch(engine, CONFIG, "ann@acme.example", "call", "eva@seller.example", at=at(16, 11))  # in time
    desk.log_touch(engine, CONFIG, "bob@acme.example", "call", "eva@seller.example", at=at(16, 14))  # an hour late
    found = desk.standing(engine, CONFIG, "eva@seller.example", at(19, 10))
    # ann and bob were due Monday 13:00; cat is due Thursday 13:00, within 10:00 + 4 business hours;
    # ann's and bob's decisions were due Wednesday 17:00.
    assert (found["first_touch_due"], found["first_touch_kept"], found["due_soon"], found["overdue"]) == (2, 1, 1, 2)
    assert found["words"] == (
        "You kept 1 of 2 first-touch promises this month; 1 lead is due in the next 4 business hours; 2 are overdue."
    )


# ---- claim ------------------------------------------------------------------------------------------


def nobodys(engine, contact_id):
    with writing(engine) as conn:
        conn.execute(update(Handoff).where(Handoff.contact_id == contact_id).values(owner_id=None))
        conn.execute(update(Contact).where(Contact.id == contact_id).values(owner_id=None))


def test_a_seller_of_the_territory_claims_an_unowned_lead_once(engine, company):
    mql(engine, company["ann"], at(16, 9))
    nobodys(engine, company["ann"])
    with pytest.raises(Forbidden, match="territory EMEA/enterprise"):
        desk.claim(engine, CONFIG, "ann@acme.example", "nick@seller.example")
    done = desk.claim(engine, CONFIG, "ann@acme.example", "eva@seller.example", origin="web")
    assert done["owner"] == "eva@seller.example"
    found = open_handoff(engine, company["ann"])
    assert (found["owner_id"], found["routing_rule"]) == (
        company["eva@seller.example"],
        "claimed by eva@seller.example",
    )
    assert found["first_touch_due_at"] == at(16, 13)  # the clocks run on from the MQL
    with pytest.raises(HandoffRefused, match="has an owner"):
        desk.claim(engine, CONFIG, "ann@acme.example", "eva@seller.example")
    with engine.connect() as conn:
        entry = conn.execute(select(AuditEntry).where(AuditEntry.action == "handoff_claim")).mappings().one()
    assert (entry["actor"], entry["after"]) == ("eva@seller.example", {"owner": "eva@seller.example"})


def test_any_seller_claims_a_lead_without_a_territory(engine, company):
    with writing(engine) as conn:
        conn.execute(update(Contact).where(Contact.id == company["cat"]).values(account_id=None))
    mql(engine, company["cat"], at(16, 9))
    nobodys(engine, company["cat"])
    assert desk.claim(engine, CONFIG, "cat@acme.example", "nick@seller.example")["owner"] == "nick@seller.example"


# ---- undo -------------------------------------------------------------------------------------------


def recorded_at(engine, contact_id):
    with engine.connect() as conn:
        stamp = (
            conn.execute(
                select(StageChange.recorded_at)
                .where(StageChange.entity_id == contact_id)
                .order_by(StageChange.id.desc())
            )
            .scalars()
            .first()
        )
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=dt.UTC)


def test_an_undo_puts_the_lead_back_in_the_queue_through_the_ledger(engine, company):
    mql(engine, company["ann"], at(16, 9))
    handoff.accept(engine, CONFIG, "ann@acme.example", "eva@seller.example", origin="web")
    done = desk.undo(engine, CONFIG, "ann@acme.example", "eva@seller.example", origin="web")
    assert (done["undone"], done["stage"]) == ("accepted", "mql")
    found = open_handoff(engine, company["ann"])
    assert (found["status"], found["decided_at"], found["decided_by_id"]) == ("open", None, None)
    assert (found["first_touch_due_at"], found["decision_due_at"]) == (at(16, 13), at(18, 17))  # the clocks it had
    with engine.connect() as conn:
        moves = conn.execute(select(StageChange.from_stage, StageChange.to_stage, StageChange.reason)
                             .order_by(StageChange.id)).all()  # fmt: skip
        assert conn.execute(select(Contact.stage).where(Contact.id == company["ann"])).scalar_one() == "mql"
        assert conn.execute(select(AuditEntry.action).where(AuditEntry.action == "handoff_undo")).scalar_one()
    assert [tuple(m) for m in moves] == [("inquiry", "mql", "score"), ("mql", "sal", None), ("sal", "mql", "undo")]
    # and the seller can decide again
    assert handoff.accept(engine, CONFIG, "ann@acme.example", "eva@seller.example").status == "accepted"
    with engine.connect() as conn:
        assert conn.execute(select(Handoff.id)).all() == [(found["id"],)]  # the same handoff, never a second


def test_an_undo_of_a_rejection_brings_the_lead_back_from_nurture(engine, company):
    mql(engine, company["bob"], at(16, 9))
    handoff.reject(engine, CONFIG, "bob@acme.example", "eva@seller.example", "no_budget", "budget opens in Q3")
    desk.undo(engine, CONFIG, "bob@acme.example", "eva@seller.example")
    found = open_handoff(engine, company["bob"])
    assert (found["status"], found["rejection_reason"], found["note"]) == ("open", None, None)


def test_an_undo_is_allowed_for_ten_minutes_to_the_second(engine, company):
    mql(engine, company["ann"], at(16, 9))
    mql(engine, company["bob"], at(16, 9))
    handoff.accept(engine, CONFIG, "ann@acme.example", "eva@seller.example")
    handoff.accept(engine, CONFIG, "bob@acme.example", "eva@seller.example")
    late = recorded_at(engine, company["ann"]) + dt.timedelta(minutes=10, seconds=1)
    with pytest.raises(HandoffRefused, match="10 minutes only"):
        desk.undo(engine, CONFIG, "ann@acme.example", "eva@seller.example", now=late)
    edge = recorded_at(engine, company["bob"]) + dt.timedelta(minutes=10)
    assert desk.undo(engine, CONFIG, "bob@acme.example", "eva@seller.example", now=edge)["stage"] == "mql"


def test_only_the_decider_may_undo(engine, company):
    mql(engine, company["ann"], at(16, 9))
    handoff.accept(engine, CONFIG, "ann@acme.example", "eva@seller.example")
    with pytest.raises(Forbidden, match=r"only the person who decided ann@acme.example \(eva@seller.example\)"):
        desk.undo(engine, CONFIG, "ann@acme.example", "nick@seller.example")
    assert [u["email"] for u in desk.undoable(engine, CONFIG, "eva@seller.example")] == ["ann@acme.example"]
    assert desk.undoable(engine, CONFIG, "nick@seller.example") == []


def test_there_is_nothing_to_undo_on_a_lead_still_waiting(engine, company):
    mql(engine, company["ann"], at(16, 9))
    with pytest.raises(HandoffRefused, match="nothing to undo"):
        desk.undo(engine, CONFIG, "ann@acme.example", "eva@seller.example")


def test_a_rejection_note_longer_than_the_form_allows_is_refused(engine, company):
    mql(engine, company["ann"], at(16, 9))
    with pytest.raises(HandoffRefused, match="note: at most 500 characters, not 5,000"):
        handoff.reject(engine, CONFIG, "ann@acme.example", "eva@seller.example", "no_budget", "x" * 5000)
    assert open_handoff(engine, company["ann"])["status"] == "open"
