"""Every model in the registry, on every engine, credits one small example as worked out by hand.

The example (keys a, b, c; times in days; half-life 7 days):

    J1  a@0  b@7  c@14  b@21   converts at day 21, worth 100; lead created day 7, opportunity
                               day 14; the conversion closes the deal
    J2  b@0  a@7               converts at day 7, worth 50; lead created day 0, opportunity day 7;
                               it does not close a deal
    J3  c@0                    does not convert

Each expected credit below is (conversions, revenue) per key a, b, c, in fractions, with the
working beside it; none comes from running the code. The parity test runs each registered model
on DuckDB and (marked spark) on Spark: a model the registry says an engine runs must give these
numbers there.
"""

from __future__ import annotations

from fractions import Fraction as F

import numpy as np
import pyarrow as pa
import pytest

from truce.analytics.sources import duckdb_connection
from truce.domain.attribution import registry
from truce.services.attribution_runner import Settings, run_model
from truce.vocabulary import ATTRIBUTION_MODELS

DAY = 86_400_000_000  # microseconds
J1 = {"touches": [(0, 0), (1, 7), (2, 14), (1, 21)], "won": True, "revenue": 100.0, "lc": 7, "oc": 14, "closes": True}
J2 = {"touches": [(1, 0), (0, 7)], "won": True, "revenue": 50.0, "lc": 0, "oc": 7, "closes": False}
J3 = {"touches": [(2, 0)], "won": False, "revenue": 0.0, "lc": None, "oc": None, "closes": False}

EXPECTED = {
    # J1 → a, J2 → b.
    "first_touch": ([1, 1, 0], [100, 50, 0]),
    # J1 → b (b@21), J2 → a.
    "last_touch": ([1, 1, 0], [50, 100, 0]),
    # J1: a 1/4, b 2/4, c 1/4 of 100; J2: b 1/2, a 1/2 of 50.
    "linear": ([F(3, 4), 1, F(1, 4)], [50, 75, 25]),
    # J1 weights 2^-3, 2^-2, 2^-1, 1 (sum 15/8): a 1/15, b 10/15, c 4/15. J2: b 1/3, a 2/3.
    # a = 1/15 + 2/3 = 11/15, worth 100/15 + 100/3 = 40; b = 1, worth 200/3 + 50/3; c = 4/15, worth 80/3.
    "time_decay": ([F(11, 15), 1, F(4, 15)], [40, F(250, 3), F(80, 3)]),
    # J1 (4 touches): a .4, b .1 + .4, c .1. J2 (2 touches): 1/2 each.
    "position_based": ([F(9, 10), 1, F(1, 10)], [65, 75, 10]),
    # J1: a first .3, b@7 lead .3, c opportunity .3, b@21 the rest .1 → a .3, b .4, c .3.
    # J2: b first and lead .6, a opportunity .3, no rest (its .1 scaled away) → b 2/3, a 1/3.
    # a = 3/10 + 1/3 = 19/30, worth 30 + 50/3; b = 2/5 + 2/3 = 16/15, worth 40 + 100/3; c = 3/10, 30.
    "w_shaped": ([F(19, 30), F(16, 15), F(3, 10)], [F(140, 3), F(220, 3), 30]),
    # J1: first a, lead b@7, opportunity c, closing b@21: .225 each, no rest → 1/4 each (b twice).
    # J2 does not close: b first and lead .45, a opportunity .225 → b 2/3, a 1/3.
    # a = 1/4 + 1/3 = 7/12, worth 25 + 50/3; b = 1/2 + 2/3 = 7/6, worth 50 + 100/3; c = 1/4, 25.
    "full_path": ([F(7, 12), F(7, 6), F(1, 4)], [F(125, 3), F(250, 3), 25]),
    # Walks: START→a→b→c→b→conv, START→b→a→conv, START→c→null.
    # START→a,b,c 1/3 each; a→b 1/2, a→conv 1/2; b→c, b→conv, b→a 1/3 each; c→b 1/2, c→null 1/2.
    # x_a = x_b/2 + 1/2, x_b = x_c/3 + 1/3 + x_a/3, x_c = x_b/2 → x_b = 3/4, x_a = 7/8, x_c = 3/8, P = 2/3.
    # Without a: x_b = 2/5, x_c = 1/5, P = 1/5 → effect 7/10. Without b: x_a = 1/2, P = 1/6 → 3/4.
    # Without c: x_b = 3/5, x_a = 4/5, P = 7/15 → 3/10. Effects sum to 7/4: 2 × (2/5, 3/7, 6/35).
    # Value: a converts worth 50, b worth 100. y_a = y_b/2 + 25, y_b = y_c/3 + 100/3 + y_a/3, y_c = y_b/2
    # → y_b = 125/2, y_a = 225/4, y_c = 125/4, E = 50. Without a: y_b = 40, y_c = 20, E = 20 → 3/5.
    # Without b: y_a = 25, E = 25/3 → 5/6. Without c: y_b = y_a = 50, E = 100/3 → 1/3. Sum 53/30:
    # 150 × (18, 25, 10) / 53.
    "markov": ([F(4, 5), F(6, 7), F(12, 35)], [F(2700, 53), F(3750, 53), F(1500, 53)]),
    # Channel sets: {a,b,c} 1 journey 1 conversion worth 100; {a,b} 1, 1, 50; {c} 1, 0.
    # Rate: v(abc) = 1, v(ab) = 1, others 0. In {a,b,c}: φ_a = 1/6·v(ab) + 1/3·(v(abc) − v(bc)) = 1/2 = φ_b,
    # φ_c = 1/3·(v(abc) − v(ab)) = 0 → shares 1/2, 1/2, 0 of 1 and of 100. In {a,b}: 1/2 each of 1 and 50.
    "shapley": ([1, 1, 0], [75, 75, 0]),
}
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


