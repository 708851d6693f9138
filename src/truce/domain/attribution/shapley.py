"""Shapley-value attribution over channels, exact per channel set, sampled only for big sets.

The game (after Dalessandro, Perlich, Stitelman & Provost 2012, "Causally motivated
attribution for online advertising", ADKDD; the same characteristic function as
marketing-attribution-models' `conv_rate` and `conversions` options):

- A journey's coalition is the set of distinct channels it touched; order and repeats
  do not matter.
- For every coalition S seen on a converting journey, the players are S's channels and a
  sub-coalition T ⊆ S is worth v(T):
    "rate"         the conversion rate of journeys whose coalition is exactly T
                   (conversions ÷ journeys, converting or not; 0 when no journey has T);
    "conversions"  the conversions (or, for the revenue credit, the revenue) of journeys
                   whose coalition is exactly T.
- φ_i(S) = Σ_{T ⊆ S∖{i}} |T|! (|S|−|T|−1)! / |S|! · (v(T ∪ {i}) − v(T)) (Shapley 1953).
- "rate": the φ(S) are shares; S's conversions and S's revenue are split in proportion to
  them (they sum to v(S) − v(∅) = v(S) > 0 because S converted). "conversions": φ(S) is the
  credit itself (it sums to v(S), S's conversions or revenue, by efficiency).
- A channel's credit is the sum of its credits over every converting coalition, so the
  credits add up to the converted total exactly.

A coalition of at most `exact_limit` channels is solved exactly over its 2^|S| subsets.
Beyond that, φ(S) is estimated from `samples` random orderings of S (Castro, Gómez & Tejada
2009), seeded, and the standard error of every estimate is returned with it.
Credits can be negative under "rate": a channel whose presence goes with a lower
conversion rate takes credit away from the others in its coalition.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import factorial

import numpy as np

VALUES = ("rate", "conversions")
DENSE_CHANNELS = 20  # up to 2^20 masks: a table of every coalition's worth is 16 MiB


@dataclass(frozen=True)
class Coalitions:
    """Journeys grouped by their coalition, a bit mask over channel ids (bit i = channel i)."""

    mask: np.ndarray  # int64, distinct
    journeys: np.ndarray
    conversions: np.ndarray
    revenue: np.ndarray


@dataclass(frozen=True)
class ShapleyResult:
    conversions: np.ndarray
    revenue: np.ndarray
    stderr_conversions: np.ndarray  # 0 where every coalition was solved exactly
    stderr_revenue: np.ndarray
    sampled_coalitions: int  # converting coalitions too big to solve exactly


def attribute(
    coalitions: Coalitions,
    n_channels: int,
    *,
    value: str = "rate",
    exact_limit: int = 15,
    samples: int = 2000,
    seed: int = 0,
) -> ShapleyResult:
    if value not in VALUES:
        raise ValueError(f"unknown Shapley value {value!r}; choose rate or conversions")
    game = _Game(coalitions, value)
    totals = [np.zeros(n_channels) for _ in range(4)]
    sampled = 0
    rng = np.random.default_rng(seed)
    rest = np.flatnonzero(coalitions.conversions > 0)
    if n_channels <= DENSE_CHANNELS:
        # Every coalition solved exactly in one compiled call, its sub-coalitions' worth looked
        # up in a table over all masks; the few too big to solve exactly go on below.
        exact = np.array([int(m).bit_count() <= exact_limit for m in coalitions.mask[rest]], dtype=bool)
        game.exact_all(rest[exact], n_channels, totals[0], totals[1])
        rest = rest[~exact]
    for i in rest:
        members = _bits(int(coalitions.mask[i]))
        if len(members) <= exact_limit:
            parts = game.exact(int(coalitions.mask[i]), members)
            errors = (np.zeros(len(members)), np.zeros(len(members)))
        else:
            sampled += 1
            parts, errors = game.sampled(members, samples, rng)
        conv, rev = game.credit(i, parts)
        scale = game.scale(i, parts)
        totals[0][members] += conv
        totals[1][members] += rev
        # Independent coalitions: variances add.
        totals[2][members] += (errors[0] * scale[0]) ** 2
        totals[3][members] += (errors[1] * scale[1]) ** 2
    return ShapleyResult(totals[0], totals[1], np.sqrt(totals[2]), np.sqrt(totals[3]), sampled)


def _bits(mask: int) -> list[int]:
    found, i = [], 0
    while mask:
        if mask & 1:
            found.append(i)
        mask >>= 1
        i += 1
    return found


class _Game:
    """v(T) for exact coalitions T, looked up by mask; two games: conversions and revenue."""

    def __init__(self, c: Coalitions, value: str) -> None:
        self.conversions = c.conversions.astype(float)
        self.revenue = c.revenue.astype(float)
        self.rate = value == "rate"
        order = np.argsort(c.mask)
        self.masks_in_input_order = c.mask.astype(np.int64)
        self.masks = c.mask[order]
        if self.rate:
            journeys = c.journeys[order].astype(float)
            worth = np.divide(self.conversions[order], journeys, out=np.zeros(len(journeys)), where=journeys > 0)
            self.worth = (worth, worth)
        else:
            self.worth = (self.conversions[order], self.revenue[order])

    def exact_all(self, rows: np.ndarray, n_channels: int, conversions: np.ndarray, revenue: np.ndarray) -> None:
        """Add the exact credit of coalitions `rows` to the per-channel totals (compiled)."""
        from truce.analytics.kernels import exact_shapley

        worth = [np.zeros(1 << n_channels), np.zeros(1 << n_channels)]
        for table, values in zip(worth, self.worth, strict=True):
            table[self.masks] = values
        exact_shapley(
            self.masks_in_input_order, rows, worth[0], worth[1], self.conversions, self.revenue, self.rate,
            conversions, revenue,
        )  # fmt: skip

    def values(self, masks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        where = np.searchsorted(self.masks, masks)
        where = np.minimum(where, len(self.masks) - 1)
        seen = self.masks[where] == masks
        return np.where(seen, self.worth[0][where], 0.0), np.where(seen, self.worth[1][where], 0.0)

    def exact(self, mask: int, members: list[int]) -> tuple[np.ndarray, np.ndarray]:
        n = len(members)
        local = np.arange(1 << n, dtype=np.int64)  # subsets in the coalition's own bits
        full = np.zeros(1 << n, dtype=np.int64)
        for j, channel in enumerate(members):
            full |= ((local >> j) & 1) << channel
        v_conv, v_rev = self.values(full)
        size = np.zeros(1 << n, dtype=np.int64)
        for j in range(n):
            size += (local >> j) & 1
        weight = np.array([factorial(s) * factorial(n - s - 1) / factorial(n) for s in range(n)])
        phi_conv, phi_rev = np.zeros(n), np.zeros(n)
        for j in range(n):
            without = local[(local >> j) & 1 == 0]
            w = weight[size[without]]
            phi_conv[j] = np.dot(w, v_conv[without | (1 << j)] - v_conv[without])
            phi_rev[j] = np.dot(w, v_rev[without | (1 << j)] - v_rev[without])
        return phi_conv, phi_rev

    def sampled(self, members: list[int], samples: int, rng) -> tuple[tuple, tuple]:
        n = len(members)
        bits = np.array([1 << c for c in members], dtype=np.int64)
        orders = np.argsort(rng.random((samples, n)), axis=1)  # one random ordering per row
        prefix = np.cumsum(bits[orders], axis=1)  # bits are distinct: a sum is an OR
        v_conv, v_rev = self.values(prefix.ravel())
        v_conv, v_rev = v_conv.reshape(samples, n), v_rev.reshape(samples, n)
        gains = []
        for v in (v_conv, v_rev):
            step = np.diff(np.concatenate([np.zeros((samples, 1)), v], axis=1), axis=1)
            gain = np.empty_like(step)
            np.put_along_axis(gain, orders, step, axis=1)  # gain[s, j]: member j's marginal gain
            gains.append(gain)
        means = tuple(g.mean(axis=0) for g in gains)
        errors = tuple(g.std(axis=0, ddof=1) / np.sqrt(samples) for g in gains)
        return means, errors

    def credit(self, i: int | np.integer, parts: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        if not self.rate:
            return parts
        share = parts[0] / parts[0].sum()
        return share * self.conversions[i], share * self.revenue[i]

    def scale(self, i: int | np.integer, parts) -> tuple[float, float]:
        """What turns a φ's standard error into a credit's."""
        if not self.rate:
            return 1.0, 1.0
        whole = parts[0].sum()
        return self.conversions[i] / whole, self.revenue[i] / whole
