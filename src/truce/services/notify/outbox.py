"""The outbox: notifications owed, written in the same unit of work as the change that caused them.

A rule or a service that wants someone told calls `owe(conn, ...)` inside its unit of work. If
the change rolls back, so does the message; if it commits, the worker delivers the message later
through the channels its recipient chose (truce.services.notify.delivery). Nothing is sent from
inside a transaction: a slow mail server never holds the store's write lock.

Each message may carry a `key` that names the event ("sla_due_soon:handoff:17:4h"): a rule that
runs twice, or two workers running it at once, owe the message once — the second insert is a
no-op on the unique key, on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import Connection, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from truce.store.models import OutboxMessage, User
from truce.store.work import work_of


@dataclass(frozen=True)
class EventKind:
    """A kind of event people can be told about, and how urgently by default."""

    key: str
    label: str
    urgency: str  # "now": sent at once (outside quiet hours); "digest": batched
    help: str


# The events truce tells people about. Users choose channels per kind (truce notifications prefs).
EVENT_KINDS: dict[str, EventKind] = {
    kind.key: kind
    for kind in (
        EventKind("lead_routed", "A lead was routed to you", "now", "a new MQL is in your queue"),
        EventKind(
            "sla_due_soon", "Your SLA clock is running out", "now", "N business hours left to touch or decide a lead"
        ),
        EventKind("sla_breach", "SLA breach", "now", "a breach recorded against you or your team"),
        EventKind(
            "sla_escalated",
            "SLA escalation",
            "now",
            "a lead passed its deadline and went to the leader or was re-routed",
        ),
        EventKind("mql_pace", "MQL promise below pace", "digest", "marketing's monthly MQL promise is behind"),
        EventKind(
            "feedback_waiting", "Feedback waiting for an answer", "digest", "sales feedback unanswered for N days"
        ),
        EventKind(
            "decision_due", "A meeting decision is due", "digest", "a decision assigned to you is due or overdue"
        ),
        EventKind("brief_ready", "The weekly brief is ready", "digest", "the joint revenue meeting's brief"),
        EventKind(
            "discount_approval", "Discount approval", "now", "a discount beyond policy waits for, or got, an answer"
        ),
        EventKind(
            "survey_reminder",
            "The diagnostic waits for your answer",
            "digest",
            "RevOps' reminder of an open survey round",
        ),
        EventKind(
            "crm_write_back",
            "A decision written back to a CRM",
            "now",
            "truce's decision owed to HubSpot or Salesforce",
        ),
    )
}
# Messages to machines, not people (a CRM write-back, delivered by the job crm_write_back): never
# fanned out to an inbox, e-mail, Slack/Teams or the company's webhooks, nor offered as a preference.
MACHINE_KINDS = frozenset({"crm_write_back"})


class UnknownEventKind(ValueError):
    pass


def owe(
    conn: Connection,
    kind: str,
    *,
    to_user_id: int | None,
    subject: str,
    text: str,
    link: str | None = None,
    facts: dict | None = None,
    key: str | None = None,
    urgency: str | None = None,
    at: dt.datetime | None = None,
) -> int | None:
    """Owe one message to `to_user_id` (None: the company's channels only). Its id, or None if `key` was owed already."""
    row = _row(work_of(conn), kind, to_user_id, subject, text, link, facts, key, urgency, at)
    statement = _insert(conn).values(row)
    if key is not None:
        # Owed once per event: a second sweep or a re-run job finds the key taken and adds nothing.
        statement = statement.on_conflict_do_nothing(index_elements=["key"])
    return conn.execute(statement.returning(OutboxMessage.id)).scalar_one_or_none()


def owe_many(conn: Connection, messages: list[dict]) -> int:
    """`owe` for many keyed messages (dicts of owe's keyword arguments plus `kind`) in one statement; how many were new.

    A sweep after a pause owes hundreds of reminders: one insert each would cost more than the sweep.
    """
    if not messages:
        return 0
    work = work_of(conn)
    rows = []
    for message in messages:
        if message.get("key") is None:
            raise ValueError("owe_many owes keyed messages only: give each a key that names its event")
        rows.append(
            _row(
                work, message["kind"], message["to_user_id"], message["subject"], message["text"],
                message.get("link"), message.get("facts"), message["key"], message.get("urgency"), message.get("at"),
            )
        )  # fmt: skip
    statement = _insert(conn).on_conflict_do_nothing(index_elements=["key"]).returning(OutboxMessage.id)
    return len(conn.execute(statement, rows).all())


def _row(work, kind, to_user_id, subject, text, link, facts, key, urgency, at) -> dict:
    if kind not in EVENT_KINDS:
        raise UnknownEventKind(f"unknown event kind {kind!r}; known: {', '.join(EVENT_KINDS)}")
    return {
        "kind": kind,
        "user_id": to_user_id,
        "urgency": urgency or EVENT_KINDS[kind].urgency,
        "subject": subject[:200],
        "text": text,
        "link": link,
        "facts": facts,
        "key": key,
        "created_at": at or work.now,
        "created_by": work.actor,
    }


def _insert(conn: Connection):
    dialect_insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    return dialect_insert(OutboxMessage.__table__)


def owe_team(conn: Connection, kind: str, team: str, *, leaders_only: bool = False, **message) -> list[int]:
    """Owe the same message to every active member of `team` (or its leaders); the ids owed."""
    query = select(User.id).where(User.team == team, User.active.is_(True)).order_by(User.id)
    if leaders_only:
        query = query.where(User.is_leader.is_(True))
    key = message.pop("key", None)
    owed = []
    for user_id in conn.execute(query).scalars():
        message_key = f"{key}:user:{user_id}" if key else None
        new_id = owe(conn, kind, to_user_id=user_id, key=message_key, **message)
        if new_id is not None:
            owed.append(new_id)
    return owed
