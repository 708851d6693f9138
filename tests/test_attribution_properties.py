"""Properties every attribution model must keep, on random small journey sets.

Credits add up to what converted (checked before `fit_to_total` makes it so by construction);
channels the data cannot tell apart get the same credit; renaming channels only renames the
credit; twice the journeys is twice the credit; Markov ignores consecutive repeats and never
credits below zero.
"""

from __future__ import annotations

import itertools

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from truce.analytics import attribution as q
from truce.analytics.sources import duckdb_connection
from truce.domain.attribution import RULE_MODELS
from truce.services.attribution_runner import Settings, markov_credit, run_model, shapley_credit

HOUR = 3_600_000_000  # microseconds
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
# Every model, and the settings that change what the data models compute. Each property runs per
# model with few examples: a model run costs tens of milliseconds, nearly all of it Ibis compiling.
RUNS = {model: (model, Settings()) for model in RULE_MODELS} | {
    "markov": ("markov", Settings()),
    "markov_order_2": ("markov", Settings(markov_order=2)),
    "shapley_rate": ("shapley", Settings()),
    "shapley_conversions": ("shapley", Settings(shapley_value="conversions")),
}
CON = duckdb_connection()
CON.raw_sql("SET threads = 1")  # tiny tables: more threads only add overhead
FEW = settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def journey_sets(draw, min_keys=2, max_keys=4):
    """(n_keys, journeys): a journey is dict(touches=[(key, ts)], converted, revenue, conv_ts, lc_ts, oc_ts, closes).

    Touches of a journey are at distinct instants, so their order never depends on the keys.
    At least one journey converts.
    """
    n_keys = draw(st.integers(min_keys, max_keys))
    journeys = []
    for _ in range(draw(st.integers(1, 6))):
        keys = draw(st.lists(st.integers(0, n_keys - 1), min_size=1, max_size=5))
        start = draw(st.integers(0, 1000)) * HOUR
        gaps = draw(st.lists(st.integers(1, 240), min_size=len(keys) - 1, max_size=len(keys) - 1))
        ts = list(itertools.accumulate([start, *(g * HOUR for g in gaps)]))
        end = ts[-1]
        around = st.one_of(st.none(), st.integers(start - 10 * HOUR, end + 10 * HOUR))
        converted = draw(st.booleans())
        journeys.append(
            {
                "touches": list(zip(keys, ts, strict=True)),
                "converted": converted,
                "revenue": float(draw(st.integers(1, 1000))) if converted else 0.0,
                "conv_ts": end + draw(st.integers(0, 100)) * HOUR,
                "lc_ts": draw(around),
                "oc_ts": draw(around),
                "closes": draw(st.booleans()),
            }
        )
    if not any(j["converted"] for j in journeys):
        journeys[0] = {**journeys[0], "converted": True, "revenue": 100.0}
    return n_keys, journeys


def table(journeys: list[dict], name: str = "touches"):
    """The touches as a DuckDB table; a table of the same name is replaced (a fresh name per table slows DuckDB)."""
    rows = [
        {"journey": n, "ts": ts, "key": key, **{c: j[c] for c in SCHEMA.names[3:]}}
        for n, j in enumerate(journeys)
        for key, ts in j["touches"]
    ]
    return CON.create_table(name, pa.Table.from_pylist(rows, schema=SCHEMA), overwrite=True)


def credit(journeys: list[dict], n_keys: int, run: str):
    model, s = RUNS[run]
    return run_model(table(journeys, "credited"), [f"k{i}" for i in range(n_keys)], model, s)


def relabel(journeys: list[dict], mapping) -> list[dict]:
    return [{**j, "touches": [(mapping[k], ts) for k, ts in j["touches"]]} for j in journeys]


def near(a, b, scale: float) -> bool:
    return bool(np.allclose(a, b, rtol=0, atol=1e-9 * max(scale, 1.0)))


