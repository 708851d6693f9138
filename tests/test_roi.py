"""`truce roi`: spend spread over a campaign's days, and ROI, ROAS and CAC on credit worked out by hand.

The attribution service is replaced by hand-made credits for the arithmetic, so these tests check
this report and nothing else; one end-to-end test runs the real attribution on the demo company
and checks what must hold whatever the model: money in equals money credited plus money no touch
explains, and spend equals the campaigns' costs read straight from SQLite.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import shutil
import sqlite3
from decimal import Decimal
from fractions import Fraction
from typing import get_args

import pytest
from conftest import writing
from sqlalchemy import insert
from typer.testing import CliRunner

from truce import config as truce_config
from truce.cli import app
from truce.cli.economics import MODELS
from truce.config import Attribution
from truce.services import demo, economics
from truce.services.economics import CampaignCost, EconomicsError, campaign_costs, monthly_spend, roi_report
from truce.store import db
from truce.store.models import Campaign

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore:The 'future.infer_string'")
runner = CliRunner()
CONFIG = truce_config.parse(truce_config.default_text(), "truce.toml")
D = dt.date


# ---- spreading spend ---------------------------------------------------------------------------


def test_a_campaign_spreads_evenly_over_its_days_and_adds_up_to_its_cost():
    # 100.00 over 31 Jan – 2 Feb: a third in January (33.33), the rest in February (66.67)
    campaign = CampaignCost(1, "x", "webinar", Decimal("100.00"), D(2026, 1, 31), D(2026, 2, 2))
    assert monthly_spend([campaign]) == {
        ("2026-01", "webinar"): Decimal("33.33"),
        ("2026-02", "webinar"): Decimal("66.67"),
    }
    # 1 February alone: spend through it (100 × 2 / 3 = 66.67) less spend through 31 January (33.33)
    assert campaign.within(D(2026, 2, 1), D(2026, 2, 1)) == Decimal("33.34")
    assert campaign.within(None, None) == Decimal("100.00")
    assert campaign.within(D(2026, 3, 1), None) == Decimal("0.00")


def test_a_long_campaign_adds_up_to_the_cent_across_months():
    campaign = CampaignCost(1, "x", "paid_search", Decimal("1000.00"), D(2026, 1, 15), D(2026, 4, 14))
    months = monthly_spend([campaign], by="campaign")
    assert sum(months.values()) == Decimal("1000.00")
    # 90 days: 17 in January, 28 in February, 31 in March, 14 in April
    assert months[("2026-01", "1")] == Decimal("188.89")  # 1000 × 17 / 90 = 188.888…
    assert months[("2026-02", "1")] == Decimal("500.00") - Decimal("188.89")  # through Feb: 1000 × 45 / 90
    assert months[("2026-03", "1")] == Decimal("844.44") - Decimal("500.00")  # through Mar: 1000 × 76 / 90
    assert months[("2026-04", "1")] == Decimal("1000.00") - Decimal("844.44")


def add_campaigns(engine, rows) -> None:
    with writing(engine) as conn:
        conn.execute(
            insert(Campaign),
            [
                {
                    "id": i,
                    "name": name,
                    "channel": channel,
                    "actual_cost": cost,
                    "budget": budget,
                    "starts_on": first,
                    "ends_on": last,
                }
                for i, name, channel, cost, budget, first, last in rows
            ],
        )


CAMPAIGNS = [
    (1, "Search January", "paid_search", "3100.00", "9999.00", D(2026, 1, 1), D(2026, 1, 31)),  # 100 a day
    (
        2,
        "Search February",
        "paid_search",
        None,
        "1400.00",
        D(2026, 2, 1),
        D(2026, 2, 28),
    ),  # no actual: budget, 50 a day
    (3, "Webinar", "webinar", "2000.00", None, D(2026, 2, 10), None),  # no end: all on its first day
    (4, "Backwards", "webinar", "300.00", None, D(2026, 3, 5), D(2026, 3, 1)),  # ends before it starts: first day
    (5, "Undated event", "event", "500.00", None, None, D(2026, 3, 1)),  # cannot be placed in time
    (6, "Free", "direct", None, None, D(2026, 1, 1), D(2026, 1, 2)),  # no cost at all
]


def test_it_reads_each_campaigns_cost_and_days(engine):
    add_campaigns(engine, CAMPAIGNS)
    found = {c.id: (c.cost, c.first, c.last) for c in campaign_costs(engine)}
    assert found == {
        1: (Decimal("3100.00"), D(2026, 1, 1), D(2026, 1, 31)),
        2: (Decimal("1400.00"), D(2026, 2, 1), D(2026, 2, 28)),
        3: (Decimal("2000.00"), D(2026, 2, 10), D(2026, 2, 10)),
        4: (Decimal("300.00"), D(2026, 3, 5), D(2026, 3, 5)),
        5: (Decimal("500.00"), None, None),
        6: (Decimal("0"), D(2026, 1, 1), D(2026, 1, 2)),
    }


# ---- ROI on hand-made credit -------------------------------------------------------------------

WON = [
    {"key": "paid_search", "conversions": 2.5, "revenue": 12_000.0},
    {"key": "webinar", "conversions": 0.5, "revenue": 1_000.0},
    {"key": "sales_call", "conversions": 1.0, "revenue": 5_000.0},
]
OPENED = [
    {"key": "paid_search", "conversions": 5.0, "revenue": 50_000.0},
    {"key": "webinar", "conversions": 2.0, "revenue": 8_000.0},
    {"key": "sales_call", "conversions": 2.0, "revenue": 20_000.0},
    {"key": "(none)", "conversions": 1.0, "revenue": 1_000.0},
]
TEAMS = [
    {"key": "marketing", "conversions": 7.0, "revenue": 60_000.0},
    {"key": "sales", "conversions": 3.0, "revenue": 19_000.0},
]


class FakeAttribution:
    """Hand-made credit in the attribution service's shape, and a record of what was asked."""

    def __init__(self, won=WON, opened=OPENED, teams=TEAMS, monthly=()):
        self.asked, self.credit = [], {("won", "channel"): won, ("opportunity", "channel"): opened}
        self.credit[("opportunity", "team")] = teams
        self.monthly = list(monthly)

    def one_reading(self):
        return contextlib.nullcontext()

    def attribution_report(
        self, engine, config, *, model=None, by="channel", conversion=None, start=None, end=None, backend="duckdb", **_
    ):
        self.asked.append({"model": model, "by": by, "conversion": conversion, "start": start, "end": end})
        credits = [dict(c, share=0.0) for c in self.credit[conversion, by]]
        return {
            "model": model or config.attribution.model,
            "conversion": conversion,
            "by": by,
            "credits": credits,
            "total_conversions": sum(c["conversions"] for c in credits),
            "total_revenue": sum(c["revenue"] for c in credits),
            "unattributed": {"conversions": 1, "revenue": 700.0}
            if conversion == "won"
            else {"conversions": 0, "revenue": 0.0},
        }

    def monthly_credit(self, engine, config, *, model=None, by="channel", conversion=None, **_):
        self.asked.append({"model": model, "by": by, "conversion": conversion, "monthly": True})
        return self.monthly


