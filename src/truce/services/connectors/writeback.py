"""Write-back: what truce decides, owed to the CRMs its leads came from, through the outbox.

A decision (a handoff accepted or rejected, an owner routed or assigned, a score that changed, an
SLA breach recorded) calls one function here inside its own unit of work. For each active
connection whose system id the lead carries (`contacts.hubspot_id`, `contacts.salesforce_id`)
and whose `[connectors.<system>.write_back]` switches on one of the decision's fields, it owes
one outbox message of kind `crm_write_back` (no person: the notify fan-out never sends these),
keyed by the event, so a re-run owes nothing twice and a decision that rolls back owes nothing.
The job `crm_write_back` (truce.services.connectors.writeback_jobs) delivers them.

Fields are truce's names and values (handoff_status, rejection_reason, lifecycle_stage, owner as
the user's e-mail, mql_score, score_link, sla_breach); each connector translates them to its
CRM's properties.

`read_at` is when truce last read the record from that CRM: the object's sync cursor (the CRM's
own last-modified time of the newest record the sync has taken in) at the moment of the decision.
Every edit in the CRM up to that time is in truce; an edit after it is one truce has not seen, so
the CRM's newer edit wins (the connector reports a conflict). A record of an object the sync has
never read gets no write-back: truce cannot know what it would overwrite.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import Connection, func, select

from truce.config import TruceConfig
from truce.store.models import Contact, CrmConnection, CrmSyncCursor, StageChange, User
from truce.store.work import work_of

KIND = "crm_write_back"
# Decisions that came from a CRM (a sync or a webhook moved the lead there) are not echoed back to it.
CRM_ORIGINS = frozenset({"sync", "webhook"})
# Where a contact lives in each CRM, by the start of its id: Salesforce keeps leads (00Q) and
# contacts (003) as two objects; HubSpot has one. The names are the connectors' object names.
CONTACT_OBJECTS: dict[str, tuple[tuple[str, str], ...]] = {
    "hubspot": (("contacts", ""),),
    "salesforce": (("Lead", "00Q"), ("Contact", "003")),
}
ID_COLUMNS = {"hubspot": Contact.hubspot_id, "salesforce": Contact.salesforce_id}
# Where a score's explanation is shown, under [notify] base_url.
SCORE_PATH = "/leads/{contact_id}/score"
ID_CHUNK = 900


@dataclass(frozen=True)
class Target:
    """One CRM record a lead is, through one connection, and what that connection writes back."""

    connection: str
    object: str
    crm_id: str
    read_at: dt.datetime
    switched_on: frozenset[str]


# ---- what a cursor says -------------------------------------------------------------------------


def read_time(cursor: str | None) -> dt.datetime | None:
    """The CRM time a sync cursor stands at: "2026-12-01T10:00:00Z|123" (ISO, then a tie-breaker) or epoch ms."""
    if not cursor:
        return None
    moment = cursor.split("|", 1)[0].strip()
    try:
        if moment.isdigit():
            return dt.datetime.fromtimestamp(int(moment) / 1000, dt.UTC)
        parsed = dt.datetime.fromisoformat(moment)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def object_of(system: str, crm_id: str) -> str | None:
    """The CRM object a contact's id belongs to (Salesforce: Lead or Contact by its prefix)."""
    for name, prefix in CONTACT_OBJECTS.get(system, ()):
        if crm_id.startswith(prefix):
            return name
    return None


def score_link(config: TruceConfig, contact_id: int) -> str:
    return config.notify.base_url.rstrip("/") + SCORE_PATH.format(contact_id=contact_id)


# ---- which records, through which connections ---------------------------------------------------


def _systems_wanting(config: TruceConfig, fields: Iterable[str]) -> dict[str, frozenset[str]]:
    """{system: the given fields it writes back}, for systems that write back at least one of them."""
    wanted = {}
    for system in CONTACT_OBJECTS:
        switched = frozenset(getattr(config.connectors, system).write_back.enabled()) & set(fields)
        if switched:
            wanted[system] = switched
    return wanted


def targets(
    conn: Connection, config: TruceConfig, contact_ids: Iterable[int], fields: Iterable[str]
) -> dict[int, list[Target]]:
    """Per lead, the CRM records a write-back of any of `fields` goes to (leads without any are left out)."""
    systems = _systems_wanting(config, fields)
    ids = sorted(set(contact_ids))
    if not systems or not ids:
        return {}
    connections = conn.execute(
        select(CrmConnection.id, CrmConnection.name, CrmConnection.system)
        .where(CrmConnection.active.is_(True), CrmConnection.system.in_(list(systems)))
        .order_by(CrmConnection.name)
    ).all()
    if not connections:
        return {}
    cursors = _read_times(conn, [c.id for c in connections])
    found: dict[int, list[Target]] = {}
    for start in range(0, len(ids), ID_CHUNK):
        rows = conn.execute(
            select(Contact.id, Contact.hubspot_id, Contact.salesforce_id)
            .where(Contact.id.in_(ids[start : start + ID_CHUNK]), Contact.deleted_at.is_(None))
        ).all()  # fmt: skip
        for row in rows:
            for connection in connections:
                target = _target(row, connection, cursors, systems[connection.system])
                if target is not None:
                    found.setdefault(row.id, []).append(target)
    return found


