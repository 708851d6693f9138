"""The edges of the calendar: every day, moment and period truce is given lies from 1900-01-01 to
2999-12-31 (truce.domain.calendar_range), and one beyond is refused — by the domain, the API (422
naming the field), the web pages (a refusal, never a 500), the CLI (one line, no traceback) and
the import files — while the first and last valid ones are accepted, for each kind of period.
"""

from __future__ import annotations

import calendar
import datetime as dt
from decimal import Decimal

import pytest
from conftest import writing
from sqlalchemy import func, insert, select

from truce import config as truce_config
from truce.domain import calendar_range, diagnostic, forecast
from truce.services import brief, survey
from truce.services.logins import add_user
from truce.store.models import SurveyRound

CONFIG = truce_config.parse(truce_config.default_text(), "truce.toml")
FIRST, LAST = dt.date(1900, 1, 1), dt.date(2999, 12, 31)

# (kind, first valid, last valid, one before, one after), for every kind of period.
EDGES = [
    ("year", "1900", "2999", "1899", "3000"),
    ("quarter", "1900-Q1", "2999-Q4", "1899-Q4", "3000-Q1"),
    ("month", "1900-01", "2999-12", "1899-12", "3000-01"),
    ("week", "1900-W01", "2999-W52", "1899-W52", "3000-W01"),
]
CALENDAR_PERIODS = [edge for edge in EDGES if edge[0] != "week"]  # what targets take
# The findings: each answered 500 or printed a traceback, or was kept.
FAR_PERIODS = ["0001", "0001-W01", "9999-W52", "9999-Q4", "0000", "0001-Q1"]


def valid(edge) -> list[str]:
    return [edge[1], edge[2]]


def beyond(edge) -> list[str]:
    return [edge[3], edge[4]]


# ---- the domain ----------------------------------------------------------------------------------


def test_the_range_runs_from_1900_to_2999():
    assert (calendar_range.FIRST_DAY, calendar_range.LAST_DAY) == (FIRST, LAST)


def test_it_accepts_the_first_and_last_day_and_refuses_the_days_beyond():
    assert calendar_range.check_day(FIRST) == FIRST and calendar_range.check_day(LAST) == LAST
    for day in (dt.date(1899, 12, 31), dt.date(3000, 1, 1), dt.date.min, dt.date.max):
        with pytest.raises(calendar_range.OutsideCalendar, match="1900-01-01 to 2999-12-31"):
            calendar_range.check_day(day)


def _span(kind: str, year: int, number: int) -> tuple[dt.date, dt.date]:
    """A period's first and last day, worked out without truce's parsers."""
    if kind == "year":
        return dt.date(year, 1, 1), dt.date(year, 12, 31)
    if kind == "quarter":
        return dt.date(year, 3 * number - 2, 1), dt.date(year, 3 * number, calendar.monthrange(year, 3 * number)[1])
    if kind == "month":
        return dt.date(year, number, 1), dt.date(year, number, calendar.monthrange(year, number)[1])
    monday = dt.date.fromisocalendar(year, number, 1)
    return monday, monday + dt.timedelta(days=6)


def _written(kind: str, year: int, number: int) -> str:
    return {"year": f"{year:04d}", "quarter": f"{year:04d}-Q{number}", "month": f"{year:04d}-{number:02d}"}.get(
        kind, f"{year:04d}-W{number:02d}"
    )


def _parse(text: str):
    found = brief.parse_period(text)
    return found.first_day, found.last_day


@pytest.mark.parametrize("kind", ["year", "quarter", "month", "week"])
def test_a_period_is_accepted_exactly_when_its_first_and_last_days_are_in_range(kind):
    numbers = {"year": [1], "quarter": [1, 4], "month": [1, 12], "week": [1, 52]}[kind]
    for year in [*range(1890, 1911), *range(2990, 3011), 1, 9998]:
        for number in numbers:
            first, last = _span(kind, year, number)
            text = _written(kind, year, number)
            if FIRST <= first and last <= LAST:
                assert _parse(text) == (first, last), text
            else:
                with pytest.raises(brief.BriefError, match="outside the calendar"):
                    _parse(text)


@pytest.mark.parametrize("text", ["0000", "0000-Q1", "0000-01", "0000-W01", "9999-12", "9999-W52", "9999-W53"])
def test_it_refuses_years_no_date_can_hold_or_none_it_accepts_without_overflowing(text):
    with pytest.raises(brief.BriefError, match="outside the calendar truce accepts"):
        brief.parse_period(text)


