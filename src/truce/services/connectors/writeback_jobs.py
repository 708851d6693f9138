"""The job `crm_write_back`: deliver the write-backs owed in the outbox to each CRM, with retries.

Each round (every minute):

1. **Queue.** Outbox messages of kind `crm_write_back` without a delivery row get one in
   `crm_writes` (pending), naming their connection, object and CRM id.
2. **Claim.** Due rows of active connections are claimed with a conditional UPDATE (still
   waiting, or a claim that has run out), each claim counting one attempt: two workers never
   both send one.
3. **Send**, outside any transaction, one PATCH per CRM record: the writes claimed together for
   one record are merged (later decisions override earlier ones field by field) and sent with
   the earliest `read_at` among them.
4. **Record** each outcome in a short unit of work of its own (operations tables: the data
   revision stays): sent; conflict (the CRM record changed after truce read it — the CRM's newer
   edit wins; never retried, listed by `truce connections writes NAME --status conflict`);
   skipped (the connector had nothing to write it to); or failed, tried again after
   [notify.retries] backoff and dead after its max_attempts. A refused credential leaves the
   writes pending (their attempt given back) and records the error on the connection; they go
   once it is connected again.

truce's own write moves the CRM record's modified time. So that a second decision on the same
lead is not reported as a conflict with truce's first write, a write's `read_at` moves up to the
moment truce's previous write to that record went in (the CRM's modified time when the connector
reports it, else truce's clock), provided that earlier write was read no later than this one.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Engine, and_, exists, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from truce.config import TruceConfig
from truce.domain.notify_timing import backoff
from truce.services.connectors.errors import CredentialRevoked, RateLimited
from truce.services.connectors.writeback import KIND
from truce.services.jobs.registry import job
from truce.store.models import CrmConnection, CrmWrite, OutboxMessage
from truce.store.work import unit_of_work

log = logging.getLogger(__name__)
ACTOR = "job:crm_write_back"
QUEUE_BATCH = 500
CLAIM_BATCH = 200
ERROR_CHARS = 500
WAITING = ("pending", "sending", "failed")


@job(
    "crm_write_back",
    every="1m",
    help="Write truce's decisions back to each connected CRM (outbox, retries, conflicts kept)",
)
def run(engine: Engine, config: TruceConfig, now: dt.datetime) -> dict[str, int]:
    return deliver(engine, config, now)


@dataclass
class Claimed:
    id: int
    outbox_id: int
    connection_id: int
    object: str
    crm_id: str
    attempts: int
    fields: dict
    read_at: dt.datetime | None
    context: dict  # what the decision was besides its fields (the stage it took the lead to)


def deliver(
    engine: Engine, config: TruceConfig, now: dt.datetime | None = None, *, connector_for: Callable | None = None
) -> dict[str, int]:
    """One round: queue new write-backs, claim the due ones, send them, record each outcome. Counts.

    `connector_for(connection)` gives the connector (tests pass a stand-in); by default the
    connection's system's own (truce.services.connectors.sync.open_connector).
    """
    now = now or dt.datetime.now(dt.UTC)
    counts = dict.fromkeys(("queued", "sent", "conflict", "skipped", "failed", "dead", "waiting"), 0)
    while (queued := queue(engine, now)) > 0:
        counts["queued"] += queued
        if queued < QUEUE_BATCH:
            break
    by_connection: dict[int, list[Claimed]] = defaultdict(list)
    for row in claim(engine, config, now):
        by_connection[row.connection_id].append(row)
    for connection_id, rows in by_connection.items():
        _send_connection(engine, config, connection_id, rows, now, counts, connector_for)
    return counts


# ---- 1. queue -----------------------------------------------------------------------------------


def queue(engine: Engine, now: dt.datetime) -> int:
    """A crm_writes row for each write-back owed and not yet queued (up to QUEUE_BATCH); how many."""
    with unit_of_work(engine, ACTOR, "job") as work:
        conn = work.conn
        queued = exists().where(CrmWrite.outbox_id == OutboxMessage.id)
        owed = conn.execute(
            select(OutboxMessage.id, OutboxMessage.facts)
            .where(OutboxMessage.kind == KIND, ~queued)
            .order_by(OutboxMessage.id)
            .limit(QUEUE_BATCH)
        ).all()
        if not owed:
            return 0
        ids = dict(conn.execute(select(CrmConnection.name, CrmConnection.id)).all())
        rows = [_queued_row(outbox_id, facts or {}, ids, now) for outbox_id, facts in owed]
        dialect_insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
        # Two workers queueing at once: the second finds the rows there and adds nothing.
        conn.execute(dialect_insert(CrmWrite).on_conflict_do_nothing(index_elements=["outbox_id"]), rows)
    return len(owed)


def _queued_row(outbox_id: int, facts: dict, ids: dict, now: dt.datetime) -> dict:
    # Connections are revoked, never deleted, so the one a write-back names is always there.
    return {"outbox_id": outbox_id, "connection_id": ids[facts["connection"]], "object": facts["object"],
            "crm_id": facts["crm_id"], "status": "pending", "attempts": 0, "next_attempt_at": now,
            "claimed_until": None, "last_error": None, "sent_at": None, "created_at": now}  # fmt: skip


# ---- 2. claim -----------------------------------------------------------------------------------


def _due(now: dt.datetime):
    """Waiting and due, or claimed by a worker whose claim has run out (it died, or hangs)."""
    return or_(
        and_(CrmWrite.status.in_(("pending", "failed")), CrmWrite.next_attempt_at <= now),
        and_(CrmWrite.status == "sending", CrmWrite.claimed_until <= now),
    )


def claim(engine: Engine, config: TruceConfig, now: dt.datetime, limit: int = CLAIM_BATCH) -> list[Claimed]:
    """Take due writes of active connections: claimed first, or a second worker would write them twice."""
    until = now + dt.timedelta(seconds=config.notify.retries.claim_seconds)
    with unit_of_work(engine, ACTOR, "job") as work:
        conn = work.conn
        candidates = conn.execute(
            select(CrmWrite.id)
            .join(CrmConnection, CrmConnection.id == CrmWrite.connection_id)
            .where(CrmConnection.active.is_(True), _due(now))
            .order_by(CrmWrite.next_attempt_at, CrmWrite.id)
            .limit(limit)
        ).scalars().all()  # fmt: skip
        taken = [
            write_id
            for write_id in candidates
            if conn.execute(
                update(CrmWrite)
                .where(CrmWrite.id == write_id, _due(now))
                .values(status="sending", claimed_until=until, attempts=CrmWrite.attempts + 1)
            ).rowcount == 1
        ]  # fmt: skip
        if not taken:
            return []
        rows = conn.execute(
            select(*CrmWrite.__table__.columns, OutboxMessage.facts)
            .join(OutboxMessage, OutboxMessage.id == CrmWrite.outbox_id)
            .where(CrmWrite.id.in_(taken))
            .order_by(CrmWrite.outbox_id)
        ).all()
    return [_claimed(row) for row in rows]


def _claimed(row) -> Claimed:
    facts = row.facts or {}
    read_at = facts.get("read_at")
    return Claimed(row.id, row.outbox_id, row.connection_id, row.object, row.crm_id, row.attempts,
                   dict(facts.get("fields") or {}), dt.datetime.fromisoformat(read_at) if read_at else None,
                   dict(facts.get("context") or {}))  # fmt: skip


# ---- 3. send, one PATCH per record ----------------------------------------------------------------


def _by_record(rows: list[Claimed]) -> list[list[Claimed]]:
    grouped: dict[tuple[str, str], list[Claimed]] = defaultdict(list)
    for row in sorted(rows, key=lambda r: r.outbox_id):
        grouped[(row.object, row.crm_id)].append(row)
    return list(grouped.values())


def merged(group: list[Claimed]) -> tuple[dict, dt.datetime | None, dict]:
    """The fields of writes for one record, later decisions first in line, the earliest read time,
    and the decisions' context (the later wins)."""
    fields: dict = {}
    context: dict = {}
    for row in group:  # in the order they were owed
        fields.update(row.fields)
        context.update(row.context)
    times = [row.read_at for row in group if row.read_at is not None]
    return fields, min(times) if times else None, context


