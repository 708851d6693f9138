"""What marketing's pages write: channel names as people write them, counts as whole numbers, and
the quick date picks (this quarter, last quarter, the last 12 months) worked out by hand."""

from __future__ import annotations

import datetime as dt

import pytest

from truce.domain.date_ranges import DayRange, RangeError, parse_range, quick_picks
from truce.web.labels import channel_label, count, key_label

D = dt.date


@pytest.mark.parametrize(
    ("key", "label"),
    [
        ("organic_search", "Organic search"),
        ("paid_social", "Paid social"),
        ("content_syndication", "Content syndication"),
        ("linkedin_ads", "LinkedIn ads"),
        ("seo", "SEO"),
        ("paid-search", "Paid search"),
        (None, "No channel"),
        ("(none)", "No channel"),
    ],
)
def test_it_writes_a_channel_as_people_write_it(key, label):
    assert channel_label(key) == label


def test_it_names_teams_and_keeps_campaign_and_person_names_as_written():
    assert key_label("team", "marketing") == "Marketing"
    assert key_label("campaign", "7", "Spring_webinar <2026>") == "Spring_webinar <2026>"
    assert key_label("user", "(none)") == "No person"


@pytest.mark.parametrize(
    ("value", "shown"), [(196.0, "196"), (1234.0, "1,234"), (0, "0"), (12.5, "12.5"), (2.9999999, "3"), (None, "–")]
)
def test_it_shows_counts_as_whole_numbers_unless_a_model_split_them(value, shown):
    assert count(value) == shown


def test_it_picks_this_quarter_to_today_last_quarter_whole_and_the_last_12_months():
    picks = dict(quick_picks(D(2026, 11, 20)))
    assert picks["This quarter"] == DayRange(D(2026, 10, 1), D(2026, 11, 20))
    assert picks["Last quarter"] == DayRange(D(2026, 7, 1), D(2026, 9, 30))
    assert picks["Last 12 months"] == DayRange(D(2025, 11, 21), D(2026, 11, 20))


def test_it_picks_across_a_new_year_and_a_leap_day():
    picks = dict(quick_picks(D(2028, 2, 29)))
    assert picks["Last quarter"] == DayRange(D(2027, 10, 1), D(2027, 12, 31))
    assert picks["This quarter"] == DayRange(D(2028, 1, 1), D(2028, 2, 29))
    assert picks["Last 12 months"] == DayRange(D(2027, 3, 1), D(2028, 2, 29))


def test_it_reads_a_range_and_leaves_an_empty_end_open():
    assert parse_range("2026-01-01", "") == DayRange(D(2026, 1, 1), None)
    assert not parse_range("", " ").chosen


@pytest.mark.parametrize(
    ("start", "end", "field"),
    [("2026-02-30", "", "from:"), ("", "next week", "to:"), ("2026-04-01", "2026-03-31", "from:"), ("3000-01-01", "", "from:")],
)
def test_it_refuses_a_bad_range_naming_the_field(start, end, field):
    with pytest.raises(RangeError, match=f"^{field}"):
        parse_range(start, end)
