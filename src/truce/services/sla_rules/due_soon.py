"""`sla_due_soon`: a seller is reminded while there is still time to keep the promise.

The scan reads only handoffs whose next deadline falls within the largest threshold of business
time from now (the indexed `sla_due_at`; a handoff's decision deadline is never before it), and
owes at most one reminder per handoff, deadline and threshold: the outbox key says which, so a
scan that runs twice, or two at once, owes it once. A first touch already made needs no reminder.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Engine, select

from truce.config import TruceConfig
from truce.domain.event_rules import HOUR, business_hours_left, due_soon_threshold
from truce.services import sla
from truce.services.notify.outbox import owe_many
from truce.services.sla_rules.notices import sales_leaders
from truce.services.sla_rules.routed import _contact_emails
from truce.store.models import Handoff
from truce.store.work import unit_of_work

LINK = "/handoffs"
PROMISES = {"first_touch": "first touch", "decision": "accept or reject"}


def remind(engine: Engine, config: TruceConfig, now: dt.datetime, actor: str = "cli", origin: str = "cli") -> int:
    """Owe the reminders due at `now`; how many messages were owed (0 when all were owed before)."""
    thresholds = config.sla.remind_hours_left
    if not thresholds:
        return 0
    clock = config.business_hours.clock(config.company.timezone)
    horizon = clock.add(now, max(thresholds) * HOUR)
    with unit_of_work(engine, actor, origin) as work:
        conn = work.conn
        waiting = conn.execute(
            select(Handoff).where(
                Handoff.status == "open", Handoff.sla_due_at.is_not(None), Handoff.sla_due_at <= horizon
            )
        ).mappings().all()  # fmt: skip
        touched = sla.first_touches(conn, [h["id"] for h in waiting if h["first_touch_at"] is None])
        reminders = [
            reminder
            for handoff in waiting
            for reminder in _reminders(
                handoff, touched.get(handoff["id"]), clock, now, thresholds, horizon, config.sla.sales
            )
        ]
        if not reminders:
            return 0
        emails = _contact_emails(conn, [r["contact_id"] for r in reminders])
        leaders = sales_leaders(conn)
        return owe_many(conn, [m for r in reminders for m in _messages(r, emails.get(r["contact_id"]), leaders)])


def _reminders(
    handoff, touched: dt.datetime | None, clock, now: dt.datetime, thresholds, horizon, promise_hours
) -> list[dict]:
    """The reminders one handoff is owed at `now`: at most one per deadline."""
    pending = []
    if handoff["first_touch_at"] is None and (touched is None or touched > now):
        pending.append(("first_touch", handoff["first_touch_due_at"], promise_hours.first_touch_hours))
    pending.append(("decision", handoff["decision_due_at"], promise_hours.decision_hours))
    found = []
    for promise, due, clock_hours in pending:
        if due <= now or due > horizon:
            continue
        left = business_hours_left(clock, now, due)
        threshold = due_soon_threshold(left, thresholds, clock_hours)
        if threshold is not None:
            found.append({**handoff, "promise": promise, "due": due, "hours_left": left, "threshold": threshold})
    return found


def _messages(reminder: dict, email: str | None, leaders: list[int]) -> list[dict]:
    """One reminder to the lead's seller (to the sales leaders while nobody owns it)."""
    what = PROMISES[reminder["promise"]]
    key = f"sla_due_soon:handoff:{reminder['id']}:{reminder['promise']}:{reminder['threshold']:g}h"
    message = {
        "kind": "sla_due_soon",
        "subject": f"{reminder['hours_left']:.1f} business hours left to {what}: {email}",
        "text": (
            f"{email} waits for you: {what} by {reminder['due'].isoformat()} "
            f"({reminder['hours_left']:.1f} business hours from now)."
        ),
        "link": LINK,
        "facts": {
            "handoff_id": reminder["id"],
            "promise": reminder["promise"],
            "due_at": reminder["due"].isoformat(),
            "hours_left": round(reminder["hours_left"], 2),
            "threshold_hours": reminder["threshold"],
        },
    }
    owners = [reminder["owner_id"]] if reminder["owner_id"] is not None else leaders
    return [dict(message, to_user_id=u, key=f"{key}:user:{u}") for u in owners]
