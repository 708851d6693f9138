"""RevOps in the browser: survey rounds, account plans, users and roles, campaign costs, metrics and
the directory as pages; the funnel editor's errors where the eye is; the audit trail's config diff;
a target replaced only after a confirmation. On SQLite and PostgreSQL, through TestClient.

Every number is worked out by hand here (the people below) and, for the response rate, checked
again with a SQL count written out in the test.
"""

from __future__ import annotations

import datetime as dt
import html
import re
from decimal import Decimal

import pytest
from conftest import writing
from fastapi.testclient import TestClient
from sqlalchemy import func, insert, select, text

from truce import config as truce_config
from truce.services import logins
from truce.services.logins import add_user
from truce.services.survey_rounds import round_overview, send_reminders
from truce.services.targets import set_target
from truce.store.models import (
    Account,
    AccountPlan,
    AuditEntry,
    Campaign,
    OutboxMessage,
    SurveyResponse,
    SurveyRound,
    Target,
    User,
)
from truce.web.app import create_app

CONFIG = truce_config.parse(truce_config.default_text(), "truce.toml")
PASSWORD = "correct horse battery"
T0 = dt.datetime(2026, 7, 1, 9, tzinfo=dt.UTC)
# name: (team, access, active). Asked in a round: active members of sales and marketing.
PEOPLE = {
    "rex": ("revops", "member", True),
    "eva": ("sales", "member", True),
    "sam": ("sales", "member", True),
    "tom": ("sales", "member", True),
    "vic": ("sales", "viewer", True),  # reads only: not asked
    "old": ("sales", "member", False),  # left: not asked, though they answered
    "mia": ("marketing", "member", True),
    "ola": ("marketing", "member", True),
}
ANSWERED = ("eva", "sam", "old", "mia")


def email(name: str) -> str:
    return f"{name}@yourco.example"


@pytest.fixture(autouse=True)
def cheap_argon2(monkeypatch):
    """Argon2 at its lowest cost: these tests are about the pages, not the hash."""
    from argon2 import PasswordHasher

    monkeypatch.setattr(logins, "_hasher", lambda: PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))


@pytest.fixture
def ids(engine) -> dict[str, int]:
    for name, (team, access, _) in PEOPLE.items():
        add_user(engine, email=email(name), team=team, role=access, password=PASSWORD, actor="setup")
    with writing(engine) as conn:
        conn.execute(User.__table__.update().where(User.email == email("old")).values(active=False))
        found = dict(conn.execute(select(User.email, User.id)).all())
    return {name: found[email(name)] for name in PEOPLE}


@pytest.fixture
def round_q3(engine, ids) -> int:
    """Round 2026-Q3 with answers from eva and sam (sales), old (sales, since left) and mia (marketing)."""
    with writing(engine) as conn:
        round_id = conn.execute(
            insert(SurveyRound).returning(SurveyRound.id), {"name": "2026-Q3", "opened_at": T0}
        ).scalar_one()
        for name in ANSWERED:
            ratings = {f"s{i}": 3 for i in range(1, 21)}
            conn.execute(insert(SurveyResponse), {"round_id": round_id, "respondent_id": ids[name], "team": PEOPLE[name][0],
                                                  "role": "staff", "source": "web", "submitted_at": T0, **ratings})  # fmt: skip
    return round_id


@pytest.fixture
def app(engine, tmp_path):
    return create_app(engine, CONFIG, config_path=tmp_path / "truce.toml")


def browser(app, name: str) -> TestClient:
    client = TestClient(app, base_url="http://127.0.0.1", headers={"accept": "text/html"})
    response = client.post("/login", data={"email": email(name), "password": PASSWORD}, follow_redirects=False)
    assert response.status_code == 303, response.text
    client.csrf = re.search(r'name="csrf" value="([^"]+)"', client.get("/access").text)[1]
    return client


def flash_of(page: str) -> list[str]:
    return [html.unescape(m) for m in re.findall(r'<p class="flash error"[^>]*>(.*?)</p>', page, re.S)]