def _send_connection(engine, config, connection_id: int, rows: list[Claimed], now, counts, connector_for) -> None:
    from truce.services.connectors import sync as sync_module
    from truce.services.connectors.secrets import SecretUnavailable

    groups = _by_record(rows)
    connection = _connection(engine, connection_id)
    try:
        connector = (connector_for or (lambda c: sync_module.open_connector(c, config, engine)))(connection)
    except (CredentialRevoked, SecretUnavailable) as exc:
        _credential_refused(engine, config, connection_id, rows, str(exc), now, counts)
        return
    except Exception as exc:  # noqa: BLE001 - a connector that cannot start is a failed attempt, retried
        for group in groups:
            _failed(engine, config, group, f"{type(exc).__name__}: {exc}", now, counts)
        return
    try:
        _send_groups(engine, config, connector, connection_id, groups, now, counts)
    finally:
        connector.close()


def _send_groups(engine, config, connector, connection_id: int, groups: list[list[Claimed]], now, counts) -> None:
    for index, group in enumerate(groups):
        fields, read_at, context = merged(group)
        read_at = own_write_moved(engine, connection_id, group[0], read_at)
        try:
            result = connector.write_back(group[0].object, group[0].crm_id, fields, read_at, context=context)
        except CredentialRevoked as exc:
            rest = [row for later in groups[index:] for row in later]
            _credential_refused(engine, config, connection_id, rest, str(exc), now, counts)
            return
        except RateLimited as exc:
            _failed(engine, config, group, str(exc), now, counts)
            _give_back(engine, [row for later in groups[index + 1 :] for row in later], _later(config, now))
            counts["waiting"] += sum(len(later) for later in groups[index + 1 :])
            return
        except Exception as exc:  # noqa: BLE001 - one record's failure must not stop the others
            _failed(engine, config, group, f"{type(exc).__name__}: {exc}", now, counts)
            continue
        _record(engine, group, result, counts)