def touches() -> pa.Table:
    rows = []
    for number, jr in enumerate((J1, J2, J3)):
        last = max(day for _, day in jr["touches"])
        for key, day in jr["touches"]:
            rows.append(
                {
                    "journey": number,
                    "ts": day * DAY,
                    "key": key,
                    "converted": jr["won"],
                    "revenue": jr["revenue"],
                    "conv_ts": last * DAY,
                    "lc_ts": None if jr["lc"] is None else jr["lc"] * DAY,
                    "oc_ts": None if jr["oc"] is None else jr["oc"] * DAY,
                    "closes": jr["closes"],
                }
            )
    return pa.Table.from_pylist(rows, schema=SCHEMA)


def assert_worked(credit, model: str) -> None:
    conversions, revenue = EXPECTED[model]
    assert np.allclose(credit.conversions, [float(x) for x in conversions], rtol=0, atol=1e-9), credit.conversions
    assert np.allclose(credit.revenue, [float(x) for x in revenue], rtol=0, atol=1e-7), credit.revenue
    assert credit.total_conversions == 2 and credit.total_revenue == 150


@pytest.fixture(scope="module")
def on_duckdb():
    con = duckdb_connection()
    yield con.create_table("registry_touches", touches(), overwrite=True)
    con.disconnect()


def test_it_has_a_worked_example_for_every_registered_model():
    assert tuple(EXPECTED) == registry.NAMES == ATTRIBUTION_MODELS


@pytest.mark.parametrize("model", registry.NAMES)
def test_it_credits_the_worked_example_on_duckdb(on_duckdb, model):
    assert "duckdb" in registry.get(model).engines
    assert_worked(run_model(on_duckdb, ["a", "b", "c"], model, Settings()), model)


@pytest.mark.spark
@pytest.mark.parametrize("model", registry.NAMES)
def test_it_credits_the_worked_example_on_spark(spark_con, model):
    from truce.analytics.spark import hand_over

    assert "spark" in registry.get(model).engines
    on_spark = hand_over(spark_con, "registry_touches", touches())
    assert_worked(run_model(on_spark, ["a", "b", "c"], model, Settings()), model)


def test_it_refuses_the_milestone_models_for_a_journeys_file_and_names_the_others():
    assert registry.MILESTONE_MODELS == ("w_shaped", "full_path")
    assert set(registry.FILE_MODELS) == set(registry.NAMES) - {"w_shaped", "full_path"}


def test_it_weights_the_u_and_the_ws_as_the_literature_does():
    # Conventional weights (DOMAIN.md): U 40/40/20; W 30/30/30 + 10; full path 22.5 × 4 + 10.
    u, w, full = registry.POSITION_BASED, registry.W_SHAPED, registry.FULL_PATH
    assert (2 * u.edge + u.middle, 3 * w.share + w.rest, 4 * full.share + full.rest) == pytest.approx((1, 1, 1))


def test_it_names_an_unknown_model_and_lists_the_known_ones():
    with pytest.raises(ValueError, match="unknown model 'u_shaped'; choose one of first_touch, last_touch"):
        registry.get("u_shaped")


def test_it_offers_every_model_a_label_for_the_switcher():
    assert [name for name, _ in registry.labels()] == list(ATTRIBUTION_MODELS)
    assert all(label and label[0].isupper() for _, label in registry.labels())