@pytest.fixture
def fake(monkeypatch):
    credit = FakeAttribution()
    monkeypatch.setattr(economics, "_attribution", lambda: credit)
    return credit


def test_it_puts_spend_against_credit_per_channel(engine, fake):
    add_campaigns(engine, CAMPAIGNS)
    found = roi_report(engine, CONFIG, model="linear")
    rows = {r["key"]: r for r in found["rows"]}
    # paid_search: 3100 + 1400 spent, 12,000 won: ROI (12000 − 4500) / 4500, ROAS 12000 / 4500, CAC 4500 / 2.5
    search = rows["paid_search"]
    assert (search["spend"], search["pipeline"], search["revenue"], search["customers"]) == (
        4500.0,
        50_000.0,
        12_000.0,
        2.5,
    )
    assert search["roi"] == pytest.approx(7500 / 4500)
    assert search["roas"] == pytest.approx(12_000 / 4500)
    assert search["cac"] == pytest.approx(1800.0)
    # webinar: 2000 + 300 spent, 1000 won from half a customer
    webinar = rows["webinar"]
    assert (webinar["spend"], webinar["roi"], webinar["roas"], webinar["cac"]) == (
        2300.0,
        pytest.approx(-1300 / 2300),
        pytest.approx(1000 / 2300),
        4600.0,
    )
    # sales calls carry no campaign cost: no ROI, ROAS or CAC rather than infinite or free
    assert (
        rows["sales_call"]["spend"],
        rows["sales_call"]["roi"],
        rows["sales_call"]["roas"],
        rows["sales_call"]["cac"],
    ) == (0.0, None, None, None)
    assert rows["direct"]["spend"] == 0.0 and rows["(none)"]["pipeline"] == 1000.0
    assert "event" not in rows  # undated: not in any row
    assert [r["key"] for r in found["rows"]][:2] == ["paid_search", "webinar"]  # most spend first


