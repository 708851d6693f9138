"""Joint account plans: a marketing liaison, a sales owner, the next joint action; refusals write nothing."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from conftest import writing
from sqlalchemy import func, insert, select
from typer.testing import CliRunner

from truce.cli import app
from truce.domain.access import Forbidden
from truce.services.account_plans import PlanRefused, key_accounts_without_plan, list_plans, set_plan
from truce.services.lifecycle import NotFound
from truce.store import db
from truce.store.models import Account, AccountPlan, AuditEntry, User

runner = CliRunner()
T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
TODAY = dt.date(2026, 11, 20)
PEOPLE = [  # email, team, active
    ("eva@s.example", "sales", True),
    ("nick@s.example", "sales", True),
    ("gone@s.example", "sales", False),
    ("mia@m.example", "marketing", True),
    ("ola@m.example", "marketing", True),
    ("rex@r.example", "revops", True),
]


@pytest.fixture
def accounts(engine) -> dict:
    ids = {}
    with writing(engine) as conn:
        for email, team, active in PEOPLE:
            ids[email] = conn.execute(
                insert(User).returning(User.id),
                {"email": email, "name": email[:3].title(), "team": team, "active": active, "is_leader": False,
                 "created_at": T0},
            ).scalar_one()  # fmt: skip
        for name, domain, key in (
            ("Acme", "acme.example", False),
            ("Beta", "beta.example", False),
            ("Zeta", None, True),
        ):
            ids[name] = conn.execute(
                insert(Account).returning(Account.id),
                {"name": name, "domain": domain, "is_key_account": key, "created_at": T0, "updated_at": T0},
            ).scalar_one()
    return ids


def plan(engine, account="acme.example", liaison="mia@m.example", owner="eva@s.example", **fields):
    return set_plan(engine, account=account, liaison_email=liaison, owner_email=owner, actor="rex@r.example", **fields)


def snapshot(engine) -> tuple:
    with engine.connect() as conn:
        return (
            conn.execute(select(AccountPlan)).all(),
            conn.execute(select(func.count()).select_from(AuditEntry)).scalar_one(),
            conn.execute(select(Account.id, Account.is_key_account).order_by(Account.id)).all(),
        )


def test_a_plan_names_both_people_and_makes_a_key_account(engine, accounts):
    saved = plan(
        engine,
        account="WWW.Acme.example",
        objectives="Expand to the EU warehouses",
        next_action="Joint workshop",
        next_action_due=dt.date(2026, 12, 10),
    )
    assert saved["account"] == "Acme"
    assert (saved["liaison"], saved["owner"]) == ("mia@m.example", "eva@s.example")
    assert (saved["objectives"], saved["next_action"], saved["next_action_due"]) == (
        "Expand to the EU warehouses",
        "Joint workshop",
        dt.date(2026, 12, 10),
    )
    with engine.connect() as conn:
        assert conn.execute(select(Account.is_key_account).where(Account.id == accounts["Acme"])).scalar_one()
        entries = conn.execute(select(AuditEntry).order_by(AuditEntry.id)).all()
    assert [(e.actor, e.action, e.entity_type) for e in entries] == [
        ("rex@r.example", "account_plan_create", "account_plan"),
        ("rex@r.example", "key_account", "account"),
    ]
    assert entries[0].after["next_action_due"] == "2026-12-10"
    assert entries[0].after["liaison_id"] == accounts["mia@m.example"]
    assert (entries[1].before, entries[1].after) == ({"is_key_account": False}, {"is_key_account": True})


def test_setting_it_again_updates_the_one_plan_and_keeps_what_was_left_out(engine, accounts):
    plan(engine, objectives="Expand", next_action="Workshop", next_action_due=dt.date(2026, 12, 10))
    saved = plan(engine, account=str(accounts["Acme"]), liaison="ola@m.example", next_action="Send the proposal")
    assert (saved["liaison"], saved["objectives"], saved["next_action"], saved["next_action_due"]) == (
        "ola@m.example",
        "Expand",
        "Send the proposal",
        dt.date(2026, 12, 10),
    )
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(AccountPlan)).scalar_one() == 1
        update = conn.execute(select(AuditEntry).where(AuditEntry.action == "account_plan_update")).one()
        key_entries = conn.execute(
            select(func.count()).select_from(AuditEntry).where(AuditEntry.action == "key_account")
        ).scalar_one()
    assert update.before == {"liaison_id": accounts["mia@m.example"], "next_action": "Workshop"}
    assert update.after == {"liaison_id": accounts["ola@m.example"], "next_action": "Send the proposal"}
    assert key_entries == 1  # it was already a key account the second time


@pytest.mark.parametrize(
    ("change", "error", "message"),
    [
        ({"liaison": "nick@s.example"}, PlanRefused, "the liaison must be a marketing user; nick@s.example is on the sales team"),
        ({"owner": "mia@m.example"}, PlanRefused, "the owner must be a sales user; mia@m.example is on the marketing team"),
        ({"owner": "rex@r.example"}, PlanRefused, "the owner must be a sales user; rex@r.example is on the revops team"),
        ({"owner": "gone@s.example"}, PlanRefused, "gone@s.example is not an active user"),
        ({"liaison": None}, PlanRefused, "a key account plan needs a liaison"),
        ({"liaison": "who@x.example"}, NotFound, "no user with email 'who@x.example'"),
        ({"account": "nowhere.example"}, NotFound, "no account with domain 'nowhere.example'"),
        ({"account": "999"}, NotFound, "no account with id '999'"),
        ({"objectives": "x" * 2001}, PlanRefused, "the objectives has 2,001 characters"),
    ],
    ids=["liaison-sales", "owner-marketing", "owner-revops", "owner-gone", "no-liaison", "unknown-user",
         "unknown-domain", "unknown-id", "too-long"],
)  # fmt: skip
def test_it_refuses_the_wrong_people_and_writes_nothing(engine, accounts, change, error, message):
    before = snapshot(engine)
    with pytest.raises(error, match=message):
        plan(engine, **change)
    assert snapshot(engine) == before


def test_only_a_plans_people_a_sales_leader_or_revops_change_it(engine, accounts):
    plan(engine)  # Eva owns it, Mia is its liaison
    before = snapshot(engine)
    for outsider in ("nick@s.example", "ola@m.example"):
        with pytest.raises(Forbidden, match=f"{outsider} may not change it"):
            set_plan(engine, account="acme.example", liaison_email="mia@m.example", owner_email="eva@s.example",
                     next_action="mine now", actor=outsider)  # fmt: skip
    assert snapshot(engine) == before
    for person, action in (("eva@s.example", "call"), ("mia@m.example", "webinar"), ("rex@r.example", "review")):
        changed = set_plan(engine, account="acme.example", liaison_email="mia@m.example", owner_email="eva@s.example",
                           next_action=action, actor=person)  # fmt: skip
        assert changed["next_action"] == action
    with writing(engine) as conn:
        conn.execute(User.__table__.update().where(User.email == "nick@s.example").values(is_leader=True))
    assert set_plan(engine, account="acme.example", liaison_email="mia@m.example", owner_email="eva@s.example",
                    next_action="leader's call", actor="nick@s.example")["next_action"] == "leader's call"  # fmt: skip
    # A key account's first plan may be written by anyone who edits plans.
    assert set_plan(engine, account="beta.example", liaison_email="ola@m.example", owner_email="eva@s.example",
                    actor="ola@m.example")["liaison"] == "ola@m.example"  # fmt: skip


def test_someone_must_set_the_plan(engine, accounts):
    with pytest.raises(PlanRefused, match="say who sets the plan"):
        set_plan(engine, account="acme.example", liaison_email="mia@m.example", owner_email="eva@s.example", actor=None)


def test_plans_are_listed_soonest_due_first_with_overdue_marked(engine, accounts):
    plan(engine, account="beta.example", next_action="Renewal call", next_action_due=dt.date(2026, 11, 19))
    plan(engine, account="acme.example", next_action="Workshop", next_action_due=dt.date(2026, 11, 20))
    plan(engine, account=str(accounts["Zeta"]), next_action="Think about it")
    rows = list_plans(engine, today=TODAY)
    assert [(r["account"], r["next_action_due"], r["overdue"]) for r in rows] == [
        ("Beta", dt.date(2026, 11, 19), True),
        ("Acme", dt.date(2026, 11, 20), False),  # due today is not yet overdue
        ("Zeta", None, False),
    ]
    assert [r["account"] for r in list_plans(engine, overdue_only=True, today=TODAY)] == ["Beta"]
    assert rows[0]["liaison_name"] == "Mia" and rows[0]["owner_name"] == "Eva"


def test_key_accounts_without_a_plan_are_named(engine, accounts):
    assert [a["account"] for a in key_accounts_without_plan(engine)] == ["Zeta"]
    plan(engine, account=str(accounts["Zeta"]))
    assert key_accounts_without_plan(engine) == []


# ---- the command line -----------------------------------------------------------------------------------


def run(*args):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture
def store(sqlite_url, accounts_on_sqlite) -> str:
    return sqlite_url


@pytest.fixture
def accounts_on_sqlite(sqlite_url):
    engine = db.connect(sqlite_url)
    with writing(engine) as conn:
        for email, team, active in PEOPLE:
            conn.execute(
                insert(User),
                {"email": email, "name": email, "team": team, "active": active, "is_leader": False, "created_at": T0},
            )
        conn.execute(insert(Account), {"name": "Acme", "domain": "acme.example", "created_at": T0, "updated_at": T0})
    engine.dispose()


def test_the_cli_sets_and_lists_plans(store):
    result = run(
        "accounts", "plan", "acme.example", "--liaison", "mia@m.example", "--owner", "eva@s.example",
        "--objectives", "Expand", "--next-action", "Joint workshop", "--due", "2020-01-31", "--as", "rex@r.example",
        "--db", store,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "Acme: liaison mia@m.example, owner eva@s.example; next: Joint workshop (due 2020-01-31)" in result.output
    data = json.loads(run("accounts", "plans", "--overdue", "--db", store, "--json").output)
    assert [(p["account"], p["overdue"]) for p in data["plans"]] == [("Acme", True)]
    assert data["key_accounts_without_plan"] == []
    shown = run("accounts", "plans", "--db", store)
    assert shown.exit_code == 0 and "overdue" in shown.output


def test_the_cli_names_the_rule_a_plan_breaks(store):
    result = run(
        "accounts", "plan", "acme.example", "--liaison", "eva@s.example", "--owner", "eva@s.example",
        "--as", "rex@r.example", "--db", store,
    )  # fmt: skip
    assert result.exit_code == 1
    assert "the liaison must be a marketing user" in result.output
    result = run(
        "accounts", "plan", "acme.example", "--liaison", "mia@m.example", "--owner", "eva@s.example",
        "--due", "soon", "--as", "rex@r.example", "--db", store,
    )  # fmt: skip
    assert result.exit_code == 1
    assert "--due 'soon' is not a date" in result.output
