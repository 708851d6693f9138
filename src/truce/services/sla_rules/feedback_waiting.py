"""`feedback_waiting`: marketing hears, once a day, of sales feedback left unanswered too long.

An item waits while its status is `new` (nobody in marketing acknowledged or acted on it) and
`[feedback] remind_after_days` have passed since it was given. Each active marketing member is
owed one message a day naming how many wait and the oldest of them; answering them stops it.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Engine, select

from truce.config import TruceConfig
from truce.domain.event_rules import feedback_waiting
from truce.services.notify.outbox import owe
from truce.services.sla_rules.notices import listed, team_members
from truce.store.models import FeedbackItem
from truce.store.work import unit_of_work

LINK = "/feedback"
NAMED = 10  # the oldest items a message quotes


def remind(engine: Engine, config: TruceConfig, now: dt.datetime, actor: str = "cli", origin: str = "cli") -> dict:
    days = config.feedback.remind_after_days
    zone = config.business_hours.clock(config.company.timezone).zone
    with unit_of_work(engine, actor, origin) as work:
        conn = work.conn
        candidates = conn.execute(
            select(FeedbackItem.id, FeedbackItem.kind, FeedbackItem.text, FeedbackItem.created_at, FeedbackItem.status)
            .where(FeedbackItem.status == "new", FeedbackItem.created_at <= now - dt.timedelta(days=days))
            .order_by(FeedbackItem.created_at, FeedbackItem.id)
        ).all()
        waiting = [item for item in candidates if feedback_waiting(item.created_at, item.status, now, days)]
        owed = _owe(conn, waiting, days, now.astimezone(zone).date()) if waiting else 0
    return {"feedback_waiting": len(waiting), "feedback_messages": owed}


def _owe(conn, waiting: list, days: int, today: dt.date) -> int:
    oldest = waiting[0]
    subject = f"{len(waiting)} items of sales feedback wait over {days} days for an answer"
    text = (
        f"{len(waiting)} items of sales feedback are still new after {days} days; the oldest, from "
        f'{oldest.created_at.date().isoformat()}: "{oldest.text[:160]}". Acknowledge or act on them.'
    )
    facts = {
        "remind_after_days": days,
        "items": listed([item.id for item in waiting]),
        "oldest": [{"id": i.id, "kind": i.kind, "created_at": i.created_at.isoformat()} for i in waiting[:NAMED]],
    }
    owed = 0
    for user_id in team_members(conn, "marketing"):
        key = f"feedback_waiting:{today.isoformat()}:user:{user_id}"
        owed += owe(conn, "feedback_waiting", to_user_id=user_id, subject=subject, text=text, link=LINK,
                    facts=facts, key=key) is not None  # fmt: skip
    return owed