def _read_times(conn: Connection, connection_ids: list[int]) -> dict[tuple[int, str], dt.datetime]:
    rows = conn.execute(
        select(CrmSyncCursor.connection_id, CrmSyncCursor.object, CrmSyncCursor.cursor)
        .where(CrmSyncCursor.connection_id.in_(connection_ids))
    ).all()  # fmt: skip
    times = {(r.connection_id, r.object): read_time(r.cursor) for r in rows}
    return {key: moment for key, moment in times.items() if moment is not None}


def _target(row, connection, cursors: dict, switched_on: frozenset[str]) -> Target | None:
    crm_id = row.hubspot_id if connection.system == "hubspot" else row.salesforce_id
    if not crm_id:
        return None  # never read from this CRM: nothing there to write to
    obj = object_of(connection.system, crm_id)
    read_at = cursors.get((connection.id, obj)) if obj else None
    if obj is None or read_at is None:
        return None  # the sync has not read this object yet: truce cannot know what it would overwrite
    return Target(connection.name, obj, crm_id, read_at, switched_on)


# ---- owing ----------------------------------------------------------------------------------------


def owe_fields(
    conn: Connection, config: TruceConfig, changes: Sequence[tuple[int, str, dict]], context: dict | None = None
) -> int:
    """Owe the write-backs of `changes`: (contact id, event name, {field: value}). How many were new.

    Each connection gets only the fields it switched on; the key names the connection, the record
    and the event, so owing the same event again adds nothing.
    """
    if not changes:
        return 0
    names = {name for _, _, fields in changes for name in fields}
    found = targets(conn, config, [contact_id for contact_id, _, _ in changes], names)
    messages = [
        _message(target, contact_id, event, fields, context)
        for contact_id, event, fields in changes
        for target in found.get(contact_id, ())
        if any(name in target.switched_on for name in fields)
    ]
    if not messages:
        return 0
    from truce.services.notify.outbox import owe_many

    return owe_many(conn, messages)


def _message(target: Target, contact_id: int, event: str, fields: dict, context: dict | None = None) -> dict:
    chosen = {name: value for name, value in fields.items() if name in target.switched_on}
    where = f"{target.connection} {target.object} {target.crm_id}"
    return {
        "kind": KIND,
        "to_user_id": None,
        "subject": f"Write back to {where}: {', '.join(chosen)}",
        "text": f"truce writes {', '.join(f'{k}={v}' for k, v in chosen.items())} to {where} ({event}).",
        "facts": {
            "connection": target.connection,
            "object": target.object,
            "crm_id": target.crm_id,
            "fields": chosen,
            "read_at": target.read_at.isoformat(),
            "contact_id": contact_id,
            "event": event,
            "context": context or {},
        },  # fmt: skip
        "key": f"crm:{target.connection}:{target.object}:{target.crm_id}:{event}"[:200],
    }


def _from_a_crm(conn: Connection) -> bool:
    return work_of(conn).origin in CRM_ORIGINS


DECISION_FIELDS = ("handoff_status", "rejection_reason", "lifecycle_stage")


def owe_decision(conn: Connection, config: TruceConfig, handoff, status: str, reason: str | None, stage: str) -> int:
    """A handoff accepted or rejected: its status, the reason (cleared on acceptance) and the lead's new stage."""
    if _from_a_crm(conn) or not _systems_wanting(config, DECISION_FIELDS):
        return 0
    fields = {"handoff_status": status, "rejection_reason": reason if status == "rejected" else None,
              "lifecycle_stage": stage}  # fmt: skip
    # A decision made again after an undo is a new event: the key must differ from the first one's.
    undone = _undos(conn, handoff["contact_id"])
    event = f"handoff:{handoff['id']}:{status}" + (f":after-undo-{undone}" if undone else "")
    return owe_fields(conn, config, [(handoff["contact_id"], event, fields)], _decided(stage))


def owe_undo(conn: Connection, config: TruceConfig, handoff, stage: str) -> int:
    """A decision taken back (truce handoff undo): the CRM hears the lead is open and back at `stage`."""
    if _from_a_crm(conn) or not _systems_wanting(config, DECISION_FIELDS):
        return 0
    fields = {"handoff_status": "open", "rejection_reason": None, "lifecycle_stage": stage}
    event = f"handoff:{handoff['id']}:undo-{_undos(conn, handoff['contact_id'])}"
    return owe_fields(conn, config, [(handoff["contact_id"], event, fields)], _decided(stage))


def _decided(stage: str) -> dict:
    # The stage the decision took the lead to travels with it even when lifecycle_stage is off: a CRM
    # whose one status field means both (Salesforce) must not write a status that reads back as another stage.
    return {"decided_stage": stage}