def unfitted(touches, n_keys: int, run: str, conversions: int, revenue: float) -> tuple[float, float]:
    """The credits' sums as the model computes them, before run_model fits them to the totals."""
    model, s = RUNS[run]
    if model in RULE_MODELS:
        rows = q.heuristic_credit(touches, model, s.half_life_days).to_pyarrow()
        return sum(rows.column("conversions").to_pylist()), sum(rows.column("revenue").to_pylist())
    if model == "markov":
        edges = q.transitions(touches, s.markov_order, n_keys).to_pyarrow()
        result = markov_credit(edges, n_keys, s.markov_order, conversions, revenue)
    else:
        result = shapley_credit(q.coalitions(touches).to_pyarrow(), n_keys, s)
    return float(result.conversions.sum()), float(result.revenue.sum())


@pytest.mark.parametrize("run", RUNS)
@FEW
@given(data=journey_sets())
def test_it_credits_exactly_what_converted_before_any_fitting(run, data):
    n_keys, journeys = data
    won = [j for j in journeys if j["converted"]]
    conversions, revenue = len(won), sum(j["revenue"] for j in won)
    conv, rev = unfitted(table(journeys), n_keys, run, conversions, revenue)
    assert abs(conv - conversions) <= 1e-9 * conversions
    assert abs(rev - revenue) <= 1e-9 * revenue


@pytest.mark.parametrize("run", RUNS)
@FEW
@given(data=journey_sets(), pick=st.data())
def test_it_gives_channels_the_data_cannot_tell_apart_the_same_credit(run, data, pick):
    n_keys, journeys = data
    x, y = pick.draw(st.lists(st.integers(0, n_keys - 1), min_size=2, max_size=2, unique=True))
    swap = {k: k for k in range(n_keys)} | {x: y, y: x}
    # each journey and its mirror image: swapping x and y in every journey gives the same journeys
    got = credit(journeys + relabel(journeys, swap), n_keys, run)
    assert near(got.conversions[x], got.conversions[y], got.total_conversions)
    assert near(got.revenue[x], got.revenue[y], got.total_revenue)


@pytest.mark.parametrize("run", RUNS)
@FEW
@given(data=journey_sets(), rng=st.randoms(use_true_random=False))
def test_it_only_renames_the_credit_when_channels_are_renamed_and_doubles_it_for_twice_the_journeys(run, data, rng):
    n_keys, journeys = data
    mapping = list(range(n_keys))
    rng.shuffle(mapping)
    one = credit(journeys, n_keys, run)
    won = [j for j in journeys if j["converted"]]
    assert (one.total_conversions, one.total_revenue, one.journeys) == (
        len(won),
        sum(j["revenue"] for j in won),
        len(journeys),
    )
    renamed = credit(relabel(journeys, mapping), n_keys, run)
    # channel k is now called mapping[k]
    assert near(renamed.conversions[mapping], one.conversions, one.total_conversions)
    assert near(renamed.revenue[mapping], one.revenue, one.total_revenue)
    two = credit(journeys + journeys, n_keys, run)  # every journey again under a new id
    assert (two.total_conversions, two.total_revenue, two.journeys) == (
        2 * one.total_conversions,
        2 * one.total_revenue,
        2 * one.journeys,
    )
    assert near(two.conversions, 2 * one.conversions, one.total_conversions)
    assert near(two.revenue, 2 * one.revenue, one.total_revenue)


def with_repeats(journey: dict, repeats: list[int]) -> dict:
    """Each touch followed by `repeats[i]` more touches of the same key before the next one."""
    touches = []
    for (key, ts), extra in zip(journey["touches"], repeats, strict=False):
        touches += [(key, ts + i) for i in range(extra + 1)]  # the next touch is at least an hour later
    return {**journey, "touches": touches}


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(journey_sets(max_keys=5), st.data())
def test_it_ignores_consecutive_repeats_and_never_credits_below_zero_under_markov(data, pick):
    n_keys, journeys = data
    repeated = [
        with_repeats(j, pick.draw(st.lists(st.integers(0, 2), min_size=len(j["touches"]), max_size=len(j["touches"]))))
        for j in journeys
    ]
    labels = [f"k{i}" for i in range(n_keys)]
    plain, noisy = table(journeys, "plain"), table(repeated, "noisy")
    for order in (1, 2):
        s = Settings(markov_order=order)
        one, other = run_model(plain, labels, "markov", s), run_model(noisy, labels, "markov", s)
        assert near(one.conversions, other.conversions, one.total_conversions), order
        assert near(one.revenue, other.revenue, one.total_revenue), order
        assert (one.conversions >= 0).all() and (one.revenue >= 0).all(), order
