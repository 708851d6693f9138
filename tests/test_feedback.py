"""Recording feedback and answering it: the rules, the refusals (which write nothing), the audit trail."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from conftest import writing
from sqlalchemy import func, insert, select

from truce.services.feedback import FeedbackRefused, add_feedback, answer_feedback, list_feedback
from truce.services.lifecycle import NotFound
from truce.store.models import Account, AuditEntry, Campaign, Contact, FeedbackItem, Opportunity, User

NOW = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
PEOPLE = [  # email, team, focus, active
    ("eva@seller.example", "sales", None, True),
    ("nick@seller.example", "sales", None, True),
    ("gone@seller.example", "sales", None, False),
    ("mia@marketing.example", "marketing", "downstream", True),
    ("old@marketing.example", "marketing", "upstream", False),
    ("rex@revops.example", "revops", None, True),
]


@pytest.fixture
def company(engine):
    """Six people, one account with a contact, one deal, one campaign."""
    ids = {}
    with writing(engine) as conn:
        for email, team, focus, active in PEOPLE:
            ids[email.split("@")[0]] = conn.execute(
                insert(User).returning(User.id),
                {
                    "email": email,
                    "name": email.split("@")[0].title(),
                    "team": team,
                    "marketing_focus": focus,
                    "active": active,
                    "is_leader": False,
                    "created_at": NOW,
                },
            ).scalar_one()
        account = conn.execute(
            insert(Account).returning(Account.id), {"name": "Acme", "created_at": NOW, "updated_at": NOW}
        ).scalar_one()
        ids["ann"] = conn.execute(
            insert(Contact).returning(Contact.id),
            {"email": "ann@acme.example", "stage": "sql", "account_id": account, "created_at": NOW, "updated_at": NOW},
        ).scalar_one()
        ids["campaign"] = conn.execute(
            insert(Campaign).returning(Campaign.id), {"name": "Spring webinar", "channel": "webinar"}
        ).scalar_one()
        ids["deal"] = conn.execute(
            insert(Opportunity).returning(Opportunity.id),
            {
                "name": "Acme rollout",
                "account_id": account,
                "amount": Decimal("1000"),
                "stage": "Proposal",
                "status": "open",
                "created_at": NOW,
                "updated_at": NOW,
            },
        ).scalar_one()
    return ids


def count(engine, table) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar_one()


def audit(engine) -> list:
    with engine.connect() as conn:
        return conn.execute(select(AuditEntry).order_by(AuditEntry.id)).all()


def stored(engine, item_id: int):
    with engine.connect() as conn:
        return conn.execute(select(FeedbackItem).where(FeedbackItem.id == item_id)).one()


def add(engine, text="Castellan offers a free pilot", kind="competitor", author="eva@seller.example", **links):
    return add_feedback(engine, text=text, kind=kind, author_email=author, **links)


# ---- adding -----------------------------------------------------------------------------------------


def test_it_records_a_line_with_its_links_and_an_audit_entry(engine, company):
    item = add(
        engine,
        text="  Castellan offers Acme a free pilot  ",
        author="EVA@seller.example",
        contact_email="Ann@Acme.example",
        deal_id=company["deal"],
        campaign_id=company["campaign"],
    )
    row = stored(engine, item["id"])
    assert (row.kind, row.text, row.status, row.author_id) == (
        "competitor",
        "Castellan offers Acme a free pilot",
        "new",
        company["eva"],
    )
    assert (row.contact_id, row.opportunity_id, row.campaign_id) == (
        company["ann"],
        company["deal"],
        company["campaign"],
    )
    assert item["author"] == "eva@seller.example"
    assert (item["contact"], item["deal"], item["campaign"]) == ("ann@acme.example", "Acme rollout", "Spring webinar")
    (entry,) = audit(engine)
    assert (entry.actor, entry.action, entry.entity_type, entry.entity_id) == (
        "eva@seller.example",
        "feedback_add",
        "feedback_item",
        item["id"],
    )
    assert entry.before is None
    assert entry.after["text"] == "Castellan offers Acme a free pilot"
    assert entry.after["opportunity_id"] == company["deal"]


def test_a_marketer_may_record_feedback_too(engine, company):
    assert add(engine, author="mia@marketing.example")["status"] == "new"


def test_it_takes_exactly_two_thousand_characters_and_no_more(engine, company):
    assert len(add(engine, text="x" * 2000)["text"]) == 2000
    with pytest.raises(FeedbackRefused, match="has 2,001 characters; at most 2,000"):
        add(engine, text="x" * 2001)
    assert count(engine, FeedbackItem) == 1


@pytest.mark.parametrize(
    ("change", "error", "message"),
    [
        ({"text": "   "}, FeedbackRefused, "the feedback text is empty"),
        ({"kind": "gossip"}, FeedbackRefused, "unknown kind 'gossip'; choose one of: product_gap, competitor"),
        ({"author": None}, FeedbackRefused, "say who says it: --as EMAIL or TRUCE_USER"),
        ({"author": "who@nowhere.example"}, NotFound, "no user with email 'who@nowhere.example'"),
        ({"author": "gone@seller.example"}, FeedbackRefused, "gone@seller.example is not an active user"),
        ({"contact_email": "zed@acme.example"}, NotFound, "no contact with email 'zed@acme.example'"),
        ({"deal_id": 999}, NotFound, "no deal with id 999"),
        ({"campaign_id": 999}, NotFound, "no campaign with id 999"),
    ],
    ids=["empty", "kind", "anonymous", "unknown-author", "inactive-author", "contact", "deal", "campaign"],
)
def test_it_refuses_bad_input_and_writes_nothing(engine, company, change, error, message):
    with pytest.raises(error, match=message):
        add(engine, **change)
    assert count(engine, FeedbackItem) == 0
    assert count(engine, AuditEntry) == 0


# ---- answering ----------------------------------------------------------------------------------------


def test_marketing_acknowledges_then_acts_and_the_seller_sees_the_reply(engine, company):
    item = add(engine)
    acknowledged = answer_feedback(
        engine, item["id"], status="acknowledged", reply=None, by_email="mia@marketing.example"
    )
    assert (acknowledged["status"], acknowledged["reply"], acknowledged["replied_by"]) == (
        "acknowledged",
        None,
        "mia@marketing.example",
    )
    acted = answer_feedback(
        engine, item["id"], status="acted_on", reply="Battle card updated", by_email="rex@revops.example"
    )
    assert (acted["status"], acted["reply"], acted["replied_by"]) == (
        "acted_on",
        "Battle card updated",
        "rex@revops.example",
    )
    assert acted["replied_at"] is not None
    (seen,) = list_feedback(engine, author="eva@seller.example")
    assert (seen["status"], seen["reply"]) == ("acted_on", "Battle card updated")
    answers = [e for e in audit(engine) if e.action == "feedback_answer"]
    assert [(e.actor, e.before, e.after) for e in answers] == [
        ("mia@marketing.example", {"status": "new", "reply": None}, {"status": "acknowledged", "reply": None}),
        (
            "rex@revops.example",
            {"status": "acknowledged", "reply": None},
            {"status": "acted_on", "reply": "Battle card updated"},
        ),
    ]


def test_acting_on_new_feedback_may_skip_the_acknowledgement(engine, company):
    item = add(engine)
    acted = answer_feedback(engine, item["id"], status="acted_on", reply="Done", by_email="mia@marketing.example")
    assert acted["status"] == "acted_on"


def test_an_acknowledgement_keeps_its_reply_when_acting_later_replaces_it(engine, company):
    item = add(engine)
    answer_feedback(engine, item["id"], status="acknowledged", reply="Looking at it", by_email="mia@marketing.example")
    assert stored(engine, item["id"]).reply == "Looking at it"
    answer_feedback(engine, item["id"], status="acted_on", reply="Fixed", by_email="mia@marketing.example")
    assert stored(engine, item["id"]).reply == "Fixed"


def _refused(engine, item_id, error, message, **answer):
    before = stored(engine, item_id)
    entries = count(engine, AuditEntry)
    with pytest.raises(error, match=message):
        answer_feedback(engine, item_id, **answer)
    assert stored(engine, item_id) == before
    assert count(engine, AuditEntry) == entries


def test_only_marketing_or_revops_answers(engine, company):
    item = add(engine)
    _refused(
        engine,
        item["id"],
        FeedbackRefused,
        "only marketing or RevOps users answer feedback; nick@seller.example is on the sales team",
        status="acknowledged",
        reply="Seen",
        by_email="nick@seller.example",
    )
    _refused(
        engine,
        item["id"],
        FeedbackRefused,
        "old@marketing.example is not an active user",
        status="acknowledged",
        reply=None,
        by_email="old@marketing.example",
    )
    _refused(
        engine,
        item["id"],
        FeedbackRefused,
        "say who answers",
        status="acknowledged",
        reply=None,
        by_email=None,
    )


def test_a_status_never_moves_backwards_or_stays(engine, company):
    item = add(engine)
    mia = "mia@marketing.example"
    answer_feedback(engine, item["id"], status="acknowledged", reply=None, by_email=mia)
    _refused(
        engine,
        item["id"],
        FeedbackRefused,
        "is already acknowledged",
        status="acknowledged",
        reply="Again",
        by_email=mia,
    )
    answer_feedback(engine, item["id"], status="acted_on", reply="Done", by_email=mia)
    _refused(
        engine,
        item["id"],
        FeedbackRefused,
        "is acted_on; a status never moves back, and it is closed",
        status="acknowledged",
        reply="Oops",
        by_email=mia,
    )
    _refused(engine, item["id"], FeedbackRefused, "is already acted_on", status="acted_on", reply="x", by_email=mia)
    _refused(
        engine,
        item["id"],
        FeedbackRefused,
        "sets the status to acknowledged or acted_on, not 'new'",
        status="new",
        reply=None,
        by_email=mia,
    )


def test_acting_on_feedback_needs_a_reply(engine, company):
    item = add(engine)
    for reply in (None, "   "):
        _refused(
            engine,
            item["id"],
            FeedbackRefused,
            "acting on feedback needs a reply",
            status="acted_on",
            reply=reply,
            by_email="mia@marketing.example",
        )


def test_answering_an_unknown_item_names_it(engine, company):
    with pytest.raises(NotFound, match="no feedback item with id 404"):
        answer_feedback(engine, 404, status="acknowledged", reply=None, by_email="mia@marketing.example")
    assert count(engine, AuditEntry) == 0


# ---- listing ---------------------------------------------------------------------------------------------


def test_the_list_filters_by_status_kind_and_author_newest_first(engine, company):
    first = add_feedback(
        engine, text="Leads are students", kind="lead_quality", author_email="eva@seller.example", at=NOW
    )
    second = add_feedback(
        engine, text="Price too high", kind="pricing", author_email="nick@seller.example", at=NOW + dt.timedelta(days=1)
    )
    third = add_feedback(
        engine, text="Need a case study", kind="content_request", author_email="eva@seller.example",
        at=NOW + dt.timedelta(days=2),
    )  # fmt: skip
    answer_feedback(engine, second["id"], status="acknowledged", reply="Noted", by_email="mia@marketing.example")
    assert [i["id"] for i in list_feedback(engine)] == [third["id"], second["id"], first["id"]]
    assert [i["id"] for i in list_feedback(engine, author="eva@seller.example")] == [third["id"], first["id"]]
    assert [i["id"] for i in list_feedback(engine, status="new")] == [third["id"], first["id"]]
    assert [i["id"] for i in list_feedback(engine, status="acknowledged", kind="pricing")] == [second["id"]]
    assert list_feedback(engine, kind="messaging") == []
    assert [i["id"] for i in list_feedback(engine, limit=1)] == [third["id"]]


@pytest.mark.parametrize(
    ("options", "error", "message"),
    [
        ({"status": "closed"}, FeedbackRefused, "unknown status 'closed'"),
        ({"kind": "gossip"}, FeedbackRefused, "unknown kind 'gossip'"),
        ({"limit": 0}, FeedbackRefused, "the limit must be at least 1"),
        ({"author": "who@nowhere.example"}, NotFound, "no user with email 'who@nowhere.example'"),
    ],
)
def test_the_list_refuses_unknown_filters(engine, company, options, error, message):
    with pytest.raises(error, match=message):
        list_feedback(engine, **options)