@pytest.mark.parametrize("edge", CALENDAR_PERIODS, ids=[e[0] for e in CALENDAR_PERIODS])
def test_target_periods_keep_to_the_range(edge):
    for text in valid(edge):
        forecast.parse_period(text)
    for text in beyond(edge):
        with pytest.raises(forecast.PeriodError, match="outside the calendar"):
            forecast.parse_period(text)


def test_explicit_first_and_last_days_keep_to_the_range():
    assert forecast.parse_period(start=FIRST, end=LAST) == forecast.Period(FIRST, LAST)
    for start, end in ((dt.date(1899, 12, 31), LAST), (FIRST, dt.date(3000, 1, 1))):
        with pytest.raises(forecast.PeriodOutsideCalendar):
            forecast.parse_period(start=start, end=end)


@pytest.mark.parametrize(
    ("text", "previous"), [("1900-W01", "1899-W52"), ("1900", "1899"), ("1900-Q1", "1899-Q4"), ("1900-01", "1899-12")]
)
def test_the_period_before_the_first_one_is_still_a_period_to_compare_with(text, previous):
    assert brief.parse_period(text).previous().label == previous


WON = forecast.Deal(
    id=1,
    amount=Decimal("1000.00"),
    status="won",
    created_at=dt.datetime(2026, 1, 10, tzinfo=dt.UTC),
    close_date=dt.date(2026, 2, 1),
    stage="closed_won",
)


def test_a_forecast_over_the_whole_range_does_not_step_out_of_the_calendar():
    # New business is averaged over four windows as long as the time left (973 years here):
    # three of them reach back before year 1, hold no deal, and still count in the average.
    found = forecast.forecast_revenue(
        [WON], forecast.Period(FIRST, LAST), dt.date(2026, 6, 30), frozenset({"closed_won"})
    )
    assert found.won_to_date == Decimal("1000.00")
    assert found.new_business == Decimal("250.00")


@pytest.mark.parametrize("as_of", [FIRST, LAST])
def test_a_forecast_as_of_either_edge_of_the_range_runs(as_of):
    found = forecast.forecast_revenue([WON], forecast.Period(FIRST, LAST), as_of, frozenset({"closed_won"}))
    assert found.won_to_date == (WON.amount if as_of == LAST else Decimal("0.00"))
    assert found.new_business == Decimal("0.00")  # nothing was won by 1900; by 2999 nothing is left


def test_survey_rounds_that_spell_a_period_keep_to_the_range():
    assert diagnostic.period_of("1900-H1") == (FIRST, dt.date(1900, 6, 30))
    assert diagnostic.period_of("2999-Q4") == (dt.date(2999, 10, 1), LAST)
    assert diagnostic.period_of("Autumn offsite") is None
    for name in ("1899-H2", "3000", "0000", "9999-Q4"):
        with pytest.raises(calendar_range.OutsideCalendar):
            diagnostic.period_of(name)


# ---- survey rounds, whose names may spell a period -------------------------------------------------


@pytest.fixture
def respondent(sqlite_engine):
    add_user(sqlite_engine, email="sam@yourco.example", team="sales")
    return sqlite_engine


@pytest.mark.parametrize("name", ["0001-Q1", "0000", "9999-Q4", "1899-H2", "3000"])
def test_it_refuses_a_round_that_spells_a_period_outside_the_range(respondent, name):
    with pytest.raises(survey.SurveyError, match="outside the calendar"):
        survey.record_response(
            respondent,
            round_name=name,
            respondent_email="sam@yourco.example",
            team="sales",
            role="staff",
            ratings=[3] * 20,
        )
    with respondent.connect() as conn:
        assert conn.execute(select(func.count()).select_from(SurveyRound)).scalar_one() == 0


@pytest.mark.parametrize("name", ["1900-H1", "2999-Q4"])
def test_it_keeps_a_round_that_spells_the_first_or_last_period(respondent, name):
    kept = survey.record_response(
        respondent, round_name=name, respondent_email="sam@yourco.example", team="sales", role="staff", ratings=[3] * 20
    )
    assert kept["round"] == name


def test_a_round_kept_before_the_range_was_checked_is_measured_like_a_plain_name(respondent):
    opened = dt.datetime(2026, 11, 20, 12, tzinfo=dt.UTC)
    with writing(respondent) as conn:
        conn.execute(insert(SurveyRound), {"name": "0000", "opened_at": opened})
    report = survey.survey_report(respondent, CONFIG, "0000", now=opened)
    assert report["period"] == {"from": "2026-08-23", "to": "2026-11-20"}  # the 90 days up to its opening
