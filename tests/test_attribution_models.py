"""Every attribution model on journeys small enough to work out by hand, plus brute-force oracles.

The expected numbers are worked out in the comments as fractions; none comes from running the
code. Markov is also checked against an absorbing chain solved here by repeated squaring of the
transition matrix (no linear solve), and Shapley against the average of the marginal gains over
every ordering of every converting channel set.
"""

from __future__ import annotations

import itertools
import math
import random
from collections import Counter, defaultdict
from fractions import Fraction as F

import numpy as np
import pyarrow as pa
import pytest

from truce.analytics import attribution as q
from truce.analytics.sources import duckdb_connection
from truce.domain.attribution import MODELS, decode_state, fit_to_total
from truce.services.attribution_runner import Settings, markov_credit, run_model

DAY = 86_400_000_000  # microseconds
SCHEMA = pa.schema(
    [
        ("journey", pa.int64()),
        ("ts", pa.int64()),
        ("key", pa.int64()),
        ("converted", pa.bool_()),
        ("revenue", pa.float64()),
        ("conv_ts", pa.int64()),
        ("lc_ts", pa.int64()),
        ("oc_ts", pa.int64()),
        ("closes", pa.bool_()),
    ]
)
CON = duckdb_connection()


def journey(*touches, converted=True, revenue=0.0, conv_ts=None, lc_ts=None, oc_ts=None, closes=False) -> dict:
    """touches: (key, ts) pairs; conv_ts defaults to the last touch."""
    return {
        "touches": list(touches),
        "converted": converted,
        "revenue": float(revenue) if converted else 0.0,
        "conv_ts": conv_ts if conv_ts is not None else max(ts for _, ts in touches),
        "lc_ts": lc_ts,
        "oc_ts": oc_ts,
        "closes": closes,
    }


def path(keys: str, converted=True, revenue=0.0, alphabet="abcdefgh") -> dict:
    """A journey from a string of channel letters, one touch a second."""
    return journey(
        *[(alphabet.index(c), i * 1_000_000) for i, c in enumerate(keys)], converted=converted, revenue=revenue
    )


def table(journeys: list[dict], name: str = "touches"):
    """The touches as a DuckDB table; a table of the same name is replaced (a fresh name per table slows DuckDB)."""
    rows = []
    for j, jr in enumerate(journeys):
        for key, ts in jr["touches"]:
            rows.append(
                {
                    "journey": j,
                    "ts": ts,
                    "key": key,
                    "converted": jr["converted"],
                    "revenue": jr["revenue"],
                    "conv_ts": jr["conv_ts"],
                    "lc_ts": jr["lc_ts"],
                    "oc_ts": jr["oc_ts"],
                    "closes": jr["closes"],
                }
            )
    return CON.create_table(name, pa.Table.from_pylist(rows, schema=SCHEMA), overwrite=True)


def credit(journeys: list[dict], model: str, n_keys: int, **settings):
    return run_model(table(journeys), [f"k{i}" for i in range(n_keys)], model, Settings(**settings))


def close(got, expected, tol=1e-9):
    assert np.allclose(np.asarray(got, dtype=float), [float(x) for x in expected], rtol=0, atol=tol), (got, expected)


# --- first touch, last touch, linear -------------------------------------------------------


FIRST_LAST = [
    journey((2, 10), (0, 20), (1, 30), revenue=30),
    journey((1, 5), revenue=5),
    journey((0, 1), (2, 2), converted=False),  # credits nothing, counts as a journey
]


def test_it_gives_the_first_touch_everything_under_first_touch():
    got = credit(FIRST_LAST, "first_touch", 3)
    # journey 0 starts with key 2 (30), journey 1 with key 1 (5)
    close(got.conversions, [0, 1, 1])
    close(got.revenue, [0, 5, 30])
    assert (got.total_conversions, got.total_revenue, got.journeys) == (2, 35, 3)


def test_it_gives_the_last_touch_everything_under_last_touch():
    got = credit(FIRST_LAST, "last_touch", 3)
    # both converting journeys end on key 1: 30 + 5
    close(got.conversions, [0, 2, 0])
    close(got.revenue, [0, 35, 0])


def test_it_counts_every_repeat_under_linear():
    journeys = [journey((0, 1), (0, 2), (1, 3), (0, 4), revenue=8), journey((1, 1), (2, 2), revenue=4)]
    got = credit(journeys, "linear", 3)
    # a a b a: a 3/4, b 1/4 of 1 conversion and of 8; b c: 1/2 each of 1 and of 4
    close(got.conversions, [F(3, 4), F(1, 4) + F(1, 2), F(1, 2)])
    close(got.revenue, [6, 2 + 2, 2])


