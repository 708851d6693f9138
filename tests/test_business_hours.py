"""The SLA clock, against examples worked out by hand on a calendar."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from truce.domain.business_hours import BusinessHours

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
UTC = dt.UTC


def berlin(*parts) -> dt.datetime:
    return dt.datetime(*parts, tzinfo=BERLIN)


OFFICE = BusinessHours(BERLIN)  # Monday to Friday, 09:00-17:00


def test_a_deadline_skips_the_weekend():
    # Friday 16:00 + 4 business hours: 1 hour on Friday, 3 on Monday.
    assert OFFICE.add(berlin(2026, 11, 20, 16, 0), dt.timedelta(hours=4)) == berlin(2026, 11, 23, 12, 0)


def test_a_deadline_skips_holidays():
    office = BusinessHours(BERLIN, holidays=frozenset({dt.date(2026, 12, 25)}))
    # Thursday 24 Dec 15:00 + 4h: 2h on Thursday, Friday is Christmas, 2h on Monday 28th.
    assert office.add(berlin(2026, 12, 24, 15, 0), dt.timedelta(hours=4)) == berlin(2026, 12, 28, 11, 0)


def test_the_clock_waits_for_opening_time():
    assert OFFICE.add(berlin(2026, 11, 23, 7, 0), dt.timedelta(hours=1)) == berlin(2026, 11, 23, 10, 0)
    assert OFFICE.add(berlin(2026, 11, 23, 18, 0), dt.timedelta(hours=1)) == berlin(2026, 11, 24, 10, 0)


def test_elapsed_business_time_over_a_weekend():
    assert OFFICE.between(berlin(2026, 11, 20, 16, 0), berlin(2026, 11, 23, 10, 0)) == dt.timedelta(hours=2)
    assert OFFICE.between(berlin(2026, 11, 23, 10, 0), berlin(2026, 11, 20, 16, 0)) == dt.timedelta(0)


def test_a_deadline_across_the_spring_daylight_saving_change():
    # Friday 27 March 2026 16:00 CET (15:00 UTC) + 2h: 1h Friday, 1h on Monday 30 March in CEST.
    deadline = OFFICE.add(berlin(2026, 3, 27, 16, 0), dt.timedelta(hours=2))
    assert deadline == dt.datetime(2026, 3, 30, 8, 0, tzinfo=UTC)  # 10:00 CEST
    # 65 hours passed on the wall clock of the world, two of them business hours.
    assert deadline - dt.datetime(2026, 3, 27, 15, 0, tzinfo=UTC) == dt.timedelta(hours=65)


@pytest.mark.parametrize(
    ("day", "hours"),
    [(dt.date(2026, 3, 28), 3), (dt.date(2026, 3, 29), 2), (dt.date(2026, 10, 25), 4)],
)
def test_a_night_shift_is_shorter_or_longer_on_daylight_saving_days(day, hours):
    # 01:00-04:00 local every day. On 29 March 2026 02:00-03:00 does not exist in Berlin;
    # on 25 October 2026 02:00-03:00 happens twice.
    night = BusinessHours(BERLIN, opens=dt.time(1), closes=dt.time(4), workdays=frozenset(range(7)))
    start = dt.datetime.combine(day, dt.time(0), tzinfo=BERLIN)
    end = dt.datetime.combine(day, dt.time(12), tzinfo=BERLIN)
    assert night.between(start, end) == dt.timedelta(hours=hours)


def test_each_office_keeps_its_own_time_zone():
    office = BusinessHours(NEW_YORK)
    # 14:00 UTC on a Monday is 09:00 in New York (EST): the office has just opened.
    monday = dt.datetime(2026, 11, 23, 14, 0, tzinfo=UTC)
    assert office.is_open(monday)
    assert not OFFICE.is_open(dt.datetime(2026, 11, 23, 17, 30, tzinfo=UTC))  # 18:30 in Berlin
    assert office.add(monday, dt.timedelta(hours=8)) == dt.datetime(2026, 11, 23, 22, 0, tzinfo=UTC)


def test_it_refuses_naive_timestamps_and_impossible_hours():
    with pytest.raises(ValueError, match="no time zone"):
        OFFICE.add(dt.datetime(2026, 1, 1), dt.timedelta(hours=1))
    with pytest.raises(ValueError, match="open before they close"):
        BusinessHours(BERLIN, opens=dt.time(17), closes=dt.time(9))
    with pytest.raises(ValueError, match="at least one working day"):
        BusinessHours(BERLIN, workdays=frozenset())


instants = st.datetimes(
    min_value=dt.datetime(2025, 1, 1), max_value=dt.datetime(2027, 12, 31), timezones=st.just(UTC)
)


@given(start=instants, minutes=st.integers(min_value=0, max_value=60 * 24 * 20))
def test_the_business_time_until_a_deadline_is_the_duration_asked_for(start, minutes):
    duration = dt.timedelta(minutes=minutes)
    deadline = OFFICE.add(start, duration)
    assert OFFICE.between(start, deadline) == duration
    assert deadline >= start


@given(start=instants, minutes=st.integers(min_value=1, max_value=60 * 24 * 20))
def test_a_deadline_never_falls_outside_business_hours(start, minutes):
    deadline = OFFICE.add(start, dt.timedelta(minutes=minutes))
    local = deadline.astimezone(BERLIN)
    assert local.weekday() < 5
    assert dt.time(9) < local.time() <= dt.time(17)
