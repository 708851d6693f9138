"""The calendar truce accepts: days from 1900-01-01 to 2999-12-31, periods from 1900 to 2999.

Every date, moment and period a person or another system hands truce — API queries and bodies,
the web pages' forms, CLI options, import files — must fall within it, and a period is within
it when its first and last days are. As whole years, that is the years 1900 to 2999, quarters
1900-Q1 to 2999-Q4, months 1900-01 to 2999-12 and ISO weeks 1900-W01 to 2999-W52: 1900-01-01 is
a Monday, so the first ISO week starts on the first day, and 3000-W01 already starts on
2999-12-30.

Why these edges: Python's dates run from year 1 to 9999, and the reports step away from the
days they are given — the period before (the brief compares with it), the midnight after a
period in the company's time zone, cohort and lookback windows (at most ten years), the
forecast's horizon (up to the span between the as-of day and a period's end, at most 1,100
years). With about 1,900 years of room below the range and 7,000 above it, none of those
steps can leave what a date can hold. Revenue data older than 1900 or planned beyond 2999 is a
typing mistake, and is refused as one.
"""

from __future__ import annotations

import datetime as dt

FIRST_DAY = dt.date(1900, 1, 1)
LAST_DAY = dt.date(2999, 12, 31)
RANGE = f"days from {FIRST_DAY.isoformat()} to {LAST_DAY.isoformat()}, periods from {FIRST_DAY.year} to {LAST_DAY.year}"
# The years of the range as a regular expression, for the patterns the OpenAPI document shows.
YEAR_PATTERN = r"(19[0-9]{2}|2[0-9]{3})"


class OutsideCalendar(ValueError):
    """A day, moment or period outside the range; the message says what the range is."""


def outside(what: str) -> str:
    return f"{what} is outside the calendar truce accepts: {RANGE}"


def check_day(day: dt.date) -> dt.date:
    if not FIRST_DAY <= day <= LAST_DAY:
        raise OutsideCalendar(outside(day.isoformat()))
    return day


def check_year(year: int, written: str) -> int:
    """A period's year, checked before any date is made of it (year 0 cannot even be a date)."""
    if not FIRST_DAY.year <= year <= LAST_DAY.year:
        raise OutsideCalendar(outside(written))
    return year
