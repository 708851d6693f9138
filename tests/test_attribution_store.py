"""Attribution on the store: the journey rules of docs/attribution.md, checked on journeys worked out by hand.

A small company is written into the store row by row; its journeys and every expected credit are
worked out in the comments below, as fractions, from the documented rules — none comes from
running the code. Then, on the demo company, every model's credits must add up to the totals, and
an independent recount in plain Python (SQLAlchemy reads, loops, no Ibis) rebuilds the journeys
by the same rules and must give the same linear and first-touch credit.
"""

from __future__ import annotations

import copy
import datetime as dt
import math
import os
import shutil
import uuid
from collections import defaultdict
from contextlib import contextmanager
from decimal import Decimal
from fractions import Fraction as F

import pytest
from conftest import writing
from sqlalchemy import create_engine, insert, select, text
from sqlalchemy.engine import make_url

from truce import config as truce_config
from truce.domain.attribution import MODELS
from truce.services import demo
from truce.services.attribution import ReportError, attribution_report, monthly_credit
from truce.store import db
from truce.store.models import Account, Campaign, Contact, Opportunity, StageChange, Touchpoint, User

CONFIG = truce_config.parse(truce_config.default_text(), "truce.toml")
DAY = 86_400
# Ibis's own pandas and DuckDB calls warn about deprecations that are not ours to fix.
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore:The 'future.infer_string'")


def at(year, month, day, hour=0, minute=0, second=0) -> dt.datetime:
    return dt.datetime(year, month, day, hour, minute, second, tzinfo=dt.UTC)


# ---- stores on each backend ---------------------------------------------------------------------


@contextmanager
def fresh_store(kind: str, tmp_path_factory, sqlite_template, postgres_template):
    """A migrated, empty store that lives as long as the block (module-scoped fixtures use it)."""
    if kind == "sqlite":
        path = tmp_path_factory.mktemp("attribution") / "store.db"
        shutil.copy(sqlite_template, path)
        engine = db.connect(f"sqlite:///{path}")
        yield engine
        engine.dispose()
        return
    if postgres_template is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("PostgreSQL is required in CI but is not available")
        pytest.skip("PostgreSQL (TRUCE_TEST_DATABASE_URL) is not available on this machine")
    url = os.environ["TRUCE_TEST_DATABASE_URL"]
    name = f"truce_attr_{uuid.uuid4().hex[:12]}"
    admin = create_engine(make_url(url).set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"CREATE DATABASE {name} TEMPLATE {postgres_template}"))
    engine = db.connect(make_url(url).set(database=name).render_as_string(hide_password=False))
    try:
        yield engine
    finally:
        engine.dispose()
        with admin.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        admin.dispose()


class Rows:
    """Writes a company into a store, a row at a time, and remembers the ids by name."""

    def __init__(self, conn):
        self.conn, self.ids = conn, {}
        self.now = at(2026, 6, 1)

    def add(self, model, handle, **values):
        self.ids[handle] = self.conn.execute(insert(model).returning(model.id), values).scalar_one()
        return self.ids[handle]

    def user(self, name, team):
        return self.add(
            User, name, email=f"{name}@truce.example", name=name, team=team, is_leader=False, created_at=self.now
        )

    def account(self, name):
        return self.add(Account, name, name=name, is_key_account=False, created_at=self.now, updated_at=self.now)

    def campaign(self, name, channel, owner):
        return self.add(Campaign, name, name=name, channel=channel, owning_team="marketing", owner_id=self.ids[owner])

    def contact(self, name, account, created):
        return self.add(
            Contact,
            name,
            email=f"{name}@example.com",
            stage="inquiry",
            account_id=self.ids.get(account),
            created_at=created,
            updated_at=created,
        )

    def touch(self, name, contact, when, channel, kind="marketing", campaign=None, user=None, account="as contact"):
        account_id = self.account_of(contact) if account == "as contact" else self.ids.get(account)
        return self.add(
            Touchpoint,
            name,
            contact_id=self.ids[contact],
            account_id=account_id,
            campaign_id=self.ids.get(campaign),
            channel=channel,
            kind=kind,
            touch_type=channel,
            occurred_at=when,
            user_id=self.ids.get(user),
        )

    def account_of(self, contact):
        return self.conn.execute(select(Contact.account_id).where(Contact.id == self.ids[contact])).scalar_one()

    def deal(self, name, contact, amount, status, created, close_date, account="as contact", id=None):
        values = dict(
            name=name,
            primary_contact_id=self.ids.get(contact),
            account_id=self.account_of(contact) if account == "as contact" else self.ids.get(account),
            amount=Decimal(amount),
            stage={"won": "Closed Won", "lost": "Closed Lost"}.get(status, "Proposal"),
            status=status,
            created_at=created,
            close_date=close_date,
            updated_at=self.now,
        )
        if id is not None:
            values["id"] = id
        return self.add(Opportunity, name, **values)

    def moves(self, contact, *steps):
        before = None
        for stage, when in steps:
            self.conn.execute(
                insert(StageChange),
                {
                    "entity_type": "contact",
                    "entity_id": self.ids[contact],
                    "from_stage": before,
                    "to_stage": stage,
                    "changed_at": when,
                    "origin": "test",
                    "recorded_at": when,
                },
            )
            before = stage


# ---- the hand-built company ---------------------------------------------------------------------
#
# People: mia (marketing, owns the campaigns), sam and tia (sales). Accounts: Acme, Birch.
# Campaigns: "Spring webinar" (webinar), "Search ads" (paid_search).
#
# contact  account  created            touches (name: when, channel, team, campaign / seller)
# ann      Acme     2025-09-03 08:00   a1 2025-09-01 23:59:59 display      marketing
#                                      a2 2025-09-02 23:59:59 webinar      marketing  Spring webinar
#                                      a4 2026-01-15 14:00    paid_search  marketing  Search ads
#                                      a3 2026-02-20 09:00    sales_call   sales      sam
# bob      Acme     2026-01-20         b1 2026-01-25 10:00    sales_email  sales      tia
#                                      b2 2026-03-10 10:00    webinar      marketing  Spring webinar
# cy       —        2025-12-01         c1 2026-01-05 09:00    paid_search  marketing  Search ads
#                                      c2 2026-01-20 09:00    sales_call   sales      sam
#                                      c3 2026-02-10 09:00    sales_meeting sales     tia
#                                      c4 2026-03-31 23:59:59 sales_email  sales      sam
#                                      c5 2026-04-02 09:00    webinar      marketing  Spring webinar
#                                      c6 2026-04-05 09:00    display      marketing
# dee      Birch    2025-01-01         d1 2025-06-01 10:00    display      marketing
# eve      Birch    2026-02-01         e1 2026-02-03 10:00    paid_search  marketing  Search ads
#                                      e2 2026-02-15 10:00    sales_call   sales      tia
#                                      e3 2026-02-25 10:00    sales_demo   sales      sam
# fay      —        2026-01-25         (no touches)
#
# deal  contact  status  amount  created            close date  → "won" conversion at close 23:59:59 UTC
# O1    ann      won     12000   2026-02-10 12:00   2026-03-01
# O2    cy       won      5000   2026-01-10         2026-01-31
# O3    cy       won      7000   2026-02-01         2026-03-31
# O4    dee      won      3000   2025-12-01         2026-01-15
# O5    eve      lost     8000   2026-02-18         2026-03-20
# O6    eve      open     4000   2026-03-01         2026-06-30
#
# stage moves: ann mql 2026-01-16, recycled 01-20, mql again 02-01, sql 02-05;
#              eve mql 2026-02-05 12:00, sql 02-20;  fay mql 2026-02-01.
#
# a1 is exactly 181 days before O1's conversion (2026-03-01 23:59:59), a2 exactly 180.