def test_it_orders_touches_at_the_same_instant_by_key():
    # key 2 and key 0 at the same instant: key 0 comes first, then key 2, then key 1
    tied = [journey((2, 5), (0, 5), (1, 9), revenue=10)]
    close(credit(tied, "first_touch", 3).conversions, [1, 0, 0])
    close(credit(tied, "last_touch", 3).conversions, [0, 1, 0])
    # all three at once: 0, 1, 2, so 40 % to key 0, 20 % to key 1, 40 % to key 2
    same = [journey((2, 7), (1, 7), (0, 7), revenue=10)]
    close(credit(same, "first_touch", 3).conversions, [1, 0, 0])
    close(credit(same, "last_touch", 3).conversions, [0, 0, 1])
    close(credit(same, "position_based", 3).revenue, [4, 2, 4])


# --- time decay ----------------------------------------------------------------------------


def test_it_halves_a_touch_weight_every_half_life_before_the_conversion():
    at = 100 * DAY
    journeys = [journey((0, at - 14 * DAY), (1, at - 7 * DAY), (2, at), revenue=70, conv_ts=at)]
    got = credit(journeys, "time_decay", 3, half_life_days=7)
    # weights 1/4, 1/2, 1 → 1/7, 2/7, 4/7
    close(got.conversions, [F(1, 7), F(2, 7), F(4, 7)])
    close(got.revenue, [10, 20, 40], tol=1e-8)


def test_it_uses_the_configured_half_life():
    at = 100 * DAY
    journeys = [journey((0, at - 14 * DAY), (1, at - 7 * DAY), (2, at), revenue=1, conv_ts=at)]
    got = credit(journeys, "time_decay", 3, half_life_days=14)
    # weights 1/2, 2^(-1/2), 1 over their sum
    w = [0.5, 2**-0.5, 1.0]
    close(got.conversions, [x / sum(w) for x in w])


def test_it_measures_time_decay_from_the_conversion_not_the_last_touch():
    at = 100 * DAY
    # touches 7 and 21 days before the conversion: weights 1/2 and 1/8 → 4/5 and 1/5; a repeat of key 0
    # 7 days before counts twice: weights 1/8, 1/2, 1/2 → key 0 1/9, key 1 8/9
    got = credit([journey((0, at - 21 * DAY), (1, at - 7 * DAY), revenue=5, conv_ts=at)], "time_decay", 2)
    close(got.conversions, [F(1, 5), F(4, 5)])
    got = credit(
        [journey((0, at - 21 * DAY), (1, at - 7 * DAY), (1, at - 7 * DAY), revenue=5, conv_ts=at)], "time_decay", 2
    )
    close(got.conversions, [F(1, 9), F(8, 9)])


# --- position based ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "n, expected",
    [
        (1, [1]),  # one touch takes all
        (2, [F(1, 2), F(1, 2)]),  # two share 50/50
        (3, [F(2, 5), F(1, 5), F(2, 5)]),  # 40 / 20 / 40
        (5, [F(2, 5), F(1, 15), F(1, 15), F(1, 15), F(2, 5)]),  # 20 % over three middles
    ],
)
def test_it_gives_forty_percent_to_each_end_and_shares_twenty_under_position_based(n, expected):
    got = credit([journey(*[(k, k + 1) for k in range(n)], revenue=100)], "position_based", n)
    close(got.conversions, expected)
    close(got.revenue, [100 * x for x in expected], tol=1e-7)


def test_it_adds_up_a_channels_positions_under_position_based():
    # a a b: a is first (.4) and the middle (.2), b last (.4)
    got = credit([journey((0, 1), (0, 2), (1, 3), revenue=10)], "position_based", 2)
    close(got.conversions, [F(3, 5), F(2, 5)])


# --- W-shaped and full path ----------------------------------------------------------------


def five(**milestones):
    return journey(*[(k, 10 * (k + 1)) for k in range(5)], revenue=10, **milestones)