def _connection(engine: Engine, connection_id: int):
    from truce.services.connectors import connections

    with engine.connect() as conn:
        name = conn.execute(select(CrmConnection.name).where(CrmConnection.id == connection_id)).scalar_one()
    return connections.get(engine, name)


def own_write_moved(
    engine: Engine, connection_id: int, row: Claimed, read_at: dt.datetime | None
) -> dt.datetime | None:
    """`read_at`, moved up to when truce's own last write to this record went in (see the module's doc)."""
    if read_at is None:
        return None
    with engine.connect() as conn:
        earlier = conn.execute(
            select(CrmWrite.sent_at, OutboxMessage.facts)
            .join(OutboxMessage, OutboxMessage.id == CrmWrite.outbox_id)
            .where(CrmWrite.connection_id == connection_id, CrmWrite.object == row.object,
                   CrmWrite.crm_id == row.crm_id, CrmWrite.status == "sent")
        ).all()  # fmt: skip
    ours = [
        sent_at
        for sent_at, facts in earlier
        if sent_at is not None
        and (facts or {}).get("read_at")
        and dt.datetime.fromisoformat(facts["read_at"]) <= read_at
    ]
    return max([read_at, *ours])


# ---- 4. record ------------------------------------------------------------------------------------


def _record(engine: Engine, group: list[Claimed], result, counts: dict) -> None:
    status = result.status if result.status in ("sent", "conflict", "skipped") else "sent"
    values = {
        "status": status,
        "claimed_until": None,
        "last_error": (result.detail or None) if status != "sent" else None,
    }
    if status == "sent":
        # The CRM's own time of this write when it says; truce's clock otherwise (own_write_moved reads it).
        values["sent_at"] = result.crm_modified_at or dt.datetime.now(dt.UTC)
    if status == "conflict" and not values["last_error"]:
        values["last_error"] = "the CRM record changed after truce read it; the CRM's edit was kept"
    _update(engine, [row.id for row in group], values)
    counts[status] += len(group)
    if status == "conflict":
        log.warning("write-back to %s %s not made: %s", group[0].object, group[0].crm_id, values["last_error"])


def _failed(engine: Engine, config: TruceConfig, group: list[Claimed], error: str, now, counts: dict) -> None:
    """Try again after backoff, or give up after max_attempts."""
    retries = config.notify.retries
    attempts = max(row.attempts for row in group)
    dead = attempts >= retries.max_attempts
    values = {"status": "dead" if dead else "failed", "last_error": error[:ERROR_CHARS], "claimed_until": None}
    if not dead:
        values["next_attempt_at"] = now + backoff(attempts, retries.backoff_seconds, retries.max_backoff_seconds)
    _update(engine, [row.id for row in group], values)
    counts["dead" if dead else "failed"] += len(group)
    log.warning("write-back to %s %s failed (attempt %d): %s", group[0].object, group[0].crm_id, attempts, error)


def _later(config: TruceConfig, now: dt.datetime) -> dt.datetime:
    return now + dt.timedelta(minutes=config.notify.retries.broken_channel_minutes)


def _credential_refused(engine, config, connection_id: int, rows: list[Claimed], error: str, now, counts) -> None:
    """The CRM refused truce's credential: the writes wait (their attempt given back), the connection says why."""
    _give_back(engine, rows, _later(config, now))
    counts["waiting"] += len(rows)
    with unit_of_work(engine, ACTOR, "job") as work:
        work.conn.execute(
            update(CrmConnection)
            .where(CrmConnection.id == connection_id)
            .values(last_error=f"write-back stopped: {error}"[:ERROR_CHARS], last_error_at=now)
        )
    log.error("write-back through connection %s stopped: %s", connection_id, error)


def _give_back(engine: Engine, rows: list[Claimed], when: dt.datetime) -> None:
    if rows:
        _update(engine, [row.id for row in rows], {"status": "pending", "attempts": CrmWrite.attempts - 1,
                                                   "claimed_until": None, "next_attempt_at": when})  # fmt: skip


def _update(engine: Engine, ids: list[int], values: dict) -> None:
    with unit_of_work(engine, ACTOR, "job") as work:
        work.conn.execute(update(CrmWrite).where(CrmWrite.id.in_(ids), CrmWrite.status == "sending").values(values))