def build_company(engine) -> dict:
    with writing(engine) as conn:
        r = Rows(conn)
        r.user("mia", "marketing")
        r.user("sam", "sales")
        r.user("tia", "sales")
        r.account("Acme")
        r.account("Birch")
        r.campaign("Spring webinar", "webinar", "mia")
        r.campaign("Search ads", "paid_search", "mia")
        r.contact("ann", "Acme", at(2025, 9, 3, 8))
        r.contact("bob", "Acme", at(2026, 1, 20))
        r.contact("cy", None, at(2025, 12, 1))
        r.contact("dee", "Birch", at(2025, 1, 1))
        r.contact("eve", "Birch", at(2026, 2, 1))
        r.contact("fay", None, at(2026, 1, 25))
        r.touch("a1", "ann", at(2025, 9, 1, 23, 59, 59), "display")
        r.touch("a2", "ann", at(2025, 9, 2, 23, 59, 59), "webinar", campaign="Spring webinar")
        r.touch("a4", "ann", at(2026, 1, 15, 14), "paid_search", campaign="Search ads")
        r.touch("a3", "ann", at(2026, 2, 20, 9), "sales_call", "sales", user="sam")
        r.touch("b1", "bob", at(2026, 1, 25, 10), "sales_email", "sales", user="tia")
        r.touch("b2", "bob", at(2026, 3, 10, 10), "webinar", campaign="Spring webinar")
        r.touch("c1", "cy", at(2026, 1, 5, 9), "paid_search", campaign="Search ads")
        r.touch("c2", "cy", at(2026, 1, 20, 9), "sales_call", "sales", user="sam")
        r.touch("c3", "cy", at(2026, 2, 10, 9), "sales_meeting", "sales", user="tia")
        r.touch("c4", "cy", at(2026, 3, 31, 23, 59, 59), "sales_email", "sales", user="sam")
        r.touch("c5", "cy", at(2026, 4, 2, 9), "webinar", campaign="Spring webinar")
        r.touch("c6", "cy", at(2026, 4, 5, 9), "display")
        r.touch("d1", "dee", at(2025, 6, 1, 10), "display")
        r.touch("e1", "eve", at(2026, 2, 3, 10), "paid_search", campaign="Search ads")
        r.touch("e2", "eve", at(2026, 2, 15, 10), "sales_call", "sales", user="tia")
        r.touch("e3", "eve", at(2026, 2, 25, 10), "sales_demo", "sales", user="sam")
        r.deal("O1", "ann", "12000", "won", at(2026, 2, 10, 12), dt.date(2026, 3, 1))
        r.deal("O2", "cy", "5000", "won", at(2026, 1, 10), dt.date(2026, 1, 31))
        r.deal("O3", "cy", "7000", "won", at(2026, 2, 1), dt.date(2026, 3, 31))
        r.deal("O4", "dee", "3000", "won", at(2025, 12, 1), dt.date(2026, 1, 15))
        r.deal("O5", "eve", "8000", "lost", at(2026, 2, 18), dt.date(2026, 3, 20))
        r.deal("O6", "eve", "4000", "open", at(2026, 3, 1), dt.date(2026, 6, 30))
        r.moves(
            "ann",
            ("inquiry", at(2025, 9, 3, 8)),
            ("mql", at(2026, 1, 16)),
            ("recycled", at(2026, 1, 20)),
            ("mql", at(2026, 2, 1)),
            ("sql", at(2026, 2, 5)),
        )
        r.moves("eve", ("inquiry", at(2026, 2, 1)), ("mql", at(2026, 2, 5, 12)), ("sql", at(2026, 2, 20)))
        r.moves("fay", ("inquiry", at(2026, 1, 25)), ("mql", at(2026, 2, 1)))
        r.moves("cy", ("inquiry", at(2025, 12, 1)))
    return r.ids


def test_the_lookback_edges_in_the_company_are_where_the_comments_say():
    o1 = at(2026, 3, 1, 23, 59, 59)
    assert o1 - at(2025, 9, 1, 23, 59, 59) == dt.timedelta(days=181)
    assert o1 - at(2025, 9, 2, 23, 59, 59) == dt.timedelta(days=180)
    # d1 to O4's conversion, and to O4's creation: both beyond 180 (and 200) days.
    assert at(2026, 1, 15, 23, 59, 59) - at(2025, 6, 1, 10) > dt.timedelta(days=200)
    assert at(2025, 12, 1) - at(2025, 6, 1, 10) > dt.timedelta(days=180)


@pytest.fixture(scope="module")
def company(tmp_path_factory, sqlite_template):
    with fresh_store("sqlite", tmp_path_factory, sqlite_template, None) as engine:
        ids = build_company(engine)
        yield engine, ids


@pytest.fixture(scope="module")
def pg_company(tmp_path_factory, sqlite_template, postgres_template):
    with fresh_store("postgres", tmp_path_factory, sqlite_template, postgres_template) as engine:
        ids = build_company(engine)
        yield engine, ids


_REPORTS: dict = {}


def report(engine, **options) -> dict:
    """The report (a store is not changed once built, so the same question is asked only once)."""
    key = (str(engine.url), tuple(sorted((k, repr(v)) for k, v in options.items())))
    if key not in _REPORTS:
        _REPORTS[key] = attribution_report(engine, CONFIG, **options)
    return copy.deepcopy(_REPORTS[key])


def credited(found: dict) -> dict:
    return {row["key"]: (row["conversions"], row["revenue"]) for row in found["credits"]}


