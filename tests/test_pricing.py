"""`truce pricing`: a small store worked out by hand, and the demo company recounted by brute force.

The recount reads the demo's opportunities with the standard library's sqlite3 (no SQLAlchemy
types, no Decimal) and does every sum with fractions.Fraction, rounding a discount with
round(Fraction, 4), which rounds half to even like the report promises.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
import sqlite3
import statistics
from collections import defaultdict
from fractions import Fraction

import pytest
from conftest import writing
from sqlalchemy import insert
from typer.testing import CliRunner

from truce import config as truce_config
from truce.cli import app
from truce.services import demo
from truce.services.pricing import PricingError, pricing_report
from truce.store import db
from truce.store.models import Account, Opportunity, User

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore:The 'future.infer_string'")
runner = CliRunner()

POLICY = """
[pricing]
discount_bands = [0, 0.05, 0.10, 0.20, 0.30]
[pricing.discount_policy]
max_discount = 0.15
[pricing.discount_policy.by_segment]
enterprise = 0.20
[pricing.discount_policy.by_product]
Suite = 0.10
"""
CONFIG = truce_config.parse(truce_config.default_text().split("\n[pricing]")[0] + POLICY, "truce.toml")

ANN, BOB = 1, 2
ENTERPRISE, SMB, NO_SEGMENT = 1, 2, 3
# id, owner, account, product, list, amount, discount_rate, status, created (UTC), close date
DEALS = [
    (1, ANN, ENTERPRISE, "Core", "10000", "7500", None, "won", "2026-01-01T10:00", "2026-02-01"),  # 25 %, limit 20 %
    (2, ANN, SMB, "Suite", "20000", "19000", None, "won", "2026-01-10T10:00", "2026-03-01"),  # 5 %: on the 5 % edge
    # 20 % against Suite's 10 %; created 22:00 in New York, which is already 1 February in UTC
    (3, BOB, SMB, "Suite", "5000", "4000", None, "won", "2026-01-31T22:00-05:00", "2026-02-11"),
    (4, BOB, NO_SEGMENT, "Core", None, "8000", "0.20", "won", "2026-03-01T10:00", "2026-04-30"),  # list implied 10,000
    (5, BOB, ENTERPRISE, "Core", "3000", "3000", None, "lost", "2026-01-05T10:00", "2026-01-25"),
    (6, ANN, SMB, "Core", "1000", "880", None, "lost", "2026-02-01T10:00", "2026-03-03"),  # 12 %
    (7, ANN, SMB, "Core", "4000", "2600", None, "open", "2026-06-01T10:00", "2026-12-31"),  # 35 %
    (8, BOB, SMB, "Core", None, "5000", None, "won", "2026-01-15T10:00", "2026-02-15"),  # unpriced
    (9, ANN, NO_SEGMENT, None, "1000", "1100", None, "won", "2026-04-01T10:00", "2026-04-11"),  # above list: −10 %
    (10, ANN, SMB, "Core", "999.99", "899.99", None, "won", "2026-05-01T10:00", "2026-05-21"),  # 10.00010 % → 10 %
    (11, BOB, SMB, "Core", "333.33", "250.00", None, "won", "2026-06-01T10:00", "2026-06-06"),  # 24.9992 % → 25 %
]


def moment(text: str) -> dt.datetime:
    at = dt.datetime.fromisoformat(text)
    return at if at.tzinfo else at.replace(tzinfo=dt.UTC)


def load(engine) -> None:
    now = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    with writing(engine) as conn:
        conn.execute(
            insert(User),
            [
                {"id": ANN, "email": "ann@us.example", "name": "Ann", "team": "sales", "created_at": now},
                {"id": BOB, "email": "bob@us.example", "name": "Bob", "team": "sales", "created_at": now},
            ],
        )
        conn.execute(
            insert(Account),
            [
                {"id": i, "name": f"Account {i}", "segment": s, "created_at": now, "updated_at": now}
                for i, s in ((ENTERPRISE, "enterprise"), (SMB, "smb"), (NO_SEGMENT, None))
            ],
        )
        conn.execute(
            insert(Opportunity),
            [
                {
                    "id": i,
                    "owner_id": owner,
                    "account_id": account,
                    "product": product,
                    "list_amount": list_amount,
                    "amount": amount,
                    "discount_rate": rate,
                    "status": status,
                    "stage": status,
                    "created_at": moment(created),
                    "close_date": dt.date.fromisoformat(closed),
                    "updated_at": now,
                }
                for i, owner, account, product, list_amount, amount, rate, status, created, closed in DEALS
            ],
        )


@pytest.fixture
def report(engine):
    load(engine)
    return pricing_report(engine, CONFIG)


def by_key(rows: list[dict]) -> dict:
    return {r["key"]: r for r in rows}


# ---- the hand-worked store ---------------------------------------------------------------------


def test_it_counts_priced_unpriced_and_implied_list_deals(report):
    assert report["deals"] == {"priced": 10, "unpriced": 1, "list_implied": 1, "won": 7}


def test_it_totals_won_deals_list_against_realised(report):
    totals = report["totals"]
    # list 10000 + 20000 + 5000 + 10000 (implied) + 1000 + 999.99 + 333.33
    assert totals["list_total"] == 47333.32
    # realised 7500 + 19000 + 4000 + 8000 + 1100 + 899.99 + 250
    assert totals["realised_total"] == 40749.99
    assert totals["given_away"] == 6583.33
    assert totals["weighted_discount"] == pytest.approx(6583.33 / 47333.32)
    # discounts .25 .05 .20 .20 −.10 .10 .25
    assert totals["average_discount"] == pytest.approx(0.95 / 7)
    assert totals["median_discount"] == pytest.approx(0.20)


def test_it_counts_revenue_given_away_beyond_policy(report):
    totals = report["totals"]
    # deal 1: (.25 − .20 enterprise) × 10000 = 500; deal 3: (.20 − .10 Suite) × 5000 = 500;
    # deal 4: (.20 − .15 default) × 10000 = 500; deal 11: (.25 − .15) × 333.33 = 33.333 → 33.33
    assert totals["beyond_policy"] == 1533.33
    assert totals["deals_beyond_policy"] == 4


def test_it_splits_by_rep_with_the_worst_first(report):
    assert [r["key"] for r in report["by_rep"]] == ["bob@us.example", "ann@us.example"]
    bob, ann = report["by_rep"]
    assert (bob["name"], bob["deals"], bob["list_total"], bob["realised_total"]) == ("Bob", 3, 15333.33, 12250.0)
    assert (bob["beyond_policy"], bob["deals_beyond_policy"]) == (1033.33, 3)
    assert bob["average_discount"] == pytest.approx(0.65 / 3)
    assert bob["median_discount"] == pytest.approx(0.20)
    assert (ann["deals"], ann["list_total"], ann["realised_total"], ann["given_away"]) == (
        4,
        31999.99,
        28499.99,
        3500.0,
    )
    assert (ann["beyond_policy"], ann["deals_beyond_policy"]) == (500.0, 1)
    assert ann["average_discount"] == pytest.approx(0.075)
    assert ann["median_discount"] == pytest.approx(0.075)  # (.05 + .10) / 2


def test_it_splits_by_segment_and_product(report):
    assert [r["key"] for r in report["by_segment"]] == ["smb", "enterprise", None]
    segment = by_key(report["by_segment"])
    assert (segment["smb"]["deals"], segment["smb"]["list_total"], segment["smb"]["beyond_policy"]) == (
        4,
        26333.32,
        533.33,
    )
    assert (segment["enterprise"]["realised_total"], segment["enterprise"]["beyond_policy"]) == (7500.0, 500.0)
    assert (segment[None]["list_total"], segment[None]["realised_total"], segment[None]["given_away"]) == (
        11000.0,
        9100.0,
        1900.0,
    )
    assert [r["key"] for r in report["by_product"]] == ["Core", "Suite", None]
    product = by_key(report["by_product"])
    assert (product["Core"]["deals"], product["Core"]["list_total"], product["Core"]["beyond_policy"]) == (
        4,
        21333.32,
        1033.33,
    )
    assert (product["Suite"]["realised_total"], product["Suite"]["beyond_policy"]) == (23000.0, 500.0)
    assert (product[None]["given_away"], product[None]["median_discount"]) == (-100.0, pytest.approx(-0.10))


def test_it_bands_discounts_with_win_rate_and_cycle_length(report):
    bands = {b["band"]: b for b in report["bands"]}
    assert list(bands) == ["0–5 %", "5–10 %", "10–20 %", "20–30 %", "30 % +"]
    counts = {k: (b["deals"], b["won"], b["lost"], b["open"]) for k, b in bands.items()}
    assert counts == {
        "0–5 %": (2, 1, 1, 0),  # deal 5 at 0 % (lost), deal 9 above list (won)
        "5–10 %": (1, 1, 0, 0),  # deal 2, exactly 5 %
        "10–20 %": (2, 1, 1, 0),  # deal 10 (10 % once rounded), deal 6 at 12 %
        "20–30 %": (4, 4, 0, 0),  # deals 1, 3, 4, 11
        "30 % +": (1, 0, 0, 1),  # deal 7, open
    }
    assert [b["win_rate"] for b in report["bands"]] == [0.5, 1.0, 0.5, 1.0, None]
    # won: 10 days; lost: 20 days
    assert (bands["0–5 %"]["median_cycle_days_won"], bands["0–5 %"]["median_cycle_days_lost"]) == (10.0, 20.0)
    assert (bands["10–20 %"]["median_cycle_days_won"], bands["10–20 %"]["median_cycle_days_lost"]) == (20.0, 30.0)
    # 31, 10 (created 1 Feb UTC, not 31 Jan as in New York), 60, 5 → (10 + 31) / 2
    assert bands["20–30 %"]["median_cycle_days_won"] == 20.5
    assert bands["30 % +"]["median_cycle_days_won"] is None
    assert (bands["20–30 %"]["list_total"], bands["20–30 %"]["realised_total"]) == (25333.33, 19750.0)
    assert (bands["0–5 %"]["low"], bands["0–5 %"]["high"], bands["30 % +"]["high"]) == (0.0, 0.05, None)


def test_it_counts_deals_closing_in_the_period(engine):
    load(engine)
    found = pricing_report(engine, CONFIG, start=dt.date(2026, 2, 1), end=dt.date(2026, 3, 31))
    # closing 1 Feb – 31 Mar: won 1, 2, 3 and 8 (unpriced); lost 6
    assert found["deals"] == {"priced": 4, "unpriced": 1, "list_implied": 0, "won": 3}
    assert (found["totals"]["list_total"], found["totals"]["realised_total"]) == (35000.0, 30500.0)
    assert found["totals"]["beyond_policy"] == 1000.0
    assert (found["from"], found["to"]) == ("2026-02-01", "2026-03-31")


def test_it_reports_an_empty_store_without_dividing_by_zero(engine):
    found = pricing_report(engine, CONFIG)
    assert found["totals"]["deals"] == 0
    assert found["totals"]["average_discount"] is None and found["totals"]["weighted_discount"] is None
    assert [b["deals"] for b in found["bands"]] == [0] * 5


def test_it_refuses_a_period_that_ends_before_it_starts(engine):
    with pytest.raises(PricingError, match="starts on 2026-03-01 after it ends on 2026-02-01"):
        pricing_report(engine, CONFIG, start=dt.date(2026, 3, 1), end=dt.date(2026, 2, 1))


# ---- the demo company, recounted -----------------------------------------------------------


@pytest.fixture(scope="module")
def demo_path(sqlite_template, tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("pricing") / "demo.db"
    shutil.copy(sqlite_template, path)
    engine = db.connect(f"sqlite:///{path}")
    # A fixed day: the period below must hold the same deals whenever the test runs.
    demo.build(engine, contacts=2000, seed=11, until=dt.date(2026, 11, 20))
    engine.dispose()
    return str(path)


def recount(path: str, start: str | None = None, end: str | None = None) -> dict:
    """Every number of the report from raw rows, with Fraction arithmetic and plain loops."""
    limits = {"enterprise": Fraction(20, 100)}  # the built-in truce.toml: enterprise 20 %, otherwise 15 %
    bands = [Fraction(0), Fraction(5, 100), Fraction(10, 100), Fraction(20, 100), Fraction(30, 100)]
    with sqlite3.connect(path) as con:
        rows = con.execute(
            "SELECT o.amount, o.list_amount, o.discount_rate, o.status, o.created_at, o.close_date, o.product,"
            " a.segment, u.email FROM opportunities o LEFT JOIN accounts a ON a.id = o.account_id"
            " LEFT JOIN users u ON u.id = o.owner_id"
        ).fetchall()
    won = []
    band_rows = [defaultdict(list) for _ in bands]
    for amount, listed, rate, status, created, closed, product, segment, email in rows:
        if (start and (closed is None or closed < start)) or (end and (closed is None or closed > end)):
            continue
        amount = Fraction(str(amount))
        if listed is not None and Fraction(str(listed)) > 0:
            listed = Fraction(str(listed))
            discount = round(1 - amount / listed, 4)
        else:
            discount = round(Fraction(str(rate)), 4)
            listed = round(amount / (1 - discount), 2)
        days = (dt.date.fromisoformat(closed) - dt.date.fromisoformat(created[:10])).days
        index = max(i for i, low in enumerate(bands) if discount >= low) if discount >= 0 else 0
        band_rows[index][status].append(days)
        if status == "won":
            limit = limits.get(segment, Fraction(15, 100))
            beyond = round(max(Fraction(0), (discount - limit) * listed), 2)
            won.append((email, segment, product, listed, amount, discount, beyond))
    return {"won": won, "bands": band_rows}


def summarise(deals: list) -> dict:
    listed = sum(d[3] for d in deals)
    realised = sum(d[4] for d in deals)
    return {
        "deals": len(deals),
        "list_total": float(listed),
        "realised_total": float(realised),
        "given_away": float(listed - realised),
        "average_discount": float(sum(d[5] for d in deals) / len(deals)),
        "median_discount": float(statistics.median(d[5] for d in deals)),
        "beyond_policy": float(sum(d[6] for d in deals)),
        "deals_beyond_policy": sum(1 for d in deals if d[6] > 0),
    }


def compare(found: dict, expected: dict) -> None:
    for name, value in expected.items():
        assert found[name] == pytest.approx(value, abs=1e-9), name


@pytest.mark.parametrize("period", [(None, None), ("2026-01-01", "2026-09-30")], ids=["all", "period"])
def test_it_agrees_with_a_brute_force_recount_of_the_demo(demo_path, period):
    start, end = period
    engine = db.connect(f"sqlite:///{demo_path}")
    found = pricing_report(
        engine,
        truce_config.parse(truce_config.default_text()),
        start=dt.date.fromisoformat(start) if start else None,
        end=dt.date.fromisoformat(end) if end else None,
    )
    engine.dispose()
    expected = recount(demo_path, start, end)
    won = expected["won"]
    assert found["deals"]["won"] == len(won) > 20
    compare(found["totals"], summarise(won))
    for name, column in (("by_rep", 0), ("by_segment", 1), ("by_product", 2)):
        groups = defaultdict(list)
        for deal in won:
            groups[deal[column]].append(deal)
        assert set(by_key(found[name])) == set(groups), name
        for key, deals in groups.items():
            compare(by_key(found[name])[key], summarise(deals))
    assert sum(1 for d in won if d[6] > 0) > 0, "the demo has discounters beyond policy"
    for band, statuses in zip(found["bands"], expected["bands"], strict=True):
        won_n, lost_n = len(statuses["won"]), len(statuses["lost"])
        assert (band["won"], band["lost"], band["open"]) == (won_n, lost_n, len(statuses["open"]))
        assert band["win_rate"] == (pytest.approx(won_n / (won_n + lost_n)) if won_n + lost_n else None)
        for status in ("won", "lost"):
            median = statistics.median(statuses[status]) if statuses[status] else None
            assert band[f"median_cycle_days_{status}"] == median


# ---- the command -------------------------------------------------------------------------------


def test_the_command_prints_the_same_report_as_json(demo_path):
    result = runner.invoke(app, ["pricing", "--db", demo_path, "--from", "2025-07-01", "--to", "2026-03-31", "--json"])
    assert result.exit_code == 0, result.output
    engine = db.connect(f"sqlite:///{demo_path}")
    direct = pricing_report(
        engine, truce_config.parse(truce_config.default_text()), start=dt.date(2025, 7, 1), end=dt.date(2026, 3, 31)
    )
    engine.dispose()
    assert json.loads(result.stdout) == direct


def test_the_command_draws_the_discount_distribution(demo_path):
    result = runner.invoke(app, ["pricing", "--db", demo_path], env={"COLUMNS": "160"})
    assert result.exit_code == 0, result.output
    assert "Discount distribution" in result.stdout and "█" in result.stdout
    assert "beyond policy" in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--from", "2026-02-30"], "--from '2026-02-30' is not a date"),
        (["--from", "2026-03-01", "--to", "2026-02-01"], "starts on 2026-03-01 after it ends on 2026-02-01"),
    ],
)
def test_the_command_explains_bad_options(demo_path, args, message):
    result = runner.invoke(app, ["pricing", "--db", demo_path, *args])
    assert result.exit_code == 1
    assert message in result.stderr