@pytest.mark.parametrize(
    "jr, expected",
    [
        # first 0; lead at ts 30 is touch 2 (at or before counts); opportunity at 45: the last touch
        # before it, touch 3; the rest (1 and 4) share 10 %
        (five(lc_ts=30, oc_ts=45), [F(3, 10), F(1, 20), F(3, 10), F(3, 10), F(1, 20)]),
        # lead and opportunity on the same touch 1: it takes 60 %
        (five(lc_ts=25, oc_ts=28), [F(3, 10), F(3, 5), F(1, 30), F(1, 30), F(1, 30)]),
        # the first touch is also the lead touch: 60 %; opportunity at touch 2; the rest 1, 3, 4
        (five(lc_ts=10, oc_ts=30), [F(3, 5), F(1, 30), F(3, 10), F(1, 30), F(1, 30)]),
        # lead before any touch: no lead milestone; .3 + .3 + .1 = .7 scaled up to 1
        (five(lc_ts=5, oc_ts=30), [F(3, 7), F(1, 21), F(3, 7), F(1, 21), F(1, 21)]),
        # no opportunity (null): the same scaling with the lead at touch 1
        (five(lc_ts=20, oc_ts=None), [F(3, 7), F(3, 7), F(1, 21), F(1, 21), F(1, 21)]),
        # neither milestone: the first touch .3 and the rest .1 → 3/4 and 1/16 each
        (five(), [F(3, 4), F(1, 16), F(1, 16), F(1, 16), F(1, 16)]),
        # closing does not matter to W-shaped
        (five(lc_ts=30, oc_ts=45, closes=True), [F(3, 10), F(1, 20), F(3, 10), F(3, 10), F(1, 20)]),
    ],
)
def test_it_gives_thirty_percent_to_each_milestone_under_w_shaped(jr, expected):
    got = credit([jr], "w_shaped", 5)
    close(got.conversions, expected)
    close(got.revenue, [10 * x for x in expected])


def test_it_scales_away_the_rest_share_when_every_touch_is_a_milestone_under_w_shaped():
    # three touches, each one milestone: .3 each, nobody for the 10 % → 1/3 each
    jr = journey((0, 10), (1, 20), (2, 30), revenue=9, lc_ts=20, oc_ts=30)
    close(credit([jr], "w_shaped", 3).revenue, [3, 3, 3])


@pytest.mark.parametrize(
    "jr, expected",
    [
        # six touches: first 0, lead 2, opportunity 3, closing 5: 22.5 % each; 1 and 4 share 10 %
        (
            journey(*[(k, 10 * (k + 1)) for k in range(6)], revenue=10, lc_ts=30, oc_ts=40, closes=True),
            [F(9, 40), F(1, 20), F(9, 40), F(9, 40), F(1, 20), F(9, 40)],
        ),
        # the conversion does not close a deal: the last touch is plain; 3 × .225 + .1 = .775 →
        # milestones 9/31, the rest (1, 4, 5) 4/93 each
        (
            journey(*[(k, 10 * (k + 1)) for k in range(6)], revenue=10, lc_ts=30, oc_ts=40, closes=False),
            [F(9, 31), F(4, 93), F(9, 31), F(9, 31), F(4, 93), F(4, 93)],
        ),
        # lead, opportunity and close all on the last of three touches: 3 × .225; touch 1 the rest
        (
            journey((0, 10), (1, 20), (2, 30), revenue=10, lc_ts=30, oc_ts=35, closes=True),
            [F(9, 40), F(1, 10), F(27, 40)],
        ),
        # no lead (before the first touch) and no opportunity (null): first and close .225 each,
        # the two middles .05 each; .55 in all → 9/22 and 1/11
        (
            journey((0, 10), (1, 20), (2, 30), (3, 40), revenue=10, lc_ts=1, oc_ts=None, closes=True),
            [F(9, 22), F(1, 11), F(1, 11), F(9, 22)],
        ),
        # one touch that is every milestone: all of it
        (journey((0, 10), revenue=10, lc_ts=10, oc_ts=10, closes=True), [1]),
    ],
)
def test_it_gives_twenty_two_and_a_half_percent_to_each_milestone_under_full_path(jr, expected):
    got = credit([jr], "full_path", len(expected))
    close(got.conversions, expected)
    close(got.revenue, [10 * x for x in expected])