def assert_credits(found: dict, expected: dict) -> None:
    """expected: key → (conversions, revenue), exact fractions; keys not listed must earn nothing."""
    got = credited(found)
    assert set(got) == set(expected), f"credited keys {sorted(got)}, expected {sorted(expected)}"
    for key, (conversions, revenue) in expected.items():
        assert math.isclose(got[key][0], float(conversions), abs_tol=1e-9), (key, got[key], expected[key])
        assert math.isclose(got[key][1], float(revenue), abs_tol=1e-6), (key, got[key], expected[key])
    for row in found["credits"]:
        assert math.isclose(row["share"], row["conversions"] / found["total_conversions"], abs_tol=1e-12)


def assert_totals(found: dict, conversions, revenue, journeys, unattributed) -> None:
    assert found["total_conversions"] == conversions
    assert math.isclose(found["total_revenue"], revenue, abs_tol=1e-6)
    assert found["journeys"] == journeys
    assert found["unattributed"]["conversions"] == unattributed[0]
    assert math.isclose(found["unattributed"]["revenue"], unattributed[1], abs_tol=1e-6)


# Journeys, conversion "won", contact level, lookback 180:
#   O1 (12000): a2 webinar, a4 paid_search, a3 sales_call   (a1 is 181 days old: ignored)
#   O2 (5000):  c1 paid_search, c2 sales_call
#   O3 (7000):  c3 sales_meeting, c4 sales_email            (c4 at O3's very second belongs to it)
#   O4 (3000):  d1 is 228 days old → no touch: unattributed
#   not converting: bob [b1, b2]; cy [c5, c6] (after his last deal); eve [e1, e2, e3] (no won deal)
#   → 3 conversions, 24000, 6 journeys, 1 unattributed (3000). O5 (lost) and O6 (open) never convert.
WON = dict(conversions=3, revenue=24000, journeys=6, unattributed=(1, 3000))
# linear: O1 ⅓ each (4000); O2 ½ each (2500); O3 ½ each (3500).
WON_LINEAR = {
    "webinar": (F(1, 3), 4000),
    "paid_search": (F(1, 3) + F(1, 2), 4000 + 2500),
    "sales_call": (F(1, 3) + F(1, 2), 4000 + 2500),
    "sales_meeting": (F(1, 2), 3500),
    "sales_email": (F(1, 2), 3500),
}


def test_linear_credit_on_the_hand_worked_journeys(company):
    engine, _ = company
    found = report(engine, model="linear")
    assert_totals(found, **WON)
    assert_credits(found, WON_LINEAR)
    assert [row["key"] for row in found["credits"]][:2] == ["paid_search", "sales_call"]  # most revenue first
    assert found["model"] == "linear" and found["conversion"] == "won" and found["level"] == "contact"
    assert found["lookback_days"] == 180 and found["by"] == "channel" and found["engine"] == "duckdb"


@pytest.mark.parametrize(
    "model, expected",
    [
        # first touches: a2 webinar (O1), c1 paid_search (O2), c3 sales_meeting (O3)
        ("first_touch", {"webinar": (1, 12000), "paid_search": (1, 5000), "sales_meeting": (1, 7000)}),
        # last touches: a3 sales_call (O1), c2 sales_call (O2), c4 sales_email (O3)
        ("last_touch", {"sales_call": (2, 17000), "sales_email": (1, 7000)}),
        # O1: 40 / 20 / 40 %; O2 and O3: 50 / 50
        (
            "position_based",
            {
                "webinar": (F(2, 5), 4800),
                "paid_search": (F(1, 5) + F(1, 2), 2400 + 2500),
                "sales_call": (F(2, 5) + F(1, 2), 4800 + 2500),
                "sales_meeting": (F(1, 2), 3500),
                "sales_email": (F(1, 2), 3500),
            },
        ),
        # Milestones — O1: lead creation (ann created 2025-09-03 08:00) → a2, which is also the first
        # touch: 30 + 30 %; opportunity creation (2026-02-10 12:00) → a4: 30 %; a3 is the only other: 10 %.
        # O2: cy was created before any touch, so no lead-creation touch; opportunity creation
        # (2026-01-10) → c1, also first: 60 %; c2 other: 10 %; scaled to 100 %: 6/7 and 1/7.
        # O3: no lead- nor opportunity-creation touch (O3 created 02-01, before c3): c3 first 30 %,
        # c4 other 10 % → ¾ and ¼.
        (
            "w_shaped",
            {
                "webinar": (F(3, 5), 7200),
                "paid_search": (F(3, 10) + F(6, 7), 3600 + F(30000, 7)),
                "sales_call": (F(1, 10) + F(1, 7), 1200 + F(5000, 7)),
                "sales_meeting": (F(3, 4), 5250),
                "sales_email": (F(1, 4), 1750),
            },
        ),
        # full_path adds the closing touch (the last of a won journey) at 22.5 % each.
        # O1: a2 45 %, a4 22.5 %, a3 closing 22.5 %, nobody left for the 10 % → ½, ¼, ¼.
        # O2: c1 first + opportunity 45 %, c2 closing 22.5 % → ⅔, ⅓.  O3: c3 first, c4 closing → ½, ½.
        (
            "full_path",
            {
                "webinar": (F(1, 2), 6000),
                "paid_search": (F(1, 4) + F(2, 3), 3000 + F(10000, 3)),
                "sales_call": (F(1, 4) + F(1, 3), 3000 + F(5000, 3)),
                "sales_meeting": (F(1, 2), 3500),
                "sales_email": (F(1, 2), 3500),
            },
        ),
    ],
)
def test_rule_based_models_on_the_hand_worked_journeys(company, model, expected):
    engine, _ = company
    found = report(engine, model=model)
    assert_totals(found, **WON)
    assert_credits(found, expected)


def test_time_decay_weighs_each_touch_by_its_age_at_the_conversion(company):
    engine, _ = company
    found = report(engine, model="time_decay")
    assert_totals(found, **WON)

    def split(conversion, touches, revenue):
        weights = [(key, 2 ** (-(conversion - when).total_seconds() / DAY / 7)) for key, when in touches]
        total = sum(w for _, w in weights)
        return [(key, w / total, w / total * revenue) for key, w in weights]

    o1, o2, o3 = at(2026, 3, 1, 23, 59, 59), at(2026, 1, 31, 23, 59, 59), at(2026, 3, 31, 23, 59, 59)
    parts = [
        *split(
            o1,
            [
                ("webinar", at(2025, 9, 2, 23, 59, 59)),
                ("paid_search", at(2026, 1, 15, 14)),
                ("sales_call", at(2026, 2, 20, 9)),
            ],
            12000,
        ),
        *split(o2, [("paid_search", at(2026, 1, 5, 9)), ("sales_call", at(2026, 1, 20, 9))], 5000),
        *split(o3, [("sales_meeting", at(2026, 2, 10, 9)), ("sales_email", o3)], 7000),
    ]
    expected = defaultdict(lambda: [0.0, 0.0])
    for key, conversions, revenue in parts:
        expected[key][0] += conversions
        expected[key][1] += revenue
    assert_credits(found, {k: tuple(v) for k, v in expected.items()})
    # c4 is at O3's very second: weight 1, against c3's 2^(−49.6/7) ≈ 0.0074.
    assert credited(found)["sales_email"][0] > 0.99


