"""What RevOps sees and does about delivery: failed and dead messages, broken channels, retrying.

`truce notifications failed|retry|list`, the failed section of /notifications and
`GET /api/v1/notifications/failed` all call these functions.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Engine, or_, select, update

from truce.services.lifecycle import NotFound
from truce.store.models import Delivery, NotifyChannel, OutboxMessage, User
from truce.store.work import unit_of_work

TROUBLE = ("failed", "dead")


def failed(engine: Engine, limit: int = 200) -> dict:
    """Broken channels (one error each) and deliveries that failed or died, newest first."""
    with engine.connect() as conn:
        channels = [
            dict(row)
            for row in conn.execute(
                select(NotifyChannel).where(NotifyChannel.error.is_not(None)).order_by(NotifyChannel.name)
            ).mappings()
        ]
        rows = conn.execute(_listing().where(Delivery.status.in_(TROUBLE)).limit(limit)).mappings().all()
    return {"broken_channels": channels, "deliveries": [dict(r) for r in rows]}


def deliveries(engine: Engine, user_email: str | None = None, limit: int = 100) -> list[dict]:
    """Every delivery row, newest first; only one person's with `user_email`."""
    query = _listing().limit(limit)
    if user_email:
        query = query.where(User.email == user_email.strip().lower())
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(query).mappings()]


def _listing():
    return (
        select(
            Delivery.id,
            Delivery.outbox_id,
            OutboxMessage.kind,
            OutboxMessage.subject,
            Delivery.channel,
            Delivery.target,
            User.email.label("user"),
            Delivery.status,
            Delivery.attempts,
            Delivery.next_attempt_at,
            Delivery.sent_at,
            Delivery.last_error,
            Delivery.read_at,
        )
        .join(OutboxMessage, OutboxMessage.id == Delivery.outbox_id)
        .outerjoin(User, User.id == Delivery.user_id)
        .order_by(Delivery.id.desc())
    )


def retry(
    engine: Engine, delivery_id: int | None = None, *, actor: str, origin: str, now: dt.datetime | None = None
) -> dict:
    """Send failed or dead deliveries again at the next round (one, or all); all also clears broken channels. Audited."""
    with unit_of_work(engine, actor, origin) as work:
        now = now or work.now
        query = update(Delivery).where(Delivery.status.in_(TROUBLE))
        if delivery_id is not None:
            found = work.conn.execute(select(Delivery.status).where(Delivery.id == delivery_id)).scalar_one_or_none()
            if found is None:
                raise NotFound(f"no delivery {delivery_id}")
            if found not in TROUBLE:
                raise NotFound(f"delivery {delivery_id} is {found}, not failed or dead: nothing to retry")
            query = query.where(Delivery.id == delivery_id)
        retried = work.conn.execute(query.values(status="pending", next_attempt_at=now, claimed_until=None)).rowcount
        cleared = 0
        if delivery_id is None:  # "I fixed the password": try the broken channels again now
            cleared = work.conn.execute(
                update(NotifyChannel)
                .where(or_(NotifyChannel.error.is_not(None), NotifyChannel.broken_until.is_not(None)))
                .values(broken_until=None, broken_since=None, error=None, failures=0)
            ).rowcount
        after = {"delivery": delivery_id, "retried": retried, "channels_cleared": cleared}
        work.record("notifications_retry", "deliveries", delivery_id, None, after)
    return after
