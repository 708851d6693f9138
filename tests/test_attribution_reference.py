"""Our attribution against a published implementation: ChannelAttribution (Altomare, GPL, C++ core).

Its heuristics are exact, so first touch, last touch and linear must agree to rounding. Its
Markov model simulates walks on the same absorbing chain (order 1, repeats collapsed, null
state from the non-converting paths, a conversion's value tied to the state it converted
from), so our exact answer must lie within its simulation noise.

The test dependency is installed by the `test` extra. Without it the module is skipped on a
developer's machine; in CI (CI=true) the import must work, so a missing package fails instead.
"""

from __future__ import annotations

import contextlib
import io
import os

import numpy as np
import pyarrow as pa
import pytest

from truce.analytics import attribution as q
from truce.analytics.sources import duckdb_connection
from truce.services.attribution_runner import markov_credit, run_model

with contextlib.redirect_stdout(io.StringIO()):  # it prints a banner on import
    if os.environ.get("CI", "").lower() == "true":
        import ChannelAttribution as ca
    else:
        ca = pytest.importorskip("ChannelAttribution")
import pandas as pd  # noqa: E402  (ChannelAttribution depends on it)

CHANNELS = [f"ch{i}" for i in range(6)]


def generated_touches(seed: int = 2026, journeys: int = 2000) -> pd.DataFrame:
    """Journeys of 1 + Poisson(2.5) touches over six channels of uneven popularity, repeats
    included, converting with a probability that grows with the channels seen, gamma revenue."""
    rng = np.random.default_rng(seed)
    popularity = [0.3, 0.25, 0.15, 0.12, 0.1, 0.08]
    lift = np.array([0.05, 0.1, 0.2, 0.02, 0.3, 0.15])
    rows = []
    for journey in range(journeys):
        keys = rng.choice(len(CHANNELS), size=1 + rng.poisson(2.5), p=popularity)
        converted = bool(rng.random() < min(0.9, 0.05 + lift[np.unique(keys)].sum() / 2))
        revenue = float(np.round(rng.gamma(2.0, 50.0), 2)) if converted else 0.0
        ts = np.cumsum(rng.integers(1, 10**9, size=len(keys)))  # distinct instants, microseconds
        for key, at in zip(keys.tolist(), ts.tolist(), strict=True):
            rows.append(
                {
                    "journey": journey,
                    "ts": at,
                    "key": key,
                    "converted": converted,
                    "revenue": revenue,
                    "conv_ts": ts[-1],
                }
            )
    return pd.DataFrame(rows)


def example_touches() -> pd.DataFrame:
    """The worked example of test_attribution_models: a>b>c ×3 (2 convert, 10 each), a>c (5), b ×3, c>a>a>b (7)."""
    paths = [("abc", 10), ("abc", 10), ("abc", None), ("ac", 5), ("b", None), ("b", None), ("b", None), ("caab", 7)]
    rows = []
    for journey, (letters, revenue) in enumerate(paths):
        for i, letter in enumerate(letters):
            rows.append(
                {
                    "journey": journey,
                    "ts": i,
                    "key": "abc".index(letter),
                    "converted": revenue is not None,
                    "revenue": float(revenue or 0),
                    "conv_ts": len(letters) - 1,
                }
            )
    return pd.DataFrame(rows)


def path_table(long: pd.DataFrame, names: list[str]) -> pd.DataFrame:
    """ChannelAttribution's input: one row per distinct path with its conversions, value and nulls."""
    ordered = long.sort_values(["journey", "ts", "key"], kind="stable")
    per = ordered.groupby("journey", sort=True)
    journeys = pd.DataFrame(
        {
            "path": per["key"].agg(lambda keys: " > ".join(names[k] for k in keys)),
            "converted": per["converted"].any(),
            "revenue": per["revenue"].max(),
        }
    ).reset_index()
    journeys["conv"] = journeys.converted.astype(int)
    journeys["null"] = 1 - journeys.conv
    journeys["value"] = journeys.revenue.where(journeys.converted, 0.0)
    return (
        journeys.groupby("path", sort=False)
        .agg(
            total_conversions=("conv", "sum"),
            total_conversion_value=("value", "sum"),
            total_null=("null", "sum"),
        )
        .reset_index()
    )


def per_channel(frame: pd.DataFrame, column: str, names: list[str]) -> np.ndarray:
    """A ChannelAttribution column in our label order (channels it does not list earned 0)."""
    return frame.set_index("channel_name")[column].reindex(names).fillna(0.0).to_numpy(dtype=float)


def touches_table(long: pd.DataFrame, name: str):
    return CON.create_table(name, pa.Table.from_pandas(long, preserve_index=False), overwrite=True)


CON = duckdb_connection()


@pytest.fixture(scope="module")
def generated():
    long = generated_touches()
    return touches_table(long, "generated"), path_table(long, CHANNELS)


