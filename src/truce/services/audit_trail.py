"""Reading the audit trail: every write by any face, newest first, filtered by who, what or which record."""

from __future__ import annotations

from sqlalchemy import Engine, func, select

from truce.store.models import AuditEntry

MAX_ROWS = 500


class AuditQueryError(ValueError):
    """A filter the trail cannot use; the message says what would work."""


def audit_trail(
    engine: Engine,
    *,
    actor: str | None = None,
    action: str | None = None,
    entity_type: str | None = None,
    limit: int = 100,
) -> dict:
    """{"entries": [...], "actions": [...], "entity_types": [...]} — the newest `limit` entries matching every filter."""
    if not 1 <= limit <= MAX_ROWS:
        raise AuditQueryError(f"show between 1 and {MAX_ROWS} entries, not {limit}")
    where = []
    if actor:
        where.append(func.lower(AuditEntry.actor) == actor.strip().lower())
    if action:
        where.append(AuditEntry.action == action)
    if entity_type:
        where.append(AuditEntry.entity_type == entity_type)
    with engine.connect() as conn:
        entries = [
            dict(row)
            for row in conn.execute(
                select(*AuditEntry.__table__.columns)
                .where(*where)
                .order_by(AuditEntry.at.desc(), AuditEntry.id.desc())
                .limit(limit)
            ).mappings()
        ]
        actions = list(conn.execute(select(AuditEntry.action).distinct().order_by(AuditEntry.action)).scalars())
        kinds = list(conn.execute(select(AuditEntry.entity_type).distinct().order_by(AuditEntry.entity_type)).scalars())
    return {
        "entries": entries,
        "actions": actions,
        "entity_types": kinds,
    }
