"""Targets: one shared revenue number per quarter, and marketing's MQL commitment per month."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from truce.demo.clock import DAY, HOUR, Window


@dataclass
class Targets:
    metric: list[str]
    team: list[str | None]
    period_start: np.ndarray  # epoch seconds at midnight
    period_end: np.ndarray  # the last day, at midnight
    amount_cents: np.ndarray
    created: np.ndarray


def _run_rate(window: Window, starts: np.ndarray, at: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """Per period, what the whole period would have brought at the pace of the part we saw."""
    periods = starts.size - 1
    actual = np.bincount(np.searchsorted(starts, at, side="right") - 1, weights=weight, minlength=periods)[:periods]
    seen = np.minimum(starts[1:], window.end) - np.maximum(starts[:-1], window.start)
    return actual * (starts[1:] - starts[:-1]) / np.maximum(seen, DAY)


def _plan(rng, run_rate: np.ndarray, unit: float) -> np.ndarray:
    """Last period and this one, plus a stretch; planners round, and sometimes miss the mark."""
    previous = np.r_[run_rate[:1], run_rate[:-1]]
    stretch = 1.1 * (previous + run_rate) / 2 * rng.uniform(0.93, 1.07, run_rate.size)
    return np.maximum(np.round(stretch / unit), 1) * unit


def make_targets(
    rng: np.random.Generator, window: Window, won_at: np.ndarray, won_cents: np.ndarray, mql_at: np.ndarray
) -> Targets:
    revenue = _plan(rng, _run_rate(window, window.quarter_starts, won_at, won_cents.astype(float)), 1_000_000)
    mqls = _plan(rng, _run_rate(window, window.month_starts, mql_at, np.ones(mql_at.size)), 5) * 100
    starts = np.r_[window.quarter_starts[:-1], window.month_starts[:-1]]
    ends = np.r_[window.quarter_starts[1:], window.month_starts[1:]] - DAY
    return Targets(
        metric=["revenue"] * revenue.size + ["mqls"] * mqls.size,
        team=[None] * revenue.size + ["marketing"] * mqls.size,
        period_start=starts,
        period_end=ends,
        amount_cents=np.r_[revenue, mqls].astype(np.int64),
        created=np.maximum(window.start, starts - 14 * DAY) + 9 * HOUR,
    )
