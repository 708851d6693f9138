"""`truce budget`: curves fitted to monthly spend and credited revenue, a what-if and an optimised
allocation, each worked out by hand on channels whose revenue follows a known curve exactly.

The attribution service is replaced by hand-made monthly credit, so
these tests check the budget report alone; the demo company is then recounted: its monthly spend
by brute force from SQLite, day by day in exact fractions.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import shutil
import sqlite3
from collections import defaultdict
from fractions import Fraction

import pytest
from conftest import writing
from sqlalchemy import insert
from typer.testing import CliRunner

from truce import config as truce_config
from truce.cli import app
from truce.services import demo, economics
from truce.services.economics import Bound, EconomicsError, budget_report, parse_bounds, parse_what_if
from truce.store import db
from truce.store.models import Campaign

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore:The 'future.infer_string'")
runner = CliRunner()
CONFIG = truce_config.parse(truce_config.default_text(), "truce.toml")
MONTHS = ["2026-01", "2026-02", "2026-03", "2026-04", "2026-05", "2026-06"]
SEARCH = dict(zip(MONTHS, [1000, 2000, 3000, 4000, 1500, 2500], strict=True))  # revenue 10,000 ln(1 + s / 2,000)
SOCIAL = dict(zip(MONTHS[1:], [500, 1000, 2000, 800, 1200], strict=True))  # revenue 4,000 ln(1 + s / 1,000)
WEBINAR = dict(zip(MONTHS[2:5], [700, 900, 800], strict=True))  # three months only
AS_OF = dt.date(2026, 7, 15)  # July is in progress


def search_curve(spend: float) -> float:
    return 10_000 * math.log(1 + spend / 2_000)


def social_curve(spend: float) -> float:
    return 4_000 * math.log(1 + spend / 1_000)


def month_campaigns() -> list[tuple]:
    """One campaign per channel and month, running the whole month, so a month's spend is its cost."""
    rows, number = [], 0
    for channel, spend in (("search", SEARCH), ("social", SOCIAL), ("webinar", WEBINAR)):
        for month, cost in spend.items():
            number += 1
            first = dt.date.fromisoformat(f"{month}-01")
            last = (first + dt.timedelta(days=32)).replace(day=1) - dt.timedelta(days=1)
            rows.append((number, f"{channel} {month}", channel, f"{cost}.00", None, first, last))
    return rows


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


class FakeAttribution:
    """Hand-made monthly credit in the attribution service's shape, and a record of what was asked."""

    def __init__(self, monthly: list[dict]):
        self.monthly, self.asked = monthly, []

    def monthly_credit(self, engine, config, *, model=None, by="channel", conversion=None, **_):
        self.asked.append({"model": model, "by": by, "conversion": conversion})
        return self.monthly


def monthly_credit() -> list[dict]:
    rows = [{"month": m, "key": "search", "conversions": 1.0, "revenue": search_curve(s)} for m, s in SEARCH.items()]
    rows += [{"month": m, "key": "social", "conversions": 1.0, "revenue": social_curve(s)} for m, s in SOCIAL.items()]
    rows += [{"month": m, "key": "webinar", "conversions": 1.0, "revenue": 500.0} for m in WEBINAR]
    rows += [
        {"month": "2026-07", "key": "search", "conversions": 9.0, "revenue": 999_999.0},  # the month in progress
        {"month": "2026-03", "key": "sales_call", "conversions": 1.0, "revenue": 7_000.0},  # no spend on record
        {"month": "2026-03", "key": "(none)", "conversions": 1.0, "revenue": 100.0},  # no channel at all
    ]
    return rows


@pytest.fixture
def store(engine, monkeypatch):
    add_campaigns(engine, month_campaigns())
    credit = FakeAttribution(monthly=monthly_credit())
    monkeypatch.setattr(economics, "_attribution", lambda: credit)
    engine.credit = credit
    return engine


def report(engine, **options) -> dict:
    return budget_report(engine, CONFIG, as_of=AS_OF, **options)


def rows(found: dict, part: str | None = None) -> dict:
    listed = found["channels"] if part is None else found[part]["channels"]
    return {r["channel"]: r for r in listed}


# ---- the fit -----------------------------------------------------------------------------------


