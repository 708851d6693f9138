"""The attribution aggregates from touches already sorted by journey, time and key, in numpy.

The embedded fast path for big files: the same small results as the Ibis expressions in
truce.analytics.attribution (per-key credit, Markov transitions, channel-set coalitions),
computed over flat arrays in one pass each. The tests run both on the same journeys and
compare.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import log

import numpy as np

from truce.domain.attribution.registry import POSITION_BASED

MICROS_PER_DAY = 86_400_000_000


@dataclass
class SortedTouches:
    """Touches in journey order; `start[j]` is where journey j's touches begin."""

    key: np.ndarray  # small non-negative int per touch (any integer dtype)
    ts: np.ndarray | None  # int64 µs per touch; only time_decay needs it
    start: np.ndarray  # int64 per journey, plus len(key) at the end
    converted: np.ndarray  # bool per journey
    revenue: np.ndarray  # float per journey (0 when it did not convert)

    @property
    def journeys(self) -> int:
        return len(self.start) - 1

    def lengths(self) -> np.ndarray:
        return np.diff(self.start)

    def journey_of_touch(self) -> np.ndarray:
        return np.repeat(np.arange(self.journeys), self.lengths())


def heuristic(t: SortedTouches, model: str, n_keys: int, half_life_days: float = 7.0) -> tuple[np.ndarray, np.ndarray]:
    """(conversions, revenue) per key under a rule-based model (rules: analytics.attribution)."""
    won = np.flatnonzero(t.converted)
    n = t.lengths()[won]
    first = t.start[won]
    last = first + n - 1
    owner = np.repeat(np.arange(len(won)), n)
    index = np.repeat(first, n) + (np.arange(n.sum()) - np.repeat(np.cumsum(n) - n, n))
    pos = index - np.repeat(first, n)
    length = np.repeat(n, n)
    if model == "first_touch":
        weight = (pos == 0).astype(float)
    elif model == "last_touch":
        weight = (pos == length - 1).astype(float)
    elif model == "linear":
        weight = 1.0 / length
    elif model == "position_based":
        u = POSITION_BASED
        edge = np.where(length == 1, 1.0, np.where(length == 2, 0.5, u.edge))
        middle = u.middle / np.maximum(length - 2, 1)
        weight = np.where((pos == 0) | (pos == length - 1), edge, middle)
    elif model == "time_decay":
        if t.ts is None:  # the caller's slip: touches were read without their times
            raise ValueError("time_decay needs the touches' times")
        conv_ts = t.ts[last][owner]
        raw = np.exp((conv_ts - t.ts[index]) / MICROS_PER_DAY * (-log(2) / half_life_days))
        weight = raw / np.bincount(owner, raw)[owner]
    else:
        raise ValueError(f"the fast path has no model {model!r}")
    keys = t.key[index]
    conversions = np.bincount(keys, weight, minlength=n_keys)
    revenue = np.bincount(keys, weight * t.revenue[won][owner], minlength=n_keys)
    return conversions, revenue


def transitions(t: SortedTouches, order: int, n_keys: int) -> dict[str, np.ndarray]:
    """src, dst, count, value — the same table as analytics.attribution.transitions."""
    if order == 1:
        return _first_order(t, n_keys)
    opens = np.zeros(len(t.key), dtype=bool)
    opens[t.start[:-1]] = True
    fresh = opens.copy()
    fresh[1:] |= t.key[1:] != t.key[:-1]  # a repeat of the previous key is not a step
    key, opens = t.key[fresh].astype(np.int64), opens[fresh]
    del fresh
    base = n_keys + 1
    state = key + 1
    # Walk back `order` − 1 steps inside each journey: (k steps back) + 1, or 0 past its start.
    place = np.arange(len(key)) - np.flatnonzero(opens)[np.cumsum(opens) - 1]
    for back in range(1, order):
        earlier = np.zeros(len(key), dtype=np.int64)
        ok = np.flatnonzero(place >= back)
        earlier[ok] = key[ok - back] + 1
        state = state + earlier * base**back
    src = np.empty_like(state)
    src[0] = -1
    src[1:] = state[:-1]
    src[opens] = -1
    # Every journey ends once, in journey order: the step before the next journey opens.
    ends = np.append(np.flatnonzero(opens)[1:] - 1, len(state) - 1)
    end_dst = np.where(t.converted, -2, -3)
    end_value = np.where(t.converted, t.revenue, 0.0)
    return _count(
        np.concatenate([src, state[ends]]),
        np.concatenate([state, end_dst]),
        np.concatenate([np.zeros(len(src)), end_value]),
    )


