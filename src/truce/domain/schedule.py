"""When a recurring job is due: the schedules `[schedule]` in truce.toml accepts, and their slots.

A schedule is one of:

- an interval, "5m", "1h", "1d" (minutes, hours, days): elapsed time counted from 1970-01-01
  00:00 UTC, so "1h" is due on the hour and "1d" at midnight UTC, whatever the time zone and
  whatever the daylight-saving season (an interval is a length of time, not a time of day);
- a cron expression, "0 2 * * *" (minute hour day-of-month month day-of-week), read in the
  company's time zone. Cron arithmetic is cronsim's (the library healthchecks.io runs on), which
  behaves like Debian's cron across daylight-saving changes: a time skipped when clocks go forward
  runs at the first moment after the gap; a time that happens twice when they go back runs once,
  at its first occurrence (unless the expression names every hour, as "*/30 * * * *" does);
- "off": never due.

A **slot** is one moment the schedule is due, in UTC. The scheduler runs each job once per slot,
and only ever the latest slot that has passed: slots missed while nothing was running are not
caught up one by one. Pure: no database, no clock of its own.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from cronsim import CronSim, CronSimError

OFF = "off"
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
UNITS = {"m": dt.timedelta(minutes=1), "h": dt.timedelta(hours=1), "d": dt.timedelta(days=1)}
INTERVAL = re.compile(r"(\d{1,6})([mhd])")
LONGEST = dt.timedelta(days=366)
TICK = dt.timedelta(microseconds=1)


class ScheduleError(ValueError):
    """A schedule that cannot be read; the message says what would work."""


@dataclass(frozen=True)
class Schedule:
    text: str
    every: dt.timedelta | None = None  # an interval
    cron: str | None = None  # a cron expression, in the company's time zone

    @property
    def off(self) -> bool:
        return self.every is None and self.cron is None


def parse(text: str) -> Schedule:
    """ "5m", "1h", "1d", a five-field cron expression, or "off"."""
    written = " ".join(str(text).split())
    if written.lower() == OFF:
        return Schedule(OFF)
    if match := INTERVAL.fullmatch(written):
        every = int(match[1]) * UNITS[match[2]]
        if not dt.timedelta(minutes=1) <= every <= LONGEST:
            raise ScheduleError(f"{text!r}: an interval runs from 1m to 366d")
        return Schedule(written, every=every)
    if len(written.split(" ")) == 5:
        try:
            CronSim(written, EPOCH)
        except CronSimError as exc:
            raise ScheduleError(f"{text!r} is not a cron expression: {exc}") from None
        return Schedule(written, cron=written)
    raise ScheduleError(
        f"{text!r} is not a schedule; write an interval (5m, 1h, 1d), "
        'a cron expression in the company\'s time zone ("0 2 * * *": 02:00 every day), or "off"'
    )


def latest_slot(schedule: Schedule, now: dt.datetime, zone: ZoneInfo) -> dt.datetime | None:
    """The last moment at or before `now` the schedule was due (UTC); None when it is off."""
    if schedule.every is not None:
        return _every_slot(schedule.every, now)
    if schedule.cron is not None:
        # cronsim walks backwards from strictly before its start: start a tick later to include `now`.
        found = next(CronSim(schedule.cron, (now + TICK).astimezone(zone), reverse=True), None)
        return found.astimezone(dt.UTC) if found else None
    return None


def _every_slot(every: dt.timedelta, now: dt.datetime) -> dt.datetime:
    """The last multiple of `every` since the epoch at or before `now`."""
    return EPOCH + ((now - EPOCH) // every) * every


def next_slot(schedule: Schedule, now: dt.datetime, zone: ZoneInfo) -> dt.datetime | None:
    """The first moment after `now` the schedule is due (UTC); None when it is off."""
    if schedule.every is not None:
        return _every_slot(schedule.every, now) + schedule.every
    if schedule.cron is not None:
        found = next(CronSim(schedule.cron, now.astimezone(zone)), None)
        return found.astimezone(dt.UTC) if found else None
    return None