# (a) lookback: a1 is 181 days before O1, a2 exactly 180.
def test_a_touch_181_days_old_counts_only_with_a_longer_lookback(company):
    engine, _ = company
    assert "display" not in credited(report(engine, model="first_touch", lookback_days=180))
    # 200 days: O1 is a1 display, a2 webinar, a4 paid_search, a3 sales_call (¼ each, 3000); d1 is
    # still 228 days old. Other journeys unchanged.
    longer = report(engine, model="linear", lookback_days=200)
    assert_totals(longer, **WON)
    assert_credits(
        longer,
        {
            "display": (F(1, 4), 3000),
            "webinar": (F(1, 4), 3000),
            "paid_search": (F(1, 4) + F(1, 2), 3000 + 2500),
            "sales_call": (F(1, 4) + F(1, 2), 3000 + 2500),
            "sales_meeting": (F(1, 2), 3500),
            "sales_email": (F(1, 2), 3500),
        },
    )
    assert_credits(
        report(engine, model="first_touch", lookback_days=200),
        {"display": (1, 12000), "paid_search": (1, 5000), "sales_meeting": (1, 7000)},
    )
    # 179 days: a2 (exactly 180 days old) drops too; O1 starts with a4.
    assert_credits(
        report(engine, model="first_touch", lookback_days=179),
        {"paid_search": (2, 17000), "sales_meeting": (1, 7000)},
    )


# (b) cy's two won deals: c1, c2 go to O2 (the first conversion at or after them), c3 and c4 to O3.
def test_touches_go_to_the_first_conversion_at_or_after_them(company):
    engine, _ = company
    last = credited(report(engine, model="last_touch"))
    first = credited(report(engine, model="first_touch"))
    # O2 was last touched by c2 (sales_call), O3 by c4 (sales_email, at O3's very second).
    assert last["sales_email"] == (1.0, 7000.0)
    assert last["sales_call"] == (2.0, 17000.0)  # O1's a3 and O2's c2
    # O3 starts with c3, not c1: the earlier touches belong to O2.
    assert first["sales_meeting"] == (1.0, 7000.0)
    assert first["paid_search"] == (1.0, 5000.0)


def test_two_deals_closing_in_the_same_second_the_lowest_id_takes_the_touches(sqlite_url):
    # gus: g1 2026-02-01 10:00 email, g2 2026-02-10 sales_call; deals P20 (id 20, 2000) and P10
    # (id 10, 1000) both won on 2026-02-20. Both touches belong to P10 (lowest id); P20 has none
    # and is unattributed although it was written first.
    engine = db.connect(sqlite_url)
    try:
        with writing(engine) as conn:
            r = Rows(conn)
            r.user("sam", "sales")
            r.contact("gus", None, at(2026, 1, 1))
            r.touch("g1", "gus", at(2026, 2, 1, 10), "email")
            r.touch("g2", "gus", at(2026, 2, 10), "sales_call", "sales", user="sam")
            r.deal("P20", "gus", "2000", "won", at(2026, 2, 1), dt.date(2026, 2, 20), id=20)
            r.deal("P10", "gus", "1000", "won", at(2026, 2, 1), dt.date(2026, 2, 20), id=10)
        found = report(engine, model="linear")
        assert_totals(found, conversions=1, revenue=1000, journeys=1, unattributed=(1, 2000))
        assert_credits(found, {"email": (F(1, 2), 500), "sales_call": (F(1, 2), 500)})
    finally:
        engine.dispose()


def test_touches_in_the_same_second_are_ordered_by_the_credited_key(sqlite_url):
    # hal: at 2026-03-01 10:00:00 two touches, "zeta" (marketing) and "alpha" (sales, written
    # second); then a won deal. Ordered by key: by channel "alpha" < "zeta", so alpha is first;
    # by team "marketing" < "sales", so zeta's marketing touch is first.
    engine = db.connect(sqlite_url)
    try:
        with writing(engine) as conn:
            r = Rows(conn)
            r.user("sam", "sales")
            r.contact("hal", None, at(2026, 1, 1))
            r.touch("h1", "hal", at(2026, 3, 1, 10), "zeta")
            r.touch("h2", "hal", at(2026, 3, 1, 10), "alpha", "sales", user="sam")
            r.deal("P1", "hal", "100", "won", at(2026, 2, 1), dt.date(2026, 3, 2))
        assert_credits(report(engine, model="first_touch"), {"alpha": (1, 100)})
        assert_credits(report(engine, model="last_touch"), {"zeta": (1, 100)})
        assert_credits(report(engine, model="first_touch", by="team"), {"marketing": (1, 100)})
    finally:
        engine.dispose()


# (c) touches after the last conversion form one journey that did not convert.
@pytest.mark.parametrize(
    "options, journeys",
    [
        # won: 3 converting + bob, cy [c5, c6], eve = 6 (see WON)
        ({}, 6),
        # with a 10-day lookback: O1 [a3] (9.6 days), O2 none (c2 is 11.6 days old), O3 [c4];
        # not converting: bob [b2] (b1 is 44 days before b2), cy [c5, c6], eve [e2, e3] (e1 22 days
        # before e3, e2 exactly 10) → 2 + 3 = 5
        ({"lookback_days": 10}, 5),
    ],
)
def test_touches_after_the_last_conversion_form_a_journey_that_did_not_convert(company, options, journeys):
    engine, _ = company
    found = report(engine, model="linear", **options)
    assert found["journeys"] == journeys


def test_the_journeys_themselves_with_a_short_lookback(company):
    """The journeys table the models read (white box: the report's own pipeline), 10-day lookback."""
    from truce.services.attribution import _ask, _journeys

    engine, _ = company
    ask = _ask(CONFIG, "linear", "channel", "won", "contact", 10, None, None, "duckdb")
    with _journeys(engine, ask) as (touches, labels, unattributed):
        rows = touches.order_by(["journey", "ts"]).to_pyarrow().to_pylist()
    journeys = defaultdict(list)
    for row in rows:
        when = dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(microseconds=row["ts"])
        journeys[(row["journey"], row["converted"], row["revenue"])].append((labels[row["key"]], when))
    found = sorted((converted, revenue, tuple(steps)) for (_, converted, revenue), steps in journeys.items())
    assert found == sorted(
        [
            (True, 12000.0, (("sales_call", at(2026, 2, 20, 9)),)),  # O1: a3
            (True, 7000.0, (("sales_email", at(2026, 3, 31, 23, 59, 59)),)),  # O3: c4
            (False, 0.0, (("webinar", at(2026, 3, 10, 10)),)),  # bob: b2
            (False, 0.0, (("webinar", at(2026, 4, 2, 9)), ("display", at(2026, 4, 5, 9)))),  # cy: c5, c6
            (False, 0.0, (("sales_call", at(2026, 2, 15, 10)), ("sales_demo", at(2026, 2, 25, 10)))),  # eve: e2, e3
        ]
    )
    # O2 (c1, c2 too old) and O4 (d1 too old) are unattributed: 2 conversions, 8000.
    assert unattributed == {"conversions": 2, "revenue": 8000.0}