def ok_of(page: str) -> str | None:
    found = re.search(r'<p class="flash ok"[^>]*>(.*?)</p>', page, re.S)
    return found and html.unescape(found[1])


def trail(engine, action: str) -> list[tuple]:
    with engine.connect() as conn:
        query = select(AuditEntry.actor, AuditEntry.entity_id, AuditEntry.before, AuditEntry.after)
        return [tuple(r) for r in conn.execute(query.where(AuditEntry.action == action).order_by(AuditEntry.id))]


# ---- survey rounds -------------------------------------------------------------------------------


def test_it_counts_each_teams_response_rate_among_those_asked(engine, round_q3):
    rates = {t["team"]: t for t in round_overview(engine, CONFIG)[0]["teams"]}
    # By hand: sales asks eva, sam, tom (vic only reads, old left); eva and sam answered → 2 of 3.
    # Marketing asks mia and ola; mia answered → 1 of 2.
    assert (rates["sales"]["answered"], rates["sales"]["asked"]) == (2, 3)
    assert (rates["marketing"]["answered"], rates["marketing"]["asked"]) == (1, 2)
    assert rates["sales"]["rate"] == pytest.approx(2 / 3) and rates["marketing"]["rate"] == 0.5
    # The same, counted again in SQL.
    count = text(
        "SELECT u.team, COUNT(r.id), COUNT(*) FROM users u LEFT JOIN survey_responses r "
        "ON r.respondent_id = u.id AND r.round_id = :round "
        "WHERE u.active AND u.access = 'member' AND u.team IN ('sales', 'marketing') GROUP BY u.team"
    )
    with engine.connect() as conn:
        counted = {team: (done, asked) for team, done, asked in conn.execute(count, {"round": round_q3})}
    assert counted == {t: (rates[t]["answered"], rates[t]["asked"]) for t in ("sales", "marketing")}


def test_it_reminds_those_asked_who_have_not_answered_once_a_day_and_audits_it(engine, ids, round_q3):
    sent = send_reminders(engine, "2026-Q3", actor=email("rex"))
    again = send_reminders(engine, "2026-Q3", actor=email("rex"))
    assert (sent["waiting"], sent["reminded"]) == (2, 2)  # tom and ola
    assert (again["waiting"], again["reminded"]) == (2, 0)
    with engine.connect() as conn:
        owed = conn.execute(select(OutboxMessage.user_id).where(OutboxMessage.kind == "survey_reminder")).scalars()
        assert sorted(owed) == sorted([ids["tom"], ids["ola"]])
    assert [a[3]["reminded"] for a in trail(engine, "survey_reminder")] == [2, 0]


def test_revops_opens_a_round_on_the_page_and_a_bad_name_is_refused_once_with_the_name_kept(engine, app, ids):
    revops = browser(app, "rex")
    long_name = "x" * 33
    bad = revops.post("/survey/rounds", data={"name": long_name, "csrf": revops.csrf})
    assert bad.status_code == 400
    assert len(flash_of(bad.text)) == 1 and "1 to 32 characters" in flash_of(bad.text)[0]
    assert f'value="{long_name}"' in bad.text
    opened = revops.post("/survey/rounds", data={"name": "2026-Q4", "csrf": revops.csrf})
    assert "Round 2026-Q4 is open" in ok_of(opened.text)
    assert 'data-round="2026-Q4"' in opened.text and "0 / 3" in opened.text and "0 / 2" in opened.text
    reminded = revops.post("/survey/rounds/remind", data={"round": "2026-Q4", "csrf": revops.csrf})
    assert "5 of 5 who have not answered reminded" in ok_of(reminded.text)
    assert [(a[0], a[3]) for a in trail(engine, "create") if a[3] == {"name": "2026-Q4"}] == [
        (email("rex"), {"name": "2026-Q4"})
    ]


# ---- who may write what --------------------------------------------------------------------------