def _undos(conn: Connection, contact_id: int) -> int:
    """How many times a decision on this lead was taken back (the ledger's moves with reason "undo")."""
    return conn.execute(
        select(func.count()).select_from(StageChange).where(
            StageChange.entity_type == "contact", StageChange.entity_id == contact_id, StageChange.reason == "undo"
        )
    ).scalar_one()


def owe_owners(conn: Connection, config: TruceConfig, assigned: Iterable[dict]) -> int:
    """Leads routed or assigned by truce: dicts with contact_id, owner_id and handoff id (`id`)."""
    assigned = [a for a in assigned if a.get("owner_id") is not None]
    if not assigned or not _systems_wanting(config, ["owner"]):
        return 0
    emails = dict(conn.execute(select(User.id, User.email).where(User.id.in_({a["owner_id"] for a in assigned}))).all())
    changes = [
        (a["contact_id"], f"owner:handoff:{a['id']}:user:{a['owner_id']}", {"owner": emails[a["owner_id"]]})
        for a in assigned
    ]
    return owe_fields(conn, config, changes)


def owe_scores(conn: Connection, config: TruceConfig, written: Iterable[dict]) -> int:
    """Scores that changed (dicts with contact_id, new_score, new_scored_at): the score and its explanation's link."""
    if not _systems_wanting(config, ["mql_score", "score_link"]):
        return 0  # a refresh of a million contacts pays nothing when nobody writes scores back
    changes = [
        (w["contact_id"], f"score:{w['new_scored_at'].isoformat()}:{w['new_score']}",
         {"mql_score": str(w["new_score"]), "score_link": score_link(config, w["contact_id"])})
        for w in written
    ]  # fmt: skip
    return owe_fields(conn, config, changes)


def owe_breaches(conn: Connection, config: TruceConfig, breaches: Iterable[dict]) -> int:
    """SLA breaches just recorded (dicts with id, contact_id, kind): the breach flag, as its kind."""
    if not _systems_wanting(config, ["sla_breach"]):
        return 0
    changes = [(b["contact_id"], f"sla_breach:event:{b['id']}", {"sla_breach": b["kind"]}) for b in breaches]
    return owe_fields(conn, config, changes)


# ---- what became of them: `truce connections writes NAME` ----------------------------------------

WRITE_STATUSES = ("pending", "sending", "failed", "sent", "conflict", "skipped", "dead")


def write_counts(conn: Connection, connection_id: int, name: str) -> dict[str, int]:
    """How many write-backs through one connection wait (owed, queued, retrying), met a conflict, or died."""
    from sqlalchemy import exists, func

    from truce.store.models import CrmWrite, OutboxMessage

    by_status = dict(
        conn.execute(
            select(CrmWrite.status, func.count())
            .where(CrmWrite.connection_id == connection_id)
            .group_by(CrmWrite.status)
        ).all()
    )
    # Owed in the outbox and not yet queued by the job: waiting too.
    unqueued = conn.execute(
        select(func.count())
        .select_from(OutboxMessage)
        .where(OutboxMessage.kind == KIND, OutboxMessage.facts["connection"].as_string() == name,
               ~exists().where(CrmWrite.outbox_id == OutboxMessage.id))
    ).scalar_one()  # fmt: skip
    waiting = unqueued + sum(by_status.get(s, 0) for s in ("pending", "sending", "failed"))
    return {"pending": waiting, "conflict": by_status.get("conflict", 0), "dead": by_status.get("dead", 0),
            "sent": by_status.get("sent", 0)}  # fmt: skip


def writes(engine, name: str, *, status: str | None = None, limit: int = 200) -> list[dict]:
    """The write-backs through connection `name`, newest first: what was written where, and how it went."""
    from truce.services.connectors.connections import _row
    from truce.store.models import CrmWrite, OutboxMessage

    if status is not None and status not in WRITE_STATUSES:
        raise ValueError(f"status: unknown {status!r}; one of {', '.join(WRITE_STATUSES)}")
    with engine.connect() as conn:
        connection = _row(conn, name)
        query = (
            select(*CrmWrite.__table__.columns, OutboxMessage.facts, OutboxMessage.created_at.label("owed_at"))
            .join(OutboxMessage, OutboxMessage.id == CrmWrite.outbox_id)
            .where(CrmWrite.connection_id == connection.id)
        )
        if status is not None:
            query = query.where(CrmWrite.status == status)
        rows = conn.execute(query.order_by(CrmWrite.id.desc()).limit(limit)).all()
    return [_shown(row) for row in rows]


def _shown(write) -> dict:
    def iso(moment):
        return moment.isoformat() if moment else None

    facts, owed_at = write.facts or {}, write.owed_at
    return {
        "id": write.id, "object": write.object, "crm_id": write.crm_id, "status": write.status,
        "fields": facts.get("fields", {}), "event": facts.get("event"), "read_at": facts.get("read_at"),
        "owed_at": iso(owed_at), "attempts": write.attempts, "next_attempt_at": iso(write.next_attempt_at),
        "sent_at": iso(write.sent_at), "detail": write.last_error,
    }  # fmt: skip