def test_it_adds_milestone_journeys_up_per_key():
    # the two W-shaped journeys above on keys 0..4 and a one-touch journey on key 4
    journeys = [five(lc_ts=30, oc_ts=45), five(lc_ts=5, oc_ts=30), journey((4, 1), revenue=10)]
    got = credit(journeys, "w_shaped", 5)
    first = [F(3, 10), F(1, 20), F(3, 10), F(3, 10), F(1, 20)]
    second = [F(3, 7), F(1, 21), F(3, 7), F(1, 21), F(1, 21)]
    close(got.conversions, [a + b + (k == 4) for k, (a, b) in enumerate(zip(first, second, strict=True))])


# --- every model ---------------------------------------------------------------------------


@pytest.mark.parametrize("model", MODELS)
def test_it_credits_nothing_when_no_journey_converted(model):
    got = credit([path("ab", converted=False), path("c", converted=False)], model, 3)
    assert got.total_conversions == 0 and got.journeys == 2
    close(got.conversions, [0, 0, 0])
    close(got.revenue, [0, 0, 0])
    assert got.notes == ["No journey converted: nothing to credit."]


@pytest.mark.parametrize("model", MODELS)
def test_it_credits_conversions_worth_nothing_with_no_revenue(model):
    got = credit([path("abc", revenue=0), path("ac", revenue=0), path("b", converted=False)], model, 3)
    assert (got.total_conversions, got.total_revenue) == (2, 0)
    assert got.conversions.sum() == pytest.approx(2, abs=1e-12)
    assert np.isfinite(got.conversions).all()
    assert got.revenue.tolist() == [0.0, 0.0, 0.0]


# --- Markov --------------------------------------------------------------------------------

# a>b>c twice converting (10 each) and once not, a>c converting (5), b three times not, c>a>a>b
# converting (7). Repeats collapse: c>a>a>b walks c>a>b.
EXAMPLE = [
    path("abc", revenue=10),
    path("abc", revenue=10),
    path("abc", converted=False),
    path("ac", revenue=5),
    path("b", converted=False),
    path("b", converted=False),
    path("b", converted=False),
    path("caab", revenue=7),
]
# Transitions: START→a 4/8, →b 3/8, →c 1/8; a→b 4/5, a→c 1/5; b→c 3/7, b→null 3/7, b→conv 1/7;
# c→conv 3/5, c→null 1/5, c→a 1/5.
# P(conversion) x: x_c = 3/5 + x_a/5, x_b = 3/7 x_c + 1/7, x_a = 4/5 x_b + 1/5 x_c
#   → x_a = 77/156, x_b = 69/156, x_c = 109/156, P = (4·77 + 3·69 + 109) / (8·156) = 1/2.
# Without a: x_c = 3/5, x_b = 2/5, P = 3/8·2/5 + 1/8·3/5 = 9/40 → effect 1 − 9/20 = 11/20.
# Without b: x_a = x_c/5, x_c = 3/5 + x_a/5 → x_a = 1/8, x_c = 5/8, P = 9/64 → effect 23/32.
# Without c: x_b = 1/7, x_a = 4/35, P = 31/280 → effect 109/140.
# Conversions: 4 × (11/20, 23/32, 109/140) / (2293/1120) = (2464, 3220, 3488) / 2293.
EFFECTS = [F(11, 20), F(23, 32), F(109, 140)]
# Value: c converts 3 worth 25 (mean 25/3), b converts 1 worth 7 (mean 7).
# y_c = 5 + y_a/5, y_b = 3/7 y_c + 1, y_a = 4/5 y_b + 1/5 y_c → y_a = 205/52, y_b = 181/52, y_c = 301/52,
#   E(value) = (4·205 + 3·181 + 301) / (8·52) = 4.
# Without a: E = 3/8·22/7 + 1/8·5 = 101/56 → 123/224. Without b: y_a = 25/24, y_c = 125/24,
# E = 75/64 → 181/256. Without c: y_b = 1, y_a = 4/5, E = 31/40 → 129/160.
# Revenue: 32 × (123/224, 181/256, 129/160) / (18479/8960) = (157440, 202720, 231168) / 18479.
VALUE_EFFECTS = [F(123, 224), F(181, 256), F(129, 160)]


def test_it_credits_the_worked_markov_example_by_normalised_removal_effects():
    got = credit(EXAMPLE, "markov", 3)
    close(got.conversions, [F(2464, 2293), F(3220, 2293), F(3488, 2293)])
    close(got.revenue, [F(157440, 18479), F(202720, 18479), F(231168, 18479)])
    # the same numbers ChannelAttribution's exact check printed
    close(got.conversions, [1.074575, 1.404274, 1.521151], tol=1e-6)
    close(got.revenue, [8.519942, 10.970291, 12.509768], tol=1e-6)


