"""The actions through the API: handoff decisions, feedback and its answer, targets, the survey, account plans."""

from __future__ import annotations

import datetime as dt

import pytest
from conftest import writing
from fastapi.testclient import TestClient
from sqlalchemy import insert, select

from truce import config as truce_config
from truce.services.lifecycle import move_contact
from truce.services.logins import add_user, create_token
from truce.store.models import Account, AuditEntry, Contact, FeedbackItem, Handoff, StageChange, SurveyResponse, Target
from truce.web.app import create_app

CONFIG = truce_config.parse(truce_config.default_text(), "truce.toml")
T0 = dt.datetime(2026, 11, 2, 9, tzinfo=dt.UTC)
PEOPLE = {
    "eva": ("sales", "member"),
    "mia": ("marketing", "member"),
    "ria": ("revops", "member"),
    "vic": ("sales", "viewer"),
}


@pytest.fixture
def api(engine, tmp_path):
    tokens = {}
    for name, (team, access) in PEOPLE.items():
        add_user(engine, email=f"{name}@yourco.example", team=team, role=access)
        tokens[name] = {"authorization": f"Bearer {create_token(engine, email=f'{name}@yourco.example')}"}
    with writing(engine) as conn:
        account = conn.execute(
            insert(Account).returning(Account.id),
            {"name": "Acme", "domain": "acme.example", "created_at": T0, "updated_at": T0},
        ).scalar_one()
        for email in ("ann@acme.example", "bob@acme.example"):
            contact = conn.execute(
                insert(Contact).returning(Contact.id),
                {"email": email, "stage": "inquiry", "account_id": account, "created_at": T0, "updated_at": T0},
            ).scalar_one()
            move_contact(conn, CONFIG, contact, "mql", at=T0, actor="test")
    app = create_app(engine, CONFIG, config_path=tmp_path / "truce.toml")  # never the repository's
    with TestClient(app, base_url="http://127.0.0.1") as client:
        client.as_ = tokens
        yield client, engine


def _one(engine, query):
    with engine.connect() as conn:
        return conn.execute(query).one()


# ---- the handoff ----------------------------------------------------------------------------------


def test_sales_accepts_a_lead_named_by_email_or_id_and_the_ledger_says_who(api):
    client, engine = api
    ann = _one(engine, select(Contact.id).where(Contact.email == "ann@acme.example")).id
    response = client.post(f"/api/v1/handoffs/{ann}/accept", headers=client.as_["eva"])
    assert response.status_code == 200, response.text
    assert response.json() == {
        "email": "ann@acme.example",
        "stage": "sal",
        "status": "accepted",
        "late": True,
        "warnings": [],
    }
    move = _one(engine, select(StageChange).where(StageChange.entity_id == ann, StageChange.to_stage == "sal"))
    eva = client.get("/api/v1/me", headers=client.as_["eva"]).json()
    assert move.from_stage == "mql" and move.changed_by_id is not None
    handoff = _one(engine, select(Handoff).where(Handoff.contact_id == ann))
    assert (handoff.status, handoff.decided_by_id) == ("accepted", move.changed_by_id)
    with engine.connect() as conn:
        moves = conn.execute(
            select(AuditEntry.actor, AuditEntry.after).where(
                AuditEntry.action == "stage_move", AuditEntry.entity_id == ann
            )
        ).all()
    assert [(actor, after["stage"]) for actor, after in moves] == [("test", "mql"), (eva["email"], "sal")]
    queue = client.get("/api/v1/handoffs", headers=client.as_["vic"]).json()
    assert [lead["email"] for lead in queue] == ["bob@acme.example"]
    by_email = client.post("/api/v1/handoffs/bob@acme.example/accept", headers=client.as_["eva"])
    assert by_email.json()["stage"] == "sal"


