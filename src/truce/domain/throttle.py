"""How many failed log-ins a key (an email, a client address) may have before it must wait, and for how long.

A key gets `free` failures; the one that reaches `free` blocks it for `first_block` seconds, and
each failure after a block has passed doubles the wait, up to `longest_block`. A key without a
failure for `forget_after` seconds starts again from nothing. Attempts made while blocked are
refused before the password is checked, so they neither cost a password check nor count.

Pure: no clock, no store. truce.services.login_guard keeps the counts in the store and asks here.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Policy:
    free: int
    first_block: float  # seconds
    longest_block: float
    forget_after: float

    def __post_init__(self) -> None:
        if self.free < 1:
            raise ValueError("a throttle must allow at least one failure")
        if not 0 < self.first_block <= self.longest_block:
            raise ValueError("a throttle's first block must be positive and no longer than its longest")
        if self.forget_after < self.longest_block:
            raise ValueError("a throttle must remember failures at least as long as its longest block")

    def block_after(self, failures: int) -> float:
        """Seconds a key waits after its `failures`-th failure in a row (0 while it has free ones left)."""
        if failures < self.free:
            return 0.0
        # min() before the power would overflow nothing; the exponent is capped for huge counts.
        return min(self.first_block * 2 ** min(failures - self.free, 32), self.longest_block)


# A person who mistypes gets five tries, then 30 s, 1, 2, 4, 8 and at most 15 minutes between
# tries: about four guesses an hour for someone guessing, for as long as they keep at it.
ACCOUNT = Policy(free=5, first_block=30, longest_block=900, forget_after=3600)
# One address is often many people (an office behind one router): more room before it waits,
# but one address trying many accounts is held back even when each account stays under its limit.
ADDRESS = Policy(free=30, first_block=30, longest_block=900, forget_after=3600)


@dataclass(frozen=True)
class Count:
    """A key's failures in a row, when the last was, and until when it must wait."""

    failures: int = 0
    last_failed_at: dt.datetime | None = None
    blocked_until: dt.datetime | None = None


def seconds_to_wait(count: Count | None, now: dt.datetime) -> int:
    """Whole seconds until the key may try again (rounded up); 0 when it may now."""
    if count is None or count.blocked_until is None or count.blocked_until <= now:
        return 0
    return max(1, math.ceil((count.blocked_until - now).total_seconds()))


def after_failure(count: Count | None, now: dt.datetime, policy: Policy) -> Count:
    """The key's count once one more failure at `now` is added."""
    failures = 0 if count is None or forgotten(count, now, policy) else count.failures
    failures += 1
    block = policy.block_after(failures)
    return Count(failures, now, now + dt.timedelta(seconds=block) if block else None)


def forgotten(count: Count | None, now: dt.datetime, policy: Policy) -> bool:
    """Whether the key's failures are old enough to start again from nothing."""
    if count is None or count.last_failed_at is None:
        return True
    quiet = (now - count.last_failed_at).total_seconds() >= policy.forget_after
    return quiet and seconds_to_wait(count, now) == 0
