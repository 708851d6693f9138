"""Attribution maths: exact Markov removal effects, Shapley values, and the credit they give.

Rule-based weights are computed inside the analytics engine (truce.analytics.attribution),
because they touch every journey; what comes back is small, and the maths on it is here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from truce.domain.attribution.registry import DATA_MODELS, FILE_MODELS, RULE_MODELS
from truce.domain.attribution.registry import NAMES as MODELS

__all__ = ["DATA_MODELS", "FILE_MODELS", "MODELS", "RULE_MODELS", "Credit", "decode_state", "fit_to_total"]


@dataclass
class Credit:
    """What each key earned: conversions and revenue, summing to the converted totals."""

    labels: list[str | None]
    conversions: np.ndarray
    revenue: np.ndarray
    total_conversions: float
    total_revenue: float
    journeys: int
    notes: list[str] = field(default_factory=list)
    stderr_conversions: np.ndarray | None = None
    stderr_revenue: np.ndarray | None = None

    def rows(self) -> list[dict]:
        """One row per key that earned anything, largest revenue first (then conversions, then key)."""
        rows = []
        for i, label in enumerate(self.labels):
            conv, rev = float(self.conversions[i]), float(self.revenue[i])
            if conv == 0 and rev == 0:
                continue
            row: dict[str, Any] = {
                "key": label,
                "conversions": conv,
                "revenue": rev,
                "share": conv / self.total_conversions if self.total_conversions else 0.0,
            }
            if self.stderr_conversions is not None and self.stderr_revenue is not None:
                row["stderr_conversions"] = float(self.stderr_conversions[i])
                row["stderr_revenue"] = float(self.stderr_revenue[i])
            rows.append(row)
        rows.sort(key=lambda r: (-r["revenue"], -r["conversions"], r["key"] is None, str(r["key"])))
        return rows


def fit_to_total(credits: np.ndarray, total: float) -> np.ndarray:
    """Credits that should add up to `total`, nudged so that np.sum of them does.

    Solving and summing in floating point leaves the sum a few ulps off; the largest credit
    absorbs the remainder, then single float steps of the largest and smallest credits
    close what that rounded addition left. The sum is then exact, or — in about 1 % of
    random cases, where no single step lands on the total — one unit in the last place off.
    """
    credits = np.asarray(credits, dtype=float).copy()
    if len(credits) == 0 or total == 0 and not credits.any():
        return credits
    largest = int(np.argmax(np.abs(credits)))
    credits[largest] += total - float(np.sum(credits))
    # One rounded addition can leave the sum an ulp or two away, and a single credit's steps
    # may straddle the total: walk credits a step at a time, the largest first.
    order = np.argsort(-np.abs(credits))
    for i in np.concatenate([order[:8], order[::-1][:8]]):
        for _ in range(8):
            gap = total - float(np.sum(credits))
            if gap == 0:
                return credits
            before = credits[i]
            credits[i] = np.nextafter(before, np.inf if gap > 0 else -np.inf)
            if abs(total - float(np.sum(credits))) > abs(gap) or (total - float(np.sum(credits))) * gap < 0:
                credits[i] = before  # this credit's step overshoots: try the next one
                break
    return credits


def decode_state(state: int, n_keys: int, order: int) -> tuple[int, ...]:
    """The keys a Markov state remembers (see truce.analytics.attribution.transitions)."""
    base, found = n_keys + 1, []
    for _ in range(order):
        state, digit = divmod(state, base)
        if digit:
            found.append(digit - 1)
    return tuple(found)