def test_a_rejection_needs_one_of_the_reasons_both_teams_signed(api):
    client, engine = api
    url = "/api/v1/handoffs/bob@acme.example/reject"
    missing = client.post(url, json={}, headers=client.as_["eva"])
    assert missing.status_code == 422 and missing.json()["errors"][0]["path"] == "body.reason"
    unknown = client.post(url, json={"reason": "meh"}, headers=client.as_["eva"])
    assert unknown.status_code == 422
    assert (
        unknown.json()["errors"][0]["path"] == "body.reason" and "no_budget" in unknown.json()["errors"][0]["message"]
    )
    done = client.post(url, json={"reason": "no_budget", "note": "Budget opens in Q3"}, headers=client.as_["eva"])
    assert done.status_code == 200 and (done.json()["status"], done.json()["stage"]) == ("rejected", "recycled")
    handoff = _one(
        engine,
        select(Handoff).join(Contact, Contact.id == Handoff.contact_id).where(Contact.email == "bob@acme.example"),
    )
    assert (handoff.status, handoff.rejection_reason, handoff.note) == ("rejected", "no_budget", "Budget opens in Q3")


def test_only_sales_decides_and_only_leads_waiting_for_a_decision(api):
    client, _ = api
    for who in ("mia", "ria", "vic"):
        refused = client.post("/api/v1/handoffs/ann@acme.example/accept", headers=client.as_[who])
        assert refused.status_code == 403
    assert client.post("/api/v1/handoffs/ann@acme.example/accept", headers=client.as_["eva"]).status_code == 200
    again = client.post("/api/v1/handoffs/ann@acme.example/accept", headers=client.as_["eva"])
    assert again.status_code == 409 and "not waiting in the handoff queue" in again.json()["error"]
    assert client.post("/api/v1/handoffs/nobody@acme.example/accept", headers=client.as_["eva"]).status_code == 404
    assert client.post("/api/v1/handoffs/99999999999/accept", headers=client.as_["eva"]).status_code == 404


def test_decisions_through_the_api_are_kept_with_origin_api_and_the_callers_email(api):
    client, engine = api
    assert client.post("/api/v1/handoffs/ann@acme.example/accept", headers=client.as_["eva"]).status_code == 200
    rejected = client.post(
        "/api/v1/handoffs/bob@acme.example/reject", json={"reason": "not_icp"}, headers=client.as_["eva"]
    )
    assert rejected.status_code == 200, rejected.text
    with engine.connect() as conn:
        moves = conn.execute(
            select(Contact.email, StageChange.from_stage, StageChange.to_stage, StageChange.origin)
            .join(Contact, Contact.id == StageChange.entity_id)
            .where(StageChange.entity_type == "contact", StageChange.from_stage == "mql")
            .order_by(Contact.email)
        ).all()
        audit = conn.execute(
            select(Contact.email, AuditEntry.actor, AuditEntry.after)
            .join(Contact, Contact.id == AuditEntry.entity_id)
            .where(AuditEntry.action == "stage_move", AuditEntry.actor != "test")
            .order_by(Contact.email)
        ).all()
    assert [tuple(m) for m in moves] == [
        ("ann@acme.example", "mql", "sal", "api"),
        ("bob@acme.example", "mql", "disqualified", "api"),
    ]
    assert [(email, actor, after["stage"], after["reason"]) for email, actor, after in audit] == [
        ("ann@acme.example", "eva@yourco.example", "sal", None),
        ("bob@acme.example", "eva@yourco.example", "disqualified", "not_icp"),
    ]


# ---- feedback -------------------------------------------------------------------------------------


