"""Diminishing-returns response curves: how a channel's monthly revenue grows with its monthly spend.

The curve is revenue = a · ln(1 + spend / b), with a ≥ 0 and b > 0. It starts at zero, rises
at a / b per unit of spend at first, and the next unit of spend returns a / (b + spend): at a
spend of b the marginal return has halved, at 3b it is a quarter. It never flattens out
completely (unlike a Hill curve), so a channel is never worth exactly nothing at the margin,
and it has two parameters, which is all twenty-odd monthly points can carry. Its marginal
return is strictly decreasing, which is what makes the budget optimiser below exact.

Fitting is ordinary least squares. For a fixed b the best a has a closed form,
a = Σ x·r / Σ x² with x = ln(1 + spend / b) (clipped at 0: revenue does not fall with spend);
b is searched on a logarithmic grid from 1/1000 to 1000 times the median month's spend and
then refined by golden-section search between the grid neighbours of the best point. At the
top of that range the curve is a straight line (no diminishing returns in the data), at the
bottom a logarithm.

Uncertainty comes from a bootstrap over months: the months are resampled with replacement,
the curve is refitted to each resample, and an interval for any projection is the range of
the middle `level` (default 90 %) of the refitted curves' projections (percentile method).
The generator is seeded, so the same data give the same interval.

Everything here is plain numpy: no I/O, no database.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

MIN_MONTHS = 4
GRID = np.linspace(-3.0, 3.0, 121)  # log10 of b / median spend
GOLDEN = (math.sqrt(5) - 1) / 2
GOLDEN_STEPS = 60
FLAT = 1e-12


class CurveError(ValueError):
    """The data cannot carry a curve, or an allocation is impossible; the message says why."""


@dataclass(frozen=True)
class Curve:
    """revenue = a · ln(1 + spend / b)."""

    a: float
    b: float

    def revenue(self, spend):
        return self.a * np.log1p(np.asarray(spend, dtype=float) / self.b)

    def marginal(self, spend):
        """Revenue from the next unit of spend."""
        return self.a / (self.b + np.asarray(spend, dtype=float))


@dataclass(frozen=True)
class ChannelFit:
    """A channel's curve, its fit and the bootstrap curves behind its intervals."""

    curve: Curve
    months: int
    months_with_spend: int
    r2: float | None
    baseline_spend: float  # the average month's spend over the months fitted
    mean_revenue: float  # the average month's revenue over the months fitted
    draws_a: np.ndarray = field(repr=False)
    draws_b: np.ndarray = field(repr=False)

    def draw_revenue(self, spend: float) -> np.ndarray:
        """Each bootstrap curve's revenue at `spend`."""
        return self.draws_a * np.log1p(spend / self.draws_b)

    def draw_marginal(self, spend: float) -> np.ndarray:
        return self.draws_a / (self.draws_b + spend)


def fit_curve(spend, revenue) -> Curve:
    """The least-squares curve through the points (spend, revenue)."""
    spend, revenue = _points(spend, revenue)
    a, b = _fit_many(spend[None, :], revenue[None, :], _reference(spend))
    return Curve(float(a[0]), float(b[0]))


def fit_channel(spend, revenue, *, draws: int = 500, seed: int | Sequence[int] = 0) -> ChannelFit:
    """Fit a channel's months (zero-spend months included) and bootstrap them `draws` times.

    Refuses with CurveError when fewer than MIN_MONTHS months had any spend.
    """
    spend, revenue = _points(spend, revenue)
    with_spend = int(np.count_nonzero(spend > 0))
    if with_spend < MIN_MONTHS:
        raise CurveError(f"needs at least {MIN_MONTHS} months with spend to fit a curve; has {with_spend}")
    if draws < 1:
        raise CurveError(f"draws must be at least 1, not {draws}")
    reference = _reference(spend)
    a, b = _fit_many(spend[None, :], revenue[None, :], reference)
    picks = np.random.default_rng(seed).integers(0, spend.size, size=(draws, spend.size))
    draws_a, draws_b = _fit_many(spend[picks], revenue[picks], reference)
    curve = Curve(float(a[0]), float(b[0]))
    return ChannelFit(
        curve=curve,
        months=int(spend.size),
        months_with_spend=with_spend,
        r2=r_squared(curve, spend, revenue),
        baseline_spend=float(spend.mean()),
        mean_revenue=float(revenue.mean()),
        draws_a=draws_a,
        draws_b=draws_b,
    )


