"""Integrated metrics per group and the directory: a small company worked out by hand, the CLI, the demo recounted."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import sqlite3
from decimal import Decimal

import pytest
from conftest import writing
from sqlalchemy import insert
from typer.testing import CliRunner

from truce import config as truce_config
from truce.cli import app
from truce.services import demo
from truce.services.account_plans import set_plan
from truce.services.metrics import MetricsError, directory, group_metrics
from truce.store import db
from truce.store.models import Account, Campaign, Contact, Opportunity, Touchpoint, User

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore:The 'future.infer_string'")
runner = CliRunner()
CONFIG = truce_config.parse(truce_config.default_text(), "truce.toml")  # [brief] gross_margin = 0.75
T0 = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
Q1 = {"start": dt.date(2026, 1, 1), "end": dt.date(2026, 3, 31)}
PEOPLE = [  # key, team, focus, active
    ("eva", "sales", None, True),
    ("nick", "sales", None, True),
    ("old", "sales", None, False),  # left, and closed nothing in the period: not listed
    ("mia", "marketing", "downstream", True),
    ("dan", "marketing", None, True),  # no focus: counted with the downstream marketers
    ("ola", "marketing", "upstream", True),
    ("rex", "revops", None, True),
]
ACCOUNTS = [  # key, industry, segment, owner
    ("Acme", "Retail", "enterprise", "eva"),
    ("Beta", "Retail", "smb", "eva"),
    ("Gamma", "Energy", "enterprise", "nick"),
    ("Delta", "Retail", "enterprise", None),
]
CAMPAIGNS = [  # key, owner, cost, first day, last day
    ("c1", "mia", "3000", "2026-01-01", "2026-03-31"),  # 90 days, all in Q1
    ("c2", "eva", "1000", "2026-03-01", "2026-04-09"),  # 40 days, 31 in Q1: 775.00
    ("c3", "ola", "5000", "2025-12-01", "2025-12-10"),  # before Q1
]
DEALS = [  # key, account, owner, campaign, amount, status, close date, product
    ("d1", "Acme", "eva", "c1", "10000", "won", "2025-11-15", "Core"),  # Acme's first win, before Q1
    ("d2", "Acme", "eva", "c1", "20000", "won", "2026-02-10", "Core"),
    ("d3", "Beta", "eva", "c2", "5000", "won", "2026-03-05", "Core"),  # Beta's first: new; Retail/smb is new
    ("d4", "Gamma", "nick", "c3", "8000", "won", "2026-01-20", "Suite"),  # new customer, segment and product
    ("d5", "Gamma", "nick", "c1", "2000", "won", "2026-03-30", "Suite"),
    ("d6", None, "eva", None, "1000", "won", "2026-03-15", None),  # no account: its own (new) customer
    ("d7", "Beta", "nick", "c1", "7000", "lost", "2026-02-01", "Core"),
    ("d8", "Acme", "eva", "c1", "4000", "won", "2026-04-02", "Core"),  # after Q1
    ("d9", "Acme", "eva", "c1", "9000", "open", "2026-02-15", "Core"),
]
CONTACTS = [("ann", "Acme"), ("bob", "Beta"), ("cy", "Gamma"), ("dee", None), ("di", "Delta")]
TOUCHES = [  # contact, kind, type, at (UTC), user
    ("ann", "marketing", "webinar", "2026-01-10T10:00", None),
    ("ann", "sales", "meeting", "2026-01-10T15:00", "eva"),  # a webinar is not a meeting: no joint meeting
    ("ann", "marketing", "event", "2026-02-03T09:00", None),
    ("ann", "sales", "demo", "2026-02-03T23:30", "eva"),  # same UTC day as the event: a joint meeting
    ("bob", "marketing", "ad_click", "2026-01-05T10:00", None),
    ("bob", "sales", "call", "2026-02-07T10:00", "nick"),  # joint over Q1, in neither month
    ("cy", "sales", "meeting", "2026-03-01T10:00", "mia"),  # logged by a marketer: marketing's
    ("cy", "sales", "meeting", "2026-03-01T11:00", "nick"),  # a joint meeting
    ("dee", "marketing", "event", "2026-03-02T10:00", None),  # no account: left out
    ("dee", "sales", "meeting", "2026-03-02T10:00", "eva"),
    ("di", "marketing", "form", "2026-03-15T10:00", None),  # marketing only
    ("ann", "sales", "call", "2026-04-01T00:00", "eva"),  # after Q1
]


def build(engine) -> dict:
    ids: dict = {}
    with writing(engine) as conn:
        for key, team, focus, active in PEOPLE:
            ids[key] = conn.execute(
                insert(User).returning(User.id),
                {"email": f"{key}@co.example", "name": key.title(), "team": team, "marketing_focus": focus,
                 "active": active, "is_leader": key == "ola", "region": "EMEA" if team == "sales" else None,
                 "segment": "enterprise" if key == "eva" else None, "created_at": T0},
            ).scalar_one()  # fmt: skip
        for key, industry, segment, owner in ACCOUNTS:
            ids[key] = conn.execute(
                insert(Account).returning(Account.id),
                {"name": key, "domain": f"{key.lower()}.example", "industry": industry, "segment": segment,
                 "owner_id": ids.get(owner), "created_at": T0, "updated_at": T0},
            ).scalar_one()  # fmt: skip
        for key, owner, cost, first, last in CAMPAIGNS:
            ids[key] = conn.execute(
                insert(Campaign).returning(Campaign.id),
                {"name": key, "channel": "webinar", "owner_id": ids[owner], "actual_cost": Decimal(cost),
                 "starts_on": dt.date.fromisoformat(first), "ends_on": dt.date.fromisoformat(last)},
            ).scalar_one()  # fmt: skip
        for key, account, owner, campaign, amount, status, closed, product in DEALS:
            ids[key] = conn.execute(
                insert(Opportunity).returning(Opportunity.id),
                {"name": key, "account_id": ids.get(account), "owner_id": ids[owner], "campaign_id": ids.get(campaign),
                 "amount": Decimal(amount), "stage": status, "status": status, "product": product,
                 "close_date": dt.date.fromisoformat(closed), "created_at": T0, "updated_at": T0},
            ).scalar_one()  # fmt: skip
        for key, account in CONTACTS:
            ids[key] = conn.execute(
                insert(Contact).returning(Contact.id),
                {"email": f"{key}@x.example", "stage": "sql", "account_id": ids.get(account), "created_at": T0,
                 "updated_at": T0},
            ).scalar_one()  # fmt: skip
        for contact, kind, touch_type, at, user in TOUCHES:
            conn.execute(
                insert(Touchpoint),
                {"contact_id": ids[contact], "channel": touch_type, "kind": kind, "touch_type": touch_type,
                 "occurred_at": dt.datetime.fromisoformat(at).replace(tzinfo=dt.UTC), "user_id": ids.get(user)},
            )  # fmt: skip
    return ids


@pytest.fixture
def company(engine) -> dict:
    return build(engine)


def by_user(rows: list[dict]) -> dict:
    return {r["user"].split("@")[0]: r for r in rows}


def test_sellers_are_measured_on_the_deals_they_own(engine, company):
    sellers = by_user(group_metrics(engine, CONFIG, **Q1)["sellers"])
    assert set(sellers) == {"eva", "nick"}
    # eva: d2 + d3 + d6 = 26,000 from Acme, Beta and the account-less deal; Beta and d6 are new.
    # Gross profit 26,000 × 0.75 = 19,500 over 3 customers; cost: c2's 31 of 40 days = 775.
    assert sellers["eva"] == {
        "user": "eva@co.example",
        "name": "Eva",
        "active": True,
        "new_customers": 2,
        "closings": 3,
        "customers": 3,
        "won_revenue": 26000.0,
        "gross_profit": 19500.0,
        "avg_gross_profit_per_customer": 6500.0,
        "sales_cost": 775.0,
        "sales_cost_share": pytest.approx(775 / 26000),
    }
    # nick: d4 + d5 = 10,000 from Gamma (new with d4); he owns no campaign, so no cost is recorded.
    nick = sellers["nick"]
    assert (nick["new_customers"], nick["closings"], nick["customers"], nick["won_revenue"]) == (1, 2, 1, 10000.0)
    assert nick["avg_gross_profit_per_customer"] == 7500.0
    assert nick["sales_cost"] is None and nick["sales_cost_share"] is None


def test_downstream_marketers_are_measured_on_their_campaigns_deals(engine, company):
    downstream = by_user(group_metrics(engine, CONFIG, **Q1)["downstream_marketers"])
    assert set(downstream) == {"mia", "dan"}
    # mia owns c1: d2 (Acme, not new: d1 came first) and d5 (Gamma, not new: d4 came first); d7 was lost.
    mia = downstream["mia"]
    assert (mia["new_customers"], mia["closings"], mia["customers"], mia["won_revenue"]) == (0, 2, 2, 22000.0)
    assert mia["avg_gross_profit_per_customer"] == 8250.0  # 22,000 × 0.75 / 2
    assert mia["sales_cost"] == 3000.0
    assert mia["sales_cost_share"] == pytest.approx(3000 / 22000)
    dan = downstream["dan"]
    assert (dan["closings"], dan["won_revenue"], dan["avg_gross_profit_per_customer"], dan["sales_cost_share"]) == (
        0,
        0.0,
        None,
        None,
    )


def test_upstream_marketers_get_new_segments_and_offerings(engine, company):
    data = group_metrics(engine, CONFIG, **Q1)
    (ola,) = data["upstream_marketers"]
    # ola owns c3, which brought d4: Energy/enterprise and Suite were both first won with it.
    assert ola == {
        "user": "ola@co.example",
        "name": "Ola",
        "active": True,
        "closings": 1,
        "won_revenue": 8000.0,
        "products": ["Suite"],
        "revenue_from_new_segments": 8000.0,
        "revenue_from_new_offerings": 8000.0,
        "forecast_accuracy": {"Suite": ola["forecast_accuracy"]["Suite"]},  # checked on the demo below
    }
    assert data["new_segments"] == [
        {"segment": "Energy / enterprise", "won_revenue": 10000.0},  # d4 + d5
        {"segment": "Retail / smb", "won_revenue": 5000.0},  # d3
    ]
    assert data["new_offerings"] == [{"product": "Suite", "won_revenue": 10000.0}]  # Core was first sold in 2025
    assert "forecast_accuracy: 1 − WAPE" in data["notes"][0]


def test_joint_activity_counts_accounts_and_meetings_with_both_teams(engine, company):
    joint = group_metrics(engine, CONFIG, **Q1)["joint_activity"]
    # Touched in Q1: Acme, Beta, Gamma, Delta; by both: Acme, Beta (across months), Gamma (mia's meeting).
    assert (joint["accounts_touched"], joint["accounts_touched_by_both"], joint["share"]) == (4, 3, 0.75)
    assert joint["meetings_with_both_teams"] == 2  # Acme on 3 February, Gamma on 1 March
    assert joint["by_month"] == [
        {"month": "2026-01", "accounts_touched": 2, "accounts_touched_by_both": 1, "share": 0.5,
         "meetings_with_both_teams": 0},
        {"month": "2026-02", "accounts_touched": 2, "accounts_touched_by_both": 1, "share": 0.5,
         "meetings_with_both_teams": 1},
        {"month": "2026-03", "accounts_touched": 2, "accounts_touched_by_both": 1, "share": 0.5,
         "meetings_with_both_teams": 1},
    ]  # fmt: skip


def test_an_open_period_counts_everything(engine, company):
    data = group_metrics(engine, CONFIG)
    eva = by_user(data["sellers"])["eva"]
    # d1, d2, d3, d6, d8: 40,000 from Acme, Beta and d6 — all three first won within all time.
    assert (eva["closings"], eva["won_revenue"], eva["new_customers"], eva["sales_cost"]) == (5, 40000.0, 3, 1000.0)
    assert data["joint_activity"]["accounts_touched"] == 4


def test_it_refuses_a_period_that_ends_before_it_starts(engine):
    with pytest.raises(MetricsError, match="starts on 2026-04-01 after it ends on 2026-03-01"):
        group_metrics(engine, CONFIG, start=dt.date(2026, 4, 1), end=dt.date(2026, 3, 1))


def test_the_directory_says_who_owns_what(engine, company):
    set_plan(engine, account="acme.example", liaison_email="mia@co.example", owner_email="eva@co.example",
             actor="rex@co.example")  # fmt: skip
    people = by_user(directory(engine))
    assert list(people) == ["dan", "mia", "ola", "rex", "eva", "nick", "old"]  # by team, then name
    eva = people["eva"]
    assert (eva["team"], eva["role"], eva["region"], eva["segment"], eva["active"]) == (
        "sales",
        "member",
        "EMEA",
        "enterprise",
        True,
    )
    assert [(a["name"], a["key_account"]) for a in eva["accounts_owned"]] == [("Acme", True), ("Beta", False)]
    assert [c["name"] for c in eva["campaigns_owned"]] == ["c2"]
    assert [a["name"] for a in eva["key_accounts_as_plan_owner"]] == ["Acme"]
    assert [a["name"] for a in people["mia"]["key_accounts_as_liaison"]] == ["Acme"]
    assert (people["ola"]["role"], people["ola"]["marketing_focus"]) == ("leader", "upstream")
    assert people["old"]["active"] is False
    assert [p["user"] for p in directory(engine, team="marketing")] == [
        "dan@co.example",
        "mia@co.example",
        "ola@co.example",
    ]
    with pytest.raises(MetricsError, match="unknown team 'legal'"):
        directory(engine, team="legal")


# ---- the command line ----------------------------------------------------------------------------------


@pytest.fixture
def store(sqlite_url) -> str:
    engine = db.connect(sqlite_url)
    build(engine)
    engine.dispose()
    return sqlite_url


def run(*args):
    return runner.invoke(app, [str(a) for a in args])


def test_the_cli_prints_metrics_as_tables_and_json(store):
    result = run("metrics", "--from", "2026-01-01", "--to", "2026-03-31", "--db", store, "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert by_user(data["sellers"])["eva"]["won_revenue"] == 26000.0
    assert data["period"] == {"from": "2026-01-01", "to": "2026-03-31"}
    shown = run("metrics", "--from", "2026-01-01", "--to", "2026-03-31", "--db", store)
    assert shown.exit_code == 0, shown.output
    for heading in ("Sellers", "Downstream marketers", "Upstream marketers", "Joint activity by month"):
        assert heading in shown.output
    bad = run("metrics", "--to", "March", "--db", store)
    assert bad.exit_code == 1 and "--to 'March' is not a date" in bad.output


def test_the_cli_prints_the_directory(store):
    data = json.loads(run("directory", "--team", "sales", "--db", store, "--json").output)
    assert [p["user"] for p in data] == ["eva@co.example", "nick@co.example", "old@co.example"]
    shown = run("directory", "--db", store)
    assert shown.exit_code == 0, shown.output
    assert "Directory: 7 people" in shown.output


# ---- the demo company -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def demo_path(sqlite_template, tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("metrics") / "demo.db"
    shutil.copy(sqlite_template, path)
    engine = db.connect(f"sqlite:///{path}")
    demo.build(engine, contacts=1500, seed=5)
    engine.dispose()
    return str(path)


def test_the_demo_sellers_add_up_to_a_plain_sql_recount(demo_path):
    start, end = "2026-01-01", "2026-06-30"
    with sqlite3.connect(demo_path) as con:
        won = con.execute(
            "SELECT o.id, o.account_id, u.email, o.amount, o.close_date FROM opportunities o"
            " JOIN users u ON u.id = o.owner_id WHERE o.status = 'won' AND o.close_date IS NOT NULL"
            " AND u.team = 'sales' ORDER BY o.close_date, o.id"
        ).fetchall()
        everyone_won = con.execute(
            "SELECT id, account_id, close_date FROM opportunities WHERE status = 'won' AND close_date IS NOT NULL"
            " ORDER BY close_date, id"
        ).fetchall()
        users = con.execute("SELECT COUNT(*) FROM users").fetchone()[0]
    first = {}
    for ident, account, _closed in everyone_won:
        first.setdefault(account if account is not None else f"deal {ident}", ident)
    closings, revenue, new = {}, {}, {}
    for ident, account, email, amount, closed in won:
        if start <= closed <= end:
            closings[email] = closings.get(email, 0) + 1
            revenue[email] = revenue.get(email, Decimal(0)) + Decimal(str(amount))
            key = account if account is not None else f"deal {ident}"
            new[email] = new.get(email, 0) + (first[key] == ident)
    engine = db.connect(f"sqlite:///{demo_path}")
    data = group_metrics(engine, CONFIG, start=dt.date.fromisoformat(start), end=dt.date.fromisoformat(end))
    people = directory(engine)
    engine.dispose()
    sellers = {r["user"]: r for r in data["sellers"]}
    assert sum(closings.values()) > 10, "the demo wins deals in the half-year"
    for email, n in closings.items():
        assert sellers[email]["closings"] == n
        assert sellers[email]["won_revenue"] == pytest.approx(float(revenue[email]), abs=0.005)
        assert sellers[email]["new_customers"] == new[email]
    assert sum(r["closings"] for r in data["sellers"]) == sum(closings.values())
    assert data["downstream_marketers"] and data["upstream_marketers"]
    joint = data["joint_activity"]
    assert 0 < joint["accounts_touched_by_both"] <= joint["accounts_touched"]
    assert [m["month"] for m in joint["by_month"]] == [f"2026-0{m}" for m in range(1, 7)]
    assert len(people) == users
    assert any(p["campaigns_owned"] for p in people) and any(p["accounts_owned"] for p in people)


def test_a_products_forecast_accuracy_is_one_minus_its_quarterly_wape(demo_path):
    import sqlite3
    from decimal import Decimal

    from truce.domain.forecast import parse_period
    from truce.services.metrics import product_forecast_accuracy, product_forecast_backtest

    engine = db.connect(f"sqlite:///{demo_path}")
    backtest = product_forecast_backtest(engine, CONFIG)
    accuracy = product_forecast_accuracy(engine, CONFIG)
    assert backtest and set(backtest) == set(accuracy)
    with sqlite3.connect(demo_path) as con:
        for product, quarters in backtest.items():
            assert len(quarters) >= 3
            for q in quarters:
                period = parse_period(q["quarter"])
                # The actual, recounted in plain SQL: the product's won deals closed in the quarter.
                (won,) = con.execute(
                    "SELECT coalesce(sum(amount), 0) FROM opportunities WHERE product = ? AND status = 'won' "
                    "AND close_date BETWEEN ? AND ?",
                    (product, period.start.isoformat(), period.end.isoformat()),
                ).fetchone()
                assert float(q["actual"]) == pytest.approx(float(won), abs=0.005)
                assert period.start <= q["as_of"] <= period.end
            total = sum((q["actual"] for q in quarters), Decimal("0"))
            missed = sum((abs(q["forecast"] - q["actual"]) for q in quarters), Decimal("0"))
            assert accuracy[product] == pytest.approx(float(1 - missed / total), abs=1e-4)
    upstream = group_metrics(engine, CONFIG)["upstream_marketers"]
    assert any(row["forecast_accuracy"] for row in upstream)
    for row in upstream:
        assert set(row["forecast_accuracy"]) == set(row["products"])
    engine.dispose()