def test_a_seller_may_not_edit_costs_roles_rounds_or_read_users_and_nothing_changes(engine, app, ids):
    with writing(engine) as conn:
        campaign = conn.execute(insert(Campaign).returning(Campaign.id), {"name": "Webinar", "channel": "webinar",
                                                                           "budget": Decimal("1000.00")}).scalar_one()  # fmt: skip
    seller = browser(app, "eva")
    tries = [
        ("post", f"/campaign-costs/{campaign}", {"actual_cost": "5"}),
        ("post", f"/users/{ids['sam']}", {"team": "revops", "access": "member"}),
        ("post", "/survey/rounds", {"name": "2027-Q1"}),
        ("post", "/survey/rounds/remind", {"round": "2026-Q3"}),
        ("get", "/users", None),
    ]
    for method, path, data in tries:
        response = getattr(seller, method)(path, **({"data": {**data, "csrf": seller.csrf}} if data else {}))
        assert response.status_code == 403, path
        assert "may not" in response.text
    assert seller.get("/campaign-costs").status_code == 200  # reading is for everyone
    with engine.connect() as conn:
        assert conn.execute(select(Campaign.actual_cost).where(Campaign.id == campaign)).scalar_one() is None
        assert conn.execute(select(User.team).where(User.id == ids["sam"])).scalar_one() == "sales"
        assert conn.execute(select(func.count()).select_from(SurveyRound)).scalar_one() == 0


# ---- campaign costs ------------------------------------------------------------------------------


def test_marketing_sets_a_campaigns_actual_cost_as_typed_and_the_trail_keeps_before_and_after(engine, app, ids):
    with writing(engine) as conn:
        campaign = conn.execute(insert(Campaign).returning(Campaign.id), {"name": "Spring webinar", "channel": "webinar",
                                                                           "budget": Decimal("1000.00")}).scalar_one()  # fmt: skip
    marketer = browser(app, "mia")
    bad = marketer.post(f"/campaign-costs/{campaign}", data={"actual_cost": "12.345", "csrf": marketer.csrf})
    assert flash_of(bad.text) == ["actual_cost: '12.345' has more than two decimals (money is kept to the cent)"]
    saved = marketer.post(f"/campaign-costs/{campaign}", data={"actual_cost": "12,500.50", "csrf": marketer.csrf})
    assert "actual cost 12500.50" in ok_of(saved.text)
    assert "12,500.50" in saved.text  # the table shows it
    assert trail(engine, "campaign_cost") == [(email("mia"), campaign, {"actual_cost": None}, {"actual_cost": "12500.50"})]
    found = marketer.get("/campaign-costs?q=SPRING").text
    assert "Spring webinar" in found and "1 shown of 1 matching (1 campaigns)" in found


# ---- users and roles -----------------------------------------------------------------------------


def test_revops_changes_a_users_team_and_leadership_and_may_not_change_their_own(engine, app, ids):
    revops = browser(app, "rex")
    assert f'data-user="{email("tom")}"' in revops.get("/users").text
    done = revops.post(f"/users/{ids['tom']}", data={"team": "marketing", "access": "member", "leader": "yes",
                                                      "csrf": revops.csrf})  # fmt: skip
    assert "marketing" in ok_of(done.text) and "leader yes" in ok_of(done.text)
    own = revops.post(f"/users/{ids['rex']}", data={"team": "sales", "access": "member", "csrf": revops.csrf})
    assert "cannot change your own team or access" in flash_of(own.text)[0]
    bad = revops.post(f"/users/{ids['sam']}", data={"team": "finance", "access": "member", "csrf": revops.csrf})
    assert flash_of(bad.text)[0].startswith("team: unknown team 'finance'")
    with engine.connect() as conn:
        teams = dict(conn.execute(select(User.email, User.team)).all())
    assert (teams[email("tom")], teams[email("rex")], teams[email("sam")]) == ("marketing", "revops", "sales")
    assert trail(engine, "user_update")[-1] == (
        email("rex"), ids["tom"], {"team": "sales", "is_leader": False},
        {"email": email("tom"), "team": "marketing", "is_leader": True},
    )  # fmt: skip


# ---- account plans -------------------------------------------------------------------------------


