"""The diagnostic's indicators, against a small store whose every value is worked out by hand below."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from conftest import writing
from sqlalchemy import insert

from truce import config as truce_config
from truce.domain import diagnostic
from truce.services import demo
from truce.services.indicators import indicators
from truce.store import db
from truce.store.models import (
    Contact,
    FeedbackItem,
    Handoff,
    Opportunity,
    SlaEvent,
    StageChange,
    Target,
    Touchpoint,
    User,
)

CONFIG = truce_config.parse(
    truce_config.default_text()
    .replace("mqls_per_month = 100", "mqls_per_month = 2")
    .replace("min_acceptance_rate = 0.7", "min_acceptance_rate = 0.5"),
    "truce.toml",
)
Q3 = (dt.date(2026, 7, 1), dt.date(2026, 9, 30))  # 92 days
NOW = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)


def at(month: int, day: int, hour: int = 9) -> dt.datetime:
    return dt.datetime(2026, month, day, hour, tzinfo=dt.UTC)


class Store:
    def __init__(self, conn):
        self.conn, self.contacts = conn, 0

    def add(self, model, **values) -> int:
        return self.conn.execute(insert(model).returning(model.id), values).scalar_one()

    def user(self, email, team, active=True) -> int:
        return self.add(User, email=email, name=email, team=team, active=active, is_leader=False, created_at=at(1, 1))

    def contact(self, stage="customer", created=None) -> int:
        self.contacts += 1
        created = created or at(1, 1)
        return self.add(
            Contact, email=f"c{self.contacts}@acme.example", stage=stage, created_at=created, updated_at=created
        )

    def handoff(self, seller, mql_at, status, reason=None, breaches=()) -> int:
        contact = self.contact()
        first_due, decision_due = mql_at + dt.timedelta(hours=4), mql_at + dt.timedelta(days=2)
        handoff = self.add(
            Handoff,
            contact_id=contact,
            mql_at=mql_at,
            owner_id=seller,
            status=status,
            first_touch_due_at=first_due,
            decision_due_at=decision_due,
            decided_at=mql_at + dt.timedelta(days=1),
            rejection_reason=reason,
            attempts=1,
            sla_due_at=None,
            created_at=mql_at,
            updated_at=mql_at,
        )
        for kind in breaches:
            self.add(
                SlaEvent,
                handoff_id=handoff,
                contact_id=contact,
                side="sales",
                kind=kind,
                user_id=seller,
                due_at=first_due,
                detected_at=decision_due,
            )
        return handoff

    def deal(self, status, amount, close_date, loss_reason=None, touches=()) -> int:
        contact = self.contact()
        for kind, when in touches:
            self.add(
                Touchpoint, contact_id=contact, channel="email" if kind == "marketing" else "call",
                kind=kind, touch_type="email" if kind == "marketing" else "call", occurred_at=when,
            )  # fmt: skip
        return self.add(
            Opportunity,
            primary_contact_id=contact,
            amount=Decimal(amount),
            stage=status,
            status=status,
            created_at=at(5, 1),
            close_date=close_date,
            loss_reason=loss_reason,
            updated_at=at(5, 1),
        )

    def feedback(self, author, created, status="new", replied=None) -> None:
        self.add(
            FeedbackItem, kind="other", text="a line", author_id=author, status=status, replied_at=replied,
            created_at=created,
        )  # fmt: skip


@pytest.fixture
def store(engine):
    with writing(engine) as conn:
        s = Store(conn)
        eva, nick = s.user("eva@yourco.example", "sales"), s.user("nick@yourco.example", "sales")
        gone = s.user("gone@yourco.example", "sales", active=False)
        mia = s.user("mia@yourco.example", "marketing")
        s.user("rob@yourco.example", "revops")

        # Handoffs by MQL date. July: 2 MQLs, both accepted; August: 2, both rejected; September: 1.
        s.handoff(eva, at(7, 10), "accepted")
        s.handoff(eva, at(7, 20), "accepted", breaches=["first_touch_late"])
        s.handoff(nick, at(8, 5), "rejected", reason="no_budget")
        s.handoff(nick, at(8, 15), "rejected", reason=None, breaches=["decision_late"])
        s.handoff(eva, at(9, 10), "accepted")
        s.handoff(nick, at(6, 30, 12), "rejected", reason=" ")  # MQL in June, rejected 1 July: no reason
        s.handoff(eva, at(10, 5), "accepted")  # after the period

        # Deals. Won in Q3: 300 (both teams touched it), 500 (sales only), 100 (no touch). Won 1 Oct: 200.
        s.deal("won", "300", dt.date(2026, 7, 20), touches=[("marketing", at(6, 1)), ("sales", at(7, 1))])
        s.deal("won", "500", dt.date(2026, 9, 30), touches=[("sales", at(9, 1)), ("sales", at(9, 2))])
        s.deal("won", "100", dt.date(2026, 8, 10))
        s.deal("won", "200", dt.date(2026, 10, 1), touches=[("marketing", at(9, 1)), ("sales", at(9, 5))])
        # Lost in Q3: a reason, a blank reason, a reason; one lost in October
        s.deal("lost", "50", dt.date(2026, 7, 15), loss_reason="price")
        s.deal("lost", "50", dt.date(2026, 8, 20), loss_reason="")
        s.deal("lost", "50", dt.date(2026, 9, 1), loss_reason="competitor")
        s.deal("lost", "50", dt.date(2026, 10, 10), loss_reason=None)

        # Shared revenue target for Q3; a sales-only one, another quarter's, and an MQL target do not count.
        for team, metric, first, last, amount in (
            (None, "revenue", Q3[0], Q3[1], "1000"),
            ("sales", "revenue", Q3[0], Q3[1], "500"),
            (None, "revenue", dt.date(2026, 4, 1), dt.date(2026, 6, 30), "999"),
            (None, "mqls", Q3[0], Q3[1], "40"),
        ):
            s.add(
                Target, team=team, metric=metric, period_start=first, period_end=last, amount=Decimal(amount),
                created_at=at(6, 1),
            )  # fmt: skip

        # Feedback from sellers in Q3: eva twice (one answered), nick once, gone once (answered).
        s.feedback(eva, at(7, 5))
        s.feedback(eva, at(8, 1), status="acknowledged", replied=at(8, 3))
        s.feedback(nick, at(9, 30, 23))
        s.feedback(gone, at(8, 10), status="acted_on", replied=at(8, 12))
        s.feedback(mia, at(8, 1))  # a marketer's: not sales-force feedback
        s.feedback(eva, at(10, 1, 0))  # after the period
        s.feedback(eva, dt.datetime(2026, 6, 30, 23, 59, tzinfo=dt.UTC))  # before it

        # Leads going cold (14 days without activity) while in a stage that is not final.
        s.contact("inquiry", created=at(7, 1))  # cold 15 July, marketing
        s.contact("inquiry", created=at(9, 10))  # cold 24 September, marketing
        s.contact("inquiry", created=at(6, 1))  # cold 15 June: before the period
        s.contact("inquiry", created=at(10, 25))  # not cold yet
        sql_lead = s.contact("sql", created=at(8, 1))  # touched 10 August: cold 24 August, sales
        s.add(Touchpoint, contact_id=sql_lead, channel="call", kind="sales", touch_type="call", occurred_at=at(8, 10))
        late = s.contact("sal", created=at(6, 1))  # entered sal 20 September: cold 4 October, after
        s.add(
            StageChange, entity_type="contact", entity_id=late, from_stage="mql", to_stage="sal",
            changed_at=at(9, 20), origin="import", recorded_at=at(9, 20),
        )  # fmt: skip
    return engine


def test_it_measures_the_hand_worked_store(store):
    found = indicators(store, CONFIG, *Q3, now=NOW)
    # Sales: 5 handoffs in Q3 × 2 promises, 2 broken → 8 / 10.
    # Marketing: July kept (2 MQLs, 2/2 accepted), August not (0/2 accepted), September not (1 MQL) → 1 / 3.
    assert found["sla_compliance"] == {
        "sales": 0.8,
        "marketing": 0.3333,
        "sales_promises_due": 10,
        "marketing_months_judged": 3,
    }
    assert found["mql_acceptance_rate"] == 0.6  # 3 accepted of 5 decided
    # Rejected in Q3: no_budget, none, blank (the June MQL rejected on 1 July) → 1 / 3.
    # Lost in Q3: price, blank, competitor → 2 / 3.
    assert found["reasons"] == {
        "rejections": 3,
        "rejections_with_reason": 0.3333,
        "losses": 3,
        "losses_with_reason": 0.6667,
    }
    # 4 sellers' items / 2 active sellers / (92 / 30.4375 months) = 0.6617; 2 of 4 answered.
    assert found["feedback"] == {"items": 4, "sellers": 2, "per_seller_per_month": 0.6617, "answered_share": 0.5}
    # Won in Q3: 300 + 500 + 100 = 900 against the shared 1000.
    assert found["shared_target"]["exists"] is True
    assert found["shared_target"]["attainment"] == 0.9
    assert [(t["period_start"], t["amount"], t["won"]) for t in found["shared_target"]["targets"]] == [
        ("2026-07-01", Decimal("1000"), Decimal("900"))
    ]
    # Of the 900 won in Q3 only the 300 deal had touches from both teams.
    assert found["both_teams_revenue_share"] == 0.3333
    assert found["cold_leads"] == {"marketing": 2, "sales": 1}


def test_an_empty_period_has_no_shares_to_show(store):
    found = indicators(store, CONFIG, dt.date(2025, 1, 1), dt.date(2025, 1, 31), now=NOW)
    assert found["sla_compliance"]["sales"] is None and found["mql_acceptance_rate"] is None
    assert found["reasons"]["losses_with_reason"] is None
    assert found["feedback"]["answered_share"] is None and found["feedback"]["per_seller_per_month"] == 0
    assert found["shared_target"] == {"exists": False, "attainment": None, "targets": []}
    assert found["both_teams_revenue_share"] is None
    assert found["cold_leads"] == {"marketing": 0, "sales": 0}


def test_a_month_cut_by_the_period_is_not_judged_for_marketing(store):
    found = indicators(store, CONFIG, dt.date(2026, 7, 15), dt.date(2026, 9, 30), now=NOW)
    assert found["sla_compliance"]["marketing_months_judged"] == 2  # August, September
    assert found["sla_compliance"]["marketing"] == 0.0


def test_a_period_that_ends_before_it_starts_is_refused(store):
    with pytest.raises(ValueError, match="starts on 2026-09-30 after it ends on 2026-07-01"):
        indicators(store, CONFIG, Q3[1], Q3[0])


@pytest.fixture(scope="module")
def demo_store(sqlite_template, tmp_path_factory):
    import shutil

    path = tmp_path_factory.mktemp("indicators") / "demo.db"
    shutil.copy(sqlite_template, path)
    engine = db.connect(f"sqlite:///{path}")
    demo.build(engine, contacts=800, seed=4)
    yield engine
    engine.dispose()


def test_it_runs_on_the_demo_company_and_every_value_is_in_range(demo_store):
    config = truce_config.parse(truce_config.default_text(), "truce.toml")
    found = indicators(demo_store, config, dt.date(2026, 4, 1), dt.date(2026, 9, 30), now=NOW)
    shares = [
        found["sla_compliance"]["sales"],
        found["sla_compliance"]["marketing"],
        found["mql_acceptance_rate"],
        found["reasons"]["rejections_with_reason"],
        found["reasons"]["losses_with_reason"],
        found["feedback"]["answered_share"],
        found["both_teams_revenue_share"],
    ]
    assert all(share is not None and 0 <= share <= 1 for share in shares), shares
    assert found["feedback"]["per_seller_per_month"] >= 0
    assert found["shared_target"]["exists"] is True and found["shared_target"]["attainment"] > 0
    assert found["cold_leads"]["marketing"] + found["cold_leads"]["sales"] > 0
    for move in diagnostic.MOVES:  # every indicator the playbook names is in the report
        assert diagnostic.indicator_value(found, move.indicator) is not None, move.indicator
