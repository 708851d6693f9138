"""Quiet hours, backoff and digest slots, worked out by hand (no database)."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from truce.domain.business_hours import BusinessHours
from truce.domain.notify_timing import backoff, next_digest_slot, next_opening

UTC = dt.UTC
BERLIN = ZoneInfo("Europe/Berlin")
CLOCK = BusinessHours(BERLIN)  # 09:00–17:00, Monday to Friday
WORKDAYS = ["mon", "tue", "wed", "thu", "fri"]


def test_it_sends_at_once_inside_business_hours():
    at = dt.datetime(2026, 3, 4, 10, 0, tzinfo=UTC)  # Wednesday 11:00 CET
    assert next_opening(CLOCK, at) == at


def test_it_holds_a_friday_night_message_until_monday_after_the_clocks_go_forward():
    # Friday 27 March 2026 22:00 CET (UTC+1) = 21:00 UTC; CEST (UTC+2) from Sunday 29 March 03:00,
    # so Monday 30 March 09:00 CEST is 07:00 UTC.
    assert next_opening(CLOCK, dt.datetime(2026, 3, 27, 21, 0, tzinfo=UTC)) == dt.datetime(
        2026, 3, 30, 7, 0, tzinfo=UTC
    )


def test_it_holds_a_message_after_the_clocks_go_back_until_the_opening_in_winter_time():
    # Friday 23 October 2026 18:00 CEST = 16:00 UTC; CET from Sunday 25 October, so Monday 26 October
    # 09:00 CET is 08:00 UTC.
    assert next_opening(CLOCK, dt.datetime(2026, 10, 23, 16, 0, tzinfo=UTC)) == dt.datetime(
        2026, 10, 26, 8, 0, tzinfo=UTC
    )


def test_it_holds_an_early_message_until_the_same_mornings_opening():
    # Tuesday 3 March 2026 06:30 CET = 05:30 UTC → 09:00 CET = 08:00 UTC the same day.
    assert next_opening(CLOCK, dt.datetime(2026, 3, 3, 5, 30, tzinfo=UTC)) == dt.datetime(2026, 3, 3, 8, 0, tzinfo=UTC)


def test_backoff_doubles_from_the_base_up_to_the_cap():
    assert [backoff(n, 60, 600).total_seconds() for n in range(1, 7)] == [60, 120, 240, 480, 600, 600]


def test_the_digest_goes_at_the_next_slot_on_a_digest_day():
    at = dt.time(8, 0)
    # Wednesday 4 March 10:00 UTC is past Wednesday's 08:00 CET slot: Thursday 08:00 CET = 07:00 UTC.
    wednesday = dt.datetime(2026, 3, 4, 10, 0, tzinfo=UTC)
    assert next_digest_slot(wednesday, at, WORKDAYS, BERLIN) == dt.datetime(2026, 3, 5, 7, 0, tzinfo=UTC)
    # Friday 27 March after the slot: Monday 30 March 08:00 CEST = 06:00 UTC (the clocks went forward).
    friday = dt.datetime(2026, 3, 27, 12, 0, tzinfo=UTC)
    assert next_digest_slot(friday, at, WORKDAYS, BERLIN) == dt.datetime(2026, 3, 30, 6, 0, tzinfo=UTC)
    # Exactly at a slot: that slot.
    slot = dt.datetime(2026, 3, 5, 7, 0, tzinfo=UTC)
    assert next_digest_slot(slot, at, WORKDAYS, BERLIN) == slot