def test_a_seller_says_it_in_one_line_and_marketing_answers(api):
    client, engine = api
    added = client.post(
        "/api/v1/feedback",
        json={"text": "Castellan offers a free pilot", "kind": "competitor", "contact": "ann@acme.example"},
        headers=client.as_["eva"],
    )
    assert added.status_code == 201, added.text
    item = added.json()
    assert (item["author"], item["contact"], item["status"]) == ("eva@yourco.example", "ann@acme.example", "new")
    url = f"/api/v1/feedback/{item['id']}/answer"
    for who in ("eva", "ria", "vic"):
        assert client.post(url, json={"status": "acknowledged"}, headers=client.as_[who]).status_code == 403
    no_reply = client.post(url, json={"status": "acted_on"}, headers=client.as_["mia"])
    assert no_reply.status_code == 422 and no_reply.json()["errors"][0]["path"] == "body.reply"
    done = client.post(url, json={"status": "acted_on", "reply": "Battle card updated"}, headers=client.as_["mia"])
    assert done.status_code == 200 and (done.json()["status"], done.json()["replied_by"]) == (
        "acted_on",
        "mia@yourco.example",
    )
    back = client.post(url, json={"status": "acknowledged"}, headers=client.as_["mia"])
    assert back.status_code == 409 and "never moves back" in back.json()["error"]
    mine = client.get("/api/v1/feedback", params={"mine": "true"}, headers=client.as_["eva"]).json()
    assert [(i["id"], i["reply"]) for i in mine] == [(item["id"], "Battle card updated")]
    assert client.get("/api/v1/feedback", params={"mine": "true"}, headers=client.as_["mia"]).json() == []
    with engine.connect() as conn:
        actions = [r.action for r in conn.execute(select(AuditEntry).where(AuditEntry.entity_type == "feedback_item"))]
    assert actions == ["feedback_add", "feedback_answer"]


@pytest.mark.parametrize(
    ("body", "path"),
    [({"text": "", "kind": "pricing"}, "body.text"), ({"text": "x" * 2001, "kind": "pricing"}, "body.text"),
     ({"text": "Too dear", "kind": "price"}, "body.kind"), ({"text": "Too dear", "kind": "pricing", "deal_id": "7"}, "body.deal_id")],
)  # fmt: skip
def test_bad_feedback_is_refused_with_its_path(api, body, path):
    client, engine = api
    response = client.post("/api/v1/feedback", json=body, headers=client.as_["eva"])
    assert response.status_code == 422 and response.json()["errors"][0]["path"] == path
    with engine.connect() as conn:
        assert conn.execute(select(FeedbackItem)).first() is None


def test_feedback_about_a_contact_that_does_not_exist_is_a_404(api):
    client, _ = api
    body = {"text": "Wants a demo", "kind": "lead_quality", "contact": "nobody@acme.example"}
    assert client.post("/api/v1/feedback", json=body, headers=client.as_["eva"]).status_code == 404


# ---- targets, the survey, account plans -----------------------------------------------------------


def test_revops_sets_a_target_and_setting_it_again_changes_it_audited(api):
    client, engine = api
    body = {"metric": "revenue", "period": "2026-Q4", "amount": "2500000"}
    for who in ("eva", "mia", "vic"):
        assert client.put("/api/v1/targets", json=body, headers=client.as_[who]).status_code == 403
    first = client.put("/api/v1/targets", json=body, headers=client.as_["ria"]).json()
    assert (first["created"], first["amount"], first["team"], first["period_start"]) == (
        True,
        "2500000.00",
        "shared",
        "2026-10-01",
    )
    second = client.put("/api/v1/targets", json={**body, "amount": 2_750_000}, headers=client.as_["ria"]).json()
    assert (second["created"], second["previous_amount"], second["amount"]) == (False, "2500000.00", "2750000.00")
    with engine.connect() as conn:
        assert len(conn.execute(select(Target)).all()) == 1
        audit = conn.execute(select(AuditEntry).where(AuditEntry.action == "target_set").order_by(AuditEntry.id)).all()
    assert [(a.actor, a.before and a.before["amount"], a.after["amount"]) for a in audit] == [
        ("ria@yourco.example", None, "2500000.00"),
        ("ria@yourco.example", "2500000.00", "2750000.00"),
    ]
    report = client.get("/api/v1/reports/targets", params={"period": "2026-Q4"}, headers=client.as_["vic"]).json()
    assert [t["amount"] for t in report["targets"]] == ["2750000.00"]