def test_its_totals_add_up_the_rows(engine, fake):
    add_campaigns(engine, CAMPAIGNS)
    totals = roi_report(engine, CONFIG)["totals"]
    assert (totals["spend"], totals["pipeline"], totals["revenue"], totals["customers"]) == (
        6800.0,
        79_000.0,
        18_000.0,
        4.0,
    )
    assert totals["roi"] == pytest.approx((18_000 - 6800) / 6800)
    assert totals["cac"] == pytest.approx(6800 / 4)


def test_it_reports_what_it_could_not_place_or_credit(engine, fake):
    add_campaigns(engine, CAMPAIGNS)
    found = roi_report(engine, CONFIG)
    assert found["undated"] == {"campaigns": 1, "spend": 500.0}
    assert found["unattributed"] == {"pipeline": 0.0, "opportunities": 0, "revenue": 700.0, "customers": 1}


def test_it_splits_sourced_pipeline_between_the_teams_by_first_touch(engine, fake):
    add_campaigns(engine, CAMPAIGNS)
    sourced = roi_report(engine, CONFIG, model="markov")["sourced"]
    assert {"model": "first_touch", "by": "team", "conversion": "opportunity", "start": None, "end": None} in fake.asked
    assert sourced["total_pipeline"] == 79_000.0
    assert [(r["team"], r["pipeline"], r["share"]) for r in sourced["rows"]] == [
        ("marketing", 60_000.0, pytest.approx(60 / 79)),
        ("sales", 19_000.0, pytest.approx(19 / 79)),
    ]


def test_a_period_limits_spend_to_its_days_and_asks_for_credit_in_it(engine, fake):
    add_campaigns(engine, CAMPAIGNS)
    found = roi_report(engine, CONFIG, model="linear", start=D(2026, 2, 1), end=D(2026, 2, 15))
    rows = {r["key"]: r for r in found["rows"]}
    # 15 of February's 28 days of 1400: 750.00; the webinar's one day (10 Feb) falls inside
    assert (rows["paid_search"]["spend"], rows["webinar"]["spend"]) == (750.0, 2000.0)
    for conversion in ("opportunity", "won"):
        assert {
            "model": "linear",
            "by": "channel",
            "conversion": conversion,
            "start": D(2026, 2, 1),
            "end": D(2026, 2, 15),
        } in fake.asked
    assert (found["from"], found["to"]) == ("2026-02-01", "2026-02-15")


def test_it_reports_by_campaign_with_names_and_channels(engine, monkeypatch):
    add_campaigns(engine, CAMPAIGNS)
    credit = FakeAttribution()
    credit.credit[("won", "campaign")] = [
        {"key": "1", "label": "Search January", "conversions": 1.0, "revenue": 6200.0}
    ]
    credit.credit[("opportunity", "campaign")] = [
        {"key": "(none)", "label": "(none)", "conversions": 1.0, "revenue": 900.0}
    ]
    monkeypatch.setattr(economics, "_attribution", lambda: credit)
    rows = {r["key"]: r for r in roi_report(engine, CONFIG, by="campaign")["rows"]}
    assert (rows["1"]["label"], rows["1"]["channel"], rows["1"]["spend"], rows["1"]["roas"]) == (
        "Search January",
        "paid_search",
        3100.0,
        2.0,
    )
    assert (rows["2"]["label"], rows["2"]["spend"], rows["2"]["revenue"], rows["2"]["roi"]) == (
        "Search February",
        1400.0,
        0.0,
        -1.0,
    )
    assert (rows["(none)"]["label"], rows["(none)"]["channel"], rows["(none)"]["pipeline"]) == ("(none)", None, 900.0)
    assert "5" not in rows  # undated


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"by": "team"}, "cannot report ROI by 'team'; choose one of channel, campaign"),
        ({"start": D(2026, 3, 1), "end": D(2026, 2, 1)}, "starts on 2026-03-01 after it ends on 2026-02-01"),
    ],
)
def test_it_refuses_options_it_cannot_use(engine, fake, options, message):
    with pytest.raises(EconomicsError, match=message):
        roi_report(engine, CONFIG, **options)


