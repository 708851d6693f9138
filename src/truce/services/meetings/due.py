"""The job `decisions_due`: tell owners of open decisions that one is due tomorrow, or overdue.

Once a day (company time): every open decision due tomorrow owes its owner a reminder, and every
open decision due before today owes its owner one overdue notice (truce.domain.meetings.due_notice:
calendar days, weekends included). Each is keyed on the decision and its due date, so a second run
the same day, or every day after, owes nothing new; a decision whose due date moved would be owed
again for the new date. Done and dropped decisions owe nothing.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Engine, select

from truce.config import TruceConfig
from truce.domain import meetings as rules
from truce.services.jobs.registry import job
from truce.services.meetings.common import today_in
from truce.services.notify.outbox import owe
from truce.store.models import Decision, Meeting
from truce.store.work import unit_of_work

WORDS = {rules.DUE_TOMORROW: "is due tomorrow", rules.OVERDUE: "is overdue"}


@job("decisions_due", every="1d", help="remind owners of meeting decisions due tomorrow, and tell them of overdue ones")
def decisions_due(engine: Engine, config: TruceConfig, now: dt.datetime) -> dict[str, int]:
    today = today_in(config, now)
    counts = {"due_tomorrow": 0, "overdue": 0}
    with unit_of_work(engine, "decisions_due", "job") as work:
        rows = work.conn.execute(
            select(Decision.id, Decision.text, Decision.owner_id, Decision.due_on, Meeting.period)
            .join(Meeting, Meeting.id == Decision.meeting_id)
            .where(Decision.state == "open", Decision.due_on <= today + dt.timedelta(days=1))
            .order_by(Decision.id)
        ).all()
        for row in rows:
            notice = rules.due_notice(row.due_on, today)
            if notice is not None and _owe(work.conn, row, notice) is not None:
                counts[notice] += 1
    return counts


def _owe(conn, row, notice: str) -> int | None:
    return owe(
        conn,
        "decision_due",
        to_user_id=row.owner_id,
        subject=f"Decision {WORDS[notice]}: {row.text}",
        text=f"From the joint meeting of {row.period}: “{row.text}” {WORDS[notice]} (due {row.due_on}). "
        "Mark it done or drop it with a note on /decisions.",
        link="/decisions",
        facts={"decision": row.id, "due_on": row.due_on.isoformat(), "notice": notice, "meeting": row.period},
        key=f"decision_due:decision:{row.id}:{row.due_on.isoformat()}:{notice}",
    )
