"""Delivering the outbox: fan out, claim, send outside any transaction, record — with retries.

Each round (`deliver`, the job `notify_deliver`, every minute):

1. **Fan out.** Outbox messages not yet fanned out become delivery rows, one per channel and
   target, by the recipient's preferences (truce.services.notify.preferences) and the company's
   webhooks. Inbox rows are delivered there and then. An urgent ("now") e-mail or webhook outside
   business hours waits for the next opening (quiet hours); a "digest" e-mail waits for the next
   digest slot, where all of a person's waiting digest e-mails go as one.
2. **Claim.** Due rows are claimed with a conditional UPDATE (still pending, or a claim that has
   run out) in one short unit of work; each claim counts one attempt.
3. **Send**, outside any transaction: a slow mail server never holds the store's write lock.
4. **Record** each outcome in a new short unit of work: sent; or failed, to be tried again after
   backoff_seconds × 2^(attempt − 1), and dead after max_attempts; or, when the channel as a whole
   refused (a bad SMTP password, connection refused), the channel rests for broken_channel_minutes
   with ONE error RevOps sees, and its messages go back to waiting with their attempt given back.

A worker that dies between 3 and 4 leaves its rows claimed; once the claim runs out the next round
claims and sends them again (attempts 2). So a message goes at least once and, after a crash at
that one moment, at most once more: docs/notifications.md says why SMTP cannot do better.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
from collections import defaultdict
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, Engine, and_, exists, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from truce.config import TruceConfig
from truce.domain.notify_timing import backoff, next_digest_slot, next_opening
from truce.services.jobs.registry import job
from truce.services.notify.channels import ChannelDown, DeliveryFailed, Message
from truce.services.notify.outbox import MACHINE_KINDS
from truce.services.notify.preferences import chosen_channels
from truce.store.models import Delivery, NotifyChannel, OutboxMessage, User
from truce.store.work import unit_of_work

log = logging.getLogger(__name__)
ACTOR = "notify"
FAN_OUT_BATCH = 500
CLAIM_BATCH = 200
ERROR_CHARS = 500


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


@job("notify_deliver", every="1m", help="deliver owed notifications: inbox, e-mail, digests, webhooks, with retries")
def run(engine: Engine, config: TruceConfig, now: dt.datetime) -> dict[str, int]:
    return deliver(engine, config, now)


def deliver(engine: Engine, config: TruceConfig, now: dt.datetime | None = None, *, worker: str | None = None) -> dict:
    """One round: fan new outbox messages out, then send what is due. Counts of what happened."""
    now = now or dt.datetime.now(dt.UTC)
    counts = {"fanned_out": 0, "sent": 0, "failed": 0, "dead": 0, "channel_errors": 0}
    while (fanned := fan_out(engine, config, now)) > 0:
        counts["fanned_out"] += fanned
        if fanned < FAN_OUT_BATCH:
            break
    claimed = claim(engine, config, now, worker or worker_name())
    for channel, rows in _by_channel(claimed).items():
        _send_channel(engine, config, channel, rows, now, counts)
    return counts


# ---- 1. fan out ---------------------------------------------------------------------------------


def fan_out(engine: Engine, config: TruceConfig, now: dt.datetime) -> int:
    """Delivery rows for up to FAN_OUT_BATCH outbox messages that have none yet; how many messages."""
    with unit_of_work(engine, ACTOR, "job") as work:
        conn = work.conn
        fanned = exists().where(Delivery.outbox_id == OutboxMessage.id)
        # Write-backs to a CRM are for the job crm_write_back, never for people or webhooks.
        for_people = OutboxMessage.kind.not_in(MACHINE_KINDS)
        messages = (
            conn.execute(
                select(OutboxMessage).where(~fanned, for_people).order_by(OutboxMessage.id).limit(FAN_OUT_BATCH)
            )
            .mappings()
            .all()
        )
        if not messages:
            return 0
        people = _people(conn, {m["user_id"] for m in messages if m["user_id"] is not None})
        chosen = chosen_channels(conn, list(people))
        rows = [row for m in messages for row in _rows_for(config, m, people, chosen, now)]
        dialect_insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
        # Two workers fanning out at once: the second finds the rows there and adds nothing.
        conn.execute(
            dialect_insert(Delivery).on_conflict_do_nothing(index_elements=["outbox_id", "channel", "target"]), rows
        )
    return len(messages)


def _people(conn: Connection, user_ids: set[int]) -> dict[int, dict]:
    if not user_ids:
        return {}
    rows = conn.execute(select(User.id, User.email, User.active).where(User.id.in_(user_ids))).mappings()
    return {row["id"]: dict(row) for row in rows}


def _rows_for(config: TruceConfig, message, people: dict, chosen: dict, now: dt.datetime) -> list[dict]:
    base = {"outbox_id": message["id"], "attempts": 0, "created_at": now, "digest": False}
    urgent_at = next_opening(_clock(config), now)
    rows = []
    person = people.get(message["user_id"])
    if person is not None:
        channels = chosen.get((person["id"], message["kind"]), config.notify.channels_by_default(message["kind"]))
        target = {**base, "target": f"user:{person['id']}", "user_id": person["id"]}
        if "inbox" in channels:
            rows.append(
                {**target, "channel": "inbox", "status": "sent", "attempts": 1, "next_attempt_at": now, "sent_at": now}
            )
        if "email" in channels and config.notify.email is not None and person["active"]:
            digest = message["urgency"] == "digest"
            when = _digest_slot(config, now) if digest else urgent_at
            rows.append({**target, "channel": "email", "status": "pending", "digest": digest, "next_attempt_at": when})
    for hook in config.notify.webhooks:
        wanted = not hook.kinds or message["kind"] in hook.kinds
        if wanted and (message["user_id"] is None or hook.people):
            rows.append(
                {
                    **base,
                    "channel": "webhook",
                    "target": hook.name,
                    "user_id": None,
                    "status": "pending",
                    "next_attempt_at": urgent_at,
                }
            )
    if not rows:  # still marked, or every round would look at it again
        rows.append(
            {**base, "channel": "none", "target": "-", "user_id": None, "status": "skipped", "next_attempt_at": now}
        )
    return [{"sent_at": None, **row} for row in rows]


def _clock(config: TruceConfig):
    return config.business_hours.clock(config.company.timezone)


def _digest_slot(config: TruceConfig, now: dt.datetime) -> dt.datetime:
    digest = config.notify.digest
    return next_digest_slot(now, digest.at, digest.days, ZoneInfo(config.company.timezone))


# ---- 2. claim -----------------------------------------------------------------------------------


def _due(now: dt.datetime):
    """Waiting and due, or claimed by a worker whose claim has run out (it died, or hangs)."""
    return or_(
        and_(Delivery.status.in_(("pending", "failed")), Delivery.next_attempt_at <= now),
        and_(Delivery.status == "sending", Delivery.claimed_until <= now),
    )


@dataclass
class Claimed:
    id: int
    channel: str  # "email" or "webhook:<name>"
    attempts: int
    digest: bool
    user_id: int | None
    to: str | None
    message: Message


def claim(
    engine: Engine, config: TruceConfig, now: dt.datetime, worker: str, limit: int = CLAIM_BATCH
) -> list[Claimed]:
    """Take due rows of working channels for this worker: claimed first, so two workers never both send."""
    until = now + dt.timedelta(seconds=config.notify.retries.claim_seconds)
    with unit_of_work(engine, ACTOR, "job") as work:
        conn = work.conn
        resting = set(conn.execute(select(NotifyChannel.name).where(NotifyChannel.broken_until > now)).scalars())
        candidates = conn.execute(
            select(Delivery.id, Delivery.channel, Delivery.target)
            .where(Delivery.channel.in_(("email", "webhook")), _due(now))
            .order_by(Delivery.next_attempt_at, Delivery.id)
            .limit(limit)
        ).all()
        taken = []
        for delivery_id, channel, target in candidates:
            name = _channel_name(channel, target)
            if name in resting or not _configured(config, name):
                continue
            won = conn.execute(
                update(Delivery)
                .where(Delivery.id == delivery_id, _due(now))
                .values(status="sending", claimed_by=worker, claimed_until=until, attempts=Delivery.attempts + 1)
            )
            if won.rowcount == 1:
                taken.append(delivery_id)
        return _claimed_rows(conn, config, taken)


def _channel_name(channel: str, target: str) -> str:
    return "email" if channel == "email" else f"webhook:{target}"


def _configured(config: TruceConfig, name: str) -> bool:
    if name == "email":
        return config.notify.email is not None
    return any(f"webhook:{w.name}" == name for w in config.notify.webhooks)


def _claimed_rows(conn: Connection, config: TruceConfig, ids: list[int]) -> list[Claimed]:
    if not ids:
        return []
    rows = conn.execute(
        select(
            Delivery.id.label("delivery_id"),
            Delivery.channel,
            Delivery.target,
            Delivery.attempts,
            Delivery.digest,
            Delivery.user_id.label("recipient_id"),
            User.email.label("to"),
            *OutboxMessage.__table__.columns,
        )
        .join(OutboxMessage, OutboxMessage.id == Delivery.outbox_id)
        .outerjoin(User, User.id == Delivery.user_id)
        .where(Delivery.id.in_(ids))
        .order_by(Delivery.id)
    ).mappings()
    return [
        Claimed(
            row["delivery_id"],
            _channel_name(row["channel"], row["target"]),
            row["attempts"],
            row["digest"],
            row["recipient_id"],
            row["to"],
            as_message(config, row["delivery_id"], row),
        )
        for row in rows
    ]


def as_message(config: TruceConfig, delivery_id: int, outbox) -> Message:
    """An outbox row (a mapping) as the message one delivery sends."""
    return Message(
        id=delivery_id,
        outbox_id=outbox["id"],
        kind=outbox["kind"],
        urgency=outbox["urgency"],
        subject=outbox["subject"],
        text=outbox["text"],
        link=absolute_link(config, outbox["link"]),
        created_at=outbox["created_at"],
        facts=outbox["facts"] or {},
    )


def absolute_link(config: TruceConfig, link: str | None) -> str | None:
    """Where the person acts: base_url + the outbox's path (a full URL is kept as it is)."""
    if not link:
        return config.notify.base_url.rstrip("/") + "/notifications"
    if link.startswith(("http://", "https://")):
        return link
    return config.notify.base_url.rstrip("/") + "/" + link.lstrip("/")