def test_an_account_plan_is_added_on_the_page_counted_against_key_accounts_and_limits_hold(engine, app, ids):
    with writing(engine) as conn:
        for name, domain, key in (("Acme", "acme.example", False), ("Beta", "beta.example", True),
                                  ("Core", "core.example", True)):  # fmt: skip
            conn.execute(insert(Account), {"name": name, "domain": domain, "is_key_account": key, "created_at": T0,
                                           "updated_at": T0})  # fmt: skip
    revops = browser(app, "rex")
    assert "0 of 2 key accounts have a joint plan" in revops.get("/account-plans").text
    form = {"account": "acme.example", "owner": email("eva"), "liaison": email("mia"), "objectives": "Land the EU arm",
            "next_action": "Joint QBR", "next_action_due": "2026-13-01", "csrf": revops.csrf}  # fmt: skip
    bad = revops.post("/account-plans", data=form)
    assert bad.status_code == 400 and len(flash_of(bad.text)) == 1 and "not a date" in flash_of(bad.text)[0]
    assert 'value="Joint QBR"' in bad.text and "Land the EU arm</textarea>" in bad.text
    too_long = revops.post("/account-plans", data={**form, "next_action_due": "", "objectives": "x" * 2001})
    assert "at most 2,000" in flash_of(too_long.text)[0]
    saved = revops.post("/account-plans", data={**form, "next_action_due": "2026-12-01"})
    assert "The joint plan for Acme is saved" in ok_of(saved.text)
    # Acme became a key account with its plan: 1 of 3 key accounts (Beta and Core have none yet).
    assert "1 of 3 key accounts have a joint plan" in saved.text and "2 without one" in saved.text
    with engine.connect() as conn:
        assert conn.execute(select(AccountPlan.objectives)).scalars().all() == ["Land the EU arm"]
    assert [a[0] for a in trail(engine, "account_plan_create")] == [email("rex")]
    # Sam sells too, but the plan is Eva's and Mia's: his change is refused on the form, nothing written.
    sam = browser(app, "sam")
    refused = sam.post("/account-plans", data={**form, "next_action_due": "", "objectives": "Mine now", "csrf": sam.csrf})
    assert refused.status_code == 403 and "sam@yourco.example may not change it" in flash_of(refused.text)[0]
    assert 'value="Joint QBR"' in refused.text  # what he typed is still there
    with engine.connect() as conn:
        assert conn.execute(select(AccountPlan.objectives)).scalars().all() == ["Land the EU arm"]


# ---- metrics and directory -----------------------------------------------------------------------


def test_metrics_and_directory_are_pages_every_role_reads(engine, app, ids):
    seller = browser(app, "eva")
    metrics = seller.get("/metrics")
    assert metrics.status_code == 200 and "Sellers" in metrics.text and "Joint work with accounts" in metrics.text
    assert seller.get("/metrics?start=2026-02-30").status_code == 400
    directory = seller.get("/directory?team=marketing")
    assert directory.status_code == 200 and email("mia") in directory.text and email("eva") not in directory.text


# ---- the funnel editor and the audit trail -------------------------------------------------------


