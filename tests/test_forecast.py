"""The revenue forecast: periods, stage odds and the forecast on a history worked out by hand, no
peeking at outcomes after the as-of day, and the back-test on the demo company.

Every expected number below is worked out in the comments from the rules in
truce.domain.forecast's docstring, as fractions — none comes from running the code.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from dataclasses import replace
from decimal import Decimal
from fractions import Fraction as F

import pytest
from typer.testing import CliRunner

from truce.cli import app
from truce.domain import forecast as f

CLOSING = frozenset({"Closed Won", "Closed Lost"})
D = dt.date


def at(month, day, year=2026) -> dt.datetime:
    return dt.datetime(year, month, day, tzinfo=dt.UTC)


def deal(id, amount, status, created, close_date, *moves, stage=None):
    return f.Deal(
        id=id,
        amount=Decimal(amount),
        status=status,
        created_at=created,
        close_date=close_date,
        stage=stage or (moves[-1][1] if moves else "Prospecting"),
        moves=tuple(moves),
    )


# ---- periods -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "start", "end", "label"),
    [
        ("2026", D(2026, 1, 1), D(2026, 12, 31), "2026"),
        ("2026-Q4", D(2026, 10, 1), D(2026, 12, 31), "2026-Q4"),
        ("2026-q1", D(2026, 1, 1), D(2026, 3, 31), "2026-Q1"),
        ("2026-11", D(2026, 11, 1), D(2026, 11, 30), "2026-11"),
        ("2028-02", D(2028, 2, 1), D(2028, 2, 29), "2028-02"),
    ],
)
def test_it_reads_a_year_a_quarter_and_a_month(text, start, end, label):
    period = f.parse_period(text)
    assert (period.start, period.end, period.label) == (start, end, label)


def test_it_takes_explicit_first_and_last_days():
    period = f.parse_period(start=D(2026, 11, 15), end=D(2027, 2, 14))
    assert period.days == 92 and period.label == "2026-11-15..2027-02-14"


@pytest.mark.parametrize("text", ["2026-Q5", "2026-13", "Q4", "2026-Q4-extra", "26-11", ""])
def test_it_refuses_what_is_not_a_period(text):
    with pytest.raises(f.PeriodError, match="not a period"):
        f.parse_period(text)


def test_it_refuses_a_period_that_ends_before_it_starts_or_is_given_twice():
    with pytest.raises(f.PeriodError, match="before it starts"):
        f.parse_period(start=D(2026, 5, 1), end=D(2026, 4, 30))
    with pytest.raises(f.PeriodError, match="not both"):
        f.parse_period("2026-Q4", start=D(2026, 10, 1), end=D(2026, 12, 31))
    with pytest.raises(f.PeriodError, match="both a start and an end"):
        f.parse_period(start=D(2026, 10, 1))


def test_days_elapsed_count_the_as_of_day_and_stop_at_the_ends():
    april = f.parse_period("2026-04")
    assert [april.elapsed(d) for d in (D(2026, 3, 31), D(2026, 4, 1), D(2026, 4, 20), D(2026, 5, 9))] == [0, 1, 20, 30]


def test_whole_months_and_quarters_within_a_span():
    found = [p.label for p in f.months_and_quarters(D(2025, 11, 20), D(2026, 4, 30))]
    assert found == ["2025-12", "2026-01", "2026-02", "2026-03", "2026-04", "2026-Q1"]


# ---- the hand-worked history ---------------------------------------------------------------------
#
# As of 2026-04-20 (the end of that day), forecasting April 2026: 10 days left, so h = 10.
#
# Deals closed by then (they teach the odds):
#   D1 won  100: Prospecting 01-01, Proposal 01-21, Closed Won 01-31.  Its last 10 days
#                [01-21, 01-31): all Proposal → Proposal 1 (won 1).
#   D2 lost 100: Prospecting 01-01, Proposal 01-10, Closed Lost 02-10. Last 10 days all
#                Proposal → Proposal 1 (won 0).
#   D3 lost 100: Prospecting 01-01, Closed Lost 01-20. Last 10 days Prospecting → 1 (won 0).
#   D4 won  100: Prospecting 02-01, Proposal 02-26, Closed Won 03-03. Last 10 days
#                [02-21, 03-03): 5 days Prospecting, 5 Proposal → 1/2 each (won).
#   D5 won 1000: no ledger rows, created 04-02, closed 04-05: overall counts only.
#
#   Proposal:    time 1 + 1 + 1/2 = 5/2, won 1 + 1/2 = 3/2  → P = (3/2 + 1) / (5/2 + 2) = 5/9
#   Prospecting: time 1 + 1/2 = 3/2,     won 1/2            → P = (1/2 + 1) / (3/2 + 2) = 3/7
#   unknown stage: 5 closed, 3 won                          → P = (3 + 1) / (5 + 2)     = 4/7
#   Textbook (ever reached): Proposal D1 D2 D4, 2 won → 3/5; Prospecting all four, 2 won → 1/2.
#
# April, as of 04-20:
#   won so far: D5 1000 (closed 04-05)                                              = 1000.00
#   open then and expected in April (close date within the period):
#     D6  2000 Proposal since 04-10, close 04-25:     2000 × 5/9 = 10000/9
#     D7   900 Prospecting since 03-15, close 04-30:   900 × 3/7 =  2700/7
#     D11  700 Prospecting 04-15, won on 04-28 — open on 04-20: 700 × 3/7 = 300
#     D12  100 no ledger, open today in Proposal, close 04-29: 100 × 5/9 = 500/9
#   not counted: D8 (close 05-15, after April), D9 (close 03-20, before April: stale),
#                D10 (created 04-25, after the as-of day).
#   weighted = 10500/9 + 2700/7 + 300 = 3500/3 + 2700/7 + 300 = 38900/21 = 1852.380…  → 1852.38
#   new business: 10-day windows back from 04-20: [04-11, 04-20], [04-01, 04-10], [03-22, 03-31],
#     [03-12, 03-21]; deals created and won inside one: D5 (04-02 → 04-05) → 1000 / 4 = 250.00
#   forecast = 1000.00 + 1852.38 + 250.00 = 3102.38;  run-rate = 1000 / 20 days × 30 = 1500.00

AS_OF = D(2026, 4, 20)
APRIL = f.parse_period("2026-04")
HISTORY = [
    deal(
        1,
        "100",
        "won",
        at(1, 1),
        D(2026, 1, 31),
        (at(1, 1), "Prospecting"),
        (at(1, 21), "Proposal"),
        (at(1, 31), "Closed Won"),
    ),
    deal(
        2,
        "100",
        "lost",
        at(1, 1),
        D(2026, 2, 10),
        (at(1, 1), "Prospecting"),
        (at(1, 10), "Proposal"),
        (at(2, 10), "Closed Lost"),
    ),
    deal(3, "100", "lost", at(1, 1), D(2026, 1, 20), (at(1, 1), "Prospecting"), (at(1, 20), "Closed Lost")),
    deal(
        4,
        "100",
        "won",
        at(2, 1),
        D(2026, 3, 3),
        (at(2, 1), "Prospecting"),
        (at(2, 26), "Proposal"),
        (at(3, 3), "Closed Won"),
    ),
    deal(5, "1000", "won", at(4, 2), D(2026, 4, 5), stage="Closed Won"),
    deal(6, "2000", "open", at(4, 1), D(2026, 4, 25), (at(4, 1), "Prospecting"), (at(4, 10), "Proposal")),
    deal(7, "900", "open", at(3, 15), D(2026, 4, 30), (at(3, 15), "Prospecting")),
    deal(8, "500", "open", at(4, 1), D(2026, 5, 15), (at(4, 1), "Prospecting")),
    deal(9, "300", "open", at(2, 1), D(2026, 3, 20), (at(2, 1), "Prospecting")),
    deal(10, "400", "open", at(4, 25), D(2026, 4, 28), (at(4, 25), "Prospecting")),
    deal(11, "700", "won", at(4, 15), D(2026, 4, 28), (at(4, 15), "Prospecting"), (at(4, 28), "Closed Won")),
    deal(12, "100", "open", at(4, 1), D(2026, 4, 29), stage="Proposal"),
]


def test_stage_odds_are_learned_from_the_last_days_of_closed_deals():
    odds = f.learn_stage_odds(HISTORY, AS_OF, CLOSING, 10)
    assert odds.probability("Proposal") == F(5, 9)
    assert odds.probability("Prospecting") == F(3, 7)
    assert odds.probability(None) == odds.probability("Negotiation") == F(4, 7)


def test_textbook_odds_are_the_share_of_deals_that_reached_a_stage_and_won():
    odds = f.learn_reached_odds(HISTORY, AS_OF, CLOSING)
    assert odds.probability("Proposal") == F(3, 5)
    assert odds.probability("Prospecting") == F(1, 2)


def test_the_forecast_on_the_hand_worked_history():
    found = f.forecast_revenue(HISTORY, APRIL, AS_OF, CLOSING)
    assert found.won_to_date == Decimal("1000.00")
    assert found.weighted_pipeline == Decimal("1852.38")
    assert found.new_business == Decimal("250.00")
    assert found.forecast == Decimal("3102.38")
    assert found.run_rate == Decimal("1500.00")
    assert (found.open_deals, found.open_amount, found.unknown_stage) == (4, Decimal("3700"), 0)


def test_a_stage_is_never_certain_to_win_or_to_lose():
    lost = [
        deal(i, "10", "lost", at(1, 1), D(2026, 1, 11), (at(1, 1), "Demo"), (at(1, 11), "Closed Lost"))
        for i in range(50)
    ]
    won = [
        deal(100 + i, "10", "won", at(1, 1), D(2026, 1, 11), (at(1, 1), "Signed"), (at(1, 11), "Closed Won"))
        for i in range(50)
    ]
    odds = f.learn_stage_odds(lost + won, AS_OF, CLOSING, 10)
    assert odds.probability("Demo") == F(1, 52) and odds.probability("Signed") == F(51, 52)
    assert 0 < odds.probability("Demo") and odds.probability("Signed") < 1


def test_a_deal_closed_after_the_as_of_day_teaches_nothing():
    # D11 was won on 04-28; had it been lost, or lost after a month in Proposal, nothing known on
    # 04-20 would differ, so neither may the odds or the forecast.
    lost_instead = [replace(d, status="lost") if d.id == 11 else d for d in HISTORY]
    long_proposal = deal(13, "5000", "won", at(1, 1), D(2026, 4, 30), (at(1, 1), "Proposal"), (at(4, 30), "Closed Won"))
    for other in (lost_instead, [*HISTORY, replace(long_proposal, status="lost")], [*HISTORY, long_proposal]):
        for h in (10, 30):
            a, b = f.learn_stage_odds(HISTORY, AS_OF, CLOSING, h), f.learn_stage_odds(other, AS_OF, CLOSING, h)
            assert {s: a.probability(s) for s in ("Proposal", "Prospecting", None)} == {
                s: b.probability(s) for s in ("Proposal", "Prospecting", None)
            }
    assert f.forecast_revenue(lost_instead, APRIL, AS_OF, CLOSING) == f.forecast_revenue(HISTORY, APRIL, AS_OF, CLOSING)


def test_the_no_close_date_odds_count_only_outcomes_known_on_the_as_of_day():
    # As of 03-31 with r = 10 days: looks up to 03-22 (r days before the end of 03-31) have a known outcome.
    #   A won: Proposal from 03-01 to its close 03-16 → 15 days (3/2), won within 10 days from 03-06 on (1).
    #   B open: Proposal from 03-20 → 2 days up to 03-22 (1/5), not won.
    #   C won 04-10, after the as-of day: Proposal from 03-25, after 03-22 → nothing.
    # P(won within 10 days | Proposal) = (1 + 1) / (3/2 + 1/5 + 2) = 2 / (37/10) = 20/37
    deals = [
        deal(1, "10", "won", at(3, 1), D(2026, 3, 16), (at(3, 1), "Proposal"), (at(3, 16), "Closed Won")),
        deal(2, "10", "open", at(3, 20), D(2026, 4, 30), (at(3, 20), "Proposal")),
        deal(3, "10", "won", at(3, 25), D(2026, 4, 10), (at(3, 25), "Proposal"), (at(4, 10), "Closed Won")),
    ]
    odds = f.learn_win_within(deals, D(2026, 3, 31), CLOSING, 10)
    assert odds.probability("Proposal") == F(20, 37)
    later = [replace(d, status="lost") if d.id == 3 else d for d in deals]
    assert f.learn_win_within(later, D(2026, 3, 31), CLOSING, 10).probability("Proposal") == F(20, 37)


def test_a_finished_period_is_forecast_as_what_was_won():
    found = f.forecast_revenue(HISTORY, f.parse_period("2026-01"), AS_OF, CLOSING)
    assert found.forecast == found.won_to_date == found.run_rate == Decimal("100.00")


def test_the_run_rate_is_nothing_before_the_period_starts():
    assert f.run_rate(Decimal("0.00"), 0, 30) is None
    assert f.run_rate(Decimal("10.00"), 3, 30) == Decimal("100.00")


def test_errors_are_mape_bias_and_their_revenue_weighted_pair():
    # ratios +0.1, −0.2, +0.1 → MAPE 0.4/3, bias 0; WAPE (10+20+30)/500 = 0.12, revenue bias 20/500 = 0.04
    e = f.errors(
        [(Decimal(110), Decimal(100)), (Decimal(80), Decimal(100)), (Decimal(330), Decimal(300)), (Decimal(5), 0)]
    )
    assert e["periods"] == 3 and e["skipped"] == 1
    assert math.isclose(e["mape"], 0.4 / 3) and math.isclose(e["bias"], 0, abs_tol=1e-12)
    assert math.isclose(e["wape"], 0.12) and math.isclose(e["revenue_bias"], 0.04)


# ---- the back-test on the demo company -----------------------------------------------------------

runner = CliRunner()


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('forecast') / 'demo.db'}"
    result = runner.invoke(app, ["demo", "--as-of", "2026-11-20", "--contacts", "1500", "--seed", "3", "--db", url, "--json"])
    assert result.exit_code == 0, result.output
    return url


def test_the_backtest_runs_on_the_demo_and_reports_its_error(demo):
    result = runner.invoke(app, ["target", "backtest", "--db", demo, "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    months = [p for p in data["periods"] if p["granularity"] == "month"]
    quarters = [p for p in data["periods"] if p["granularity"] == "quarter"]
    assert len(months) >= 10 and len(quarters) >= 3
    for p in data["periods"]:
        start = dt.date.fromisoformat(p["period"] + "-01") if p["granularity"] == "month" else None
        if start:
            assert dt.date.fromisoformat(p["as_of"]) == start + dt.timedelta(days=13 if start.month == 2 else 14)
        assert Decimal(p["forecast"]) == Decimal(p["won_to_date"]) + Decimal(p["weighted_pipeline"]) + Decimal(
            p["new_business"]
        )
    for size in ("month", "quarter"):
        for method in ("forecast", "forecast_reached_odds", "forecast_learned_timing", "run_rate"):
            error = data["summary"][size][method]
            assert error["periods"] >= 3 and math.isfinite(error["mape"]) and error["mape"] >= 0
            assert math.isfinite(error["bias"]) and math.isfinite(error["wape"])


def test_the_backtest_prints_a_table(demo):
    result = runner.invoke(app, ["target", "backtest", "--db", demo])
    assert result.exit_code == 0, result.output
    assert "MAPE" in result.output and "forecast" in result.output


# ---- the odds' sums: whole float steps, the same rationals as adding Fractions one by one ----------

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

SPANS = st.lists(
    st.tuples(
        st.sampled_from(["sal", "sql", "proposal"]),
        st.floats(min_value=1e-6, max_value=4e7),  # a microsecond to about fifteen months, in seconds
        st.booleans(),
    ),
    max_size=40,
)


@settings(max_examples=300, deadline=None)
@given(SPANS, st.integers(min_value=1, max_value=365))
def test_the_odds_sum_time_exactly_as_fractions_added_one_at_a_time(spans, horizon_days):
    odds = f.StageOdds(horizon_days)
    time: dict[str, F] = {}
    won_time: dict[str, F] = {}
    unit = horizon_days * 86_400
    for deal_id, (stage, seconds, won) in enumerate(spans):
        odds.add(stage, deal_id, F(seconds), F(seconds) if won else F(0))
        time[stage] = time.get(stage, F(0)) + F(seconds) / unit  # how the sums were taken before
        won_time[stage] = won_time.get(stage, F(0)) + (F(seconds) / unit if won else F(0))
    assert odds.time == time and odds.won_time == won_time
    for stage in time:
        assert odds.probability(stage) == (won_time[stage] + 1) / (time[stage] + 2)


def test_the_odds_refuse_seconds_no_float_can_hold():
    with pytest.raises(ValueError, match="not a float's value"):
        f.StageOdds(30).add("sal", 1, F(1, 3), F(0))