def _by_channel(claimed: list[Claimed]) -> dict[str, list[Claimed]]:
    grouped: dict[str, list[Claimed]] = defaultdict(list)
    for row in claimed:
        grouped[row.channel].append(row)
    return grouped


# ---- 3. send (outside any transaction) and 4. record --------------------------------------------


def _send_channel(engine, config, channel: str, rows: list[Claimed], now, counts: dict) -> None:
    units = _email_units(rows) if channel == "email" else [[row] for row in rows]
    done: set[int] = set()
    try:
        if channel == "email":
            _send_email(engine, config, units, now, counts, done)
        else:
            _send_webhook(engine, config, channel, units, now, counts, done)
    except ChannelDown as exc:
        waiting = [row.id for row in rows if row.id not in done]
        channel_broke(engine, config, channel, str(exc), now, waiting)
        counts["channel_errors"] += 1
        return
    channel_works(engine, channel)


def _email_units(rows: list[Claimed]) -> list[list[Claimed]]:
    """One e-mail per urgent message; one per person for all their digest messages."""
    units, digests = [], defaultdict(list)
    for row in rows:
        if row.digest:
            digests[row.user_id].append(row)
        else:
            units.append([row])
    return units + list(digests.values())


def _send_email(engine, config, units, now, counts, done: set[int]) -> None:
    from truce.services.notify.channels.email import Mailer, compose, compose_digest

    settings = config.notify.email
    mailer = Mailer(settings)
    with mailer.connected() as server:
        for unit in units:
            first = unit[0]
            if first.digest:
                mail = compose_digest(
                    [r.message for r in unit], first.to, settings.from_address, config.notify.base_url
                )
            else:
                mail = compose(first.message, first.to, settings.from_address, config.notify.base_url)
            _outcome(engine, config, unit, lambda mail=mail: mailer.send(server, mail), now, counts, done)