def r_squared(curve: Curve, spend, revenue) -> float | None:
    """1 − SSE / SST (SST about the mean); None when the revenue never varies."""
    spend, revenue = _points(spend, revenue)
    total = float(((revenue - revenue.mean()) ** 2).sum())
    if total == 0:
        return None
    return 1 - float(((revenue - curve.revenue(spend)) ** 2).sum()) / total


def interval(values: np.ndarray, level: float = 0.9) -> tuple[float, float]:
    """The percentile interval holding the middle `level` of the values."""
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(values, [tail, 100 - tail])
    return float(low), float(high)


def scenario(fits: Mapping[str, ChannelFit], spends: Mapping[str, float], level: float = 0.9) -> dict:
    """Projected monthly revenue per channel at `spends` (baseline where not named), against baseline.

    Every number carries its bootstrap interval. Channels are bootstrapped apart, so the
    total's interval treats them as independent.
    """
    unknown = sorted(set(spends) - set(fits))
    if unknown:
        raise CurveError(f"no curve for {', '.join(unknown)}")
    # The totals are arrays of draws once the first channel's are added.
    rows, total_new, total_base = [], np.zeros(()), np.zeros(())
    for channel, fit in fits.items():
        spend = float(spends.get(channel, fit.baseline_spend))
        if spend < 0:
            raise CurveError(f"{channel}: spend cannot be negative ({spend})")
        new, base = fit.draw_revenue(spend), fit.draw_revenue(fit.baseline_spend)
        total_new, total_base = total_new + new, total_base + base
        rows.append({"channel": channel, **_compare(fit.curve, fit.baseline_spend, spend, base, new, level)})
    base_point = sum(r["baseline_revenue"] for r in rows)
    new_point = sum(r["revenue"] for r in rows)
    total = {
        "baseline_spend": sum(r["baseline_spend"] for r in rows),
        "spend": sum(r["spend"] for r in rows),
        **_revenues(base_point, new_point, total_base, total_new, level),
    }
    return {"channels": rows, "total": total}


def _compare(curve: Curve, baseline: float, spend: float, base, new, level: float) -> dict:
    point_base, point_new = float(curve.revenue(baseline)), float(curve.revenue(spend))
    return {"baseline_spend": baseline, "spend": spend, **_revenues(point_base, point_new, base, new, level)}


def _revenues(point_base: float, point_new: float, base, new, level: float) -> dict:
    if np.isscalar(base):  # no channel at all
        base = new = np.zeros(1)
    base_low, base_high = interval(base, level)
    low, high = interval(new, level)
    change_low, change_high = interval(new - base, level)
    return {
        "baseline_revenue": point_base,
        "baseline_low": base_low,
        "baseline_high": base_high,
        "revenue": point_new,
        "low": low,
        "high": high,
        "change": point_new - point_base,
        "change_low": change_low,
        "change_high": change_high,
    }


# ---- the optimiser -----------------------------------------------------------------------------


def optimize(curves: Mapping[str, Curve], total: float, bounds: Mapping[str, tuple[float, float]]) -> dict[str, float]:
    """The spend per channel that maximises Σ curve(spend), spending exactly `total` within bounds.

    Each curve's marginal return a / (b + s) falls as spend rises, so the optimum equalises
    marginal returns (Karush–Kuhn–Tucker): at a price λ every channel spends
    clip(a / λ − b, low, high), and λ is found by bisection so the spends add up to `total`.
    Channels whose curve is flat (a = 0) take what is left over only after every other
    channel has reached its ceiling.
    """
    names = list(curves)
    if set(bounds) != set(names):
        missing = sorted(set(names) ^ set(bounds))
        raise CurveError(f"bounds and curves name different channels: {', '.join(missing)}")
    low = np.array([float(bounds[n][0]) for n in names])
    high = np.array([float(bounds[n][1]) for n in names])
    for name, lo, hi in zip(names, low, high, strict=True):
        if not 0 <= lo <= hi:
            raise CurveError(f"{name}: bounds must satisfy 0 ≤ low ≤ high, not {lo:g}–{hi:g}")
    slack = 1e-9 * max(1.0, abs(total))
    if not low.sum() - slack <= total <= high.sum() + slack:
        raise CurveError(
            f"a total of {total:,.2f} cannot be spent within the bounds: {low.sum():,.2f} to {high.sum():,.2f}"
        )
    a = np.array([curves[n].a for n in names])
    b = np.array([curves[n].b for n in names])
    spend = _water_fill(a, b, low, high, min(max(total, low.sum()), high.sum()))
    return {n: float(s) for n, s in zip(names, spend, strict=True)}