def test_it_finds_the_worked_markov_removal_effects_and_probabilities():
    edges = q.transitions(table(EXAMPLE), 1, 3).to_pyarrow()
    result = markov_credit(edges, 3, 1, 4.0, 32.0)
    assert result.conversion_probability == pytest.approx(0.5, abs=1e-12)
    assert result.expected_value == pytest.approx(4.0, abs=1e-12)
    close(result.removal_effects, EFFECTS)
    close(result.value_removal_effects, VALUE_EFFECTS)
    close(result.removal_effects, [0.55, 0.71875, 0.778571], tol=1e-6)


def test_it_remembers_the_last_two_channels_under_markov_order_two():
    journeys = [
        path("ab", revenue=10),
        path("cb", converted=False),
        path("b", revenue=6),
        path("aacbb", revenue=8),  # collapses to a>c>b
    ]
    # States are the last two channels of the collapsed walk ((a) alone at the start):
    #   START→(a) 1/2, →(c) 1/4, →(b) 1/4; (a)→(a,b) 1/2, →(a,c) 1/2; (a,b)→conv; (c)→(c,b);
    #   (a,c)→(c,b); (c,b)→conv 1/2, →null 1/2; (b)→conv.
    # P = 1/2·(1/2 + 1/2·1/2) + 1/4·1/2 + 1/4 = 3/4.
    # Without a: 1/4·1/2 + 1/4 = 3/8 → 1/2. Without b: 0 → 1. Without c: 1/2·1/2 + 1/4 = 1/2 → 1/3.
    # Conversions 3 × (1/2, 1, 1/3) / (11/6) = (9/11, 18/11, 6/11).
    # (Order 1 would give c 1/2: (a)→c→b cannot be told apart from c→b.)
    # Values: (a,b) 10, (c,b) 8, (b) 6 → E = 1/2·(10/2 + 8/4) + 1/4·4 + 1/4·6 = 6.
    # Without a: 1/4·4 + 1/4·6 = 5/2 → 7/12. Without b: 0 → 1. Without c: 1/2·5 + 6/4 = 4 → 1/3.
    # Revenue 24 × (7/12, 1, 1/3) / (23/12) = (168/23, 288/23, 96/23).
    got = credit(journeys, "markov", 3, markov_order=2)
    close(got.conversions, [F(9, 11), F(18, 11), F(6, 11)])
    close(got.revenue, [F(168, 23), F(288, 23), F(96, 23)])
    first_order = credit(journeys, "markov", 3)
    # order 1: effects 1/2, 1, 1/2 → 3 × (1/4, 1/2, 1/4)
    close(first_order.conversions, [F(3, 4), F(3, 2), F(3, 4)])


def test_it_orders_tied_markov_touches_by_key():
    tied = [journey((1, 5), (0, 5), revenue=3), path("b", converted=False)]
    ordered = [path("ab", revenue=3), path("b", converted=False)]
    # a>b converts, b alone does not: START→a 1/2, →b 1/2; a→b; b→conv 1/2, →null 1/2. P = 1/2.
    # Without a: 1/2·1/2 = 1/4 → 1/2; without b: 0 → 1. Credits (1/3, 2/3).
    # (Taken as b>a the walk would be START→b, b→a 1/2, a→conv: effects 1 and 1, credits 1/2 each.)
    close(credit(tied, "markov", 2).conversions, [F(1, 3), F(2, 3)])
    close(credit(tied, "markov", 2).revenue, credit(ordered, "markov", 2).revenue)


def test_it_credits_a_channel_that_never_converted_but_leads_to_channels_that_do():
    got = credit([path("ab", revenue=4), path("c", converted=False), path("ca", converted=False)], "markov", 3)
    # START→a 1/3, →c 2/3; c→null 1/2, →a 1/2; a→b 1/2, →null 1/2; b→conv.
    # x_a = 1/2, x_c = 1/4, P = 1/3·1/2 + 2/3·1/4 = 1/3.
    # Without a or b: 0 → effect 1 each. Without c: 1/6 → 1/2. Credits 1 × (1, 1, 1/2) / (5/2).
    close(got.conversions, [F(2, 5), F(2, 5), F(1, 5)])


# Brute force: build the chain from the journeys here, and absorb it by squaring the transition
# matrix (P^(2^60)), with one absorbing conversion state per state it converted from, so the
# expected value is Σ P(converting from s) · (mean value of conversions from s).