# (d) a conversion without a touch in its window.
def test_an_unattributed_conversion_is_counted_apart_and_not_in_the_totals(company):
    engine, _ = company
    for model in ("linear", "markov"):
        found = report(engine, model=model)
        assert found["unattributed"] == {"conversions": 1, "revenue": 3000.0}  # O4
        assert found["total_conversions"] == 3 and found["total_revenue"] == 24000.0
        assert math.isclose(sum(row["conversions"] for row in found["credits"]), 3, abs_tol=1e-9)
        assert math.isclose(sum(row["revenue"] for row in found["credits"]), 24000, abs_tol=1e-6)


# (e) account level: Acme = ann + bob, Birch = dee + eve; cy (no account) drops out with O2, O3.
#   O1 (Acme, 12000): a2 webinar, a4 paid_search, b1 sales_email, a3 sales_call (a1 181 days old)
#   O4 (Birch, 3000): d1 too old → unattributed
#   not converting: Acme [b2]; Birch [e1, e2, e3]  → 1 conversion, 12000, 3 journeys
ACCOUNT = dict(conversions=1, revenue=12000, journeys=3, unattributed=(1, 3000))


@pytest.mark.parametrize(
    "model, expected",
    [
        ("linear", {k: (F(1, 4), 3000) for k in ("webinar", "paid_search", "sales_email", "sales_call")}),
        # Lead creation: Acme's first contact, ann, 2025-09-03 08:00 → a2 (also first): 60 %.
        # Opportunity creation 2026-02-10 12:00 → now b1 (2026-01-25), bob's touch: 30 %.
        # a4 and a3 share the 10 %.
        (
            "w_shaped",
            {
                "webinar": (F(3, 5), 7200),
                "sales_email": (F(3, 10), 3600),
                "paid_search": (F(1, 20), 600),
                "sales_call": (F(1, 20), 600),
            },
        ),
        # a2 45 %, b1 22.5 %, a3 closing 22.5 %, a4 the only other: 10 %.
        (
            "full_path",
            {
                "webinar": (F(9, 20), 5400),
                "sales_email": (F(9, 40), 2700),
                "sales_call": (F(9, 40), 2700),
                "paid_search": (F(1, 10), 1200),
            },
        ),
    ],
)
def test_account_level_merges_the_buying_groups_touches(company, model, expected):
    engine, _ = company
    found = report(engine, model=model, level="account")
    assert_totals(found, **ACCOUNT)
    assert_credits(found, expected)
    assert found["level"] == "account"


def test_account_level_takes_a_contacts_touch_even_when_the_touch_row_has_no_account(sqlite_url):
    """The buying group is the account's contacts: a touch row without account_id is still theirs."""
    # ivy (account Oak): i1 2026-03-01 email, stored without account_id; i2 2026-03-05 webinar
    # with it; deal Q1 won 2026-03-10 (1000, account Oak). Contact level: both touches;
    # account level (docs: all touches of the account's contacts) — both too.
    engine = db.connect(sqlite_url)
    try:
        with writing(engine) as conn:
            r = Rows(conn)
            r.account("Oak")
            r.contact("ivy", "Oak", at(2026, 1, 1))
            r.touch("i1", "ivy", at(2026, 3, 1), "email", account=None)
            r.touch("i2", "ivy", at(2026, 3, 5), "webinar")
            r.deal("Q1", "ivy", "1000", "won", at(2026, 3, 2), dt.date(2026, 3, 10))
        expected = {"email": (F(1, 2), 500), "webinar": (F(1, 2), 500)}
        assert_credits(report(engine, model="linear"), expected)
        assert_credits(report(engine, model="linear", level="account"), expected)
    finally:
        engine.dispose()


# (f) what is credited: channel, team, user, campaign.
def test_linear_credit_by_team_is_marketings_and_sales_touches(company):
    engine, _ = company
    found = report(engine, model="linear", by="team")
    assert_totals(found, **WON)
    # marketing: webinar ⅓ + paid_search ⅓ + ½ = 7/6 (4000 + 4000 + 2500)
    # sales: sales_call ⅓ + ½, sales_meeting ½, sales_email ½ = 11/6 (4000 + 2500 + 3500 + 3500)
    assert_credits(found, {"marketing": (F(7, 6), 10500), "sales": (F(11, 6), 13500)})
    assert {row["label"] for row in found["credits"]} == {"marketing", "sales"}


def test_linear_credit_by_user_goes_to_the_seller_and_marketing_to_none(company):
    engine, _ = company
    found = report(engine, model="linear", by="user")
    # sam: a3 ⅓ (4000), c2 ½ (2500), c4 ½ (3500); tia: c3 ½ (3500); marketing touches have nobody.
    assert_credits(
        found,
        {
            "sam@truce.example": (F(4, 3), 10000),
            "tia@truce.example": (F(1, 2), 3500),
            "(none)": (F(7, 6), 10500),
        },
    )
    assert {row["key"]: row["label"] for row in found["credits"]}["(none)"] == "(none)"


def test_linear_credit_by_campaign_is_keyed_by_id_and_labelled_by_name(company):
    engine, ids = company
    found = report(engine, model="linear", by="campaign")
    webinar, search = str(ids["Spring webinar"]), str(ids["Search ads"])
    # Spring webinar: a2 ⅓ (4000); Search ads: a4 ⅓ + c1 ½ (6500); the rest have no campaign.
    assert_credits(found, {webinar: (F(1, 3), 4000), search: (F(5, 6), 6500), "(none)": (F(11, 6), 13500)})
    labels = {row["key"]: row["label"] for row in found["credits"]}
    assert labels == {webinar: "Spring webinar", search: "Search ads", "(none)": "(none)"}