def test_it_fits_each_channel_on_its_months_of_spend_and_won_revenue(store):
    found = report(store, model="linear")
    assert store.credit.asked == [{"model": "linear", "by": "channel", "conversion": "won"}]
    assert found["window"] == {"first": "2026-01", "last": "2026-06"}  # July is in progress: left out
    fits = rows(found)
    assert list(fits) == ["search", "social"]
    search, social = fits["search"], fits["social"]
    assert (search["a"], search["b"]) == (pytest.approx(10_000, rel=1e-5), pytest.approx(2_000, rel=1e-5))
    assert (social["a"], social["b"]) == (pytest.approx(4_000, rel=1e-5), pytest.approx(1_000, rel=1e-5))
    assert (search["months"], search["months_with_spend"], social["months"]) == (6, 6, 5)  # social began in February
    assert search["r2"] == pytest.approx(1.0)
    assert search["baseline_spend"] == pytest.approx(14_000 / 6, abs=0.01)
    assert social["baseline_spend"] == pytest.approx(1_100.0)
    assert search["baseline_revenue"] == pytest.approx(search_curve(14_000 / 6), abs=0.01)
    assert search["actual_revenue"] == pytest.approx(sum(search_curve(s) for s in SEARCH.values()) / 6, abs=0.01)
    assert social["points"][0] == {"month": "2026-02", "spend": 500.0, "revenue": round(social_curve(500), 2)}
    assert [p["month"] for p in social["points"]] == MONTHS[1:]
    # the next unit of spend at the baseline returns a / (b + s)
    assert social["marginal_roas"] == pytest.approx(4_000 / 2_100, rel=1e-5)


def test_exact_months_leave_the_bootstrap_nothing_to_doubt(store):
    search = rows(report(store))["search"]
    assert search["baseline_low"] == pytest.approx(search["baseline_revenue"], rel=1e-4)
    assert search["baseline_high"] == pytest.approx(search["baseline_revenue"], rel=1e-4)


def test_it_notes_curves_that_explain_little(store, monkeypatch):
    assert report(store)["notes"] == []  # exact curves explain everything
    noisy = [
        dict(r, revenue=r["revenue"] * (1.8 if r["month"] in ("2026-02", "2026-05") else 0.4)) for r in monthly_credit()
    ]
    monkeypatch.setattr(economics, "_attribution", lambda: FakeAttribution(noisy))
    (note,) = report(store)["notes"]
    assert note.startswith("2 of 2 curves explain less than 30 %") and "search, social" in note


def test_it_says_why_a_channel_has_no_curve(store):
    missing = {r["channel"]: r for r in report(store)["not_fitted"]}
    assert set(missing) == {"webinar", "sales_call"}  # "(none)" is not a channel
    assert missing["webinar"]["months_with_spend"] == 3
    assert "at least 4 months with spend" in missing["webinar"]["reason"]
    assert missing["sales_call"]["reason"] == "no campaign spend on record"


def test_it_says_plainly_that_the_estimate_is_correlational(store):
    caveat = report(store, model="markov")["caveat"]
    assert caveat.startswith("This estimate is correlational.")
    assert "not an experiment" in caveat and "holdout" in caveat and "markov" in caveat


# ---- what if -----------------------------------------------------------------------------------


def test_a_what_if_projects_each_changed_channel_against_its_baseline(store):
    found = report(store, what_if={"search": -0.2, "social": 0.5})
    search, social = rows(found, "what_if")["search"], rows(found, "what_if")["social"]
    base = 14_000 / 6
    assert search["spend"] == pytest.approx(base * 0.8, abs=0.01)
    assert search["revenue"] == pytest.approx(search_curve(base * 0.8), abs=0.01)
    assert search["change"] == pytest.approx(search_curve(base * 0.8) - search_curve(base), abs=0.02)
    assert search["change_pct"] == -0.2
    assert (social["spend"], social["revenue"]) == (1_650.0, pytest.approx(social_curve(1_650), abs=0.01))
    total = found["what_if"]["total"]
    assert total["spend"] == pytest.approx(base * 0.8 + 1_650, abs=0.01)
    assert total["revenue"] == pytest.approx(search_curve(base * 0.8) + social_curve(1_650), abs=0.02)
    assert total["low"] <= total["revenue"] <= total["high"]


def test_a_what_if_refuses_a_channel_it_does_not_know_or_cannot_project(store):
    with pytest.raises(
        EconomicsError, match="unknown channel 'radio'; known channels: sales_call, search, social, webinar"
    ):
        report(store, what_if={"radio": 0.1})
    with pytest.raises(EconomicsError, match="cannot project webinar: needs at least 4 months with spend"):
        report(store, what_if={"webinar": 0.1})