def brute_markov(journeys: list[tuple[list[int], bool, float]], n_keys: int, order: int):
    moves: dict = defaultdict(Counter)
    value, won = Counter(), Counter()
    for keys, converted, revenue in journeys:
        walk = [k for i, k in enumerate(keys) if i == 0 or keys[i - 1] != k]
        here = "start"
        for i in range(len(walk)):
            state = tuple(walk[max(0, i - order + 1) : i + 1])
            moves[here][state] += 1
            here = state
        moves[here]["conv" if converted else "null"] += 1
        if converted:
            value[here] += revenue
            won[here] += 1
    states = sorted({s for s in moves if s != "start"} | {s for m in moves.values() for s in m if isinstance(s, tuple)})
    names = ["start", *states, "null", *[("conv", s) for s in states]]
    at = {name: i for i, name in enumerate(names)}
    size = len(names)

    def absorb(removed):
        p = np.zeros((size, size))
        for src, dsts in moves.items():
            if src != "start" and removed in src:
                p[at[src], at["null"]] = 1.0
                continue
            total = sum(dsts.values())
            for dst, n in dsts.items():
                target = ("conv", src) if dst == "conv" else dst
                p[at[src], at[target]] += n / total
        for name in names[len(states) + 1 :]:
            p[at[name], at[name]] = 1.0
        for state in states:  # a state nobody leaves: absorb it in null (it is never reached)
            if not p[at[state]].any():
                p[at[state], at["null"]] = 1.0
        for _ in range(60):
            p = p @ p
        row = p[0]
        assert row[: len(states) + 1].sum() < 1e-12  # nothing left in transit
        probability = sum(row[at[("conv", s)]] for s in states)
        expected = sum(row[at[("conv", s)]] * value[s] / won[s] for s in states if won[s])
        return probability, expected

    probability, expected = absorb(None)
    effects = np.array([1 - absorb(k)[0] / probability for k in range(n_keys)])
    value_effects = np.array([1 - absorb(k)[1] / expected if expected else 0.0 for k in range(n_keys)])
    conversions = sum(1 for _, c, _ in journeys if c)
    revenue = sum(r for _, c, r in journeys if c)
    value_credit = value_effects / value_effects.sum() * revenue if value_effects.sum() else value_effects
    return effects / effects.sum() * conversions, value_credit


def random_journeys(rng: random.Random, n_keys: int, count: int, longest: int):
    found = []
    for _ in range(count):
        keys = [rng.randrange(n_keys) for _ in range(rng.randint(1, longest))]
        converted = rng.random() < 0.5
        found.append((keys, converted, float(rng.randint(1, 50)) if converted else 0.0))
    if not any(c for _, c, _ in found):
        keys, _, _ = found[0]
        found[0] = (keys, True, 11.0)
    return found


def as_journeys(raw) -> list[dict]:
    return [
        journey(*[(k, 1_000_000 * (i + 1)) for i, k in enumerate(keys)], converted=c, revenue=r) for keys, c, r in raw
    ]


@pytest.mark.parametrize("order", [1, 2, 3])
def test_it_matches_a_brute_force_absorbing_chain_on_random_journeys(order):
    rng = random.Random(order)
    for _ in range(12):
        n_keys = rng.randint(2, 4)
        raw = random_journeys(rng, n_keys, rng.randint(1, 14), 5)
        conversions, revenue = brute_markov(raw, n_keys, order)
        got = credit(as_journeys(raw), "markov", n_keys, markov_order=order)
        close(got.conversions, conversions)
        close(got.revenue, revenue, tol=1e-8)


# --- Shapley -------------------------------------------------------------------------------

# Coalitions: {a,b,c} 4 journeys, 3 conversions, revenue 27; {a,c} 1, 1, 5; {b} 3, 0, 0.
# "rate": v(abc) = 3/4, v(ac) = 1, every other set 0.
#   In {a,b,c}: φ_a = 1/6·v(ac) + 1/3·v(abc) = 1/6 + 1/4 = 5/12 = φ_c; φ_b = 1/3·(v(abc) − v(ac)) = −1/12.
#   Shares 5/9, −1/9, 5/9 of 3 conversions and of 27: (5/3, −1/3, 5/3) and (15, −3, 15).
#   In {a,c}: φ = 1/2, 1/2 → 1/2 conversion and 5/2 each.
#   a = c = 13/6 conversions, 35/2 revenue; b = −1/3 and −3.
# "conversions": v(abc) = 3, v(ac) = 1 → φ_a = φ_c = 1/6 + 1 = 7/6, φ_b = 2/3; in {a,c} 1/2 each.
#   a = c = 5/3, b = 2/3. Revenue v(abc) = 27, v(ac) = 5 → φ_a = 5/6 + 9 = 59/6, φ_b = 22/3; {a,c} 5/2 each.
#   a = c = 37/3, b = 22/3.