# (h) other conversions.
def test_opportunity_conversion_credits_the_pipeline_of_every_deal(company):
    # Conversion at each deal's creation, revenue its amount, won, lost or open alike:
    #   O1 (2026-02-10 12:00, 12000): a1 (161.5 days), a2, a4      → ann's a3 comes after: not converting
    #   O2 (2026-01-10, 5000): c1;  O3 (2026-02-01, 7000): c2        → c3..c6 not converting
    #   O4 (2025-12-01, 3000): d1 is 182.6 days old → unattributed
    #   O5 (lost, 2026-02-18, 8000): e1, e2;  O6 (open, 2026-03-01, 4000): e3
    #   not converting: ann [a3], cy [c3..c6], bob [b1, b2] → 5 conversions, 36000, 8 journeys
    engine, _ = company
    found = report(engine, model="linear", conversion="opportunity")
    assert_totals(found, conversions=5, revenue=36000, journeys=8, unattributed=(1, 3000))
    assert_credits(
        found,
        {
            "display": (F(1, 3), 4000),
            "webinar": (F(1, 3), 4000),
            "paid_search": (F(1, 3) + 1 + F(1, 2), 4000 + 5000 + 4000),
            "sales_call": (1 + F(1, 2), 7000 + 4000),
            "sales_demo": (1, 4000),
        },
    )


@pytest.mark.parametrize(
    "conversion, expected",
    [
        # first mql: ann 2026-01-16 (her second mql on 02-01 is not a conversion) ← a1, a2, a4;
        # eve 2026-02-05 12:00 ← e1; fay has no touch: unattributed.
        # not converting: ann [a3], eve [e2, e3], bob, cy, dee [d1] → 7 journeys
        ("mql", {"display": (F(1, 3), 0), "webinar": (F(1, 3), 0), "paid_search": (F(4, 3), 0)}),
        # first sql: ann 2026-02-05 ← a1, a2, a4; eve 2026-02-20 ← e1, e2. fay never got there.
        # not converting: ann [a3], eve [e3], bob, cy, dee → 7 journeys
        (
            "sql",
            {
                "display": (F(1, 3), 0),
                "webinar": (F(1, 3), 0),
                "paid_search": (F(1, 3) + F(1, 2), 0),
                "sales_call": (F(1, 2), 0),
            },
        ),
    ],
)
def test_stage_conversions_are_credited_without_revenue(company, conversion, expected):
    engine, _ = company
    found = report(engine, model="linear", conversion=conversion)
    assert_totals(found, conversions=2, revenue=0, journeys=7, unattributed=(1 if conversion == "mql" else 0, 0))
    assert_credits(found, expected)


# (i) --from / --to choose conversions by their UTC date.
def test_the_period_counts_conversions_by_their_utc_close_date(company):
    engine, _ = company
    # O1 converts on 2026-03-01 (23:59:59): alone in that day.
    day = report(engine, model="linear", start=dt.date(2026, 3, 1), end=dt.date(2026, 3, 1))
    assert_credits(day, {k: (F(1, 3), 4000) for k in ("webinar", "paid_search", "sales_call")})
    assert day["from"] == day["to"] == "2026-03-01"
    assert day["total_conversions"] == 1 and day["unattributed"]["conversions"] == 0
    # O3 converts at 2026-03-31 23:59:59: in a period ending that day, not in one starting the next.
    assert (
        report(engine, model="linear", start=dt.date(2026, 3, 31), end=dt.date(2026, 3, 31))["total_conversions"] == 1
    )
    later = report(engine, model="linear", start=dt.date(2026, 4, 1))
    assert later["total_conversions"] == 0 and later["credits"] == []
    # O4 (2026-01-15) is the only one in the first half of January: unattributed.
    early = report(engine, model="linear", end=dt.date(2026, 1, 15))
    assert early["total_conversions"] == 0 and early["unattributed"] == {"conversions": 1, "revenue": 3000.0}


def test_the_period_chooses_conversions_without_changing_their_journeys(company):
    # February–March: O1 (03-01) and O3 (03-31); O2 (01-31) and O4 (01-15) are outside.
    # The journeys are those of the whole store (docs: a touch belongs to the first conversion at or
    # after it; --from/--to choose conversions): O1 [a2, a4, a3], O3 [c3, c4]. c1 and c2 belong to
    # O2, which is not counted — they must not move to O3.
    engine, _ = company
    found = report(engine, model="linear", start=dt.date(2026, 2, 1), end=dt.date(2026, 3, 31))
    assert found["total_conversions"] == 2 and found["total_revenue"] == 19000
    assert found["unattributed"] == {"conversions": 0, "revenue": 0.0}
    assert_credits(
        found,
        {
            "webinar": (F(1, 3), 4000),
            "paid_search": (F(1, 3), 4000),
            "sales_call": (F(1, 3), 4000),
            "sales_meeting": (F(1, 2), 3500),
            "sales_email": (F(1, 2), 3500),
        },
    )


# (l) month by month.
def test_monthly_credit_on_the_hand_worked_journeys(company):
    engine, _ = company
    rows = monthly_credit(engine, CONFIG, model="linear")
    found = {(r["month"], r["key"]): (r["conversions"], r["revenue"]) for r in rows}
    # 2026-01: O2; 2026-03: O1 and O3. The journeys that did not convert (eve 2026-02, bob 2026-03,
    # cy 2026-04) earn nothing.
    expected = {
        ("2026-01", "paid_search"): (F(1, 2), 2500),
        ("2026-01", "sales_call"): (F(1, 2), 2500),
        ("2026-03", "webinar"): (F(1, 3), 4000),
        ("2026-03", "paid_search"): (F(1, 3), 4000),
        ("2026-03", "sales_call"): (F(1, 3), 4000),
        ("2026-03", "sales_meeting"): (F(1, 2), 3500),
        ("2026-03", "sales_email"): (F(1, 2), 3500),
    }
    assert set(found) == set(expected)
    for key, (conversions, revenue) in expected.items():
        assert math.isclose(found[key][0], float(conversions), abs_tol=1e-9), key
        assert math.isclose(found[key][1], float(revenue), abs_tol=1e-6), key


# (m) bad options.
@pytest.mark.parametrize(
    "options, named",
    [
        ({"model": "u_shaped"}, "model"),
        ({"by": "region"}, "by"),
        ({"level": "company"}, "level"),
        ({"conversion": "closed"}, "conversion"),
        ({"backend": "oracle"}, "engine"),
        ({"lookback_days": 0}, "lookback_days"),
        ({"lookback_days": -5}, "lookback_days"),
        ({"lookback_days": 1.5}, "lookback_days"),
        ({"start": dt.date(2026, 3, 2), "end": dt.date(2026, 3, 1)}, "period"),
    ],
)
def test_bad_options_are_refused_naming_the_option(company, options, named):
    engine, _ = company
    with pytest.raises(ReportError, match=named) as refused:
        report(engine, **options)
    for bad in (v for v in options.values() if isinstance(v, str)):
        assert repr(bad) in str(refused.value)
    if named not in ("lookback_days", "period"):
        with pytest.raises(ReportError, match=named):
            monthly_credit(engine, CONFIG, **options)