def _send_webhook(engine, config, channel: str, units, now, counts, done: set[int]) -> None:
    from truce.services.notify.channels.webhooks import Webhook

    settings = next(w for w in config.notify.webhooks if f"webhook:{w.name}" == channel)
    hook = Webhook(settings)
    for unit in units:
        _outcome(engine, config, unit, lambda unit=unit: hook.send(unit[0].message, now.timestamp()), now, counts, done)


def _outcome(engine, config, unit: list[Claimed], send, now, counts, done: set[int]) -> None:
    """Send one unit (a message, or a digest's messages) and record what happened. ChannelDown passes up."""
    try:
        send()
    except DeliveryFailed as exc:
        died = record_failure(engine, config, unit, str(exc), now)
        counts["dead" if died else "failed"] += len(unit)
    else:
        record_sent(engine, [row.id for row in unit], now)
        counts["sent"] += len(unit)
    done.update(row.id for row in unit)


def record_sent(engine: Engine, ids: list[int], now: dt.datetime) -> None:
    """The send went through: say so (a crash just before this is the at-least-once boundary)."""
    with unit_of_work(engine, ACTOR, "job") as work:
        work.conn.execute(
            update(Delivery)
            .where(Delivery.id.in_(ids), Delivery.status == "sending")
            .values(status="sent", sent_at=now, claimed_until=None, last_error=None)
        )


