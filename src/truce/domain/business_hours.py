"""The SLA clock: business hours in the company's time zone, with working days and holidays.

"First contact within 4 business hours" means something only once both teams agree when the
clock runs. It runs on working days, between opening and closing time, in one time zone, and
stops on holidays. Daylight-saving changes are handled by doing every calculation on UTC
instants: a window is opened and closed at local wall-clock times, then compared in UTC.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

MAX_DAYS = 3700  # ten years: a deadline further away than that is a configuration mistake


class OutOfRange(ValueError):
    """A moment too far from any business hours for the clock to count (a caller's mistake)."""


@dataclass(frozen=True)
class BusinessHours:
    zone: ZoneInfo
    opens: dt.time = dt.time(9, 0)
    closes: dt.time = dt.time(17, 0)
    workdays: frozenset[int] = frozenset(range(5))  # Monday = 0
    holidays: frozenset[dt.date] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        if self.opens >= self.closes:
            raise ValueError("business hours must open before they close")
        if not self.workdays:
            raise ValueError("business hours need at least one working day")

    def _window(self, day: dt.date) -> tuple[dt.datetime, dt.datetime] | None:
        """The day's opening and closing instants in UTC, or None on a day off."""
        if day.weekday() not in self.workdays or day in self.holidays:
            return None
        opens = dt.datetime.combine(day, self.opens, tzinfo=self.zone).astimezone(dt.UTC)
        closes = dt.datetime.combine(day, self.closes, tzinfo=self.zone).astimezone(dt.UTC)
        return opens, closes

    def _windows_from(self, start: dt.datetime) -> Iterator[tuple[dt.datetime, dt.datetime]]:
        day = start.astimezone(self.zone).date()
        for offset in range(MAX_DAYS):
            window = self._window(day + dt.timedelta(days=offset))
            if window is not None:
                yield window
        raise OutOfRange(f"no business hours within {MAX_DAYS} days of {start.isoformat()}")

    def add(self, start: dt.datetime, duration: dt.timedelta) -> dt.datetime:
        """The instant `duration` of business time after `start` (the deadline of an SLA)."""
        _aware(start)
        start = start.astimezone(dt.UTC)
        remaining = duration
        if remaining <= dt.timedelta(0):
            return start
        for opens, closes in self._windows_from(start):
            begin = max(opens, start)
            if begin >= closes:
                continue
            available = closes - begin
            if remaining <= available:
                return begin + remaining
            remaining -= available
        raise AssertionError("unreachable")

    def between(self, start: dt.datetime, end: dt.datetime) -> dt.timedelta:
        """Business time elapsed from `start` to `end` (zero if end is not after start)."""
        _aware(start)
        _aware(end)
        start, end = start.astimezone(dt.UTC), end.astimezone(dt.UTC)
        elapsed = dt.timedelta(0)
        if end <= start:
            return elapsed
        for opens, closes in self._windows_from(start):
            if opens >= end:
                break
            begin, finish = max(opens, start), min(closes, end)
            if finish > begin:
                elapsed += finish - begin
        return elapsed

    def is_open(self, instant: dt.datetime) -> bool:
        _aware(instant)
        window = self._window(instant.astimezone(self.zone).date())
        return window is not None and window[0] <= instant.astimezone(dt.UTC) < window[1]


def _aware(instant: dt.datetime) -> None:
    if instant.tzinfo is None:
        raise ValueError(f"{instant!r} has no time zone; the SLA clock needs aware timestamps")
