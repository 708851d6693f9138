"""`mql_pace`: marketing hears, at most once a day, when its monthly MQL promise is behind pace.

MQLs so far this month are the leads handed to sales since the first of the month (in the
company's zone): handoffs that do not replace an expired one, so a re-routed lead counts once,
as `truce sla` counts it. The promise is pro-rated by business time (truce.domain.event_rules).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Engine, func, select

from truce.config import TruceConfig
from truce.domain.event_rules import Pace, month_bounds, mql_pace
from truce.services.notify.outbox import owe
from truce.services.sla_rules.notices import team_members
from truce.store.models import Handoff
from truce.store.work import unit_of_work

LINK = "/sla"


def mqls_this_month(conn, clock, now: dt.datetime) -> int:
    first, _ = month_bounds(now.astimezone(clock.zone).date())
    start = dt.datetime.combine(first, dt.time(0), tzinfo=clock.zone).astimezone(dt.UTC)
    return conn.execute(
        select(func.count()).where(
            Handoff.mql_at >= start, Handoff.mql_at <= now, Handoff.previous_handoff_id.is_(None)
        )
    ).scalar_one()


def check_pace(engine: Engine, config: TruceConfig, now: dt.datetime, actor: str = "cli", origin: str = "cli") -> dict:
    """The pace as of `now`, and the messages owed (none when on pace or told already today)."""
    clock = config.business_hours.clock(config.company.timezone)
    with unit_of_work(engine, actor, origin) as work:
        conn = work.conn
        pace = mql_pace(clock, now, config.sla.marketing.mqls_per_month, mqls_this_month(conn, clock, now))
        owed = _owe(conn, pace, now.astimezone(clock.zone).date()) if pace.behind else 0
    return {
        "mqls_expected": int(pace.expected),
        "mqls_actual": pace.actual,
        "behind": int(pace.behind),
        "pace_messages": owed,
    }


def _owe(conn, pace: Pace, today: dt.date) -> int:
    subject = f"MQLs behind pace: {pace.actual} of {int(pace.expected)} expected by now"
    text = (
        f"Marketing promised {pace.promised} MQLs this month; {pace.elapsed_share:.0%} of the month's business "
        f"hours have passed, so {pace.expected:.1f} were expected by now and {pace.actual} were handed over "
        f"({pace.shortfall} short)."
    )
    facts = {
        "promised": pace.promised,
        "expected": round(pace.expected, 2),
        "actual": pace.actual,
        "elapsed_share": round(pace.elapsed_share, 4),
        "day": today.isoformat(),
    }
    owed = 0
    for user_id in team_members(conn, "marketing"):
        key = f"mql_pace:{today.isoformat()}:user:{user_id}"  # once a day at most, however often the job runs
        owed += owe(conn, "mql_pace", to_user_id=user_id, subject=subject, text=text, link=LINK, facts=facts,
                    key=key) is not None  # fmt: skip
    return owed
