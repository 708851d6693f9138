"""Date ranges a person picks on a report page: typed days, or a quick pick relative to today.

Both ends are inclusive days (UTC, as the reports count them). An empty end is open: no from
means since the first record, no to means up to the last one — the reports' default.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from truce.domain import calendar_range


class RangeError(ValueError):
    """A from or to that is not a day, or a range that ends before it starts; the message names the field."""


@dataclass(frozen=True)
class DayRange:
    start: dt.date | None
    end: dt.date | None

    @property
    def chosen(self) -> bool:
        return self.start is not None or self.end is not None


def parse_range(start: str | None, end: str | None) -> DayRange:
    """The range typed into a page's from and to fields (YYYY-MM-DD, either may be empty)."""
    first, last = _day(start, "from"), _day(end, "to")
    if first and last and first > last:
        raise RangeError(f"from: {first} is after to: {last}; the range must end on or after its first day")
    return DayRange(first, last)


def _day(text: str | None, field: str) -> dt.date | None:
    if text is None or not text.strip():
        return None
    try:
        day = dt.date.fromisoformat(text.strip())
    except ValueError:
        raise RangeError(f"{field}: {text.strip()[:40]!r} is not a day; write it as YYYY-MM-DD") from None
    try:
        return calendar_range.check_day(day)
    except calendar_range.OutsideCalendar as exc:
        raise RangeError(f"{field}: {exc}") from None


def quarter_start(day: dt.date) -> dt.date:
    return dt.date(day.year, 3 * ((day.month - 1) // 3) + 1, 1)


def quick_picks(today: dt.date) -> list[tuple[str, DayRange]]:
    """This quarter (to today), last quarter (whole), the last 12 months (to today).

    This quarter stops at today: campaign spend is spread over a campaign's planned days, and
    counting days still to come would charge spend for results nobody could have had yet.
    """
    this_quarter = quarter_start(today)
    last_quarter = quarter_start(this_quarter - dt.timedelta(days=1))
    year_ago = _same_day_a_year_before(today) + dt.timedelta(days=1)
    return [
        ("This quarter", DayRange(this_quarter, today)),
        ("Last quarter", DayRange(last_quarter, this_quarter - dt.timedelta(days=1))),
        ("Last 12 months", DayRange(year_ago, today)),
    ]


def _same_day_a_year_before(day: dt.date) -> dt.date:
    try:
        return day.replace(year=day.year - 1)
    except ValueError:  # 29 February: a year before has no such day
        return day.replace(year=day.year - 1, day=28)
