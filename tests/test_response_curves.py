"""Response curves: the fit against known curves and a brute-force search, the bootstrap, and the
optimiser against a brute-force grid over every feasible allocation."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from truce.domain.response_curves import (
    ChannelFit,
    Curve,
    CurveError,
    fit_channel,
    fit_curve,
    interval,
    optimize,
    r_squared,
    scenario,
)

E = math.e


def sse(curve: Curve, spend, revenue) -> float:
    return sum((r - curve.a * math.log(1 + s / curve.b)) ** 2 for s, r in zip(spend, revenue, strict=True))


# ---- the fit -----------------------------------------------------------------------------------


def test_it_recovers_the_curve_behind_exact_points():
    spend = [300, 800, 1500, 2500, 4000, 6000, 9000]
    revenue = [12_000 * math.log(1 + s / 2_000) for s in spend]
    found = fit_curve(spend, revenue)
    assert found.a == pytest.approx(12_000, rel=1e-6)
    assert found.b == pytest.approx(2_000, rel=1e-6)


@settings(max_examples=60, deadline=None)
@given(
    a=st.floats(100, 1e6),
    b=st.floats(10, 1e5),
    ratios=st.lists(st.floats(0.1, 10), min_size=4, max_size=24, unique=True).filter(lambda r: max(r) / min(r) > 3),
)
def test_it_recovers_any_curve_from_exact_points(a, b, ratios):
    spend = [b * r for r in ratios]
    revenue = [a * math.log1p(s / b) for s in spend]
    found = fit_curve(spend, revenue)
    assert found.a == pytest.approx(a, rel=1e-4)
    assert found.b == pytest.approx(b, rel=1e-3)


def test_its_least_squares_beats_a_brute_force_search():
    rng = np.random.default_rng(3)
    spend = rng.uniform(500, 8000, 20)
    revenue = 9000 * np.log1p(spend / 1500) * rng.lognormal(0, 0.25, 20)
    found = fit_curve(spend, revenue)
    best = min(
        sse(Curve(a, b), spend, revenue)
        for a, b in itertools.product(np.linspace(2000, 20000, 181), np.geomspace(100, 20000, 181))
    )
    assert sse(found, spend, revenue) <= best + 1e-6
    # and no small step in either parameter improves on it
    for da, db in itertools.product((0.999, 1, 1.001), repeat=2):
        assert sse(found, spend, revenue) <= sse(Curve(found.a * da, found.b * db), spend, revenue) + 1e-6


def test_it_never_fits_a_curve_that_falls_with_spend():
    # The best rising curve through falling points is nearly flat: a steep start, then the mean.
    falling = fit_curve([1000, 2000, 3000, 4000], [4000, 3000, 2000, 1000])
    assert falling.a > 0 and falling.b < 1000
    assert fit_curve([1000, 2000, 3000, 4000], [0, 0, 0, 0]).a == 0.0
    assert fit_curve([1000, 2000, 3000, 4000], [-10, -20, -30, -40]).a == 0.0


def test_r_squared_by_hand():
    # revenue = 100 ln(1 + s) is 100, 200, 300, 400 at s = e − 1, e² − 1, e³ − 1, e⁴ − 1.
    spend = [E - 1, E**2 - 1, E**3 - 1, E**4 - 1]
    observed = [110, 190, 300, 400]
    # SSE = 10² + 10² = 200; mean 250, SST = 140² + 60² + 50² + 150² = 48,200
    assert r_squared(Curve(100, 1), spend, observed) == pytest.approx(1 - 200 / 48_200)
    assert r_squared(Curve(100, 1), spend, [5, 5, 5, 5]) is None


def test_it_refuses_to_fit_fewer_than_four_months_of_spend():
    with pytest.raises(CurveError, match="at least 4 months with spend to fit a curve; has 3"):
        fit_channel([0, 1000, 0, 2000, 3000, 0], [10, 20, 30, 40, 50, 60])


@pytest.mark.parametrize(
    ("spend", "revenue", "message"),
    [
        ([1, 2, 3], [1, 2], "same length"),
        ([1, -2, 3, 4], [1, 2, 3, 4], "negative"),
        ([0, 0, 0, 0], [1, 2, 3, 4], "at least one month with spend"),
        ([1, 2, math.nan, 4], [1, 2, 3, 4], "finite"),
    ],
)
def test_it_refuses_data_that_is_not_a_series_of_months(spend, revenue, message):
    with pytest.raises(CurveError, match=message):
        fit_curve(spend, revenue)


# ---- the bootstrap -----------------------------------------------------------------------------

MONTHS_SPEND = [1200, 1500, 900, 2000, 2600, 1800, 3100, 2200, 1400, 2800, 0, 1700]
MONTHS_REVENUE = [5100, 6100, 3500, 6600, 8200, 6900, 8300, 7400, 4900, 8800, 600, 6200]


def test_each_bootstrap_curve_is_the_fit_of_its_resampled_months():
    fit = fit_channel(MONTHS_SPEND, MONTHS_REVENUE, draws=40, seed=9)
    picks = np.random.default_rng(9).integers(0, 12, size=(40, 12))
    spend, revenue = np.array(MONTHS_SPEND, float), np.array(MONTHS_REVENUE, float)
    for k, pick in enumerate(picks):
        if not (spend[pick] > 0).any():
            continue
        alone = fit_curve(spend[pick], revenue[pick])
        assert sse(Curve(fit.draws_a[k], fit.draws_b[k]), spend[pick], revenue[pick]) == pytest.approx(
            sse(alone, spend[pick], revenue[pick]), rel=1e-9, abs=1e-6
        )


def test_the_bootstrap_is_seeded():
    one = fit_channel(MONTHS_SPEND, MONTHS_REVENUE, seed=1)
    again = fit_channel(MONTHS_SPEND, MONTHS_REVENUE, seed=1)
    other = fit_channel(MONTHS_SPEND, MONTHS_REVENUE, seed=2)
    assert np.array_equal(one.draws_a, again.draws_a) and np.array_equal(one.draws_b, again.draws_b)
    assert not np.array_equal(one.draws_a, other.draws_a)


def test_the_fit_reports_its_months_baseline_and_an_interval_around_the_estimate():
    fit = fit_channel(MONTHS_SPEND, MONTHS_REVENUE)
    assert (fit.months, fit.months_with_spend) == (12, 11)
    assert fit.baseline_spend == pytest.approx(sum(MONTHS_SPEND) / 12)
    assert fit.mean_revenue == pytest.approx(sum(MONTHS_REVENUE) / 12)
    low, high = interval(fit.draw_revenue(fit.baseline_spend))
    assert low < float(fit.curve.revenue(fit.baseline_spend)) < high


def test_a_noisier_channel_gets_a_wider_interval():
    rng = np.random.default_rng(5)
    spend = rng.uniform(1000, 5000, 24)
    clean = 8000 * np.log1p(spend / 2000)
    quiet = fit_channel(spend, clean * rng.lognormal(0, 0.05, 24))
    loud = fit_channel(spend, clean * rng.lognormal(0, 0.4, 24))
    width = [np.subtract(*interval(f.draw_revenue(3000))[::-1]) for f in (quiet, loud)]
    assert width[0] < width[1]


def test_the_percentile_interval():
    assert interval(np.arange(101.0), 0.9) == (pytest.approx(5.0), pytest.approx(95.0))
    assert interval(np.arange(101.0), 0.5) == (25.0, 75.0)


def fixed(curve: Curve, baseline: float, draws: list[tuple[float, float]]) -> ChannelFit:
    return ChannelFit(
        curve=curve,
        months=12,
        months_with_spend=12,
        r2=0.9,
        baseline_spend=baseline,
        mean_revenue=0.0,
        draws_a=np.array([a for a, _ in draws]),
        draws_b=np.array([b for _, b in draws]),
    )


def test_a_scenario_by_hand():
    # Channel x: 100 ln(1 + s / 10) with draws a = 90, 100, 110 (b = 10); y: 50 ln(1 + s / 10), one draw.
    fits = {
        "x": fixed(Curve(100, 10), 10, [(90, 10), (100, 10), (110, 10)]),
        "y": fixed(Curve(50, 10), 30, [(50, 10), (50, 10), (50, 10)]),
    }
    found = scenario(fits, {"x": 30}, level=0.5)
    x, y = found["channels"]
    ln2, ln4 = math.log(2), math.log(4)
    assert (x["baseline_spend"], x["spend"]) == (10, 30)
    assert x["baseline_revenue"] == pytest.approx(100 * ln2)
    assert x["revenue"] == pytest.approx(100 * ln4)
    # draws at 30: 90 ln4, 100 ln4, 110 ln4; the middle half runs from the 25th to the 75th percentile
    assert (x["low"], x["high"]) == (pytest.approx(95 * ln4), pytest.approx(105 * ln4))
    assert (x["change_low"], x["change_high"]) == (pytest.approx(95 * ln2), pytest.approx(105 * ln2))
    assert (y["spend"], y["change"], y["change_low"], y["change_high"]) == (30, 0, 0, 0)
    total = found["total"]
    assert total["spend"] == 60 and total["baseline_spend"] == 40
    assert total["revenue"] == pytest.approx(100 * ln4 + 50 * ln4)
    assert total["change"] == pytest.approx(100 * ln2)
    assert (total["low"], total["high"]) == (pytest.approx(95 * ln4 + 50 * ln4), pytest.approx(105 * ln4 + 50 * ln4))


def test_a_scenario_refuses_a_channel_without_a_curve():
    with pytest.raises(CurveError, match="no curve for radio"):
        scenario({"x": fixed(Curve(1, 1), 1, [(1, 1)])}, {"radio": 10})


# ---- the optimiser -----------------------------------------------------------------------------


def value(curves: dict[str, Curve], spend: dict[str, float]) -> float:
    return sum(c.a * math.log1p(spend[n] / c.b) for n, c in curves.items())


def test_it_matches_a_brute_force_grid_on_two_channels():
    curves = {"search": Curve(20_000, 3_000), "webinar": Curve(9_000, 800)}
    bounds = {"search": (1_000, 8_000), "webinar": (500, 6_000)}
    total = 9_000
    found = optimize(curves, total, bounds)
    best, best_at = -1.0, None
    for s in np.arange(1_000, 8_000.5, 0.5):
        w = total - s
        if 500 <= w <= 6_000:
            v = value(curves, {"search": s, "webinar": w})
            if v > best:
                best, best_at = v, s
    assert sum(found.values()) == pytest.approx(total)
    assert value(curves, found) >= best - 1e-6
    assert found["search"] == pytest.approx(best_at, abs=0.5)


def test_it_matches_a_brute_force_grid_on_three_channels_with_a_bound_that_binds():
    curves = {"a": Curve(10_000, 1_000), "b": Curve(6_000, 400), "c": Curve(15_000, 5_000)}
    bounds = {"a": (500, 2_000), "b": (200, 4_000), "c": (1_000, 9_000)}
    total = 8_000
    found = optimize(curves, total, bounds)
    best, best_at = -1.0, None
    step = 10.0
    for x in np.arange(500, 2_000 + step / 2, step):
        for y in np.arange(200, 4_000 + step / 2, step):
            z = total - x - y
            if 1_000 <= z <= 9_000:
                v = value(curves, {"a": x, "b": y, "c": z})
                if v > best:
                    best, best_at = v, (x, y, z)
    assert value(curves, found) >= best - 1e-6
    assert [found[k] for k in "abc"] == pytest.approx(list(best_at), abs=step)
    assert found["a"] == pytest.approx(2_000)  # its ceiling binds: it would take more


@settings(max_examples=80, deadline=None)
@given(
    channels=st.lists(
        st.tuples(st.floats(0, 1e5), st.floats(10, 1e4), st.floats(0, 5e3), st.floats(0, 5e3)),
        min_size=1,
        max_size=6,
    ),
    share=st.floats(0, 1),
)
def test_any_allocation_spends_the_total_within_bounds_and_beats_a_naive_one(channels, share):
    curves = {f"c{i}": Curve(a, b) for i, (a, b, _, _) in enumerate(channels)}
    bounds = {f"c{i}": (min(lo, hi), max(lo, hi)) for i, (_, _, lo, hi) in enumerate(channels)}
    floor, ceiling = sum(lo for lo, _ in bounds.values()), sum(hi for _, hi in bounds.values())
    total = floor + share * (ceiling - floor)
    found = optimize(curves, total, bounds)
    assert sum(found.values()) == pytest.approx(total, rel=1e-9, abs=1e-6)
    for name, (lo, hi) in bounds.items():
        assert lo - 1e-6 <= found[name] <= hi + 1e-6
    # the same share of every channel's range: feasible, and never better
    naive = {n: lo + share * (hi - lo) for n, (lo, hi) in bounds.items()}
    assert value(curves, found) >= value(curves, naive) - 1e-6 * max(1.0, value(curves, naive))
    # channels strictly inside their bounds earn the same at the margin
    inside = [c.marginal(found[n]) for n, c in curves.items() if bounds[n][0] + 1e-3 < found[n] < bounds[n][1] - 1e-3]
    if len(inside) > 1 and all(c.a > 0 for c in curves.values()):
        assert max(inside) == pytest.approx(min(inside), rel=1e-6)


def test_a_flat_curve_gets_money_only_when_every_other_channel_is_full():
    curves = {"flat": Curve(0, 100), "rising": Curve(1_000, 100)}
    bounds = {"flat": (0, 500), "rising": (0, 300)}
    assert optimize(curves, 200, bounds) == {"flat": 0.0, "rising": pytest.approx(200.0)}
    assert optimize(curves, 700, bounds) == {"flat": pytest.approx(400.0), "rising": 300.0}


@pytest.mark.parametrize(
    ("total", "bounds", "message"),
    [
        (50, {"x": (100, 200)}, "cannot be spent within the bounds: 100.00 to 200.00"),
        (500, {"x": (100, 200)}, "cannot be spent within the bounds"),
        (150, {"x": (300, 200)}, "0 ≤ low ≤ high"),
        (150, {"y": (100, 200)}, "different channels"),
    ],
)
def test_it_refuses_an_impossible_allocation(total, bounds, message):
    with pytest.raises(CurveError, match=message):
        optimize({"x": Curve(10, 10)}, total, bounds)