def test_it_credits_the_worked_shapley_example_by_conversion_rate():
    got = credit(EXAMPLE, "shapley", 3)
    close(got.conversions, [F(13, 6), F(-1, 3), F(13, 6)])
    close(got.revenue, [F(35, 2), -3, F(35, 2)])
    assert got.stderr_conversions is None


def test_it_credits_the_worked_shapley_example_by_conversions():
    got = credit(EXAMPLE, "shapley", 3, shapley_value="conversions")
    close(got.conversions, [F(5, 3), F(2, 3), F(5, 3)])
    close(got.revenue, [F(37, 3), F(22, 3), F(37, 3)])


def brute_shapley(journeys: list[tuple[list[int], bool, float]], n_keys: int, value: str):
    """Average marginal gains over every ordering of every converting channel set, in fractions."""
    seen: dict = defaultdict(lambda: [0, 0, F(0)])
    for keys, converted, revenue in journeys:
        stats = seen[frozenset(keys)]
        stats[0] += 1
        stats[1] += int(converted)
        stats[2] += F(revenue) if converted else 0

    def worth(coalition, revenue: bool):
        if coalition not in seen:
            return F(0)
        journeys_, conversions, money = seen[coalition]
        if value == "rate":
            return F(conversions, journeys_)
        return money if revenue else F(conversions)

    conversions, money = [F(0)] * n_keys, [F(0)] * n_keys
    for coalition, (_, won, earned) in seen.items():
        if not won:
            continue
        members = sorted(coalition)
        gains = {m: [F(0), F(0)] for m in members}
        for ordering in itertools.permutations(members):
            before = frozenset()
            for m in ordering:
                after = before | {m}
                gains[m][0] += worth(after, False) - worth(before, False)
                gains[m][1] += worth(after, True) - worth(before, True)
                before = after
        orderings = math.factorial(len(members))
        phi = {m: (g[0] / orderings, g[1] / orderings) for m, g in gains.items()}
        whole = sum(p[0] for p in phi.values())
        for m, (phi_conv, phi_rev) in phi.items():
            if value == "rate":
                conversions[m] += phi_conv / whole * won
                money[m] += phi_conv / whole * earned
            else:
                conversions[m] += phi_conv
                money[m] += phi_rev
    return conversions, money


@pytest.mark.parametrize("value", ["rate", "conversions"])
def test_it_matches_shapley_values_averaged_over_every_ordering(value):
    rng = random.Random(7 if value == "rate" else 8)
    for _ in range(10):
        n_keys = rng.randint(2, 6)
        raw = random_journeys(rng, n_keys, rng.randint(1, 30), 6)
        conversions, revenue = brute_shapley(raw, n_keys, value)
        got = credit(as_journeys(raw), "shapley", n_keys, shapley_value=value)
        close(got.conversions, conversions)
        close(got.revenue, revenue, tol=1e-8)


def every_subset_journeys(seed: int, n_keys: int = 6):
    """Journeys on every non-empty subset of the channels, with random rates, so orderings differ."""
    rng = random.Random(seed)
    raw = []
    for size in range(1, n_keys + 1):
        for subset in itertools.combinations(range(n_keys), size):
            for _ in range(rng.randint(1, 4)):
                converted = rng.random() < 0.4
                raw.append((list(subset), converted, float(rng.randint(1, 20)) if converted else 0.0))
    return raw


