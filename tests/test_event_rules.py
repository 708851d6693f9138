"""The event rules without a database: due soon, escalation, MQL pace, feedback waiting — worked by hand.

The clock is the default one (09:00–17:00, Monday to Friday) in Europe/Berlin, so the weekends and
both daylight-saving changes (last Sunday of March and of October) show.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from truce.domain import event_rules as rules
from truce.domain.business_hours import BusinessHours

BERLIN = ZoneInfo("Europe/Berlin")
CLOCK = BusinessHours(BERLIN)
HOLIDAYS = BusinessHours(BERLIN, holidays=frozenset({dt.date(2026, 12, 25), dt.date(2026, 12, 26)}))
UTC = dt.UTC


def berlin(*args) -> dt.datetime:
    return dt.datetime(*args, tzinfo=BERLIN)


def utc(*args) -> dt.datetime:
    return dt.datetime(*args, tzinfo=UTC)


# ---- due soon ---------------------------------------------------------------------------------------

MONDAY_11 = berlin(2026, 11, 23, 11)  # a deadline after a weekend


@pytest.mark.parametrize(
    ("now", "reminder"),
    [
        (berlin(2026, 11, 20, 14, 59), None),  # Fri 14:59–17:00 is 2 h 1 min, + Mon 9–11: 4 h 1 min left
        (berlin(2026, 11, 20, 15, 0), 4),  # exactly 4 business hours left
        (berlin(2026, 11, 20, 16, 0), 4),  # 1 h on Friday + 2 h on Monday = 3 h
        (berlin(2026, 11, 21, 12, 0), 4),  # Saturday: the clock stands at 2 h
        (berlin(2026, 11, 23, 9, 59), 4),  # 1 h 1 min left
        (berlin(2026, 11, 23, 10, 0), 1),
        (berlin(2026, 11, 23, 10, 59), 1),
        (berlin(2026, 11, 23, 11, 0), None),  # passed: a breach, not a reminder
    ],
)
def test_it_reminds_at_the_smallest_threshold_reached_in_business_time_across_a_weekend(now, reminder):
    left = rules.business_hours_left(CLOCK, now, MONDAY_11)
    assert rules.due_soon_threshold(left, [4, 1], clock_hours=24) == reminder


def test_it_skips_a_threshold_as_long_as_the_whole_clock():
    # A 4-hour first-touch promise starts with 4 hours left: only the 1-hour reminder is news.
    assert rules.due_soon_threshold(4.0, [4, 1], clock_hours=4) is None
    assert rules.due_soon_threshold(0.5, [4, 1], clock_hours=4) == 1


def test_it_finds_the_thresholds_crossed_between_two_scans_across_the_march_change():
    # Due Monday 29 March 2027 10:00 CEST = 08:00 UTC; clocks went forward on Sunday the 28th.
    due = berlin(2027, 3, 29, 10)
    assert due == utc(2027, 3, 29, 8)
    # 4 business hours before: Friday 26 March 14:00 CET = 13:00 UTC (3 h Friday + 1 h Monday).
    assert rules.thresholds_crossed(CLOCK, due, utc(2027, 3, 26, 12, 59), utc(2027, 3, 26, 13, 0), [4, 1]) == [4]
    assert rules.thresholds_crossed(CLOCK, due, utc(2027, 3, 26, 13, 0), utc(2027, 3, 26, 13, 30), [4, 1]) == []
    # 1 business hour left from Friday's close, 17:00 CET = 16:00 UTC: the clock stands over the weekend.
    assert rules.thresholds_crossed(CLOCK, due, utc(2027, 3, 26, 13, 0), utc(2027, 3, 26, 15, 59), [4, 1]) == []
    assert rules.thresholds_crossed(CLOCK, due, utc(2027, 3, 26, 13, 0), utc(2027, 3, 26, 16, 0), [4, 1]) == [1]
    # Monday opens at 09:00 CEST = 07:00 UTC (08:00 UTC before the change): at 07:30 UTC half an hour is left.
    assert rules.business_hours_left(CLOCK, utc(2027, 3, 29, 7, 30), due) == pytest.approx(0.5)
    # A scan that missed both sees both; the service reminds at the smaller.
    assert rules.thresholds_crossed(CLOCK, due, None, utc(2027, 3, 29, 7, 30), [4, 1]) == [4, 1]


def test_it_counts_hours_left_across_the_october_change():
    # Friday 23 October 2026 16:30 CEST (14:30 UTC) to Monday 26th 09:30 CET (08:30 UTC):
    # half an hour each side of the weekend, though 66 hours pass on the wall in UTC.
    now, due = utc(2026, 10, 23, 14, 30), berlin(2026, 10, 26, 9, 30)
    assert due == utc(2026, 10, 26, 8, 30)
    assert rules.business_hours_left(CLOCK, now, due) == pytest.approx(1.0)
    assert rules.due_soon_threshold(1.0, [4, 1], clock_hours=24) == 1


# ---- escalation -------------------------------------------------------------------------------------


def test_it_puts_the_escalation_moments_in_business_hours_after_the_deadline():
    # Decision due Friday 20 November 15:00: 2 h on Friday, then Monday.
    moments = rules.escalation_moments(CLOCK, berlin(2026, 11, 20, 15), 8, 16)
    assert moments.tell_leader_at == berlin(2026, 11, 23, 15)  # 2 h Friday + 6 h Monday
    assert moments.take_away_at == berlin(2026, 11, 24, 15)  # 2 + 8 (Monday) + 6 (Tuesday)


def test_it_escalates_across_the_october_change():
    # Due Friday 23 October 2026 16:00 CEST = 14:00 UTC; 8 h later is Monday 16:00 CET = 15:00 UTC.
    moments = rules.escalation_moments(CLOCK, berlin(2026, 10, 23, 16), 8, 16)
    assert moments.tell_leader_at == utc(2026, 10, 26, 15)
    assert moments.take_away_at == utc(2026, 10, 27, 15)


def test_it_tells_the_leader_once_then_takes_the_lead_away():
    moments = rules.escalation_moments(CLOCK, berlin(2026, 11, 20, 15), 8, 16)
    assert rules.escalation_step(moments, berlin(2026, 11, 23, 14, 59), leader_told=False) == rules.NONE
    assert rules.escalation_step(moments, berlin(2026, 11, 23, 15), leader_told=False) == rules.TELL_LEADER
    assert rules.escalation_step(moments, berlin(2026, 11, 23, 16), leader_told=True) == rules.NONE
    assert rules.escalation_step(moments, berlin(2026, 11, 24, 15), leader_told=True) == rules.TAKE_AWAY
    # A lead found long after both moments (the worker was off) is taken away at once.
    assert rules.escalation_step(moments, berlin(2028, 1, 3, 9), leader_told=False) == rules.TAKE_AWAY


def test_it_looks_again_at_the_next_step():
    moments = rules.escalation_moments(CLOCK, berlin(2026, 11, 20, 15), 8, 16)
    assert rules.next_escalation_at(moments, berlin(2026, 11, 20, 15), leader_told=False) == berlin(2026, 11, 23, 15)
    assert rules.next_escalation_at(moments, berlin(2026, 11, 23, 15), leader_told=True) == berlin(2026, 11, 24, 15)


@pytest.mark.parametrize(
    ("action", "so_far", "other", "expected"),
    [
        ("reroute", 0, True, "reroute"),
        ("reroute", 1, True, "nurture"),  # re-routed once already (max_reroutes = 1)
        ("reroute", 0, False, "nurture"),  # nobody else to take it
        ("nurture", 0, True, "nurture"),
    ],
)
def test_it_reroutes_until_the_limit_then_nurtures(action, so_far, other, expected):
    assert rules.take_away_action(action, so_far, 1, other) == expected


# ---- MQL pace ---------------------------------------------------------------------------------------


def test_it_prorates_the_promise_by_business_time_elapsed():
    # November 2026 has 21 working days (2–6, 9–13, 16–20, 23–27, 30): 168 business hours.
    # Wednesday 11th 09:00: the 2nd–6th, 9th and 10th are past, 56 hours, a third of the month.
    pace = rules.mql_pace(CLOCK, berlin(2026, 11, 11, 9), promised=100, actual=32)
    assert pace.elapsed_share == pytest.approx(1 / 3)
    assert pace.expected == pytest.approx(100 / 3)
    assert pace.behind and pace.shortfall == 1
    assert not rules.mql_pace(CLOCK, berlin(2026, 11, 11, 9), promised=100, actual=33).behind


def test_a_holiday_stops_the_pace_clock():
    # December 2026 with the 25th off: 22 working days, 176 hours. Monday 14th 09:00: 9 days, 72 hours.
    # 110 × 72 / 176 = 45 exactly.
    pace = rules.mql_pace(HOLIDAYS, berlin(2026, 12, 14, 9), promised=110, actual=44)
    assert pace.expected == pytest.approx(45)
    assert pace.behind and pace.shortfall == 1
    assert not rules.mql_pace(HOLIDAYS, berlin(2026, 12, 14, 9), promised=110, actual=45).behind


def test_nobody_is_behind_on_the_first_morning_or_without_a_promise():
    assert not rules.mql_pace(CLOCK, berlin(2026, 11, 2, 8), promised=100, actual=0).behind
    assert not rules.mql_pace(CLOCK, berlin(2026, 11, 30, 17), promised=0, actual=0).behind


# ---- feedback waiting -------------------------------------------------------------------------------


def test_feedback_waits_from_the_day_it_was_given():
    given = utc(2026, 11, 1, 10)
    assert not rules.feedback_waiting(given, "new", utc(2026, 11, 8, 9, 59), 7)
    assert rules.feedback_waiting(given, "new", utc(2026, 11, 8, 10), 7)
    assert not rules.feedback_waiting(given, "acknowledged", utc(2026, 12, 1), 7)