# ---- the optimiser -----------------------------------------------------------------------------


def test_it_allocates_a_total_where_the_marginal_returns_meet(store):
    found = report(store, optimize_total=3_000)
    allocation = rows(found, "optimized")
    # 10,000 / (2,000 + s) = 4,000 / (1,000 + 3,000 − s)  →  14,000 s = 32,000,000
    assert allocation["search"]["spend"] == pytest.approx(32_000_000 / 14_000, abs=0.01)
    assert allocation["social"]["spend"] == pytest.approx(3_000 - 32_000_000 / 14_000, abs=0.01)
    # default bounds: 50 % to 150 % of the baseline
    assert (allocation["social"]["low_bound"], allocation["social"]["high_bound"]) == (550.0, 1_650.0)
    assert found["optimized"]["total_budget"] == 3_000.0
    assert found["optimized"]["total"]["spend"] == pytest.approx(3_000, abs=0.01)


def test_without_a_total_it_reallocates_the_baseline_budget(store):
    found = report(store, optimize=True)
    assert found["optimized"]["total_budget"] == pytest.approx(14_000 / 6 + 1_100, abs=0.01)
    assert found["optimized"]["total"]["revenue"] >= found["optimized"]["total"]["baseline_revenue"]


def test_a_bound_that_binds_holds_its_channel_there(store):
    found = report(store, optimize_total=3_000, bounds={"social": Bound(800, 2_000)})
    allocation = rows(found, "optimized")
    assert (allocation["social"]["spend"], allocation["search"]["spend"]) == (800.0, pytest.approx(2_200.0, abs=0.01))
    found = report(store, optimize_total=3_000, bounds={"social": Bound(0.9, 1.0, relative=True)})
    assert rows(found, "optimized")["social"]["spend"] == pytest.approx(990.0, abs=0.01)  # 90 % of 1,100


def test_it_refuses_a_total_the_bounds_cannot_hold(store):
    with pytest.raises(EconomicsError, match="cannot be spent within the bounds: 1,716.67 to 5,150.00"):
        report(store, optimize_total=10_000)
    with pytest.raises(EconomicsError, match="--bounds: unknown channel 'tv'"):
        report(store, optimize_total=3_000, bounds={"tv": Bound(1, 2)})


# ---- parsing the options -----------------------------------------------------------------------


def test_it_parses_a_what_if_string():
    assert parse_what_if("paid_search:-20%,webinar:+20%") == {"paid_search": -0.2, "webinar": 0.2}
    assert parse_what_if(" email : 12.5 % ") == {"email": 0.125}
    assert parse_what_if("display:-100%") == {"display": -1.0}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("paid_search:-20", "'paid_search:-20' is not CHANNEL:±N%"),
        ("paid_search=-20%", "is not CHANNEL:±N%"),
        ("paid_search:abc%", "is not CHANNEL:±N%"),
        ("paid_search:-120%", "cannot fall by more than 100 %"),
        ("paid_search:-20%,,webinar:+5%", "empty entry"),
        ("paid_search:-20%,paid_search:+5%", "names paid_search twice"),
    ],
)
def test_it_refuses_a_bad_what_if_string(text, message):
    with pytest.raises(EconomicsError, match=message):
        parse_what_if(text)


def test_it_parses_a_bounds_string():
    assert parse_bounds("paid_search:1000-5000,webinar:50%-200%") == {
        "paid_search": Bound(1000.0, 5000.0),
        "webinar": Bound(0.5, 2.0, relative=True),
    }


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("paid_search:5000-1000", "low bound 5000 is above the high bound 1000"),
        ("paid_search:50%-2000", "is not CHANNEL:LOW-HIGH"),
        ("paid_search:1000", "is not CHANNEL:LOW-HIGH"),
        ("paid_search:-10-20", "is not CHANNEL:LOW-HIGH"),
    ],
)
def test_it_refuses_a_bad_bounds_string(text, message):
    with pytest.raises(EconomicsError, match=message):
        parse_bounds(text)


# ---- the demo company ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def demo_path(sqlite_template, tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("budget") / "demo.db"
    shutil.copy(sqlite_template, path)
    engine = db.connect(f"sqlite:///{path}")
    demo.build(engine, contacts=1500, seed=3)
    engine.dispose()
    return str(path)


