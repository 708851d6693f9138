"""The handoff card's clocks in words and tone, and who may claim a lead nobody owns (pure, no store)."""

from __future__ import annotations

import datetime as dt

import pytest

from truce.domain.desk import claimers, read_clock
from truce.domain.routing import Seller

NOW = dt.datetime(2026, 11, 19, 10, 0, tzinfo=dt.UTC)
DAY = 8.0  # a working day 09:00–17:00


def reading(hours_left: float, promise: float, since_due: dt.timedelta = dt.timedelta(0)):
    return read_clock(hours_left, promise, DAY, NOW - since_due, NOW)


@pytest.mark.parametrize(
    ("hours_left", "promise", "words", "tone"),
    [
        (3.5, 4, "3 business hours left", "ok"),  # 3.5 ≥ 1 (a quarter of 4): on time, rounded down
        (1.0, 4, "1 business hour left", "ok"),  # exactly a quarter left is not yet "due soon"
        (0.75, 4, "45 business minutes left", "soon"),  # 0.75 < 1
        (0.0, 4, "under a business minute left", "soon"),
        (5.0, 24, "5 business hours left", "soon"),  # a quarter of 24 is 6: 5 h on a 3-day clock is amber
        (6.0, 24, "6 business hours left", "ok"),
        (20.0, 24, "2 business days left", "ok"),  # 20 / 8 = 2.5 days, rounded down
        (8.0, 24, "1 business day left", "ok"),
    ],
)
def test_it_reads_a_running_clock_in_business_time_and_turns_amber_under_a_quarter(hours_left, promise, words, tone):
    found = reading(hours_left, promise)
    assert (found.words, found.tone) == (words, tone)
    assert found.label == {"ok": "on time", "soon": "due soon"}[tone]


@pytest.mark.parametrize(
    ("hours_over", "since_due", "words"),
    [
        (0.5, dt.timedelta(minutes=30), "30 business minutes overdue"),
        (2.5, dt.timedelta(hours=2, minutes=30), "2 business hours overdue"),
        # 16 business hours is two working days: from then on calendar time, 2 days 7 hours → 2 days
        (16.0, dt.timedelta(days=2, hours=7), "2 days overdue"),
        (24.0, dt.timedelta(days=3), "3 days overdue"),
        # the 3,028 business hours: 460 calendar days / 30.4375 = 15.1 months
        (3028.0, dt.timedelta(days=460), "15 months overdue"),
        (240.0, dt.timedelta(days=31), "1 month overdue"),
        # 800 days = 26.3 months: from two years on, years
        (4400.0, dt.timedelta(days=800), "2 years overdue"),
    ],
)
def test_it_reads_an_overdue_clock_in_red_in_the_unit_people_remember(hours_over, since_due, words):
    found = reading(-hours_over, 4, since_due)
    assert (found.words, found.tone, found.label) == (words, "overdue", "overdue")


EVA = Seller(1, "eva@x.example", "EMEA", "enterprise", True)
NICK = Seller(2, "nick@x.example", "NA", "smb", True)
GONE = Seller(3, "gone@x.example", "EMEA", "enterprise", False)
LUC = Seller(4, "luc@x.example", "NA", "enterprise", True)
RULES = ("territory", "segment", "any")


def test_it_lets_only_the_territorys_active_sellers_claim_a_lead_in_a_territory():
    assert claimers([EVA, NICK, GONE, LUC], "EMEA", "enterprise", RULES) == ({1}, "territory EMEA/enterprise")


def test_it_falls_back_to_the_segment_then_to_any_seller():
    assert claimers([EVA, NICK, LUC], "APAC", "enterprise", RULES) == ({1, 4}, "segment enterprise")
    assert claimers([EVA, NICK, LUC], None, None, RULES) == ({1, 2, 4}, "any seller")


def test_it_lets_any_active_seller_claim_when_the_rules_name_nobody():
    assert claimers([EVA, NICK, GONE], "APAC", "mid", ("territory",)) == ({1, 2}, "any seller")
