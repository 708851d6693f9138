"""Two honest MQL counts and why they differ: the one the targets count and the one the SLA counts.

- **Targets** (truce.services.targets): contacts whose *first* move into the handoff stage
  (truce.toml, default mql) fell in the period, UTC days. One contact counts once, ever.
- **SLA** (truce.services.sla_report): handoffs opened in the month, company time zone. Every
  pass through the handoff stage opens one, so a lead recycled and handed over again counts
  again; a lead re-routed to another seller does not (one MQL however many sellers held it);
  an MQL that never got a handoff (its move came in without one) does not count.

`mql_counts` reads both for the same days and splits the difference into those reasons, so a
page can show both numbers with the why:

    handoffs = first_mqls − never_handed_over + handed_over_again + handoff_without_move + time_zone

`time_zone` is what remains: first handovers counted on another day because the SLA reads the
day in the company's zone and the targets in UTC (0 when the company's zone is UTC).
"""

from __future__ import annotations

import datetime as dt
from bisect import bisect_right
from collections import defaultdict
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, select

from truce.config import TruceConfig
from truce.store.models import Handoff, StageChange

# A handoff opened by routing is stamped as its move; a slack of a second keeps a handoff
# written a moment after the move with the pass that opened it.
SLACK = dt.timedelta(seconds=1)


def mql_counts(engine: Engine, config: TruceConfig, start: dt.date, end: dt.date) -> dict:
    """Both counts for the days from start to end (inclusive) and the reasons they differ (module docstring)."""
    zone = ZoneInfo(config.company.timezone)
    entries, handoffs = _read(engine, config.funnel.handoff_stage)
    first_from = dt.datetime(start.year, start.month, start.day, tzinfo=dt.UTC)
    first_until = first_from + dt.timedelta(days=(end - start).days + 1)
    first_mqls = {c for c, times in entries.items() if first_from <= times[0] < first_until}
    handed_first = {c for c, at in handoffs if _pass_of(entries.get(c, []), at) == 0}
    counted = [(c, at) for c, at in handoffs if start <= at.astimezone(zone).date() <= end]
    passes = [_pass_of(entries.get(c, []), at) for c, at in counted]
    again = sum(p >= 1 for p in passes)
    without_move = sum(p < 0 for p in passes)
    never = len(first_mqls - handed_first)
    first_handovers = len(counted) - again - without_move
    return {
        "from": start.isoformat(),
        "to": end.isoformat(),
        "time_zone": config.company.timezone,
        "first_mqls": len(first_mqls),
        "handoffs": len(counted),
        "never_handed_over": never,
        "handed_over_again": again,
        "handoff_without_move": without_move,
        "moved_by_time_zone": first_handovers - (len(first_mqls) - never),
    }


def _read(engine: Engine, stage: str) -> tuple[dict[int, list[dt.datetime]], list[tuple[int, dt.datetime]]]:
    """Each contact's moves into the handoff stage (in time order), and every handoff that is not a re-route."""
    entries: dict[int, list[dt.datetime]] = defaultdict(list)
    moves = (
        select(StageChange.entity_id, StageChange.changed_at)
        .where(StageChange.entity_type == "contact", StageChange.to_stage == stage)
        .order_by(StageChange.entity_id, StageChange.changed_at, StageChange.id)
    )
    opened = select(Handoff.contact_id, Handoff.mql_at).where(Handoff.previous_handoff_id.is_(None))
    with engine.connect() as conn:
        for contact_id, at in conn.execute(moves):
            entries[contact_id].append(at)
        handoffs = [(contact_id, at) for contact_id, at in conn.execute(opened)]
    return entries, handoffs


def _pass_of(times: list[dt.datetime], at: dt.datetime) -> int:
    """Which pass through the handoff stage a handoff belongs to: 0 the first, −1 none (no move before it)."""
    return bisect_right(times, at + SLACK) - 1
