"""Shared targets: who may set one, what is refused (with nothing written), and attainment and
forecast on a small company worked out by hand — on SQLite and PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import pytest
from conftest import writing
from sqlalchemy import func, insert, select
from typer.testing import CliRunner

from truce import config as truce_config
from truce.cli import app
from truce.services.targets import TargetError, TargetRefused, set_target, targets_report
from truce.store.models import AuditEntry, Campaign, Contact, Opportunity, StageChange, Target, Touchpoint, User

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore:The 'future.infer_string'")
CONFIG = truce_config.parse(
    truce_config.default_text().replace('model = "markov"', 'model = "linear"', 1), "truce.toml"
)
NOW = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def at(month, day, hour=12) -> dt.datetime:
    return dt.datetime(2026, month, day, hour, tzinfo=dt.UTC)


class Rows:
    def __init__(self, conn):
        self.conn, self.ids = conn, {}

    def add(self, model, handle, **values):
        self.ids[handle] = self.conn.execute(insert(model).returning(model.id), values).scalar_one()
        return self.ids[handle]

    def user(self, name, team, active=True):
        return self.add(
            User,
            name,
            email=f"{name}@truce.example",
            name=name,
            team=team,
            is_leader=False,
            active=active,
            created_at=NOW,
        )

    def contact(self, name):
        return self.add(Contact, name, email=f"{name}@example.com", stage="inquiry", created_at=NOW, updated_at=NOW)

    def deal(self, name, contact, amount, status, created, close_date):
        return self.add(
            Opportunity,
            name,
            name=name,
            primary_contact_id=self.ids.get(contact),
            amount=Decimal(amount),
            status=status,
            stage={"won": "Closed Won", "lost": "Closed Lost"}.get(status, "Proposal"),
            created_at=created,
            close_date=close_date,
            updated_at=NOW,
        )

    def touch(self, contact, when, kind, user=None, campaign=None):
        self.conn.execute(
            insert(Touchpoint),
            {
                "contact_id": self.ids[contact],
                "campaign_id": self.ids.get(campaign),
                "channel": "webinar" if kind == "marketing" else "sales_call",
                "kind": kind,
                "touch_type": "x",
                "occurred_at": when,
                "user_id": self.ids.get(user),
            },
        )

    def mql(self, contact, when):
        self.conn.execute(
            insert(StageChange),
            {
                "entity_type": "contact",
                "entity_id": self.ids[contact],
                "from_stage": "inquiry",
                "to_stage": "mql",
                "changed_at": when,
                "origin": "test",
                "recorded_at": when,
            },
        )


@pytest.fixture
def company(engine):
    """People, and April 2026 worked out by hand (see test_attainment_and_forecast_worked_by_hand)."""
    with writing(engine) as conn:
        rows = Rows(conn)
        rows.user("rita", "revops")
        rows.user("otto", "revops", active=False)
        rows.user("sam", "sales")
        rows.user("mia", "marketing")
        rows.add(
            Campaign,
            "webinar",
            name="Spring webinar",
            channel="webinar",
            owning_team="marketing",
            owner_id=rows.ids["mia"],
        )
        for name in ("ann", "bob", "cy", "dee", "eve", "c1", "c2", "c3", "c4"):
            rows.contact(name)
        rows.deal("A", "ann", "1000.00", "won", at(4, 2), dt.date(2026, 4, 5))
        rows.deal("B", "bob", "2500.00", "won", at(3, 1), dt.date(2026, 4, 18))
        rows.deal("C", "cy", "999.00", "won", at(4, 10), dt.date(2026, 4, 25))
        rows.deal("D", "dee", "400.00", "won", at(3, 25), dt.date(2026, 3, 31))
        rows.deal("E", "eve", "800.00", "lost", at(3, 1), dt.date(2026, 3, 15))
        rows.touch("ann", at(3, 30), "marketing", campaign="webinar")
        rows.touch("ann", at(4, 1), "sales", user="sam")
        rows.touch("bob", at(3, 20), "sales", user="sam")
        for contact, when in (
            ("c1", at(3, 30)),
            ("c1", at(4, 5)),
            ("c2", at(4, 2)),
            ("c3", at(4, 19)),
            ("c4", at(4, 21)),
        ):
            rows.mql(contact, when)
    return engine


def count(engine, model) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(model)).scalar_one()


# ---- setting a target ----------------------------------------------------------------------------


def test_a_revops_user_sets_a_target_and_it_is_audited(company):
    saved = set_target(company, metric="revenue", period="2026-Q4", amount="2500000", actor="RITA@truce.example")
    assert saved["created"] and saved["period_start"] == "2026-10-01" and saved["period_end"] == "2026-12-31"
    assert saved["team"] == "shared" and saved["amount"] == "2500000.00"
    with company.connect() as conn:
        target = conn.execute(select(Target)).mappings().one()
        audit = conn.execute(select(AuditEntry).where(AuditEntry.action == "target_set")).mappings().one()
    assert target["team"] is None and target["amount"] == Decimal("2500000.00") and target["metric"] == "revenue"
    assert audit["actor"] == "rita@truce.example" and audit["before"] is None
    assert audit["after"]["amount"] == "2500000.00" and audit["entity_id"] == target["id"]


def test_setting_the_same_target_again_changes_it_and_keeps_both_in_the_audit(company):
    set_target(company, metric="mqls", period="2026-11", team="marketing", amount=180, actor="rita@truce.example")
    again = set_target(
        company, metric="mqls", period="2026-11", team="marketing", amount=200, actor="rita@truce.example"
    )
    other = set_target(company, metric="mqls", period="2026-11", team="shared", amount=150, actor="rita@truce.example")
    assert not again["created"] and again["previous_amount"] == "180.00" and other["created"]
    with company.connect() as conn:
        amounts = conn.execute(select(Target.team, Target.amount).order_by(Target.id)).all()
        audits = conn.execute(select(AuditEntry.before, AuditEntry.after).order_by(AuditEntry.id)).all()
    assert amounts == [("marketing", Decimal("200.00")), (None, Decimal("150.00"))]
    assert audits[1].before["amount"] == "180.00" and audits[1].after["amount"] == "200.00"


def test_explicit_start_and_end_days_make_a_period(company):
    saved = set_target(
        company,
        metric="pipeline",
        start=dt.date(2026, 11, 15),
        end=dt.date(2027, 2, 14),
        amount="1e6",
        actor="rita@truce.example",
    )
    assert saved["period"] == "2026-11-15..2027-02-14" and saved["amount"] == "1000000.00"


@pytest.mark.parametrize(
    ("change", "error", "message"),
    [
        (
            {"actor": "sam@truce.example"},
            TargetRefused,
            "only revops users may set targets; sam@truce.example is on the sales team",
        ),
        ({"actor": "mia@truce.example"}, TargetRefused, "is on the marketing team"),
        ({"actor": "otto@truce.example"}, TargetRefused, "not an active user"),
        ({"actor": "nobody@truce.example"}, TargetRefused, "no user with email"),
        ({"actor": None}, TargetRefused, "say who sets the target"),
        ({"period": "2026-Q5"}, TargetError, "not a period: '2026-Q5'"),
        ({"period": "next quarter"}, TargetError, "not a period"),
        ({"amount": "-5"}, TargetError, "amount must be more than 0"),
        ({"amount": "0"}, TargetError, "amount must be more than 0"),
        ({"amount": "lots"}, TargetError, "not a number"),
        ({"amount": "10.001"}, TargetError, "more than two decimals"),
        ({"amount": "1e13"}, TargetError, "too large"),
        ({"metric": "mqls", "amount": "10.5"}, TargetError, "whole number of leads"),
        ({"metric": "profit"}, TargetError, "unknown metric 'profit'"),
        ({"team": "revops"}, TargetError, "unknown team 'revops'"),
    ],
)
def test_a_target_is_refused_and_nothing_is_written(company, change, error, message):
    ask = {"metric": "revenue", "period": "2026-Q4", "amount": "1000", "actor": "rita@truce.example", "team": "shared"}
    before = count(company, Target), count(company, AuditEntry)
    with pytest.raises(error, match=message):
        set_target(company, **{**ask, **change})
    assert (count(company, Target), count(company, AuditEntry)) == before


# ---- attainment and forecast ---------------------------------------------------------------------
#
# April 2026 as of 2026-04-20 (20 of 30 days; 10 left). The attribution model is linear.
# Deals: A 1000.00 won 04-05 (created 04-02; touches: mia's webinar 03-30, sam's call 04-01)
#        B 2500.00 won 04-18 (created 03-01; touch: sam's call)
#        C  999.00 won 04-25 — after the as-of day, so open then (created 04-10, no ledger rows)
#        D  400.00 won 03-31 (created 03-25), E 800.00 lost 03-15 (created 03-01).
# revenue, shared: won 04-01..04-20 = A + B = 3500.00 → attainment 3500 / 5000 = 0.7
#   forecast: no stage ledger, so C's stage then is unknown → overall odds from the deals closed
#   by 04-20 (A, B, D won; E lost): (3 + 1) / (4 + 2) = 2/3 → C counts 999 × 2/3 = 666.00.
#   new business (10-day windows back from 04-20): A (04-02 → 04-05) in [04-01, 04-10], D
#   (03-25 → 03-31) in [03-22, 03-31] → (1000 + 400) / 4 = 350.00.
#   forecast = 3500 + 666 + 350 = 4516.00 → 4516 / 5000 = 0.9032
# revenue, marketing: linear credit, by the touch's team: A half marketing (500.00), B all sales
#   → 500.00 → 500 / 1000 = 0.5; forecast = 4516 × 500 / 3500 = 645.142… → 645.14
# pipeline, shared: created 04-01..04-20: A 1000 + C 999 = 1999.00 → / 4000 = 0.49975;
#   run-rate 1999 / 20 × 30 = 2998.50
# mqls, marketing: first entries into mql in April up to 04-20: c2 (04-02), c3 (04-19) — c1's
#   04-05 entry is a re-entry (first 03-30), c4's is after the as-of day → 2 → / 4 = 0.5; run-rate 3


def test_attainment_and_forecast_worked_by_hand(company):
    for metric, team, amount in (
        ("revenue", "shared", 5000),
        ("revenue", "marketing", 1000),
        ("pipeline", "shared", 4000),
        ("mqls", "marketing", 4),
    ):
        set_target(company, metric=metric, period="2026-04", team=team, amount=amount, actor="rita@truce.example")
    report = targets_report(company, CONFIG, as_of=dt.date(2026, 4, 20))
    found = {(t["metric"], t["team"]): t for t in report["targets"]}
    assert report["as_of"] == dt.date(2026, 4, 20) and report["model"] == "linear"

    revenue = found["revenue", "shared"]
    assert (revenue["actual"], revenue["attainment"]) == (Decimal("3500.00"), 0.7)
    assert revenue["forecast"] == Decimal("4516.00") and revenue["forecast_attainment"] == pytest.approx(0.9032)
    assert revenue["forecast_detail"]["weighted_pipeline"] == Decimal("666.00")
    assert revenue["forecast_detail"]["new_business"] == Decimal("350.00")
    assert (revenue["days_elapsed"], revenue["days_total"]) == (20, 30)

    marketing = found["revenue", "marketing"]
    assert (marketing["actual"], marketing["attainment"]) == (Decimal("500.00"), 0.5)
    assert marketing["forecast"] == Decimal("645.14")

    pipeline = found["pipeline", "shared"]
    assert pipeline["actual"] == Decimal("1999.00") and pipeline["attainment"] == pytest.approx(0.49975)
    assert pipeline["forecast"] == Decimal("2998.50")

    mqls = found["mqls", "marketing"]
    assert (mqls["actual"], mqls["attainment"], mqls["forecast"], mqls["forecast_attainment"]) == (2, 0.5, 3, 0.75)


def test_the_report_shows_running_targets_or_those_within_a_period(company):
    for period in ("2026-Q2", "2026-04", "2026-05", "2026-Q3"):
        set_target(company, metric="revenue", period=period, amount=1000, actor="rita@truce.example")
    running = targets_report(company, CONFIG, as_of=dt.date(2026, 4, 20))
    assert [t["period"] for t in running["targets"]] == ["2026-Q2", "2026-04"]
    within = targets_report(company, CONFIG, period="2026-Q2", as_of=dt.date(2026, 4, 20))
    assert [t["period"] for t in within["targets"]] == ["2026-Q2", "2026-04", "2026-05"]
    may = next(t for t in within["targets"] if t["period"] == "2026-05")
    assert may["actual"] == Decimal("0.00") and may["days_elapsed"] == 0 and may["attainment"] == 0


# ---- from the command line -----------------------------------------------------------------------

runner = CliRunner()


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('targets') / 'demo.db'}"
    result = runner.invoke(app, ["demo", "--as-of", "2026-11-20", "--contacts", "1500", "--seed", "4", "--db", url, "--json"])
    assert result.exit_code == 0, result.output
    return url


def _revops(url: str) -> str:
    from truce.store import db

    engine = db.connect(url)
    with engine.connect() as conn:
        email = conn.execute(select(User.email).where(User.team == "revops").order_by(User.id)).scalars().first()
    engine.dispose()
    return email


def test_targets_are_set_and_shown_from_the_command_line(demo):
    args = ["target", "set", "--metric", "revenue", "--period", "2026-Q4", "--team", "sales", "--amount", "900000"]
    refused = runner.invoke(app, [*args, "--as", "nobody@truce.example", "--db", demo])
    assert refused.exit_code == 1 and "no user with email" in refused.output
    result = runner.invoke(app, [*args, "--as", _revops(demo), "--db", demo, "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["team"] == "sales"
    shown = runner.invoke(app, ["target", "--period", "2026-Q4", "--at", "2026-11-19", "--db", demo, "--json"])
    assert shown.exit_code == 0, shown.output
    rows = {(t["metric"], t["team"]) for t in json.loads(shown.output)["targets"]}
    assert {("revenue", "shared"), ("revenue", "sales"), ("mqls", "marketing")} <= rows
    table = runner.invoke(app, ["target", "--at", "2026-11-19", "--db", demo])
    assert table.exit_code == 0 and "revenue forecast" in table.output


def test_a_bad_period_on_the_command_line_is_one_clear_line(demo):
    result = runner.invoke(app, ["target", "--period", "2026-Q9", "--db", demo])
    assert result.exit_code == 1 and "not a period: '2026-Q9'" in result.output
