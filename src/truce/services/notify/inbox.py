"""The in-app inbox: the bell's unread count, the list, and marking read — each person their own only.

An inbox notification is the inbox delivery row of an outbox message (its id is the row's id).
A notification that is not the caller's is answered exactly like one that does not exist
(NotFound, 404): nobody learns from the answer which ids belong to others.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Engine, func, select, update

from truce.config import TruceConfig
from truce.services.lifecycle import NotFound
from truce.store.models import Delivery, OutboxMessage
from truce.store.work import unit_of_work

MAX_LIST = 500


def unread_count(engine: Engine, user_id: int) -> int:
    """The bell: one COUNT on the (user, channel, read) index."""
    with engine.connect() as conn:
        return conn.execute(
            select(func.count())
            .select_from(Delivery)
            .where(Delivery.user_id == user_id, Delivery.channel == "inbox", Delivery.read_at.is_(None))
        ).scalar_one()


def notifications(
    engine: Engine, config: TruceConfig, user_id: int, *, unread_only: bool = False, limit: int = 50
) -> dict:
    """A person's inbox, newest first, with the link to where they act."""
    from truce.services.notify.delivery import absolute_link

    query = (
        select(
            Delivery.id,
            Delivery.read_at,
            OutboxMessage.kind,
            OutboxMessage.urgency,
            OutboxMessage.subject,
            OutboxMessage.text,
            OutboxMessage.link,
            OutboxMessage.created_at,
        )
        .join(OutboxMessage, OutboxMessage.id == Delivery.outbox_id)
        .where(Delivery.user_id == user_id, Delivery.channel == "inbox")
        .order_by(OutboxMessage.created_at.desc(), Delivery.id.desc())
        .limit(min(max(limit, 1), MAX_LIST))
    )
    if unread_only:
        query = query.where(Delivery.read_at.is_(None))
    with engine.connect() as conn:
        rows = conn.execute(query).mappings().all()
    items = [
        {**row, "link": row["link"] or "/notifications", "url": absolute_link(config, row["link"])} for row in rows
    ]
    return {"unread": unread_count(engine, user_id), "items": items}


def mark_read(engine: Engine, user_id: int, notification_id: int, *, actor: str, origin: str) -> dict:
    """Mark one of the person's own notifications read (again: no change). NotFound for anyone else's."""
    with unit_of_work(engine, actor, origin) as work:
        row = work.conn.execute(
            select(Delivery.id, Delivery.read_at).where(
                Delivery.id == notification_id, Delivery.user_id == user_id, Delivery.channel == "inbox"
            )
        ).first()
        if row is None:
            raise NotFound(f"no notification {notification_id} in your inbox")
        read_at = row.read_at or work.now
        if row.read_at is None:
            work.conn.execute(update(Delivery).where(Delivery.id == notification_id).values(read_at=read_at))
            work.record(
                "notification_read",
                "notification",
                notification_id,
                {"read_at": None},
                {"read_at": read_at.isoformat()},
            )
    return {"id": notification_id, "read_at": read_at}


def mark_all_read(engine: Engine, user_id: int, *, actor: str, origin: str) -> dict:
    with unit_of_work(engine, actor, origin) as work:
        marked = work.conn.execute(
            update(Delivery)
            .where(Delivery.user_id == user_id, Delivery.channel == "inbox", Delivery.read_at.is_(None))
            .values(read_at=work.now)
        ).rowcount
        if marked:
            work.record("notifications_read_all", "user", user_id, None, {"marked_read": marked})
    return {"marked_read": marked, "at": dt.datetime.now(dt.UTC)}
