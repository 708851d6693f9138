"""When a notification may go: quiet hours, retry backoff and digest slots. Pure: no I/O.

Quiet hours are the hours outside the company's business hours (truce.domain.business_hours):
an e-mail or webhook that is urgent waits for the next opening instead of waking someone at
22:00. Every calculation is on UTC instants, so a daylight-saving change moves the wall clock,
not the rule.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from zoneinfo import ZoneInfo

from truce.domain.business_hours import BusinessHours

TICK = dt.timedelta(microseconds=1)
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def next_opening(clock: BusinessHours, instant: dt.datetime) -> dt.datetime:
    """`instant` itself inside business hours, else the moment they next open."""
    if clock.is_open(instant):
        return instant
    # The clock's `add` starts counting at the first open moment at or after `instant`.
    return clock.add(instant, TICK) - TICK


def backoff(failures: int, base_seconds: float, most_seconds: float) -> dt.timedelta:
    """How long to wait after the `failures`-th failure: base, 2×base, 4×base, … capped at `most`."""
    return dt.timedelta(seconds=min(most_seconds, base_seconds * 2 ** max(failures - 1, 0)))


def next_digest_slot(instant: dt.datetime, at: dt.time, days: Collection[str], zone: ZoneInfo) -> dt.datetime:
    """The first digest slot (local time `at` on one of `days`) at or after `instant`, in UTC."""
    start = instant.astimezone(zone).date()
    for offset in range(8):
        day = start + dt.timedelta(days=offset)
        if WEEKDAYS[day.weekday()] not in days:
            continue
        slot = dt.datetime.combine(day, at, tzinfo=zone).astimezone(dt.UTC)
        if slot >= instant:
            return slot
    raise ValueError("digest days must name at least one day")
