"""Splitting money exactly: shares of a deal, and a bonus pool between people. Plain Python, no I/O.

Money is split in whole cents by the largest-remainder method (Hamilton's): each part gets its
exact quota rounded down to the cent, and the cents left over go one each to the parts with the
largest fractions cut off (ties: the earlier part). The parts always add up to the whole, to the
cent, and no part is more than a cent from its exact quota.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from decimal import Decimal
from fractions import Fraction

CENT = Decimal("0.01")


class SplitError(ValueError):
    """A split that cannot be made as asked; the message says why."""


def to_cents(amount: Decimal) -> int:
    cents = Fraction(amount) * 100
    if cents.denominator != 1:
        raise SplitError(f"{amount} is not a whole number of cents")
    return int(cents)


def from_cents(cents: int) -> Decimal:
    return (Decimal(cents) / 100).quantize(CENT)


def split_cents(total: Decimal, weights: Sequence[Fraction | Decimal | float | int]) -> list[Decimal]:
    """`total` shared in proportion to `weights` (equally when they are all 0), to the cent.

    Exact, in whole numbers: every weight is a ratio of integers (floats and Decimals too), so
    over their common denominator they become integers in the same proportion, and each part's
    quota is an integer division whose remainder ranks the parts for the cents left over. The
    same answer as Fractions, without building one per weight (the credit ledger splits every
    won deal)."""
    if not weights:
        return []
    ratios = [w.as_integer_ratio() for w in weights]
    scale = math.lcm(*(denominator for _, denominator in ratios))
    exact = [numerator * (scale // denominator) for numerator, denominator in ratios]
    if any(w < 0 for w in exact):
        raise SplitError("a weight cannot be negative")
    whole = sum(exact)
    if whole == 0:
        exact, whole = [1] * len(exact), len(exact)
    cents = to_cents(total)
    quotas = [divmod(cents * w, whole) for w in exact]  # (cents, remainder in 1/whole of a cent)
    parts = [floor for floor, _ in quotas]
    left = cents - sum(parts)
    for i in sorted(range(len(parts)), key=lambda i: (-quotas[i][1], i))[:left]:
        parts[i] += 1
    return [from_cents(p) for p in parts]


def clamped_shares(
    total: Fraction, weights: Sequence[Fraction], floor: Fraction | None = None, cap: Fraction | None = None
) -> list[Fraction]:
    """`total` in proportion to `weights`, but each part at least `floor` and at most `cap`.

    The parts are clamp(λ · weight, floor, cap) for the one λ that makes them add up to the
    total (water-filling): what a capped person cannot take goes to the others in proportion,
    and a floor is paid first out of everyone else's share. Exact, in Fractions.
    """
    n = len(weights)
    lo = floor or Fraction(0)
    if total < n * lo:
        raise SplitError(f"the pool {float(total):,.2f} cannot pay the floor of {float(lo):,.2f} to {n} people")
    w = list(weights) if any(weights) else [Fraction(1)] * n
    top = sum(lo if x == 0 else (cap if cap is not None else total) for x in w)
    if cap is not None and total > top:
        raise SplitError(
            f"the pool {float(total):,.2f} is more than {n} people can take under the cap of {float(cap):,.2f}"
        )

    def part(lam: Fraction, x: Fraction) -> Fraction:
        value = max(lam * x, lo)
        return min(value, cap) if cap is not None else value

    def paid(lam: Fraction) -> Fraction:
        return sum((part(lam, x) for x in w), Fraction(0))

    bends = sorted({b for x in w if x > 0 for b in (lo / x, *((cap / x,) if cap is not None else ()))} | {Fraction(0)})
    bends.append(bends[-1] * 2 + total / min(x for x in w if x > 0) + 1)  # beyond every bend
    for a, b in zip(bends, bends[1:], strict=False):
        if paid(b) >= total:
            # Between two bends no part changes between clamped and free: paid() is linear there.
            middle = (a + b) / 2
            free = [lo < middle * x and (cap is None or middle * x < cap) for x in w]
            slope = sum(x for x, f in zip(w, free, strict=True) if f)
            fixed = sum(part(middle, x) for x, f in zip(w, free, strict=True) if not f)
            lam = a if slope == 0 else (total - fixed) / slope
            return [part(lam, x) for x in w]
    raise SplitError("the pool cannot be split under these limits")  # unreachable: checked above
