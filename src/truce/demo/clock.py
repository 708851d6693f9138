"""Demo time: a two-year window ending at `until` (a day, or the moment the demo runs), kept as
whole epoch seconds in int64 arrays."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np

MINUTE = 60
HOUR = 3_600
DAY = 86_400
NEVER = np.iinfo(np.int64).max

REGIONS = ("NA", "EMEA", "APAC")
# One whole-hour offset per region is enough for a believable working day.
REGION_UTC_OFFSET_H = np.array([-5, 1, 8], dtype=np.int64)


def epoch_seconds(day: dt.date) -> int:
    return int(dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC).timestamp())


def moment_seconds(moment: dt.datetime) -> int:
    """A moment as whole epoch seconds (rounded down): the demo's clock has no finer grain."""
    if moment.tzinfo is None:
        raise ValueError("the demo needs an aware moment; a naive time has no zone")
    return int(moment.timestamp() // 1)


def to_datetime(seconds: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(int(seconds), tz=dt.UTC)


def _years_before(day: dt.date, years: int) -> dt.date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February
        return day.replace(year=day.year - years, day=28)


def _quarter_start(day: dt.date) -> dt.date:
    return dt.date(day.year, 3 * ((day.month - 1) // 3) + 1, 1)


def _add_months(day: dt.date, months: int) -> dt.date:
    index = day.year * 12 + day.month - 1 + months
    return dt.date(index // 12, index % 12 + 1, 1)


@dataclass(frozen=True)
class Window:
    """The company's recorded history: [start, end), where end is 00:00 UTC on `until`.

    Ending at the start of `until` keeps every timestamp before `until` however it is compared.
    """

    start: int
    end: int
    quarter_starts: np.ndarray  # starts of the calendar quarters that overlap, plus the next one
    month_starts: np.ndarray

    @classmethod
    def ending(cls, until: dt.date | dt.datetime, years: int = 2) -> Window:
        """The window ending at 00:00 UTC on a day, or at a moment (the demo built "now")."""
        end = moment_seconds(until) if isinstance(until, dt.datetime) else epoch_seconds(until)
        last_day = dt.date.fromordinal(dt.date(1970, 1, 1).toordinal() + (end - 1) // DAY)
        first = _years_before(last_day + dt.timedelta(days=1), years)
        quarters, months = [_quarter_start(first)], [first.replace(day=1)]
        while quarters[-1] <= last_day:
            quarters.append(_add_months(quarters[-1], 3))
        while months[-1] <= last_day:
            months.append(_add_months(months[-1], 1))
        return cls(
            start=epoch_seconds(first),
            end=end,
            quarter_starts=np.array([epoch_seconds(q) for q in quarters], dtype=np.int64),
            month_starts=np.array([epoch_seconds(m) for m in months], dtype=np.int64),
        )

    @property
    def days(self) -> int:
        """Whole days, counting the day in progress when the window ends at a moment."""
        return -(-(self.end - self.start) // DAY)

    @property
    def n_quarters(self) -> int:
        return len(self.quarter_starts) - 1

    def quarter_of(self, seconds: np.ndarray) -> np.ndarray:
        return np.searchsorted(self.quarter_starts, seconds, side="right") - 1

    def quarter_label(self, quarter: int) -> tuple[int, int]:
        start = to_datetime(self.quarter_starts[quarter])
        return start.year, (start.month - 1) // 3 + 1


def lognormal_seconds(rng: np.random.Generator, median_s, sigma: float, size: int) -> np.ndarray:
    """Waiting times: most short, a long tail, never under a minute."""
    drawn = rng.lognormal(np.log(median_s), sigma, size)
    return np.maximum(drawn, MINUTE).astype(np.int64)


def weekday(seconds: np.ndarray) -> np.ndarray:
    """Monday = 0. 1970-01-01 was a Thursday."""
    return (seconds // DAY + 3) % 7


def next_working_moment(rng: np.random.Generator, seconds: np.ndarray, region: np.ndarray) -> np.ndarray:
    """The first moment at or after `seconds` inside Mon–Fri 08:00–18:00 in the region's time.

    Never earlier than the input, so pushing an action into working hours keeps the ledger ordered.
    """
    offset = REGION_UTC_OFFSET_H[region] * HOUR
    local = seconds + offset
    day, second = np.divmod(local, DAY)
    late, early = second >= 18 * HOUR, second < 8 * HOUR
    day = day + late
    dow = (day + 3) % 7
    weekend_skip = np.where(dow == 5, 2, np.where(dow == 6, 1, 0))
    day = day + weekend_skip
    moved = late | early | (weekend_skip > 0)
    morning = 8 * HOUR + rng.integers(10 * MINUTE, 100 * MINUTE, seconds.size)
    return day * DAY + np.where(moved, morning, second) - offset
