"""What the meeting, decision and initiative services share: refusals that name the field, people, days.

docs/meetings.md gives the rules to users.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, Engine

from truce.config import TruceConfig
from truce.domain import calendar_range
from truce.domain.access import Forbidden
from truce.services.lifecycle import NotFound, user_by_email
from truce.services.records import InvalidField

MAX_TEXT = 2000
# The window a decision's indicator is measured over: the four whole weeks before the decision, so
# that the meeting a week or two later sees a number that can have moved.
DECISION_WINDOW_DAYS = 28
# An initiative changes an organisation, not a week: its indicators are measured over 90 days, the
# window of a survey round whose name spells no period (truce.services.survey.INDICATOR_DAYS).
INITIATIVE_WINDOW_DAYS = 90
from truce.vocabulary import TEAMS as TEAMS  # noqa: E402


class MeetingRefused(InvalidField):
    """A meeting, decision or initiative the rules refuse; `field` names what to change (API: 422)."""


class DecisionConflict(ValueError):
    """A decision already closed (done or dropped) cannot be closed again (API: 409)."""


class NotYours(Forbidden):
    """The server's check of who may touch this record (API: 403); the message says who may."""


def today_in(config: TruceConfig, now: dt.datetime) -> dt.date:
    return now.astimezone(ZoneInfo(config.company.timezone)).date()


def text(value: str | None, field: str, *, required: bool = True) -> str | None:
    value = (value or "").strip()
    if not value:
        if required:
            raise MeetingRefused(field, f"{field} cannot be blank")
        return None
    if "\x00" in value:
        raise MeetingRefused(field, f"{field} cannot contain the NUL character")
    if len(value) > MAX_TEXT:
        raise MeetingRefused(field, f"{field} has {len(value):,} characters; at most {MAX_TEXT:,}")
    return value


def due_day(value, field: str, today: dt.date) -> dt.date:
    """A due date written as a day (YYYY-MM-DD) or as a distance from today, "+4d" or "+2w", so a
    decision recorded in a script or a help example stays due in the future on any day it runs."""
    if isinstance(value, str) and value.strip().startswith("+"):
        text = value.strip()
        unit = {"d": 1, "w": 7}.get(text[-1:].lower())
        count = text[1:-1]
        if unit is None or not count.isdigit():
            raise MeetingRefused(field, f"{field} {value!r} is not a date; write YYYY-MM-DD, or +4d / +2w from today")
        return day(today + dt.timedelta(days=int(count) * unit), field)
    return day(value, field)


def day(value, field: str) -> dt.date:
    """A date within truce's calendar, or a refusal naming the field."""
    if isinstance(value, str):
        try:
            value = dt.date.fromisoformat(value.strip())
        except ValueError:
            raise MeetingRefused(field, f"{field} {value!r} is not a date; write it as YYYY-MM-DD") from None
    if not isinstance(value, dt.date) or isinstance(value, dt.datetime):
        raise MeetingRefused(field, f"{field} must be a date, YYYY-MM-DD")
    try:
        return calendar_range.check_day(value)
    except calendar_range.OutsideCalendar as exc:
        raise MeetingRefused(field, f"{field} {exc}") from None


def active_user(conn: Connection, email: str | None, field: str):
    """An active user of marketing, sales or RevOps, by email; a refusal naming the field otherwise."""
    if not email or not str(email).strip():
        raise MeetingRefused(field, f"{field} needs a user's email")
    try:
        user = user_by_email(conn, email)
    except NotFound as exc:
        raise MeetingRefused(field, f"{field}: {exc}") from None
    if not user["active"]:
        raise MeetingRefused(field, f"{field}: {user['email']} is not an active user")
    if user["team"] not in TEAMS:
        raise MeetingRefused(field, f"{field}: {user['email']} is on no team of marketing, sales or revops")
    return user


def acting_user(conn: Connection, email: str | None):
    """Who writes: an active user (the CLI's --as or TRUCE_USER, the caller of the API or a page)."""
    if not email or not str(email).strip():
        raise NotYours("say who you are: --as EMAIL or TRUCE_USER")
    try:
        user = user_by_email(conn, email)
    except NotFound:
        raise NotYours(f"{email.strip()!r} is not a user of truce") from None
    if not user["active"] or user["access"] == "viewer":
        raise NotYours(f"{user['email']} may not write: the account is inactive or a viewer's")
    return user


def window_before(day_: dt.date, days: int) -> tuple[dt.date, dt.date]:
    """The `days` days ending on the day before `day_`: what was true when something was decided or began."""
    last = day_ - dt.timedelta(days=1)
    return last - dt.timedelta(days=days - 1), last


def window_ending(last: dt.date, days: int) -> tuple[dt.date, dt.date]:
    return last - dt.timedelta(days=days - 1), last


def measure(engine: Engine, config: TruceConfig, keys, window: tuple[dt.date, dt.date], now: dt.datetime) -> dict:
    from truce.services.indicators import measure as measured

    return measured(engine, config, list(keys), window[0], window[1], now)