@pytest.mark.parametrize("value", ["rate", "conversions"])
def test_it_estimates_big_channel_sets_within_four_standard_errors_of_the_exact_shapley_value(value):
    raw = every_subset_journeys(3)
    conversions, revenue = brute_shapley(raw, 6, value)
    touches = table(as_journeys(raw))
    labels = [f"k{i}" for i in range(6)]
    sampled = run_model(touches, labels, "shapley", Settings(shapley_value=value, shapley_exact_channels=3, seed=5))
    assert sampled.stderr_conversions is not None and sampled.stderr_revenue is not None
    assert (sampled.stderr_conversions > 0).all() and (sampled.stderr_revenue > 0).all()
    assert (np.abs(sampled.conversions - [float(x) for x in conversions]) <= 4 * sampled.stderr_conversions).all()
    assert (np.abs(sampled.revenue - [float(x) for x in revenue]) <= 4 * sampled.stderr_revenue).all()
    assert any("estimated from 2,000 random orderings" in note for note in sampled.notes)
    # the same seed gives the same estimate; another seed another one
    again = run_model(touches, labels, "shapley", Settings(shapley_value=value, shapley_exact_channels=3, seed=5))
    assert np.array_equal(again.conversions, sampled.conversions)
    assert np.array_equal(again.stderr_revenue, sampled.stderr_revenue)
    other = run_model(touches, labels, "shapley", Settings(shapley_value=value, shapley_exact_channels=3, seed=6))
    assert not np.array_equal(other.conversions, sampled.conversions)
    # at the limit a set is still solved exactly
    exact = run_model(touches, labels, "shapley", Settings(shapley_value=value, shapley_exact_channels=6))
    assert exact.stderr_conversions is None
    close(exact.conversions, conversions)
    close(exact.revenue, revenue, tol=1e-8)


def test_it_tightens_the_sampled_shapley_error_with_more_orderings():
    touches = table(as_journeys(every_subset_journeys(4)))
    labels = [f"k{i}" for i in range(6)]
    few = run_model(touches, labels, "shapley", Settings(shapley_exact_channels=3, shapley_samples=200))
    many = run_model(touches, labels, "shapley", Settings(shapley_exact_channels=3, shapley_samples=3200))
    # standard errors shrink as 1/√samples: 16 times the orderings, about a quarter of the error
    ratio = many.stderr_conversions / few.stderr_conversions
    assert ((ratio > 0.15) & (ratio < 0.4)).all(), ratio


# --- helpers -------------------------------------------------------------------------------


def encode(keys_most_recent_first: tuple[int, ...], n_keys: int) -> int:
    return sum((k + 1) * (n_keys + 1) ** i for i, k in enumerate(keys_most_recent_first))


@pytest.mark.parametrize("n_keys, order", [(1, 1), (3, 1), (3, 2), (4, 3), (9, 2)])
def test_it_decodes_every_markov_state_to_the_keys_it_remembers(n_keys, order):
    for length in range(1, order + 1):
        for keys in itertools.product(range(n_keys), repeat=length):
            assert decode_state(encode(keys, n_keys), n_keys, order) == keys


def test_it_decodes_worked_markov_states():
    # 3 keys, base 4: b after a is (1 + 1) + (0 + 1)·4 = 6; c alone is 3; a after c is 1 + 3·4 = 13
    assert decode_state(6, 3, 2) == (1, 0)
    assert decode_state(3, 3, 2) == (2,)
    assert decode_state(13, 3, 2) == (0, 2)
    assert decode_state(3, 3, 1) == (2,)


def test_it_fits_credits_to_their_total_exactly():
    credits = np.array([0.1, 0.2, 0.3])
    assert sum(credits.tolist()) != 0.6  # 0.6000000000000001
    fitted = fit_to_total(credits, 0.6)
    # Exact where a float step lands on the total; never further than one unit in the last place.
    assert abs(float(np.sum(fitted)) - 0.6) <= np.spacing(0.6)
    assert fitted[0] == 0.1 and fitted[1] == 0.2  # only the largest moves
    assert credits.tolist() == [0.1, 0.2, 0.3]  # the input is left alone


def test_it_lets_the_largest_credit_by_magnitude_absorb_the_gap():
    fitted = fit_to_total(np.array([1.0, -5.0, 2.0]), -1.5)
    assert fitted.tolist() == [1.0, -4.5, 2.0]


def test_it_fits_empty_and_all_zero_credits_without_change():
    assert fit_to_total(np.array([]), 0.0).tolist() == []
    assert fit_to_total(np.zeros(3), 0.0).tolist() == [0.0, 0.0, 0.0]


def test_it_fits_many_uneven_credits_to_the_bit():
    rng = np.random.default_rng(1)
    for _ in range(200):
        credits = rng.random(rng.integers(1, 40)) * 1000
        total = float(rng.random() * 1e4)
        fitted = fit_to_total(credits / credits.sum() * total, total)
        assert abs(float(np.sum(fitted)) - total) <= np.spacing(total)