def spend_by_brute_force(path: str) -> dict[tuple[str, str], Fraction]:
    """Each campaign's cost, a day at a time, in exact fractions."""
    with sqlite3.connect(path) as con:
        campaigns = con.execute("SELECT channel, actual_cost, budget, starts_on, ends_on FROM campaigns").fetchall()
    spend: dict[tuple[str, str], Fraction] = defaultdict(Fraction)
    for channel, actual, budget, first, last in campaigns:
        if first is None:
            continue
        cost = Fraction(str(actual if actual is not None else (budget or 0)))
        first = dt.date.fromisoformat(first)
        last = max(first, dt.date.fromisoformat(last)) if last else first
        days = [first + dt.timedelta(days=k) for k in range((last - first).days + 1)]
        for day in days:
            spend[day.strftime("%Y-%m"), channel] += cost / len(days)
    return spend


def test_on_the_demo_each_channels_months_are_its_spend_recounted_day_by_day(demo_path):
    from truce.services.attribution import monthly_credit as real_monthly_credit

    engine = db.connect(f"sqlite:///{demo_path}")
    found = budget_report(engine, CONFIG, model="first_touch", as_of=dt.date(2026, 11, 23), draws=100)
    credit = real_monthly_credit(engine, CONFIG, model="first_touch", by="channel", conversion="won")
    engine.dispose()
    spend = spend_by_brute_force(demo_path)
    revenue = defaultdict(float)
    for row in credit:
        revenue[row["month"], row["key"]] += row["revenue"]
    last = found["window"]["last"]
    assert last == "2026-10"  # the demo runs to 20 November; November is still in progress
    assert len(found["channels"]) >= 8
    for fit in found["channels"]:
        channel = fit["channel"]
        first = min(m for m, c in spend if c == channel and spend[m, c] > 0)
        months = sorted({m for m, _ in spend} | {m for m, _ in revenue})
        months = [m for m in months if first <= m <= last]
        assert fit["months"] == len(months), channel
        assert fit["baseline_spend"] == pytest.approx(
            float(sum(spend[m, channel] for m in months) / len(months)), abs=0.01
        )
        assert fit["actual_revenue"] == pytest.approx(sum(revenue[m, channel] for m in months) / len(months), abs=0.01)
        assert fit["baseline_low"] <= fit["baseline_revenue"] <= fit["baseline_high"]
    assert "correlational" in found["caveat"]


def test_the_command_runs_a_what_if_and_an_optimisation_as_json(demo_path):
    result = runner.invoke(
        app,
        [
            "budget",
            "--db",
            demo_path,
            "--model",
            "first_touch",
            "--what-if",
            "paid_search:-20%,webinar:+20%",
            "--optimize",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    found = json.loads(result.stdout)
    changed = rows(found, "what_if")
    assert changed["paid_search"]["change_pct"] == -0.2 and changed["webinar"]["change_pct"] == 0.2
    # without --total, --optimize reallocates today's baseline budget
    baseline = sum(r["baseline_spend"] for r in found["channels"])
    assert found["optimized"]["total_budget"] == pytest.approx(baseline, abs=0.1)
    assert found["optimized"]["total"]["revenue"] >= found["optimized"]["total"]["baseline_revenue"] - 0.01
    assert "correlational" in found["caveat"]


def test_the_command_shows_the_fit_and_the_caveat(demo_path):
    result = runner.invoke(
        app, ["budget", "--db", demo_path, "--model", "first_touch", "--what-if", "email:+10%"], env={"COLUMNS": "180"}
    )
    assert result.exit_code == 0, result.output
    assert "Fit per channel" in result.stdout and "What if" in result.stdout
    assert "correlational" in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--what-if", "paid_search:-20"], "'paid_search:-20' is not CHANNEL:±N%"),
        (["--what-if", "radio:+10%"], "unknown channel 'radio'; known channels: "),
        (["--total", "5000"], "--total is the budget --optimize allocates; add --optimize"),
        (["--optimize", "--bounds", "paid_search:9-1"], "low bound 9 is above the high bound 1"),
        (["--optimize", "--total", "1"], "cannot be spent within the bounds"),
        (["--optimize", "--min", "120", "--max", "80"], "need 0 ≤ min ≤ max"),
    ],
)
def test_the_command_explains_bad_options(demo_path, args, message):
    result = runner.invoke(app, ["budget", "--db", demo_path, "--model", "first_touch", *args])
    assert result.exit_code == 1, result.output
    assert message in result.stderr