# ---- the same hand-worked journeys on PostgreSQL ----------------------------------------------


@pytest.mark.postgres
def test_the_hand_worked_journeys_on_postgresql(pg_company):
    engine, _ = pg_company
    found = report(engine, model="linear")
    assert_totals(found, **WON)
    assert_credits(found, WON_LINEAR)
    assert_credits(
        report(engine, model="first_touch", lookback_days=200),
        {"display": (1, 12000), "paid_search": (1, 5000), "sales_meeting": (1, 7000)},
    )
    assert_credits(
        report(engine, model="first_touch", lookback_days=179),
        {"paid_search": (2, 17000), "sales_meeting": (1, 7000)},
    )
    account = report(engine, model="full_path", level="account")
    assert_totals(account, **ACCOUNT)
    assert_credits(
        account,
        {
            "webinar": (F(9, 20), 5400),
            "sales_email": (F(9, 40), 2700),
            "sales_call": (F(9, 40), 2700),
            "paid_search": (F(1, 10), 1200),
        },
    )
    mql = report(engine, model="linear", conversion="mql")
    assert_totals(mql, conversions=2, revenue=0, journeys=7, unattributed=(1, 0))
    day = report(engine, model="linear", start=dt.date(2026, 3, 1), end=dt.date(2026, 3, 1))
    assert_credits(day, {k: (F(1, 3), 4000) for k in ("webinar", "paid_search", "sales_call")})


# ---- the demo company ---------------------------------------------------------------------------

DEMO_CONTACTS, DEMO_SEED = 1500, 3


@pytest.fixture(scope="module")
def sqlite_demo(tmp_path_factory, sqlite_template):
    with fresh_store("sqlite", tmp_path_factory, sqlite_template, None) as engine:
        demo.build(engine, contacts=DEMO_CONTACTS, seed=DEMO_SEED)
        yield engine


@pytest.fixture(scope="module")
def pg_demo(tmp_path_factory, sqlite_template, postgres_template):
    with fresh_store("postgres", tmp_path_factory, sqlite_template, postgres_template) as engine:
        demo.build(engine, contacts=DEMO_CONTACTS, seed=DEMO_SEED)
        yield engine


def assert_adds_up(found: dict) -> None:
    assert found["total_conversions"] > 0 and found["total_revenue"] > 0
    assert math.isclose(sum(r["conversions"] for r in found["credits"]), found["total_conversions"], abs_tol=1e-6)
    assert math.isclose(sum(r["revenue"] for r in found["credits"]), found["total_revenue"], abs_tol=1e-6)
    assert math.isclose(sum(r["share"] for r in found["credits"]), 1, abs_tol=1e-9)
    assert found["unattributed"]["conversions"] >= 0 and found["unattributed"]["revenue"] >= -1e-6


# (j) every model's credits add up, on the demo company.
@pytest.mark.parametrize("model", MODELS)
def test_every_models_credit_adds_up_to_the_converted_total_on_the_demo(sqlite_demo, model):
    found = report(sqlite_demo, model=model)
    assert_adds_up(found)
    if model != "shapley":  # Shapley under "rate" may credit a channel below zero
        assert all(r["conversions"] >= -1e-12 for r in found["credits"])


@pytest.mark.parametrize(
    "options",
    [
        {"model": "markov", "by": "team", "level": "account"},
        {"model": "shapley", "by": "team", "conversion": "opportunity"},
        {"model": "w_shaped", "by": "user", "level": "account", "conversion": "opportunity"},
    ],
    ids=["markov-team-account", "shapley-team-opportunity", "w_shaped-user-account-opportunity"],
)
def test_credit_adds_up_for_other_slices_of_the_demo(sqlite_demo, options):
    assert_adds_up(report(sqlite_demo, **options))


@pytest.mark.postgres
@pytest.mark.parametrize("model", ["markov", "full_path"])
def test_credit_adds_up_on_the_demo_in_postgresql(pg_demo, sqlite_demo, model):
    found = report(pg_demo, model=model)
    assert_adds_up(found)
    same = report(sqlite_demo, model=model)
    assert found["journeys"] == same["journeys"] and found["total_revenue"] == same["total_revenue"]
    mine, theirs = credited(found), credited(same)
    assert set(mine) == set(theirs)
    for key, (conversions, revenue) in theirs.items():
        assert math.isclose(mine[key][0], conversions, abs_tol=1e-9), key
        assert math.isclose(mine[key][1], revenue, abs_tol=1e-6), key


# A shared reading: one command's attribution runs (credit by person, team and campaign; ROI's
# pipeline, revenue and sourcing; the brief) open the tables once and build each conversion's
# journeys once. What they print must not change.
SHARED_ASKS = [
    {"model": "linear", "by": "channel", "conversion": "won"},
    {"model": "markov", "by": "team", "conversion": "won", "start": dt.date(2025, 1, 1)},
    {"model": "w_shaped", "by": "user", "conversion": "won", "end": dt.date(2025, 12, 31)},
    {"model": "first_touch", "by": "team", "conversion": "opportunity"},
    {"model": "time_decay", "by": "campaign", "conversion": "opportunity"},
    {"model": "linear", "by": "channel", "conversion": "sql"},
    {"model": "last_touch", "by": "user", "conversion": "sql", "level": "account"},
]


def test_a_shared_reading_builds_each_conversions_journeys_once_and_changes_no_credit(sqlite_demo, monkeypatch):
    from truce.analytics import attribution_sources, journeys
    from truce.services import attribution

    alone = [report(sqlite_demo, **ask) for ask in SHARED_ASKS]
    built, opened, closed = [], [], []
    journey_rows, open_sources = journeys.journey_rows, attribution_sources.attribution_sources

    def counted_rows(*args, **kwargs):
        built.append(kwargs["level"])
        return journey_rows(*args, **kwargs)

    def counted_sources(engine, backend, stages):
        src = open_sources(engine, backend, stages)
        opened.append(stages)
        close = src.close
        src.close = lambda: (closed.append(stages), close())
        return src

    monkeypatch.setattr(journeys, "journey_rows", counted_rows)
    monkeypatch.setattr(attribution_sources, "attribution_sources", counted_sources)
    with attribution.one_reading():
        with attribution.one_reading():  # nested: the outer reading serves
            shared = [attribution_report(sqlite_demo, CONFIG, **ask) for ask in SHARED_ASKS]
        assert closed == []  # still open until the outer block ends
    # won and opportunity read the same tables; sql adds its stage entries. Journeys: one per
    # conversion and level (won, opportunity, sql by contact, sql by account).
    assert sorted(opened) == [(), ("sql",)] and sorted(closed) == sorted(opened)
    assert sorted(built) == ["account", "contact", "contact", "contact"]
    assert shared == alone
    # Outside a reading, every report opens and closes its own again.
    attribution_report(sqlite_demo, CONFIG, model="linear", by="team", conversion="won")
    attribution_report(sqlite_demo, CONFIG, model="linear", by="channel", conversion="won")
    assert len(opened) == 4 and len(built) == 6 and len(closed) == 4