def _water_fill(a, b, low, high, total: float) -> np.ndarray:
    # Prices relative to the steepest curve keep the bisection inside floating point's range;
    # a curve a trillion times flatter than that one counts as flat.
    a = a / a.max() if a.max() > 0 else a
    rising = a > FLAT

    def at(price: float) -> np.ndarray:
        wanted = np.where(rising, a / price - b, -np.inf)
        return np.clip(wanted, low, high)

    if not rising.any():
        return _top_up(low.copy(), high, total, np.ones_like(rising))
    # At the top price every channel sits at its floor; at the bottom every rising one at its ceiling.
    top = float(np.max(a[rising] / (b[rising] + low[rising])))
    bottom = float(np.min(a[rising] / (b[rising] + high[rising])))
    if at(bottom).sum() <= total:
        return _top_up(at(bottom), high, total, ~rising)
    lo_log, hi_log = math.log(bottom), math.log(top)
    for _ in range(200):
        middle = (lo_log + hi_log) / 2
        if at(math.exp(middle)).sum() > total:
            lo_log = middle
        else:
            hi_log = middle
    spend = at(math.exp(hi_log))
    return _top_up(spend, high, total, rising & (spend < high))


def _top_up(spend: np.ndarray, high: np.ndarray, total: float, may: np.ndarray) -> np.ndarray:
    """Hand what is still unspent (bisection's last crumb, or money for flat curves) out in order."""
    left = total - spend.sum()
    for i in np.flatnonzero(may):
        if left <= 0:
            break
        extra = min(left, high[i] - spend[i])
        spend[i] += extra
        left -= extra
    return spend


# ---- the fit -----------------------------------------------------------------------------------


def _points(spend, revenue) -> tuple[np.ndarray, np.ndarray]:
    spend, revenue = np.asarray(spend, dtype=float), np.asarray(revenue, dtype=float)
    if spend.shape != revenue.shape or spend.ndim != 1:
        raise CurveError("spend and revenue must be two lists of the same length")
    if not (np.isfinite(spend).all() and np.isfinite(revenue).all()):
        raise CurveError("spend and revenue must be finite numbers")
    if (spend < 0).any():
        raise CurveError("spend cannot be negative")
    if not (spend > 0).any():
        raise CurveError("needs at least one month with spend")
    return spend, revenue


def _reference(spend: np.ndarray) -> float:
    return float(np.median(spend[spend > 0]))


def _best_a(spend: np.ndarray, revenue: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For fits (rows) at their b: the closed-form a and the sum of squared errors."""
    x = np.log1p(spend / b[:, None])
    xx = (x * x).sum(axis=1)
    safe = np.where(xx > 0, xx, 1.0)
    a = np.where(xx > 0, np.maximum((x * revenue).sum(axis=1) / safe, 0.0), 0.0)
    sse = ((revenue - a[:, None] * x) ** 2).sum(axis=1)
    return a, sse


def _fit_many(spend: np.ndarray, revenue: np.ndarray, reference: float) -> tuple[np.ndarray, np.ndarray]:
    """Least-squares (a, b) for each row of spend and revenue: grid over log b, then golden section."""
    rows = spend.shape[0]
    grid = math.log(reference) + GRID * math.log(10)
    sse = np.stack([_best_a(spend, revenue, np.full(rows, math.exp(t)))[1] for t in grid], axis=1)
    best = sse.argmin(axis=1)
    lo = grid[np.maximum(best - 1, 0)]
    hi = grid[np.minimum(best + 1, grid.size - 1)]

    def cost(t: np.ndarray) -> np.ndarray:
        return _best_a(spend, revenue, np.exp(t))[1]

    for _ in range(GOLDEN_STEPS):
        left, right = hi - GOLDEN * (hi - lo), lo + GOLDEN * (hi - lo)
        keep_left = cost(left) <= cost(right)
        hi = np.where(keep_left, right, hi)
        lo = np.where(keep_left, lo, left)
    refined = (lo + hi) / 2
    # Golden section finds a local minimum; keep the grid point if it was better still.
    f_refined = cost(refined)
    t = np.where(f_refined <= sse[np.arange(rows), best], refined, grid[best])
    b = np.exp(t)
    return _best_a(spend, revenue, b)[0], b
