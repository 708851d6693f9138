"""When truce owes someone a message about the handoff and its promises: the rules, without I/O.

- **Due soon**: a seller is reminded when a clock (first touch or decision) has `T` business
  hours or fewer left, for each `T` of `[sla] remind_hours_left` shorter than the clock, once. A scan that finds
  several thresholds crossed since it last looked (the worker was down; the lead arrived with
  little time left) reminds only at the smallest: "1 hour left" says all "4 hours left" would.
- **Escalation**: counted in business hours after the decision deadline. Before
  `tell_leader_after_hours` nothing; then the leader is told; from `reroute_after_hours` the
  lead is taken away (re-routed, or returned to nurture). Comparing moments, not hours, keeps
  an 18-month-old deadline cheap: `add` walks a few days forward, `between` would walk them all.
- **MQL pace**: marketing's monthly promise pro-rated by *business time* elapsed in the month
  (the same clock the SLA runs on: working days, opening hours, holidays, in the company's zone).
  MQLs expected by now = promise × elapsed ÷ the month's business hours; marketing is behind
  when it has fewer than the whole MQLs expected (a third of a lead short is not behind).
- **Feedback waiting**: an item still `new` once `remind_after_days` whole days have passed
  since it was given.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass

from truce.domain.business_hours import BusinessHours

HOUR = dt.timedelta(hours=1)

# Escalation steps, in order.
NONE, TELL_LEADER, TAKE_AWAY = "none", "tell_leader", "take_away"


def business_hours_left(clock: BusinessHours, now: dt.datetime, due: dt.datetime) -> float:
    """Business hours from `now` to `due` (0 once it has passed)."""
    return clock.between(now, due) / HOUR


def due_soon_threshold(hours_left: float, thresholds: Sequence[float], clock_hours: float) -> float | None:
    """The reminder owed with `hours_left` business hours to go: the smallest threshold reached.

    None when no threshold is reached yet, or when the deadline has passed (that is a breach,
    not a reminder). A threshold as long as the whole clock (`clock_hours`, e.g. a 4-hour
    first-touch promise and a 4-hour reminder) was never crossed: the seller was told of the
    lead when it arrived, so it is skipped.
    """
    if hours_left <= 0:
        return None
    reached = [t for t in thresholds if hours_left <= t < clock_hours]
    return min(reached) if reached else None


def thresholds_crossed(
    clock: BusinessHours,
    due: dt.datetime,
    since: dt.datetime | None,
    now: dt.datetime,
    thresholds: Sequence[float],
) -> list[float]:
    """The thresholds whose moment ("T business hours before `due`") fell in (since, now], largest first.

    `since` None: every threshold reached by `now`. Nothing once `due` has passed.
    """
    left_now = business_hours_left(clock, now, due)
    if left_now <= 0:
        return []
    left_then = math.inf if since is None else business_hours_left(clock, since, due)
    return sorted((t for t in thresholds if left_now <= t < left_then), reverse=True)


@dataclass(frozen=True)
class EscalationMoments:
    tell_leader_at: dt.datetime
    take_away_at: dt.datetime


def escalation_moments(
    clock: BusinessHours, decision_due: dt.datetime, tell_leader_after_hours: float, take_away_after_hours: float
) -> EscalationMoments:
    """When the leader is told and when the lead is taken away, in business time after the deadline."""
    return EscalationMoments(
        clock.add(decision_due, tell_leader_after_hours * HOUR),
        clock.add(decision_due, take_away_after_hours * HOUR),
    )


def escalation_step(moments: EscalationMoments, now: dt.datetime, leader_told: bool) -> str:
    """The step due at `now`: NONE, TELL_LEADER (once), or TAKE_AWAY."""
    if now >= moments.take_away_at:
        return TAKE_AWAY
    if now >= moments.tell_leader_at and not leader_told:
        return TELL_LEADER
    return NONE


def next_escalation_at(moments: EscalationMoments, now: dt.datetime, leader_told: bool) -> dt.datetime:
    """When the escalation scan should look at this handoff again."""
    if not leader_told and now < moments.tell_leader_at:
        return moments.tell_leader_at
    return moments.take_away_at


def take_away_action(action: str, reroutes_so_far: int, max_reroutes: int, other_seller: bool) -> str:
    """Re-route, or nurture: re-routing stops after `max_reroutes`, or when nobody else could take it."""
    if action == "reroute" and reroutes_so_far < max_reroutes and other_seller:
        return "reroute"
    return "nurture"


@dataclass(frozen=True)
class Pace:
    promised: int
    expected: float  # MQLs expected by now, pro-rated
    actual: int
    elapsed_share: float  # of the month's business hours

    @property
    def behind(self) -> bool:
        return self.actual < math.floor(self.expected + 1e-9)

    @property
    def shortfall(self) -> int:
        return max(0, math.floor(self.expected + 1e-9) - self.actual)


def month_bounds(today: dt.date) -> tuple[dt.date, dt.date]:
    """The first day of `today`'s month and the first day of the next."""
    first = today.replace(day=1)
    following = (first + dt.timedelta(days=32)).replace(day=1)
    return first, following


def mql_pace(clock: BusinessHours, now: dt.datetime, promised: int, actual: int) -> Pace:
    """Marketing's MQLs this month (in the clock's zone) against the promise pro-rated by business time."""
    first, following = month_bounds(now.astimezone(clock.zone).date())
    start = dt.datetime.combine(first, dt.time(0), tzinfo=clock.zone)
    end = dt.datetime.combine(following, dt.time(0), tzinfo=clock.zone)
    total = clock.between(start, end)
    share = clock.between(start, now) / total if total else 0.0
    return Pace(promised, promised * share, actual, share)


def feedback_waiting(created_at: dt.datetime, status: str, now: dt.datetime, remind_after_days: int) -> bool:
    """Whether an item of feedback has waited for an answer long enough to remind marketing."""
    return status == "new" and now - created_at >= dt.timedelta(days=remind_after_days)