@pytest.mark.parametrize(
    "model, theirs", [("first_touch", "first_touch"), ("last_touch", "last_touch"), ("linear", "linear_touch")]
)
def test_it_agrees_with_channel_attribution_heuristics_to_rounding(generated, model, theirs):
    touches, paths = generated
    with contextlib.redirect_stdout(io.StringIO()):
        reference = ca.heuristic_models(
            paths, "path", "total_conversions", var_value="total_conversion_value", flg_pro=False
        )
    ours = run_model(touches, CHANNELS, model)
    assert ours.total_conversions == paths.total_conversions.sum()
    np.testing.assert_allclose(ours.conversions, per_channel(reference, f"{theirs}_conversions", CHANNELS), rtol=1e-9)
    np.testing.assert_allclose(ours.revenue, per_channel(reference, f"{theirs}_value", CHANNELS), rtol=1e-9)


def simulated_markov(paths: pd.DataFrame, names: list[str], seeds) -> dict[str, np.ndarray]:
    """ChannelAttribution's Markov credits and removal effects, one row per seed.

    max_step=100: its default step cap counts long walks as lost and biases the credits. Seeds
    are 10 apart: seed s runs its 10 folds on generators s … s+9, so nearer seeds share draws.
    """
    found: dict[str, list] = {"conversions": [], "revenue": [], "effects": [], "value_effects": []}
    for seed in seeds:
        with contextlib.redirect_stdout(io.StringIO()):
            run = ca.markov_model(
                paths,
                "path",
                "total_conversions",
                var_value="total_conversion_value",
                var_null="total_null",
                order=1,
                max_step=100,
                nsim_start=1e6,
                seed=seed,
                out_more=True,
                verbose=False,
                flg_pro=False,
            )
        found["conversions"].append(per_channel(run["result"], "total_conversions", names))
        found["revenue"].append(per_channel(run["result"], "total_conversion_value", names))
        found["effects"].append(per_channel(run["removal_effects"], "removal_effects_conversion", names))
        found["value_effects"].append(per_channel(run["removal_effects"], "removal_effects_conversion_value", names))
    return {what: np.array(rows) for what, rows in found.items()}


def test_it_lies_within_channel_attributions_simulation_noise_on_generated_journeys(generated):
    touches, paths = generated
    ours = run_model(touches, CHANNELS, "markov")
    edges = q.transitions(touches, 1, len(CHANNELS)).to_pyarrow()
    exact = markov_credit(edges, len(CHANNELS), 1, ours.total_conversions, ours.total_revenue)
    theirs = simulated_markov(paths, CHANNELS, seeds=range(0, 50, 10))
    # Tolerance, from ten seeds (0, 10, …, 90) at 1e6 walks on these journeys: a single run's
    # credits varied by 0.4–0.8 % (conversions) and 0.35–1.2 % (revenue) relative standard
    # deviation per channel, so the mean of five runs has a standard error of at most 0.36 %
    # and 0.54 %; 1.5 % and 2 % are about four of those. Our exact credits were within 0.3 %
    # and 0.84 % of the five-run mean. Crediting revenue by the conversion removal effects
    # instead of the value rule would be off by up to 3 % and fail. Removal effects are single
    # folds of 1e5 walks: they varied by 0.4–1.1 % (conversions) and 0.4–1.5 % (value), standard
    # errors of the five-run mean at most 0.5 % and 0.7 %, hence 2 % and 2.5 %.
    for what, ours_, tolerance in [
        ("conversions", ours.conversions, 0.015),
        ("revenue", ours.revenue, 0.02),
        ("effects", exact.removal_effects, 0.02),
        ("value_effects", exact.value_removal_effects, 0.025),
    ]:
        mean = theirs[what].mean(axis=0)
        assert (np.abs(ours_ - mean) <= tolerance * mean).all(), (what, ours_, mean)
        # and never outside what the simulation itself spans, widened by that spread again
        low, high = theirs[what].min(axis=0), theirs[what].max(axis=0)
        assert ((ours_ >= low - (high - low)) & (ours_ <= high + (high - low))).all(), (what, ours_, low, high)


def test_it_lies_within_channel_attributions_simulation_noise_on_the_worked_example():
    long = example_touches()
    touches, paths = touches_table(long, "example"), path_table(long, ["a", "b", "c"])
    ours = run_model(touches, ["a", "b", "c"], "markov")
    theirs = simulated_markov(paths, ["a", "b", "c"], seeds=range(0, 30, 10))
    # At 1e6 walks a run varied by 0.1–0.2 % (credits) and 0.2–0.3 % (removal effects) relative
    # standard deviation over ten seeds; the exact credits (1.074575, 1.404274, 1.521151;
    # 8.519942, 10.970291, 12.509768) and removal effects must be within 1 % of the mean of three.
    np.testing.assert_allclose(ours.conversions, theirs["conversions"].mean(axis=0), rtol=0.01)
    np.testing.assert_allclose(ours.revenue, theirs["revenue"].mean(axis=0), rtol=0.01)
    np.testing.assert_allclose(theirs["effects"].mean(axis=0), [0.55, 0.71875, 0.778571], rtol=0.01)
    np.testing.assert_allclose(theirs["value_effects"].mean(axis=0), [0.549107, 0.707031, 0.80625], rtol=0.01)
