"""The credit ledger and the bonus pool: money split to the cent, and every total exact.

Largest-remainder rounding and the bonus pool are worked out by hand; on a small store the
linear ledger is worked to the cent; and for every attribution model, on that store and on the
demo company, credited plus unattributed revenue equals won revenue exactly (Decimal), and
every deal's parts add up to its amount.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections import defaultdict
from decimal import Decimal
from fractions import Fraction as F

import pytest
from conftest import writing
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import insert, select
from typer.testing import CliRunner

from truce import config as truce_config
from truce.cli import app
from truce.domain.attribution import MODELS
from truce.domain.credit import SplitError, clamped_shares, split_cents
from truce.services.credit import CreditError, bonus_pool, credit_ledger
from truce.store.models import Campaign, Contact, Opportunity, Touchpoint, User

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore:The 'future.infer_string'")
CONFIG = truce_config.parse(truce_config.default_text(), "truce.toml")
NOW = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
C = Decimal


def at(month, day, hour=12) -> dt.datetime:
    return dt.datetime(2026, month, day, hour, tzinfo=dt.UTC)


# ---- largest remainder, by hand ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("total", "weights", "parts"),
    [
        # 10000 cents / 3 = 3333⅓ each: floors 3333 × 3, one cent left → the first (ties: earlier part)
        ("100.00", [1, 1, 1], ["33.34", "33.33", "33.33"]),
        # 5 cents / 3 = 1⅔ each: floors 1 × 3, two cents left → the first two
        ("0.05", [1, 1, 1], ["0.02", "0.02", "0.01"]),
        # quotas 3333⅓, 6666⅔: floors 3333 + 6666, the cent left goes to the larger remainder (⅔)
        ("100.00", [1, 2], ["33.33", "66.67"]),
        # quotas 0.7, 0.2, 0.1 cent: floors 0, one cent left → the largest remainder, 0.7
        ("0.01", [F(7, 10), F(2, 10), F(1, 10)], ["0.01", "0.00", "0.00"]),
        # quotas 1.5, 1.5, 1.0 ... of 4 cents with weights 3,3,2: floors 1, 1, 1; one left → first .5
        ("0.04", [3, 3, 2], ["0.02", "0.01", "0.01"]),
        ("7.00", [0, 0], ["3.50", "3.50"]),  # no weight at all: equal parts
        ("12.34", [0.2, 0.8], ["2.47", "9.87"]),  # 246.8 and 987.2 cents: floors 246 + 987, one left → .8
    ],
)
def test_largest_remainder_by_hand(total, weights, parts):
    found = split_cents(C(total), weights)
    assert found == [C(p) for p in parts] and sum(found) == C(total)


def test_a_split_refuses_negative_weights_and_fractions_of_a_cent():
    with pytest.raises(SplitError, match="negative"):
        split_cents(C("1.00"), [1, -1])
    with pytest.raises(SplitError, match="whole number of cents"):
        split_cents(C("1.001"), [1, 1])


@given(
    st.integers(min_value=0, max_value=10**12),
    st.lists(st.fractions(min_value=0, max_value=1000), min_size=1, max_size=12),
)
def test_parts_add_up_to_the_cent_and_stay_within_a_cent_of_their_quota(cents, weights):
    total = C(cents) / 100
    parts = split_cents(total, weights)
    assert sum(parts) == total
    whole = sum(weights) or len(weights)
    for part, w in zip(parts, weights if sum(weights) else [1] * len(weights), strict=True):
        assert abs(F(part) * 100 - cents * F(w) / whole) < 1


def split_in_fractions(total: C, weights) -> list[C]:
    """The largest-remainder split worked in Fractions, as the module docstring states it: the
    reference the integer version must equal."""
    exact = [F(w) for w in weights]
    whole = sum(exact)
    if whole == 0:
        exact, whole = [F(1)] * len(exact), F(len(exact))
    cents = int(F(total) * 100)
    quotas = [cents * w / whole for w in exact]
    parts = [math.floor(q) for q in quotas]
    for i in sorted(range(len(parts)), key=lambda i: (-(quotas[i] - parts[i]), i))[: cents - sum(parts)]:
        parts[i] += 1
    return [(C(p) / 100).quantize(C("0.01")) for p in parts]


WEIGHTS = st.one_of(
    st.fractions(min_value=0, max_value=1000),
    st.floats(min_value=0, max_value=1e6, allow_nan=False, allow_infinity=False),
    st.integers(min_value=0, max_value=10**9),
    st.decimals(min_value=0, max_value=10**6, allow_nan=False, allow_infinity=False, places=4),
)


@given(st.integers(min_value=0, max_value=10**12), st.lists(WEIGHTS, min_size=1, max_size=12))
def test_the_split_equals_the_same_split_in_fractions_for_every_kind_of_weight(cents, weights):
    total = C(cents) / 100
    assert split_cents(total, weights) == split_in_fractions(total, weights)


# ---- the bonus pool, by hand ---------------------------------------------------------------------


def ledger(*people):
    return {"people": [{"user": u, "name": u, "team": t, "revenue_credit": C(c)} for u, t, c in people]}


LEDGER = ledger(
    ("ann", "sales", "600.00"), ("bob", "sales", "300.00"), ("cy", "marketing", "100.00"), ("(none)", None, "50.00")
)


def payouts(result) -> dict:
    return {p["user"]: p["payout"] for p in result["payouts"]}


def test_the_pool_follows_credit_and_never_pays_nobody():
    result = bonus_pool(LEDGER, "1000")
    assert payouts(result) == {"ann": C("600.00"), "bob": C("300.00"), "cy": C("100.00")}
    assert result["total_paid"] == C("1000.00")


def test_the_pool_is_split_among_teams_first():
    # marketing 500 → cy alone; sales 500 → ann 600/900 = 333.33…, bob 166.66… → floors 333.33 + 166.66, the cent to bob (.67)
    result = bonus_pool(LEDGER, "1000", split="team_then_credit")
    assert payouts(result) == {"cy": C("500.00"), "ann": C("333.33"), "bob": C("166.67")}
    uneven = bonus_pool(LEDGER, "1000", split="team_then_credit", team_split={"marketing": 1, "sales": 3})
    assert payouts(uneven) == {"cy": C("250.00"), "ann": C("500.00"), "bob": C("250.00")}


def test_a_team_nobody_on_drops_out_and_others_are_not_paid():
    only_sales = ledger(("ann", "sales", "10.00"), ("rex", "revops", "10.00"))
    result = bonus_pool(only_sales, "100", split="team_then_credit")
    assert payouts(result) == {"ann": C("100.00")} and result["not_paid"] == ["rex"]


def test_a_cap_passes_the_excess_on_in_proportion():
    # λ with min(600λ, 400) + min(300λ, 400) + min(100λ, 400) = 1000 → 400 + 400 + 100λ → λ = 2: cy 200
    result = bonus_pool(LEDGER, "1000", cap="400")
    assert payouts(result) == {"ann": C("400.00"), "bob": C("400.00"), "cy": C("200.00")}


def test_a_floor_is_paid_out_of_everyone_elses_share():
    # cy at the floor 250; 750 left for ann:bob = 2:1 → 500, 250
    result = bonus_pool(LEDGER, "1000", floor="250")
    assert payouts(result) == {"ann": C("500.00"), "bob": C("250.00"), "cy": C("250.00")}


def test_small_pools_round_to_the_cent_and_still_add_up():
    even = ledger(("a", "sales", "1"), ("b", "sales", "1"), ("c", "sales", "1"))
    assert list(payouts(bonus_pool(even, "100")).values()) == [C("33.34"), C("33.33"), C("33.33")]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"floor": "400"}, "cannot pay the floor"),
        ({"cap": "300"}, "under the cap"),
        ({"floor": "50", "cap": "10"}, "above the cap"),
        ({"split": "equal"}, "unknown split"),
        ({"team_split": {"marketing": 0, "sales": 0}, "split": "team_then_credit"}, "positive weights"),
    ],
)
def test_a_pool_that_cannot_be_paid_as_asked_is_refused(options, message):
    with pytest.raises(CreditError, match=message):
        bonus_pool(LEDGER, "1000", **options)


def test_a_pool_must_be_money():
    for pool in ("0", "-5", "12.345", "lots"):
        with pytest.raises(CreditError):
            bonus_pool(LEDGER, pool)


@given(
    st.lists(st.integers(min_value=0, max_value=10**9), min_size=1, max_size=15),
    st.integers(min_value=1, max_value=10**10),
    st.sampled_from(["credit", "team_then_credit"]),
)
def test_the_payouts_always_add_up_to_the_pool(credits, pool_cents, split):
    people = [(f"p{i}", ("sales", "marketing")[i % 2], C(c) / 100) for i, c in enumerate(credits)]
    result = bonus_pool(ledger(*people), C(pool_cents) / 100, split=split)
    assert sum(p["payout"] for p in result["payouts"]) == C(pool_cents) / 100 == result["total_paid"]


@given(
    st.lists(st.fractions(min_value=0, max_value=100), min_size=1, max_size=8),
    st.integers(min_value=0, max_value=120),
    st.integers(min_value=80, max_value=400),
)
def test_clamped_shares_respect_the_limits_and_the_total(weights, floor, cap):
    total = F(100 * len(weights))
    # Someone without credit takes the floor and no more; with nobody credited, all share alike.
    takes = [cap if w > 0 or not any(weights) else floor for w in weights]
    if not (len(weights) * floor <= total <= sum(takes)) or floor > cap:
        with pytest.raises(SplitError):
            clamped_shares(total, weights, F(floor), F(cap))
        return
    shares = clamped_shares(total, weights, F(floor), F(cap))
    assert sum(shares) == total and all(floor <= s <= cap for s in shares)


# ---- a small store worked to the cent ------------------------------------------------------------
#
# People: mia (marketing, owns the "Spring webinar" campaign), sam and tia (sales).
# Deals won in 2026-04 (the ledger's period):
#   A 100.00 (ann): touches mia's campaign's ad click (no person) 03-01, sam's call 03-10, tia's demo 03-20.
#        linear by user: (none) ⅓ → passed to the campaign owner mia; sam ⅓; tia ⅓ → keys in order
#        mia, sam, tia → 33.34, 33.33, 33.33. By team: marketing ⅓, sales ⅔ → 33.33, 66.67.
#   B   0.05 (bob): sam's call, tia's call, a webinar touch with no campaign and no person.
#        linear by user: (none) ⅓ stays (no campaign owner), sam ⅓, tia ⅓; keys "(none)", sam, tia
#        → 0.02, 0.02, 0.01. By team: marketing ⅓ → 1.67 cents, sales 3.33 → 0.02, 0.03.
#   C  50.00 (cy): no touches → unattributed.
# Not in the ledger: D lost (dee), E won in March (eve). Non-converting journeys: fay, gus.
# Won in April: 150.05 = 100.05 credited + 50.00 unattributed.
#   people: mia 33.34, sam 33.33 + 0.02 = 33.35, tia 33.33 + 0.01 = 33.34, (none) 0.02
#   teams:  marketing 33.33 + 0.02 = 33.35, sales 66.67 + 0.03 = 66.70

APRIL = (dt.date(2026, 4, 1), dt.date(2026, 4, 30))


@pytest.fixture
def store(engine):
    with writing(engine) as conn:
        ids = {}

        def add(model, handle, **values):
            ids[handle] = conn.execute(insert(model).returning(model.id), values).scalar_one()

        for name, team in (("mia", "marketing"), ("sam", "sales"), ("tia", "sales")):
            add(
                User, name, email=f"{name}@truce.example", name=name.title(), team=team, is_leader=False, created_at=NOW
            )
        add(
            Campaign,
            "webinar",
            name="Spring webinar",
            channel="paid_social",
            owning_team="marketing",
            owner_id=ids["mia"],
        )
        for name in ("ann", "bob", "cy", "dee", "eve", "fay", "gus"):
            add(Contact, name, email=f"{name}@example.com", stage="inquiry", created_at=NOW, updated_at=NOW)

        def touch(contact, when, channel, kind, user=None, campaign=None):
            conn.execute(
                insert(Touchpoint),
                {
                    "contact_id": ids[contact],
                    "campaign_id": ids.get(campaign),
                    "channel": channel,
                    "kind": kind,
                    "touch_type": channel,
                    "occurred_at": when,
                    "user_id": ids.get(user),
                },
            )

        touch("ann", at(3, 1), "paid_social", "marketing", campaign="webinar")
        touch("ann", at(3, 10), "sales_call", "sales", user="sam")
        touch("ann", at(3, 20), "sales_demo", "sales", user="tia")
        touch("bob", at(3, 2), "sales_call", "sales", user="sam")
        touch("bob", at(3, 3), "sales_call", "sales", user="tia")
        touch("bob", at(3, 4), "webinar", "marketing")
        touch("dee", at(3, 5), "paid_social", "marketing", campaign="webinar")
        touch("eve", at(2, 5), "sales_call", "sales", user="sam")
        touch("fay", at(3, 6), "paid_social", "marketing", campaign="webinar")
        touch("fay", at(3, 7), "sales_call", "sales", user="sam")
        touch("gus", at(3, 8), "webinar", "marketing")

        def deal(name, contact, amount, status, close):
            conn.execute(
                insert(Opportunity),
                {
                    "name": name,
                    "primary_contact_id": ids[contact],
                    "amount": C(amount),
                    "status": status,
                    "stage": {"won": "Closed Won", "lost": "Closed Lost"}[status],
                    "created_at": at(3, 25),
                    "close_date": close,
                    "updated_at": NOW,
                },
            )

        deal("A", "ann", "100.00", "won", dt.date(2026, 4, 10))
        deal("B", "bob", "0.05", "won", dt.date(2026, 4, 11))
        deal("C", "cy", "50.00", "won", dt.date(2026, 4, 12))
        deal("D", "dee", "70.00", "lost", dt.date(2026, 4, 13))
        deal("E", "eve", "30.00", "won", dt.date(2026, 3, 20))
    return engine


def test_the_linear_ledger_worked_to_the_cent(store):
    found = credit_ledger(store, CONFIG, model="linear", start=APRIL[0], end=APRIL[1])
    assert (found["won_revenue"], found["deals"], found["credited_revenue"]) == (C("150.05"), 3, C("100.05"))
    assert found["unattributed"] == {"deals": 1, "revenue": C("50.00")}
    people = {p["user"].split("@")[0]: p["revenue_credit"] for p in found["people"]}
    assert people == {"mia": C("33.34"), "sam": C("33.35"), "tia": C("33.34"), "(none)": C("0.02")}
    teams = {t["team"]: t["revenue_credit"] for t in found["teams"]}
    assert teams == {"marketing": C("33.35"), "sales": C("66.70")}
    by_deal = defaultdict(dict)
    for r in found["rows"]:
        by_deal[r["deal"], r["by"]][r["key"].split("@")[0]] = r["revenue_credit"]
    assert by_deal["A", "user"] == {"mia": C("33.34"), "sam": C("33.33"), "tia": C("33.33")}
    assert by_deal["B", "user"] == {"(none)": C("0.02"), "sam": C("0.02"), "tia": C("0.01")}
    assert by_deal["B", "team"] == {"marketing": C("0.02"), "sales": C("0.03")}
    mia = next(p for p in found["people"] if p["user"] == "mia@truce.example")
    assert mia["team"] == "marketing" and mia["deals_touched"] == 1
    owner_row = next(r for r in found["rows"] if r["deal"] == "A" and r["key"] == "mia@truce.example")
    assert owner_row["weight_from_campaigns"] == pytest.approx(1 / 3)


def assert_exact(found: dict) -> None:
    won = found["won_revenue"]
    left = found["unattributed"]["revenue"]
    assert isinstance(won, Decimal) and isinstance(left, Decimal)
    assert sum((p["revenue_credit"] for p in found["people"]), C(0)) + left == won
    assert sum((t["revenue_credit"] for t in found["teams"]), C(0)) + left == won
    parts = defaultdict(lambda: C(0))
    amounts = {}
    for r in found["rows"]:
        parts[r["deal_id"], r["by"]] += r["revenue_credit"]
        amounts[r["deal_id"]] = r["amount"]
        assert r["revenue_credit"] == r["revenue_credit"].quantize(C("0.01"))
    for (deal_id, _), total in parts.items():
        assert total == amounts[deal_id]


@pytest.mark.parametrize("model", MODELS)
def test_every_model_credits_the_small_store_exactly(store, model):
    found = credit_ledger(store, CONFIG, model=model, start=APRIL[0], end=APRIL[1])
    assert_exact(found)
    assert found["won_revenue"] == C("150.05") and found["unattributed"]["revenue"] == C("50.00")


def test_an_unknown_model_or_key_is_refused(store):
    from truce.services.attribution import ReportError

    with pytest.raises(ReportError, match="unknown model"):
        credit_ledger(store, CONFIG, model="gut_feeling")
    with pytest.raises(CreditError, match="credit by user and/or team"):
        credit_ledger(store, CONFIG, by=("channel",))


# ---- the demo company ----------------------------------------------------------------------------

runner = CliRunner()


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('credit') / 'demo.db'}"
    result = runner.invoke(app, ["demo", "--as-of", "2026-11-20", "--contacts", "1500", "--seed", "5", "--db", url, "--json"])
    assert result.exit_code == 0, result.output
    return url


@pytest.mark.parametrize("model", MODELS)
def test_every_model_credits_the_demo_company_exactly(demo, model):
    from truce.store import db

    engine = db.connect(demo)
    try:
        found = credit_ledger(engine, CONFIG, model=model, start=dt.date(2025, 11, 1), end=dt.date(2026, 10, 31))
        with engine.connect() as conn:
            amounts = (
                conn.execute(
                    select(Opportunity.amount).where(
                        Opportunity.status == "won",
                        Opportunity.close_date.between(dt.date(2025, 11, 1), dt.date(2026, 10, 31)),
                    )
                )
                .scalars()
                .all()
            )
    finally:
        engine.dispose()
    assert found["deals"] == len(amounts) > 20
    assert found["won_revenue"] == sum(amounts, C(0))  # won revenue, recounted apart
    assert_exact(found)
    assert any(p["team"] == "marketing" for p in found["people"]), "campaign owners earn credit for their campaigns"


def test_the_credit_command_shows_the_ledger_and_a_bonus_pool(demo):
    args = ["credit", "--model", "linear", "--from", "2026-01-01", "--to", "2026-06-30", "--db", demo]
    result = runner.invoke(
        app,
        [*args, "--pool", "100000", "--split", "team_then_credit", "--team-split", "marketing:40,sales:60", "--json"],
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert sum(C(p["payout"]) for p in data["bonus"]["payouts"]) == C("100000.00")
    assert {t["team"]: C(t["pool"]) for t in data["bonus"]["teams"]} == {
        "marketing": C("40000.00"),
        "sales": C("60000.00"),
    }
    assert sum(C(p["revenue_credit"]) for p in data["people"]) + C(data["unattributed"]["revenue"]) == C(
        data["won_revenue"]
    )
    table = runner.invoke(app, [*args, "--by", "team"])
    assert table.exit_code == 0 and "By team" in table.output and "By person" not in table.output
    refused = runner.invoke(app, [*args, "--by", "team", "--pool", "100"])
    assert refused.exit_code == 1 and "--pool pays people" in refused.output
    bad = runner.invoke(app, [*args, "--pool", "100", "--floor", "60"])
    assert bad.exit_code == 1 and "cannot pay the floor" in bad.output