def record_failure(engine: Engine, config: TruceConfig, unit: list[Claimed], error: str, now: dt.datetime) -> bool:
    """Try again after backoff, or give up after max_attempts; True when the rows are now dead."""
    retries = config.notify.retries
    attempts = max(row.attempts for row in unit)
    dead = attempts >= retries.max_attempts
    later = now + backoff(attempts, retries.backoff_seconds, retries.max_backoff_seconds)
    if not unit[0].digest:
        later = next_opening(_clock(config), later)  # a retry of an urgent message keeps quiet hours too
    values: dict[str, Any] = {
        "status": "dead" if dead else "failed",
        "last_error": error[:ERROR_CHARS],
        "claimed_until": None,
    }
    if not dead:
        values["next_attempt_at"] = later
    with unit_of_work(engine, ACTOR, "job") as work:
        work.conn.execute(
            update(Delivery)
            .where(Delivery.id.in_([row.id for row in unit]), Delivery.status == "sending")
            .values(values)
        )
    log.warning("notification delivery %s failed (attempt %d): %s", [row.id for row in unit], attempts, error)
    return dead


def channel_broke(
    engine: Engine, config: TruceConfig, channel: str, error: str, now: dt.datetime, waiting: list[int]
) -> None:
    """The whole channel refused: rest it with one error, and give its messages their attempt back.

    Claims skip a resting channel, so nothing is tried through it until `broken_until` (or
    `truce notifications retry --all`): one error, not one per message, and no retry storm.
    """
    until = now + dt.timedelta(minutes=config.notify.retries.broken_channel_minutes)
    with unit_of_work(engine, ACTOR, "job") as work:
        conn = work.conn
        dialect_insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
        values = {
            "name": channel,
            "broken_since": now,
            "broken_until": until,
            "error": error[:ERROR_CHARS],
            "failures": 1,
        }
        statement = dialect_insert(NotifyChannel).values(values)
        conn.execute(
            statement.on_conflict_do_update(
                index_elements=["name"],
                set_={
                    "broken_until": until,
                    "error": values["error"],
                    "failures": NotifyChannel.failures + 1,
                    # Since when it has been broken: kept while it stays broken.
                    "broken_since": _coalesce(NotifyChannel.broken_since, now),
                },
            )
        )
        if waiting:
            conn.execute(
                update(Delivery)
                .where(Delivery.id.in_(waiting), Delivery.status == "sending")
                # Still due: they go in the first round after the channel rests or RevOps clears it.
                .values(status="pending", attempts=Delivery.attempts - 1, claimed_until=None)
            )
    log.error("notification channel %s is broken until %s: %s", channel, until.isoformat(), error)


def _coalesce(column, default):
    from sqlalchemy import func

    return func.coalesce(column, default)


def channel_works(engine: Engine, channel: str) -> None:
    """A send went through: a channel that was marked broken is clear again."""
    with engine.connect() as conn:
        broken = conn.execute(
            select(NotifyChannel.name).where(NotifyChannel.name == channel, NotifyChannel.error.is_not(None))
        ).first()
    if broken is None:
        return
    with unit_of_work(engine, ACTOR, "job") as work:
        work.conn.execute(
            update(NotifyChannel)
            .where(NotifyChannel.name == channel)
            .values(broken_since=None, broken_until=None, error=None, failures=0)
        )
