"""Markov-chain attribution with removal effects solved exactly on the absorbing chain.

Journeys are walks START → state → … → CONVERSION or NULL (Anderl, Becker, von Wangenheim
& Schumann 2016, "Mapping the customer journey", IJRM 33(3)). A state remembers the last
`order` channels of the journey after consecutive repeats are collapsed (a, a, b is a, b),
so repeating a channel changes nothing. Transition probabilities are the observed
transition counts divided by the counts out of each state.

Removing channel c sends every walk that reaches a state containing c to NULL. The
probability of conversion from START, with and without c, is the absorption probability
of the chain — found by solving (I − Q) x = r, not by simulating walks, so the answer is the
same on every run. The removal effect of c is 1 − P(conversion without c) / P(conversion),
and conversions are credited as the removal effects, normalised to sum to one, times the
converted total (ChannelAttribution's rule).

Revenue follows ChannelAttribution's value rule: a conversion's value belongs to the
state it converted from, each state's conversion edge carries the mean value of the
conversions that left from it, and the removal effect on revenue is
1 − E(value without c) / E(value) with E the expected conversion value from START.
Normalised revenue effects times the converted revenue are the revenue credits. The two
rules differ when channels close deals of different sizes; both are reported.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

START, CONVERSION, NULL = -1, -2, -3


class ChannelsOf(Protocol):
    """State id → the channel ids it contains: a list, or a lookup indexed like one."""

    def __getitem__(self, state: int, /) -> tuple[int, ...]: ...


@dataclass(frozen=True)
class Transitions:
    """Counted transitions between states; absorbing targets are CONVERSION and NULL.

    src, dst, count: one row per observed (from, to) pair, src START or a state id ≥ 0.
    value: the revenue carried by the row's conversions (0 on other rows).
    channels: for each state id, the channel ids it contains (order 1: just itself).
    """

    src: np.ndarray
    dst: np.ndarray
    count: np.ndarray
    value: np.ndarray
    channels: ChannelsOf


@dataclass(frozen=True)
class MarkovResult:
    conversion_probability: float
    expected_value: float
    removal_effects: np.ndarray  # per channel, on conversions
    value_removal_effects: np.ndarray  # per channel, on expected conversion value
    conversions: np.ndarray  # credited conversions per channel
    revenue: np.ndarray  # credited revenue per channel


def attribute(
    transitions: Transitions, n_channels: int, total_conversions: float, total_revenue: float
) -> MarkovResult:
    """Credit per channel id 0..n_channels-1 (shape of the result arrays)."""
    chain = _Chain.from_transitions(transitions)
    probability, value = chain.absorption()
    effects, value_effects = np.zeros(n_channels), np.zeros(n_channels)
    removed = chain.removal(transitions.channels, n_channels)
    for channel, (p_without, v_without) in removed.items():
        effects[channel] = 1 - p_without / probability if probability > 0 else 0.0
        value_effects[channel] = 1 - v_without / value if value > 0 else 0.0
    return MarkovResult(
        probability,
        value,
        effects,
        value_effects,
        _share(effects, total_conversions),
        _share(value_effects, total_revenue),
    )


def _share(effects: np.ndarray, total: float) -> np.ndarray:
    # Tiny negative effects are rounding noise of the solve: an exact effect is never below 0.
    effects = np.where(effects < 0, 0.0, effects)
    whole = effects.sum()
    return effects / whole * total if whole > 0 else np.zeros_like(effects)


@dataclass
class _Chain:
    """The transient part of the chain: START is row 0, state s is row index[s]."""

    states: np.ndarray  # state id of rows 1..n
    q: np.ndarray  # transient → transient probabilities
    to_conversion: np.ndarray  # transient → CONVERSION probabilities
    to_value: np.ndarray  # the same, times the mean value of those conversions

    @classmethod
    def from_transitions(cls, t: Transitions) -> _Chain:
        states = np.unique(np.concatenate([t.src[t.src >= 0], t.dst[t.dst >= 0]]))
        row = {int(s): i + 1 for i, s in enumerate(states)}
        row[START] = 0
        size = len(states) + 1
        counts = np.zeros((size, size))
        converted, value, out = np.zeros(size), np.zeros(size), np.zeros(size)
        for src, dst, n, v in zip(t.src.tolist(), t.dst.tolist(), t.count.tolist(), t.value.tolist(), strict=True):
            i = row[src]
            out[i] += n
            if dst >= 0:
                counts[i, row[dst]] += n
            elif dst == CONVERSION:
                converted[i] += n
                value[i] += v
        out[out == 0] = 1  # a state nobody leaves cannot be reached either
        mean_value = np.divide(value, converted, out=np.zeros(size), where=converted > 0)
        return cls(states, counts / out[:, None], converted / out, converted / out * mean_value)

    def absorption(self) -> tuple[float, float]:
        solved = np.linalg.solve(np.eye(len(self.q)) - self.q, np.column_stack([self.to_conversion, self.to_value]))
        return float(solved[0, 0]), float(solved[0, 1])

    def removal(self, channels: ChannelsOf, n_channels: int) -> dict[int, tuple[float, float]]:
        """(P(conversion), E(value)) from START with each channel's states turned into NULL."""
        holders: dict[int, list[int]] = {}
        for i, state in enumerate(self.states.tolist(), start=1):
            for channel in set(channels[state]):
                holders.setdefault(channel, []).append(i)
        if all(len(rows) == 1 for rows in holders.values()):
            return self._single_state_removal(holders)
        found = {}
        for channel, rows in holders.items():
            keep = np.setdiff1d(np.arange(len(self.q)), rows)  # START (row 0) is never removed
            q = self.q[np.ix_(keep, keep)]
            rhs = np.column_stack([self.to_conversion[keep], self.to_value[keep]])
            solved = np.linalg.solve(np.eye(len(keep)) - q, rhs)
            found[channel] = (float(solved[0, 0]), float(solved[0, 1]))
        return found

    def _single_state_removal(self, holders: dict[int, list[int]]) -> dict[int, tuple[float, float]]:
        # One state per channel (order 1): a walk converts avoiding state i with probability
        # x_START − P(it ever reaches i) · x_i, and P(reach i) = N[START, i] / N[i, i] for the
        # fundamental matrix N = (I − Q)⁻¹ — one inverse instead of one solve per channel.
        fundamental = np.linalg.inv(np.eye(len(self.q)) - self.q)
        x = fundamental @ self.to_conversion
        y = fundamental @ self.to_value
        found = {}
        for channel, (i,) in holders.items():
            reach = fundamental[0, i] / fundamental[i, i]
            found[channel] = (float(x[0] - reach * x[i]), float(y[0] - reach * y[i]))
        return found