# (k) the journey rules, recounted in plain Python.


def epoch(moment: dt.datetime) -> int:
    return math.floor(moment.timestamp())


def recount(engine, level: str, conversion: str, lookback: int = 180) -> dict:
    """Journeys rebuilt from the store's rows by docs/attribution.md, and their linear and first-touch credit."""
    with engine.connect() as conn:
        contacts = dict(conn.execute(select(Contact.id, Contact.account_id)).all())
        touches = conn.execute(
            select(Touchpoint.id, Touchpoint.contact_id, Touchpoint.occurred_at, Touchpoint.channel)
        ).all()
        deals = conn.execute(
            select(
                Opportunity.id,
                Opportunity.primary_contact_id,
                Opportunity.account_id,
                Opportunity.amount,
                Opportunity.status,
                Opportunity.created_at,
                Opportunity.close_date,
            )
        ).all()
    conversions = defaultdict(list)  # entity → [(when, id, revenue)]
    for deal_id, contact, account, amount, status, created, closed in deals:
        entity = contact if level == "contact" else account
        if entity is None:
            continue
        if conversion == "won":
            if status != "won" or closed is None:
                continue
            when = epoch(dt.datetime(closed.year, closed.month, closed.day, 23, 59, 59, tzinfo=dt.UTC))
        else:
            when = epoch(created)
        conversions[entity].append((when, deal_id, float(amount)))
    for found in conversions.values():
        found.sort()
    journeys = defaultdict(list)  # (converted, entity, conversion id or None) → [(ts, channel)]
    revenue = {}
    for _, contact, occurred, channel in touches:
        entity = contact if level == "contact" else contacts[contact]
        if entity is None:
            continue
        ts = epoch(occurred)
        later = [c for c in conversions.get(entity, []) if c[0] >= ts]
        if later:
            when, deal_id, amount = later[0]
            if when - ts <= lookback * DAY:
                journeys[(True, entity, deal_id)].append((ts, channel))
                revenue[deal_id] = amount
        else:
            journeys[(False, entity, None)].append((ts, channel))
    for key in [k for k in journeys if not k[0]]:
        last = max(ts for ts, _ in journeys[key])
        journeys[key] = [(ts, ch) for ts, ch in journeys[key] if last - ts <= lookback * DAY]
    linear = defaultdict(lambda: [0.0, 0.0])
    first = defaultdict(lambda: [0.0, 0.0])
    converting = 0
    for (converted, _, deal_id), steps in journeys.items():
        if not converted:
            continue
        converting += 1
        amount = revenue[deal_id]
        for _, channel in steps:
            linear[channel][0] += 1 / len(steps)
            linear[channel][1] += amount / len(steps)
        _, channel = min(steps)  # by time, then by channel (the key order)
        first[channel][0] += 1
        first[channel][1] += amount
    every = [c for found in conversions.values() for c in found]
    return {
        "journeys": len(journeys),
        "total_conversions": converting,
        "total_revenue": sum(revenue.values()),
        "unattributed": len(every) - converting,
        "linear": dict(linear),
        "first_touch": dict(first),
    }


RECOUNTS = [("contact", "won", 180), ("account", "won", 180), ("contact", "opportunity", 90)]


def assert_recounted(engine, level, conversion, lookback) -> None:
    expected = recount(engine, level, conversion, lookback)
    assert expected["total_conversions"] > 20 and expected["journeys"] > expected["total_conversions"]
    for model in ("linear", "first_touch"):
        found = report(engine, model=model, level=level, conversion=conversion, lookback_days=lookback)
        assert found["journeys"] == expected["journeys"]
        assert found["total_conversions"] == expected["total_conversions"]
        assert math.isclose(found["total_revenue"], expected["total_revenue"], abs_tol=1e-6)
        assert found["unattributed"]["conversions"] == expected["unattributed"]
        got = credited(found)
        want = {k: tuple(v) for k, v in expected[model].items() if v[0] or v[1]}
        assert set(got) == set(want), model
        for key, (conversions, revenue) in want.items():
            assert math.isclose(got[key][0], conversions, abs_tol=1e-6), (model, key, got[key], want[key])
            assert math.isclose(got[key][1], revenue, abs_tol=1e-6), (model, key, got[key], want[key])


@pytest.mark.parametrize("level, conversion, lookback", RECOUNTS, ids=["contact-won", "account-won", "contact-opp-90"])
def test_the_journey_rules_recounted_in_plain_python_on_the_demo(sqlite_demo, level, conversion, lookback):
    assert_recounted(sqlite_demo, level, conversion, lookback)


@pytest.mark.postgres
def test_the_journey_rules_recounted_in_plain_python_on_the_demo_in_postgresql(pg_demo):
    assert_recounted(pg_demo, "contact", "won", 180)


# (l) month by month, on the demo.
def test_the_months_credit_adds_up_to_the_whole_report_and_to_each_months_conversions(sqlite_demo):
    rows = monthly_credit(sqlite_demo, CONFIG, model="linear")
    found = report(sqlite_demo, model="linear")
    assert len({r["month"] for r in rows}) > 12
    assert all(len(r["month"]) == 7 and r["month"][4] == "-" for r in rows)
    assert all(set(r) == {"month", "key", "conversions", "revenue"} for r in rows)
    # Summed over the months, a rule-based model's credit is the whole report's.
    summed = defaultdict(lambda: [0.0, 0.0])
    for row in rows:
        summed[row["key"]][0] += row["conversions"]
        summed[row["key"]][1] += row["revenue"]
    whole = credited(found)
    assert set(summed) == set(whole)
    for key, (conversions, revenue) in whole.items():
        assert math.isclose(summed[key][0], conversions, abs_tol=1e-6), key
        assert math.isclose(summed[key][1], revenue, abs_tol=1e-6), key
    # A journey's month is its conversion's UTC month: each month's credit is that month's won deals
    # (on the demo every won deal has a touch in its window).
    assert found["unattributed"]["conversions"] == 0
    with sqlite_demo.connect() as conn:
        won = conn.execute(select(Opportunity.close_date).where(Opportunity.status == "won")).scalars().all()
    per_month = defaultdict(int)
    for day in won:
        per_month[day.strftime("%Y-%m")] += 1
    credit = defaultdict(float)
    for row in rows:
        credit[row["month"]] += row["conversions"]
    assert set(credit) == set(per_month)
    for month, count in per_month.items():
        assert math.isclose(credit[month], count, abs_tol=1e-9), month
