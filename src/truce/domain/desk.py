"""The seller's desk in words: how much of an SLA clock is left, and who may claim a lead nobody owns.

"3,028 h overdue" makes nobody act; "15 months overdue" does, and "1.0 h left" on a 4-hour clock
must not look like "24.0 h left" on a 3-day one. So a clock reads in business hours while it
runs (the unit the promise is made in), in calendar days, months or years once it is long
overdue (the unit people remember), and carries a tone: amber ("due soon") when less than a
quarter of its promise is left, red ("overdue") once it has passed. The tone is a word as well
as a colour, so it reads without colour too. Pure: no clock of its own, no database.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass

from truce.domain.routing import Seller

SOON_SHARE = 0.25  # amber under a quarter of the promised time left
DAYS_PER_MONTH = 30.4375  # 365.25 / 12: "15 months overdue" is about calendar time, not business time
MONTHS_AS_YEARS = 24  # from two years on, years read better than months


@dataclass(frozen=True)
class ClockReading:
    words: str  # "3 business hours left", "2 days overdue"
    tone: str  # "ok", "soon" or "overdue": the CSS class and the word beside the colour
    label: str  # "on time", "due soon", "overdue"


TONE_LABELS = {"ok": "on time", "soon": "due soon", "overdue": "overdue"}


def _plural(count: int, unit: str) -> str:
    return f"{count} {unit}" + ("" if count == 1 else "s")


def tone_of(hours_left: float, promise_hours: float) -> str:
    if hours_left < 0:
        return "overdue"
    if hours_left < SOON_SHARE * promise_hours:
        return "soon"
    return "ok"


def left_words(hours_left: float, day_hours: float) -> str:
    """Business time still on a running clock, rounded down (never promise more time than there is)."""
    if hours_left < 1:
        minutes = math.floor(hours_left * 60)
        return "under a business minute left" if minutes < 1 else _plural(minutes, "business minute") + " left"
    if hours_left < day_hours:
        return _plural(math.floor(hours_left), "business hour") + " left"
    return _plural(math.floor(hours_left / day_hours), "business day") + " left"


def overdue_words(hours_over: float, day_hours: float, since_due: dt.timedelta) -> str:
    """Time past a deadline: business hours on the day it passed, calendar time after that."""
    if hours_over < day_hours:
        if hours_over < 1:
            return _plural(max(1, math.floor(hours_over * 60)), "business minute") + " overdue"
        return _plural(math.floor(hours_over), "business hour") + " overdue"
    days = since_due / dt.timedelta(days=1)
    if days < 31:
        return _plural(max(1, math.floor(days)), "day") + " overdue"
    months = math.floor(days / DAYS_PER_MONTH)
    if months < MONTHS_AS_YEARS:
        return _plural(months, "month") + " overdue"
    return _plural(math.floor(months / 12), "year") + " overdue"


def read_clock(
    hours_left: float, promise_hours: float, day_hours: float, due: dt.datetime, now: dt.datetime
) -> ClockReading:
    """One SLA clock for a person: `hours_left` business hours (negative once overdue) of a
    `promise_hours` promise, on a working day `day_hours` long, due at `due`, read at `now`."""
    tone = tone_of(hours_left, promise_hours)
    if tone == "overdue":
        words = overdue_words(-hours_left, day_hours, now - due)
    else:
        words = left_words(hours_left, day_hours)
    return ClockReading(words, tone, TONE_LABELS[tone])


def claimers(
    sellers: Sequence[Seller], region: str | None, segment: str | None, rules: Sequence[str]
) -> tuple[set[int], str]:
    """Who may claim a lead nobody owns, and the rule that says so.

    The sellers the routing would have chosen from: the first of the configured rules that
    names anyone active (territory, then segment, …); when none does, any active seller.
    """
    from truce.domain.routing import rule_pool

    active = [s for s in sellers if s.active]
    for rule in rules:
        pool, described = rule_pool(rule, active, region, segment)
        if pool:
            return {s.id for s in pool}, described
    return {s.id for s in active}, "any seller"