def _first_order(t: SortedTouches, n_keys: int) -> dict[str, np.ndarray]:
    """transitions() for order 1, block by block: the same table without touch-sized temporaries.

    A state is key + 1; a step is a touch whose key differs from the previous touch's in the
    same journey (or that opens the journey, from −1). Pairs are counted under one integer
    (src + 3) · width + (dst + 3), so sorted codes are sorted (src, dst) as in _count; the
    values are the journeys' end values, summed in journey order as _count sums them.
    """
    width = n_keys + 4
    small = width * width <= 1 << 20
    skip = width * width  # where repeats of the previous key are counted, then dropped
    counts = np.zeros(skip + 1 if small else 0, dtype=np.int64)  # unused (empty) when not small
    found = []
    opening = t.start[:-1]
    m, block = len(t.key), 1 << 18
    cur, prev, pair = (np.empty(min(m, block), dtype=np.int64) for _ in range(3))
    same = np.empty(min(m, block), dtype=bool)
    for at in range(0, m, block):
        stop = min(m, at + block)
        size = stop - at
        c, b, q, s = cur[:size], prev[:size], pair[:size], same[:size]
        c[:] = t.key[at:stop]
        b[1:] = c[:-1]
        b[0] = t.key[at - 1] if at else 0
        # From the previous key's state: (b + 1 + 3) · width + (c + 1 + 3).
        np.multiply(b, width, out=q)
        q += c
        q += 4 * width + 4
        np.equal(c, b, out=s)
        q[s] = skip
        lo, hi = np.searchsorted(opening, [at, stop])
        here = opening[lo:hi] - at
        q[here] = c[here] + (2 * width + 4)  # a journey opens from −1, repeat or not
        if small:
            counts += np.bincount(q, minlength=skip + 1)
        else:
            found.append(q[q != skip])
    # Every journey ends once, from its last touch's state, to −2 (converted) or −3 ...
    journeys = len(t.start) - 1
    for at in range(0, journeys, block):
        stop = min(journeys, at + block)
        end = t.key[t.start[at + 1 : stop + 1] - 1].astype(np.int64)
        end += 4
        end *= width
        end += t.converted[at:stop]
        if small:
            counts += np.bincount(end, minlength=skip + 1)
        else:
            found.append(end)
    # ... and only a converted journey carries a value: summed in journey order, as _count
    # sums them (the zeros it adds for the others change no bit).
    won = np.flatnonzero(t.converted)
    won_end = (t.key[t.start[won + 1] - 1].astype(np.int64) + 4) * width + 1
    if small:
        counts = counts[:skip]
        values = np.bincount(won_end, t.revenue[won], minlength=skip)
        seen = np.flatnonzero(counts)
        count, total = counts[seen], values[seen]
    else:
        seen, inverse = np.unique(np.concatenate(found), return_inverse=True)
        count = np.bincount(inverse, minlength=len(seen))
        total = np.bincount(np.searchsorted(seen, won_end), t.revenue[won], minlength=len(seen))
    return {
        "src": seen // width - 3,
        "dst": seen % width - 3,
        "count": count.astype(np.int64),
        "value": total,
    }


def _count(src: np.ndarray, dst: np.ndarray, value: np.ndarray) -> dict[str, np.ndarray]:
    # Ids from −3 (NULL) up: shifted by 3, a pair is one integer, and a small state space
    # is counted with bincount instead of sorting every transition.
    width = int(max(src.max(), dst.max())) + 4
    pair = (src + 3) * width + (dst + 3)
    if width * width <= 50_000_000:
        count = np.bincount(pair, minlength=width * width)
        total = np.bincount(pair, value, minlength=width * width)
        seen = np.flatnonzero(count)
        count, total = count[seen], total[seen]
    else:
        seen, inverse = np.unique(pair, return_inverse=True)
        count = np.bincount(inverse, minlength=len(seen))
        total = np.bincount(inverse, value, minlength=len(seen))
    return {
        "src": seen // width - 3,
        "dst": seen % width - 3,
        "count": count.astype(np.int64),
        "value": total,
    }


def coalitions(t: SortedTouches) -> dict[str, np.ndarray]:
    """mask, journeys, conversions, revenue — as analytics.attribution.coalitions."""
    # Journey by journey, the OR of 1 << key over its touches; in blocks of journeys.
    bit = np.left_shift(np.int64(1), np.arange(int(t.key.max()) + 1 if len(t.key) else 1, dtype=np.int64))
    mask = np.zeros(t.journeys, dtype=np.int64)
    block = 1 << 20
    for at in range(0, t.journeys, block):
        first = t.start[at : at + block + 1]
        begin = first[0]
        mask[at : at + block] = np.bitwise_or.reduceat(bit[t.key[begin : first[-1]]], first[:-1] - begin)
    found, inverse = np.unique(mask, return_inverse=True)
    return {
        "mask": found,
        "journeys": np.bincount(inverse, minlength=len(found)).astype(np.int64),
        "conversions": np.bincount(inverse, t.converted.astype(float), minlength=len(found)).astype(np.int64),
        "revenue": np.bincount(inverse, np.where(t.converted, t.revenue, 0.0), minlength=len(found)),
    }
