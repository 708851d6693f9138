"""The leaders' overview: every figure on a small company worked out by hand, on SQLite and PostgreSQL.

The company (now = Monday 7 December 2026, so the window runs from 1 September):
- ten inquiries in October; four became MQLs, three of those sales accepted, two were
  qualified, one became an opportunity and that one a customer;
- four handoffs, MQL'd in October: deadlines one and two days after; breaches recorded on
  the second (first touch) and the fourth (first touch and decision);
- one deal of 30,000 won on 10 November after a marketing and a sales touch (linear model);
  one of 5,000 won in August, before the window;
- a shared revenue target of 100,000 for 2026-Q4, beside a sales revenue target and an MQL
  target that the overview's target card must leave out.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from conftest import writing
from sqlalchemy import insert

from truce import config as truce_config
from truce.services import overview as overview_service
from truce.store.models import Contact, Handoff, Opportunity, SlaEvent, StageChange, Target, Touchpoint, User

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore:The 'future.infer_string'")
CONFIG = truce_config.parse(
    truce_config.default_text()
    .replace('model = "markov"', 'model = "linear"', 1)
    .replace("mqls_per_month = 100", "mqls_per_month = 3", 1),
    "truce.toml",
)
NOW = dt.datetime(2026, 12, 7, 12, tzinfo=dt.UTC)
LADDER = ("inquiry", "mql", "sal", "sql", "opportunity", "customer")
# How far up the ladder each of the ten contacts climbed (index into LADDER).
CLIMBED = {1: 5, 2: 3, 3: 2, 4: 1, 5: 0, 6: 0, 7: 0, 8: 0, 9: 0, 10: 0}


def at(month, day, hour=12) -> dt.datetime:
    return dt.datetime(2026, month, day, hour, tzinfo=dt.UTC)


@pytest.fixture
def company(engine):
    with writing(engine) as conn:
        seller = conn.execute(
            insert(User).returning(User.id),
            {
                "email": "sam@truce.example",
                "name": "Sam",
                "team": "sales",
                "is_leader": False,
                "active": True,
                "created_at": at(1, 1),
            },  # fmt: skip
        ).scalar_one()
        contacts = {}
        for n, top in CLIMBED.items():
            entered = at(10, n)
            contacts[n] = conn.execute(
                insert(Contact).returning(Contact.id),
                {
                    "email": f"c{n}@example.com",
                    "stage": LADDER[top],
                    "created_at": entered,
                    "updated_at": entered,
                    "owner_id": seller,
                },  # fmt: skip
            ).scalar_one()
            previous = None
            for step in range(top + 1):  # one stage every three days
                when = entered + dt.timedelta(days=3 * step)
                conn.execute(insert(StageChange), {"entity_type": "contact", "entity_id": contacts[n],
                                                   "from_stage": previous, "to_stage": LADDER[step], "changed_at": when,
                                                   "origin": "test", "recorded_at": when})  # fmt: skip
                previous = LADDER[step]
        for n in (1, 2, 3, 4):
            mql_at = at(10, n) + dt.timedelta(days=3)
            handoff = conn.execute(
                insert(Handoff).returning(Handoff.id),
                {"contact_id": contacts[n], "mql_at": mql_at, "owner_id": seller,
                 "status": "accepted" if n <= 3 else "open",
                 "first_touch_due_at": mql_at + dt.timedelta(days=1), "decision_due_at": mql_at + dt.timedelta(days=2),
                 "sla_due_at": mql_at + dt.timedelta(days=2), "created_at": mql_at, "updated_at": mql_at},
            ).scalar_one()  # fmt: skip
            late = {2: ["first_touch_late"], 4: ["first_touch_late", "decision_late"]}.get(n, [])
            for kind in late:
                conn.execute(insert(SlaEvent), {"handoff_id": handoff, "contact_id": contacts[n], "side": "sales",
                                                "kind": kind, "user_id": seller, "due_at": mql_at,
                                                "detected_at": mql_at + dt.timedelta(days=3)})  # fmt: skip
        for when, kind, user in ((at(10, 2), "marketing", None), (at(10, 20), "sales", seller)):
            conn.execute(insert(Touchpoint), {"contact_id": contacts[1], "channel": "webinar" if kind == "marketing"
                                              else "sales_call", "kind": kind, "touch_type": "x",
                                              "occurred_at": when, "user_id": user})  # fmt: skip
        for amount, closed in (("30000.00", dt.date(2026, 11, 10)), ("5000.00", dt.date(2026, 8, 20))):
            conn.execute(insert(Opportunity), {"name": f"deal {amount}", "primary_contact_id": contacts[1],
                                               "amount": Decimal(amount), "status": "won", "stage": "Closed Won",
                                               "created_at": at(10, 25) if closed.month == 11 else at(7, 1),
                                               "close_date": closed, "updated_at": at(11, 10)})  # fmt: skip
        for metric, team, amount in (("revenue", None, 100000), ("revenue", "sales", 60000), ("mqls", None, 12)):
            conn.execute(insert(Target), {"metric": metric, "team": team, "amount": Decimal(amount),
                                          "period_start": dt.date(2026, 10, 1), "period_end": dt.date(2026, 12, 31),
                                          "created_at": at(9, 1)})  # fmt: skip
    return engine


def test_it_reads_from_the_first_day_of_the_month_three_months_back():
    assert overview_service.window(CONFIG, NOW) == (dt.date(2026, 9, 1), dt.date(2026, 12, 7))
    assert overview_service.window(CONFIG, dt.datetime(2026, 2, 3, tzinfo=dt.UTC))[0] == dt.date(2025, 11, 1)


def test_it_paces_a_target_evenly_through_its_period():
    # 68 of Q4's 92 days gone by 7 December: 100,000 × 68 / 92 = 73,913.04 expected; 30,000 won.
    found = overview_service.pace(Decimal("100000.00"), Decimal("30000.00"), 68, 92)
    assert found["expected_by_now"] == Decimal("73913.04")
    assert found["ahead_by"] == Decimal("-43913.04")
    assert found["elapsed_share"] == pytest.approx(68 / 92)


def test_it_shows_only_the_shared_revenue_target_with_its_pace(company):
    [target] = overview_service.overview(company, CONFIG, NOW)["targets"]
    assert (target["period"], target["amount"], target["actual"]) == (
        "2026-Q4",
        Decimal("100000.00"),
        Decimal("30000.00"),
    )
    assert (target["days_elapsed"], target["days_total"]) == (68, 92)
    assert target["expected_by_now"] == Decimal("73913.04") and target["ahead_by"] == Decimal("-43913.04")


def test_it_shows_the_funnel_as_conversion_and_calls_out_the_worst_leak(company):
    funnel = overview_service.overview(company, CONFIG, NOW)["funnel"]
    rates = {(s["from_stage"], s["to_stage"]): (s["entered"], s["converted"]) for s in funnel["steps"]}
    # By hand from CLIMBED: 10 inquiries, 4 MQLs, 3 SALs, 2 SQLs, 1 opportunity, 1 customer.
    assert rates == {("inquiry", "mql"): (10, 4), ("mql", "sal"): (4, 3), ("sal", "sql"): (3, 2),
                     ("sql", "opportunity"): (2, 1), ("opportunity", "customer"): (1, 1)}  # fmt: skip
    assert (funnel["worst"]["from_stage"], funnel["worst"]["rate"]) == ("inquiry", 0.4)


def test_it_puts_the_two_teams_side_by_side(company):
    cards = overview_service.overview(company, CONFIG, NOW)["scorecards"]
    marketing, sales = cards["marketing"], cards["sales"]
    # Sales: 4 handoffs × 2 deadlines, all passed; 3 breaches → 5 of 8 met.
    assert (sales["promises"]["kept"], sales["promises"]["of"]) == (5, 8)
    # Marketing: October is the only complete month with MQLs: 4 ≥ 3 promised, 3 of 3 decided accepted ≥ 70 %.
    assert (marketing["promises"]["kept"], marketing["promises"]["of"]) == (1, 1)
    # Conversion through the stages each team holds: marketing 4/10; sales 3/4 × 2/3 × 1/2 × 1/1 = 1/4.
    assert marketing["conversion"]["rate"] == pytest.approx(0.4)
    assert sales["conversion"]["rate"] == pytest.approx(0.25)
    # The 30,000 deal, one marketing and one sales touch, linear: 15,000 each; August's deal is outside.
    assert cards["won_revenue"] == Decimal("30000.00")
    assert marketing["revenue_credited"] == sales["revenue_credited"] == Decimal("15000.00")
    # Quiet since October (14 days makes cold): six inquiries held by marketing; c2, c3, c4 by sales; c1 is a customer.
    assert (marketing["cold_leads"], sales["cold_leads"]) == (6, 3)