@pytest.mark.parametrize(
    ("body", "status", "path"),
    [({"metric": "revenue", "period": "2026-Q4", "amount": 2500000.5}, 422, "body.amount"),
     ({"metric": "revenue", "period": "2026-Q4", "amount": True}, 422, "body.amount"),
     ({"metric": "profit", "period": "2026-Q4", "amount": 10}, 422, "body.metric"),
     ({"metric": "mqls", "period": "2026-Q4", "amount": "10.5"}, 400, None),
     ({"metric": "revenue", "period": "2026-Q5", "amount": 10}, 422, "body.period"),
     ({"metric": "revenue", "period": "0001-Q1", "amount": 10}, 422, "body.period"),
     ({"metric": "revenue", "period": "3000", "amount": 10}, 422, "body.period"),
     ({"metric": "revenue", "start": "1899-12-31", "end": "1900-12-31", "amount": 10}, 422, "body.start")],
)  # fmt: skip
def test_a_target_that_cannot_be_set_is_refused_and_nothing_is_written(api, body, status, path):
    client, engine = api
    response = client.put("/api/v1/targets", json=body, headers=client.as_["ria"])
    assert response.status_code == status, response.text
    if path:
        assert response.json()["errors"][0]["path"] == path
    with engine.connect() as conn:
        assert conn.execute(select(Target)).first() is None


def test_sales_and_marketing_answer_the_survey_once_a_round(api):
    client, engine = api
    ratings = [4] * 10 + [3] * 10
    for who in ("ria", "vic"):
        assert (
            client.post("/api/v1/survey/responses", json={"ratings": ratings}, headers=client.as_[who]).status_code
            == 403
        )
    kept = client.post(
        "/api/v1/survey/responses", json={"ratings": ratings, "round": "2026-Q4"}, headers=client.as_["eva"]
    )
    assert kept.status_code == 201, kept.text
    assert kept.json() == {
        "round": "2026-Q4",
        "respondent": "eva@yourco.example",
        "team": "sales",
        "role": "staff",
        "score": 70,
        "type": "aligned",
    }
    twice = client.post("/api/v1/survey/responses", json={"ratings": ratings}, headers=client.as_["eva"])
    assert twice.status_code == 409 and "already answered" in twice.json()["error"]
    assert (
        client.post("/api/v1/survey/responses", json={"ratings": ratings}, headers=client.as_["mia"]).status_code == 201
    )
    with engine.connect() as conn:
        assert [r.source for r in conn.execute(select(SurveyResponse))] == ["web", "web"]


@pytest.mark.parametrize(
    ("ratings", "path"),
    [([3] * 19, "body.ratings"), ([3] * 3 + [6] + [3] * 16, "body.ratings.3"), ([3.0] * 20, "body.ratings.0")],
)
def test_a_survey_answer_needs_twenty_whole_ratings_from_one_to_five(api, ratings, path):
    client, _ = api
    response = client.post("/api/v1/survey/responses", json={"ratings": ratings}, headers=client.as_["eva"])
    assert response.status_code == 422 and path in [e["path"] for e in response.json()["errors"]]


def test_a_key_account_gets_a_joint_plan_with_a_marketing_liaison_and_a_sales_owner(api):
    client, engine = api
    body = {
        "liaison": "mia@yourco.example",
        "owner": "eva@yourco.example",
        "next_action": "Joint workshop",
        "next_action_due": "2026-12-10",
    }
    assert client.put("/api/v1/account-plans/acme.example", json=body, headers=client.as_["vic"]).status_code == 403
    saved = client.put("/api/v1/account-plans/acme.example", json=body, headers=client.as_["ria"])
    assert saved.status_code == 200, saved.text
    assert (saved.json()["liaison"], saved.json()["owner"], saved.json()["next_action_due"]) == (
        "mia@yourco.example", "eva@yourco.example", "2026-12-10")  # fmt: skip
    assert _one(engine, select(Account.is_key_account)).is_key_account is True
    swapped = client.put(
        "/api/v1/account-plans/acme.example", json={**body, "liaison": "eva@yourco.example"}, headers=client.as_["mia"]
    )
    assert swapped.status_code == 409 and "must be a marketing user" in swapped.json()["error"]
    assert client.put("/api/v1/account-plans/nowhere.example", json=body, headers=client.as_["mia"]).status_code == 404
    assert client.put("/api/v1/account-plans/99999999999", json=body, headers=client.as_["mia"]).status_code == 404
    plans = client.get("/api/v1/account-plans", headers=client.as_["vic"]).json()
    assert [p["account"] for p in plans["plans"]] == ["Acme"] and plans["key_accounts_without_plan"] == []