def test_a_bad_funnel_edit_marks_its_line_keeps_the_text_and_the_fixed_one_shows_as_a_diff(engine, app, ids):
    revops = browser(app, "rex")
    page = revops.get("/funnel").text
    original = html.unescape(re.search(r'<textarea name="toml"[^>]*>(.*?)</textarea>', page, re.S)[1])
    lines = original.splitlines()
    number = next(i for i, line in enumerate(lines, 1) if re.match(r'\s*team = "marketing"', line))
    broken = "\n".join(lines[: number - 1] + [lines[number - 1].replace('"marketing"', '"finance"')] + lines[number:])
    refused = revops.post("/funnel/config", data={"toml": broken, "csrf": revops.csrf})
    assert refused.status_code == 400
    errors = re.search(r'<div class="flash error"[^>]*data-testid="config-errors".*?</div>', refused.text, re.S)[0]
    assert f'data-line="{number}"' in errors and "team = &#34;finance&#34;" in errors
    assert f'<span class="bad" title="a problem on this line">{number}</span>' in refused.text
    assert 'team = &#34;finance&#34;' in refused.text.split('<textarea name="toml"')[1]  # the text as typed
    assert 'action="/funnel/config#edit-funnel"' in refused.text
    assert trail(engine, "funnel_config_edit") == []
    fixed = broken.replace('"finance"', '"sales"', 1)
    saved = revops.post("/funnel/config", data={"toml": fixed, "csrf": revops.csrf})
    assert "Saved [funnel] and [sla]" in ok_of(saved.text)
    audit = revops.get("/audit?action=funnel_config_edit").text
    diff = re.search(r'<pre class="diff"[^>]*>(.*?)</pre>', audit, re.S)[1]
    shown = [(kind, html.unescape(line)) for kind, line in re.findall(r'<span class="(\w+)">(.*?)</span>', diff)]
    assert ("remove", '-team = "marketing"') in shown and ("add", '+team = "sales"') in shown
    assert sum(1 for kind, _ in shown if kind in ("add", "remove")) == 2
    assert "1 line added, 1 removed" in audit


# ---- targets -------------------------------------------------------------------------------------


def test_a_target_is_replaced_only_after_confirmation_and_a_bad_period_shows_once_with_the_form_kept(
    engine, app, ids
):
    revops = browser(app, "rex")
    form = {"metric": "pipeline", "team": "shared", "period": "2027-Q1", "amount": "500000", "csrf": revops.csrf}
    assert "(set)" in ok_of(revops.post("/targets", data=form).text)
    asked = revops.post("/targets", data={**form, "amount": "650000"})
    assert 'data-testid="target-confirm"' in asked.text and 'name="confirm" value="replace"' in asked.text
    assert "Replace it with" in asked.text and "650,000" in asked.text
    with engine.connect() as conn:
        assert conn.execute(select(Target.amount)).scalars().all() == [Decimal("500000.00")]
    replaced = revops.post("/targets", data={**form, "amount": "650000", "confirm": "replace"})
    assert "changed from 500000.00" in ok_of(replaced.text)
    same = revops.post("/targets", data={**form, "amount": "650000"})  # nothing to replace: no question
    assert 'data-testid="target-confirm"' not in same.text
    bad = revops.post("/targets", data={**form, "period": "2027-Q5", "amount": "123"})
    assert bad.status_code == 400 and len(flash_of(bad.text)) == 1
    assert 'value="2027-Q5"' in bad.text and 'value="123"' in bad.text
    with engine.connect() as conn:
        assert conn.execute(select(Target.amount)).scalars().all() == [Decimal("650000.00")]
    # Set, replaced after the confirmation, then set again to the amount it had (no question asked).
    assert [(a[2] or {}).get("amount") for a in trail(engine, "target_set")] == [None, "500000.00", "650000.00"]


def test_a_confirmation_does_not_overwrite_a_change_it_did_not_show(engine, app, ids):
    revops = browser(app, "rex")
    form = {"metric": "revenue", "team": "shared", "period": "2027-Q2", "amount": "900000", "csrf": revops.csrf}
    revops.post("/targets", data=form)
    asked = revops.post("/targets", data={**form, "amount": "950000"})
    assert 'name="replaces" value="900000.00"' in asked.text  # the amount the question showed
    # While Rex reads the question, someone else changes the target.
    set_target(engine, metric="revenue", period="2027-Q2", amount="1000000", actor=email("rex"))
    late = revops.post("/targets", data={**form, "amount": "950000", "confirm": "replace", "replaces": "900000.00"})
    assert late.status_code == 409
    assert "holds 1000000.00 now, not the 900000.00 you confirmed" in flash_of(late.text)[0]
    with engine.connect() as conn:
        amounts = conn.execute(select(Target.amount).where(Target.metric == "revenue")).scalars().all()
    assert amounts == [Decimal("1000000.00")]
    # Confirming what is really there goes through.
    done = revops.post("/targets", data={**form, "amount": "950000", "confirm": "replace", "replaces": "1000000.00"})
    assert "changed from 1000000.00" in ok_of(done.text)