def test_the_command_offers_every_model_the_config_accepts():
    assert MODELS == get_args(Attribution.model_fields["model"].annotation)


# ---- end to end, on the demo company ------------------------------------------------------------


@pytest.fixture(scope="module")
def demo_path(sqlite_template, tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("roi") / "demo.db"
    shutil.copy(sqlite_template, path)
    engine = db.connect(f"sqlite:///{path}")
    demo.build(engine, contacts=1500, seed=3)
    engine.dispose()
    return str(path)


def raw(path: str, query: str) -> list[tuple]:
    with sqlite3.connect(path) as con:
        return con.execute(query).fetchall()


def test_on_the_demo_money_in_is_money_credited_and_spend_is_the_campaigns_cost(demo_path):
    engine = db.connect(f"sqlite:///{demo_path}")
    found = roi_report(engine, CONFIG, model="first_touch")
    engine.dispose()
    cost = {}
    for channel, actual, budget in raw(
        demo_path, "SELECT channel, actual_cost, budget FROM campaigns WHERE starts_on IS NOT NULL"
    ):
        spent = actual if actual is not None else budget
        cost[channel] = cost.get(channel, Fraction(0)) + Fraction(str(spent or 0))
    rows = {r["key"]: r for r in found["rows"]}
    for channel, spent in cost.items():
        assert rows[channel]["spend"] == pytest.approx(float(spent), abs=0.005), channel
    won = sum(Fraction(str(a)) for (a,) in raw(demo_path, "SELECT amount FROM opportunities WHERE status = 'won'"))
    every = sum(Fraction(str(a)) for (a,) in raw(demo_path, "SELECT amount FROM opportunities"))
    assert found["totals"]["revenue"] + found["unattributed"]["revenue"] == pytest.approx(float(won), abs=0.05)
    assert found["totals"]["pipeline"] + found["unattributed"]["pipeline"] == pytest.approx(float(every), abs=0.05)
    assert found["sourced"]["total_pipeline"] == pytest.approx(found["totals"]["pipeline"], abs=0.05)
    for row in found["rows"]:
        if row["spend"]:
            assert row["roas"] == pytest.approx(row["revenue"] / row["spend"], rel=1e-6)
            assert row["roi"] == pytest.approx(row["revenue"] / row["spend"] - 1, rel=1e-6, abs=1e-9)
    assert found["model"] == "first_touch" and found["totals"]["revenue"] > 0


def test_the_command_prints_the_same_report_as_json(demo_path):
    result = runner.invoke(app, ["roi", "--db", demo_path, "--model", "linear", "--by", "campaign", "--json"])
    assert result.exit_code == 0, result.output
    engine = db.connect(f"sqlite:///{demo_path}")
    assert json.loads(result.stdout) == roi_report(engine, CONFIG, model="linear", by="campaign")
    engine.dispose()


def test_the_command_shows_a_table_and_the_sourced_split(demo_path):
    result = runner.invoke(app, ["roi", "--db", demo_path, "--model", "first_touch"], env={"COLUMNS": "160"})
    assert result.exit_code == 0, result.output
    assert "ROAS" in result.stdout and "paid_search" in result.stdout and "Sourced pipeline" in result.stdout


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["--to", "31/01/2026"], 1, "--to '31/01/2026' is not a date"),
        (["--from", "2026-03-01", "--to", "2026-02-01"], 1, "after it ends on"),
        (["--by", "team"], 2, "team"),
        (["--model", "magic"], 2, "magic"),
    ],
)
def test_the_command_explains_bad_options(demo_path, args, code, message):
    result = runner.invoke(app, ["roi", "--db", demo_path, *args])
    assert result.exit_code == code
    assert message in result.stderr


def test_the_fake_attribution_keeps_the_real_ones_signature():
    # If the service's contract changes, the hand-made credit above must change with it.
    import inspect

    from truce.services import attribution

    for name in ("attribution_report", "monthly_credit"):
        real = set(inspect.signature(getattr(attribution, name)).parameters)
        assert {"engine", "config", "model", "by", "conversion"} <= real
    assert {"start", "end"} <= set(inspect.signature(attribution.attribution_report).parameters)
