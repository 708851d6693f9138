"""[schedule] values and their slots, checked against moments worked out by hand (no database).

Europe/Berlin changes clocks on the last Sundays of March and October: 2026-03-29 at 01:00 UTC
(02:00 CET becomes 03:00 CEST) and 2026-10-25 at 01:00 UTC (03:00 CEST becomes 02:00 CET).
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from truce import config as truce_config
from truce.domain.schedule import ScheduleError, latest_slot, next_slot, parse

UTC = ZoneInfo("UTC")
BERLIN = ZoneInfo("Europe/Berlin")


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC)


def test_it_reads_intervals_cron_expressions_and_off():
    assert parse("5m").every == dt.timedelta(minutes=5)
    assert parse("1h").every == dt.timedelta(hours=1)
    assert parse("1d").every == dt.timedelta(days=1)
    assert parse(" 0  2 * * * ").cron == "0 2 * * *"
    assert parse("off").off and parse("OFF").off


@pytest.mark.parametrize("text", ["5x", "0m", "367d", "5 m", "61 * * * *", "0 2 * *", "every day", ""])
def test_it_refuses_what_is_not_a_schedule(text):
    with pytest.raises(ScheduleError):
        parse(text)


def test_an_interval_is_due_on_its_multiples_since_1970_in_utc():
    now = at("2026-11-25T10:07:30")
    assert latest_slot(parse("5m"), now, BERLIN) == at("2026-11-25T10:05:00")
    assert next_slot(parse("5m"), now, BERLIN) == at("2026-11-25T10:10:00")
    # "1d" is midnight UTC whatever the company's zone: an interval is a length of time.
    assert latest_slot(parse("1d"), now, BERLIN) == at("2026-11-25T00:00:00")
    assert next_slot(parse("1d"), now, BERLIN) == at("2026-11-26T00:00:00")


def test_a_slot_that_is_exactly_now_is_due_now():
    assert latest_slot(parse("1h"), at("2026-11-25T10:00:00"), UTC) == at("2026-11-25T10:00:00")
    assert latest_slot(parse("0 10 * * *"), at("2026-11-25T10:00:00"), UTC) == at("2026-11-25T10:00:00")


def test_an_hourly_interval_keeps_counting_elapsed_hours_across_the_spring_change():
    assert latest_slot(parse("1h"), at("2026-03-29T01:30:00"), BERLIN) == at("2026-03-29T01:00:00")
    assert next_slot(parse("1h"), at("2026-03-29T01:30:00"), BERLIN) == at("2026-03-29T02:00:00")


def test_a_cron_time_skipped_in_spring_runs_right_after_the_gap():
    nightly = parse("30 2 * * *")
    # 2026-03-28 02:30 CET = 01:30 UTC; on the 29th 02:30 does not exist: 03:00 CEST = 01:00 UTC;
    # on the 30th 02:30 CEST = 00:30 UTC.
    assert next_slot(nightly, at("2026-03-28T00:00:00"), BERLIN) == at("2026-03-28T01:30:00")
    assert next_slot(nightly, at("2026-03-28T01:30:00"), BERLIN) == at("2026-03-29T01:00:00")
    assert next_slot(nightly, at("2026-03-29T01:00:00"), BERLIN) == at("2026-03-30T00:30:00")
    assert latest_slot(nightly, at("2026-03-29T12:00:00"), BERLIN) == at("2026-03-29T01:00:00")


def test_a_cron_time_that_happens_twice_in_autumn_runs_once():
    nightly = parse("30 2 * * *")
    # 2026-10-25 02:30 happens at 00:30 UTC (CEST) and again at 01:30 UTC (CET): only the first.
    assert next_slot(nightly, at("2026-10-25T00:00:00"), BERLIN) == at("2026-10-25T00:30:00")
    assert next_slot(nightly, at("2026-10-25T00:30:00"), BERLIN) == at("2026-10-26T01:30:00")
    assert latest_slot(nightly, at("2026-10-25T01:45:00"), BERLIN) == at("2026-10-25T00:30:00")


def test_a_weekly_cron_is_read_in_the_company_zone():
    monday_seven = parse("0 7 * * 1")
    # Wednesday 2026-11-25; the Monday before is 2026-11-23, 07:00 CET = 06:00 UTC.
    assert latest_slot(monday_seven, at("2026-11-25T10:00:00"), BERLIN) == at("2026-11-23T06:00:00")
    assert next_slot(monday_seven, at("2026-11-25T10:00:00"), BERLIN) == at("2026-11-30T06:00:00")
    assert latest_slot(monday_seven, at("2026-11-25T10:00:00"), UTC) == at("2026-11-23T07:00:00")


def test_off_is_never_due():
    assert latest_slot(parse("off"), at("2026-11-25T10:00:00"), UTC) is None
    assert next_slot(parse("off"), at("2026-11-25T10:00:00"), UTC) is None


def _config(schedule: str):
    return truce_config.parse(truce_config.default_text() + "\n[schedule]\n" + schedule, "truce.toml")


def test_the_config_keeps_the_schedule_per_job():
    config = _config('score_refresh = "1h"\nweekly_brief = "off"\n')
    assert config.schedule == {"score_refresh": "1h", "weekly_brief": "off"}
    assert _config("").schedule == {}


def test_the_config_names_the_key_of_a_bad_schedule():
    with pytest.raises(truce_config.ConfigError) as caught:
        _config('weekly_brief = "7x"\n')
    assert str(caught.value).startswith("truce.toml: schedule.weekly_brief: '7x' is not a schedule")


def test_the_config_names_a_job_that_does_not_exist():
    with pytest.raises(truce_config.ConfigError) as caught:
        _config('nightly_magic = "1h"\n')
    message = str(caught.value)
    assert "no job is called 'nightly_magic'" in message and "score_refresh" in message and "weekly_brief" in message
