"""Discount approval: who may ask and answer, the approver's clock, the overdue reminder, and the pricing report.

Every number is worked out by hand below, on a store of six people and six deals, with business
hours 09:00–17:00 UTC Monday to Friday (2 March 2026 is a Monday) and 8 hours to answer.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from conftest import writing
from fastapi.testclient import TestClient
from sqlalchemy import func, insert, select
from typer.testing import CliRunner

from truce import config as truce_config
from truce.cli import app as cli
from truce.domain.access import Forbidden
from truce.services import discounts
from truce.services.logins import create_token
from truce.services.pricing import pricing_report
from truce.services.records import InvalidField
from truce.store.models import Account, AuditEntry, DiscountApproval, Opportunity, OutboxMessage, User
from truce.web.app import create_app

POLICY = """
[pricing]
discount_bands = [0, 0.05, 0.10, 0.20, 0.30]
[pricing.discount_policy]
max_discount = 0.15
[pricing.discount_policy.by_segment]
enterprise = 0.20
[pricing.discount_policy.by_product]
Suite = 0.10
[pricing.approval]
approver = "{approver}"
answer_within_hours = 8
"""


def configured(approver: str = "revops"):
    text = truce_config.default_text().split("\n[pricing]")[0] + POLICY.format(approver=approver)
    return truce_config.parse(text, "truce.toml")


CONFIG = configured()
ANN, BOB, SUE, RIA, MAX, VIC = 1, 2, 3, 4, 5, 6
PEOPLE = [  # id, name, team, leader, access
    (ANN, "ann", "sales", False, "member"),
    (BOB, "bob", "sales", False, "member"),
    (SUE, "sue", "sales", True, "member"),  # a sales leader
    (RIA, "ria", "revops", False, "member"),  # the approver under approver = "revops"
    (MAX, "max", "marketing", True, "member"),  # a marketing leader
    (VIC, "vic", "revops", False, "viewer"),  # reads only: never an approver
]
ENTERPRISE, SMB = 1, 2
# id, owner, account, product, list, amount, status, crm id — discount and limit in the comment
DEALS = [
    (1, ANN, ENTERPRISE, "Core", "10000", "7500", "won", None),  # 25 % against 20 %
    (2, ANN, SMB, "Core", "20000", "16000", "won", None),  # 20 % against 15 %
    (3, BOB, SMB, "Suite", "5000", "4000", "won", "006A000001"),  # 20 % against 10 %, from Salesforce
    (4, BOB, SMB, "Core", "1000", "900", "won", None),  # 10 %: within policy
    (5, BOB, SMB, "Core", "4000", "2800", "open", None),  # 30 % against 15 %
    (6, ANN, SMB, "Core", "1000", "1000", "open", None),  # 0 %
]
MON = dt.datetime(2026, 3, 2, tzinfo=dt.UTC)


def at(day: int, hour: int) -> dt.datetime:
    """Day 0 is Monday 2 March 2026."""
    return MON + dt.timedelta(days=day, hours=hour)


def email(person: int) -> str:
    return f"{PEOPLE[person - 1][1]}@yourco.example"


@pytest.fixture
def store(engine):
    now = at(-30, 0)
    with writing(engine) as conn:
        conn.execute(
            insert(User),
            [
                {"id": i, "email": f"{name}@yourco.example", "name": name, "team": team, "is_leader": leader,
                 "access": access, "created_at": now}
                for i, name, team, leader, access in PEOPLE
            ],
        )  # fmt: skip
        conn.execute(
            insert(Account),
            [{"id": i, "name": s, "segment": s, "created_at": now, "updated_at": now}
             for i, s in ((ENTERPRISE, "enterprise"), (SMB, "smb"))],
        )  # fmt: skip
        conn.execute(
            insert(Opportunity),
            [
                {"id": i, "name": f"Deal {i}", "owner_id": owner, "account_id": account, "product": product,
                 "list_amount": Decimal(listed), "amount": Decimal(amount), "status": status, "stage": status,
                 "salesforce_id": crm, "created_at": now, "close_date": dt.date(2026, 3, 20), "updated_at": now}
                for i, owner, account, product, listed, amount, status, crm in DEALS
            ],
        )  # fmt: skip
    return engine


def ask(engine, deal, rate, who, when, reason="competitor", config=CONFIG):
    return discounts.request(engine, config, deal, rate, reason, email(who), "rival quoted lower", at=when)


def owed(engine, key_part: str) -> list:
    with engine.connect() as conn:
        return conn.execute(
            select(OutboxMessage.user_id, OutboxMessage.key)
            .where(OutboxMessage.kind == "discount_approval", OutboxMessage.key.like(f"%{key_part}%"))
            .order_by(OutboxMessage.id)
        ).all()


# ---- asking and answering -------------------------------------------------------------------------


def test_it_sets_the_answer_due_eight_business_hours_later_and_tells_the_approvers_once(store):
    made = ask(store, 1, 0.25, ANN, at(0, 10))
    # Monday 10:00–17:00 is 7 hours; the eighth is Tuesday 09:00–10:00.
    assert made["due_at"] == at(1, 10)
    assert (made["state"], made["requested_discount"], made["policy_limit"]) == ("requested", 0.25, 0.20)
    # RevOps answers: ria. vic is RevOps but a viewer; max leads marketing, not the named approver.
    assert owed(store, ":requested:") == [(RIA, f"discount_approval:{made['id']}:requested:user:{RIA}")]


def test_it_tells_the_seller_and_the_owner_when_the_request_is_answered(store):
    made = ask(store, 2, 0.18, SUE, at(0, 10))  # a sales leader asks for ann's deal
    answered = discounts.approve(store, CONFIG, made["id"], email(RIA), "worth it for three years", at=at(0, 12))
    assert (answered["state"], answered["decided_by"], answered["note"]) == (
        "approved",
        email(RIA),
        "worth it for three years",
    )
    assert sorted(user for user, _ in owed(store, ":approved:")) == [ANN, SUE]
    with store.connect() as conn:
        actions = conn.execute(
            select(AuditEntry.action, AuditEntry.actor).where(AuditEntry.entity_type == "discount_approval")
        ).all()
    assert sorted(actions) == [("discount_approve", email(RIA)), ("discount_request", email(SUE))]


def test_it_refuses_a_seller_asking_on_another_sellers_deal(store):
    with pytest.raises(Forbidden, match="only the deal's owner \\(ann@yourco.example\\) or a sales leader"):
        ask(store, 1, 0.25, BOB, at(0, 10))


def test_it_refuses_a_seller_who_tries_to_approve(store):
    made = ask(store, 1, 0.25, ANN, at(0, 10))
    with pytest.raises(Forbidden, match="only a RevOps member may"):
        discounts.approve(store, CONFIG, made["id"], email(BOB), "fine by me", at=at(0, 11))
    with pytest.raises(Forbidden, match="may not answer it"):
        discounts.approve(store, CONFIG, made["id"], email(ANN), "fine by me", at=at(0, 11))
    with pytest.raises(Forbidden, match="only a RevOps member may"):  # a viewer reads, never answers
        discounts.refuse(store, CONFIG, made["id"], email(VIC), "no", at=at(0, 11))
    with store.connect() as conn:
        assert conn.execute(select(DiscountApproval.state)).scalar_one() == "requested"


def test_it_never_lets_a_sales_leader_approve_their_own_request(store):
    leaders = configured("sales_leader")
    made = ask(store, 5, 0.30, SUE, at(0, 10), config=leaders)
    with pytest.raises(Forbidden, match="asked for this discount and may not answer it"):
        discounts.approve(store, leaders, made["id"], email(SUE), "mine", at=at(0, 11))
    assert owed(store, ":requested:") == [(None, f"discount_approval:{made['id']}:requested:company")]


def test_it_lets_a_marketing_leader_answer_when_marketing_owns_pricing(store):
    marketing = configured("marketing")
    made = ask(store, 5, 0.30, BOB, at(0, 10), config=marketing)
    with pytest.raises(Forbidden, match="only a marketing leader may"):
        discounts.refuse(store, marketing, made["id"], email(RIA), "no", at=at(0, 11))
    refused = discounts.refuse(store, marketing, made["id"], email(MAX), "sell the value", at=at(0, 11))
    assert refused["state"] == "refused"


def test_it_says_no_approval_is_needed_within_the_policy(store):
    with pytest.raises(InvalidField, match="no approval needed: 20 % is within the policy limit of 20 %") as found:
        ask(store, 1, 0.20, ANN, at(0, 10))  # enterprise: 20 % is the limit itself
    assert found.value.field == "discount"


def test_it_keeps_one_open_request_per_deal(store):
    first = ask(store, 1, 0.25, ANN, at(0, 10))
    with pytest.raises(discounts.DiscountRefused, match=f"already has an open request \\(#{first['id']}\\)"):
        ask(store, 1, 0.30, SUE, at(0, 11))
    discounts.withdraw(store, CONFIG, first["id"], email(ANN), at=at(0, 12))
    assert ask(store, 1, 0.30, ANN, at(0, 13))["state"] == "requested"


def test_it_refuses_to_answer_twice(store):
    made = ask(store, 1, 0.25, ANN, at(0, 10))
    discounts.refuse(store, CONFIG, made["id"], email(RIA), "no", at=at(0, 11))
    with pytest.raises(discounts.DiscountRefused, match="already refused"):
        discounts.approve(store, CONFIG, made["id"], email(RIA), "changed my mind", at=at(0, 12))


# ---- the approver's clock -------------------------------------------------------------------------


def test_it_reminds_the_approvers_of_an_overdue_request_once(store):
    made = ask(store, 1, 0.25, ANN, at(0, 10))  # due Tuesday 10:00
    assert discounts.overdue(store, CONFIG, at(1, 9)) == {"overdue": 0, "reminders": 0}
    assert discounts.overdue(store, CONFIG, at(1, 11)) == {"overdue": 1, "reminders": 1}
    assert discounts.overdue(store, CONFIG, at(1, 12)) == {"overdue": 0, "reminders": 0}
    assert owed(store, ":overdue:") == [(RIA, f"discount_approval:{made['id']}:overdue:user:{RIA}")]


def test_the_job_is_declared_hourly():
    from truce.services.jobs.registry import jobs

    assert jobs()["discount_approvals_due"].default_every == "1h"


# ---- the pricing report and the flag on a deal ----------------------------------------------------


def answered_store(store):
    """Four requests, worked out by hand:

    R1 deal 1, 25 %, Mon 10:00, due Tue 10:00; approved Mon 15:00 — 5 business hours, on time.
    R2 deal 2, 18 %, Mon 16:00, due Tue 16:00 (1 h Mon + 7 h Tue); approved Wed 11:00 — 1 + 8 + 2 = 11 h, late.
    R3 deal 6, 40 %, Tue 09:00, due Tue 17:00; refused Tue 13:00 — 4 h, on time.
    R4 deal 5, 30 %, Wed 09:00, due Wed 17:00; still waiting on Thursday 10:00 — overdue.
    """
    r1 = ask(store, 1, 0.25, ANN, at(0, 10))
    discounts.approve(store, CONFIG, r1["id"], email(RIA), "competitive", at=at(0, 15))
    r2 = ask(store, 2, 0.18, ANN, at(0, 16))
    discounts.approve(store, CONFIG, r2["id"], email(RIA), "up to 18 %", at=at(2, 11))
    r3 = ask(store, 6, 0.40, ANN, at(1, 9), reason="strategic")
    discounts.refuse(store, CONFIG, r3["id"], email(RIA), "too deep", at=at(1, 13))
    ask(store, 5, 0.30, BOB, at(2, 9), reason="multi_year")
    return store


def test_the_pricing_report_counts_requests_answers_and_the_approvers_breaches(store):
    report = pricing_report(answered_store(store), CONFIG, now=at(3, 10))
    assert report["approvals"] == {
        "approver": "revops",
        "answer_within_hours": 8,
        "requested": 4,
        "approved": 2,
        "refused": 1,
        "withdrawn": 0,
        "pending": 1,
        "overdue": 1,  # R4
        "approver_sla_breaches": 2,  # R2 answered late, R4 not answered by its deadline
        "median_answer_hours": 5.0,  # of 5, 11 and 4
    }


def test_the_pricing_report_splits_give_away_beyond_policy_by_approval(store):
    report = pricing_report(answered_store(store), CONFIG, now=at(3, 10))
    split = report["beyond_policy_approval"]
    # Deal 1 is covered: 25 % approved for a 25 % deal. list 10,000, realised 7,500, beyond (25 − 20) % × 10,000.
    assert split["with_approval"] == {
        "deals": 1, "imported": 0, "list_total": 10000.0, "realised_total": 7500.0, "given_away": 2500.0,
        "beyond_policy": 500.0,
    }  # fmt: skip
    # Deal 2: 18 % approved does not cover 20 %; beyond (20 − 15) % × 20,000 = 1,000.
    # Deal 3 (imported): beyond (20 − 10) % × 5,000 = 500. Deal 4 is within policy; 5 and 6 are open.
    assert split["without_approval"] == {
        "deals": 2, "imported": 1, "list_total": 25000.0, "realised_total": 20000.0, "given_away": 5000.0,
        "beyond_policy": 1500.0,
    }  # fmt: skip
    flagged = [
        (d["id"], d["status"], d["imported"], d["discount"], d["limit"]) for d in report["deals_without_approval"]
    ]
    assert flagged == [(2, "won", False, 0.2, 0.15), (3, "won", True, 0.2, 0.1), (5, "open", False, 0.3, 0.15)]


def test_it_flags_an_imported_discount_never_approved_on_the_deal_without_blocking_it(store):
    answered_store(store)
    imported = discounts.deal_record(store, CONFIG, 3)["discount_approval"]
    assert imported == {
        "discount": 0.2, "limit": 0.1, "beyond_policy": True, "approved_discount": None, "open_request_id": None,
        "imported": True, "flagged": True,
    }  # fmt: skip
    covered = discounts.deal_record(store, CONFIG, 1)["discount_approval"]
    assert (covered["flagged"], covered["approved_discount"], covered["imported"]) == (False, 0.25, False)
    with store.connect() as conn:  # flagged, not blocked: the imported price stands
        assert conn.execute(select(Opportunity.amount).where(Opportunity.id == 3)).scalar_one() == Decimal("4000")


# ---- the API and the command line -----------------------------------------------------------------


@pytest.fixture
def api(store, tmp_path):
    tokens = {p: {"authorization": f"Bearer {create_token(store, email=email(p))}"} for p in (ANN, BOB, RIA)}
    with TestClient(
        create_app(store, CONFIG, config_path=tmp_path / "truce.toml"), base_url="http://127.0.0.1"
    ) as client:
        client.as_ = tokens
        yield client


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"opportunity_id": 1, "discount": 1.5, "reason": "competitor"}, "body.discount", "a rate is from 0 to 1"),
        ({"opportunity_id": 1, "discount": 0.1, "reason": "competitor"}, "body.discount", "no approval needed"),
        (
            {"opportunity_id": 1, "discount": 0.25, "reason": "cheaper"},
            "body.reason",
            "competitor, multi_year, strategic",
        ),
        ({"opportunity_id": 1, "reason": "competitor"}, "body.discount", "Field required"),
    ],
)
def test_the_api_names_the_bad_field(api, body, field, message):
    answer = api.post("/api/v1/discount-approvals", json=body, headers=api.as_[ANN])
    assert answer.status_code == 422, answer.text
    [error] = answer.json()["errors"]
    assert error["path"] == field and message in error["message"]


def test_the_api_asks_answers_and_shows_the_flag(api, store):
    made = api.post(
        "/api/v1/discount-approvals",
        json={"opportunity_id": 2, "discount": 0.2, "reason": "multi_year"},
        headers=api.as_[ANN],
    )
    assert made.status_code == 201, made.text
    number = made.json()["id"]
    assert (
        api.post(f"/api/v1/discount-approvals/{number}/approve", json={}, headers=api.as_[RIA]).json()["errors"][0][
            "path"
        ]
        == "body.note"
    )
    refused = api.post(f"/api/v1/discount-approvals/{number}/approve", json={"note": "ok"}, headers=api.as_[BOB])
    assert refused.status_code == 403 and "only a RevOps member may" in refused.json()["error"]
    assert (
        api.post(f"/api/v1/discount-approvals/{number}/approve", json={"note": "ok"}, headers=api.as_[RIA]).status_code
        == 200
    )
    again = api.post(f"/api/v1/discount-approvals/{number}/refuse", json={"note": "no"}, headers=api.as_[RIA])
    assert again.status_code == 409
    assert api.get("/api/v1/opportunities/2", headers=api.as_[BOB]).json()["discount_approval"]["flagged"] is False
    assert api.get("/api/v1/opportunities/3", headers=api.as_[BOB]).json()["discount_approval"]["flagged"] is True
    assert [r["id"] for r in api.get("/api/v1/discount-approvals", headers=api.as_[BOB]).json()] == [number]
    assert api.get("/api/v1/discount-approvals?pending=true", headers=api.as_[BOB]).json() == []


def test_the_command_asks_and_explains_a_bad_discount_with_exit_code_2(store):
    url = store.url.render_as_string(hide_password=False)
    runner = CliRunner()
    env = {"TRUCE_USER": email(ANN), "COLUMNS": "200"}
    bad = runner.invoke(
        cli, ["discount", "request", "1", "--discount", "0.1", "--reason", "competitor", "--db", url], env=env
    )
    assert bad.exit_code == 2 and "--discount: no approval needed" in bad.output
    good = runner.invoke(
        cli,
        ["discount", "request", "1", "--discount", "0.25", "--reason", "competitor", "--db", url, "--json"],
        env=env,
    )
    assert good.exit_code == 0, good.output
    listed = runner.invoke(cli, ["discounts", "--pending", "--json", "--db", url])
    assert listed.exit_code == 0, listed.output
    with store.connect() as conn:
        assert conn.execute(select(func.count()).select_from(DiscountApproval)).scalar_one() == 1


# ---- the page ---------------------------------------------------------------------------------------


def _browser(store, person: int, tmp_path) -> TestClient:
    import re

    from truce.services.logins import add_user

    add_user(store, email=email(person), team=PEOPLE[person - 1][2], password="correct horse battery")
    app = create_app(store, CONFIG, config_path=tmp_path / "truce.toml")
    client = TestClient(app, base_url="http://127.0.0.1", headers={"accept": "text/html"})
    assert client.post("/login", data={"email": email(person), "password": "correct horse battery"}).status_code == 200
    client.csrf = re.search(r'name="csrf" value="([^"]+)"', client.get("/economics/discounts").text)[1]
    return client


def test_the_page_lets_a_seller_ask_and_the_approver_answer(store, tmp_path):
    seller = _browser(store, ANN, tmp_path)
    sent = seller.post(
        "/economics/discounts/request",
        data={"opportunity_id": "2", "discount_percent": "20", "reason": "competitor", "csrf": seller.csrf},
    )
    assert sent.status_code == 200 and "Request #1 sent to the approvers" in sent.text
    assert "/economics/discounts/1/approve" not in sent.text  # a seller sees no answer form
    approver = _browser(store, RIA, tmp_path)
    page = approver.get("/economics/discounts").text
    assert "/economics/discounts/1/approve" in page and 'name="opportunity_id"' not in page
    answered = approver.post("/economics/discounts/1/refuse", data={"note": "hold at 15 %", "csrf": approver.csrf})
    assert "Request #1 refused" in answered.text
    with store.connect() as conn:
        assert conn.execute(select(DiscountApproval.state, DiscountApproval.note)).one() == ("refused", "hold at 15 %")
