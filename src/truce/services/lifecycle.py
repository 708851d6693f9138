"""Moving a contact through the funnel: the one door every stage change goes through.

A seller's accept, a score crossing the line and a replayed history all call
`move_contact`, so the rules in truce.toml apply the same way to each, every move lands in
the append-only ledger, and the handoff queue opens and closes with the moves.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Connection, insert, select, update

from truce.config import TruceConfig
from truce.domain.lifecycle import IllegalMove, Move, check_move
from truce.store.models import AuditEntry, Contact, StageChange, User


class NotFound(LookupError):
    """A contact or user named by the caller does not exist."""


def contact_by_email(conn: Connection, email: str):
    row = conn.execute(select(Contact).where(Contact.email == email.strip().lower())).mappings().one_or_none()
    if row is None:
        raise NotFound(f"no contact with email {email.strip()!r}")
    return row


def user_by_email(conn: Connection, email: str):
    row = conn.execute(select(User).where(User.email == email.strip().lower())).mappings().one_or_none()
    if row is None:
        raise NotFound(f"no user with email {email.strip()!r}; add them first")
    return row


def _current_stage(conn: Connection, contact_id: int) -> str:
    query = select(Contact.stage).where(Contact.id == contact_id)
    if conn.dialect.name == "postgresql":
        query = query.with_for_update()  # two people moving one lead at once: one waits
    stage = conn.execute(query).scalar_one_or_none()
    if stage is None:
        raise NotFound(f"no contact with id {contact_id}")
    return stage


def move_contact(
    conn: Connection,
    config: TruceConfig,
    contact_id: int,
    to_stage: str,
    *,
    at: dt.datetime,
    actor_id: int | None = None,
    actor: str = "system",
    reason: str | None = None,
    note: str | None = None,
    origin: str = "cli",
) -> Move:
    """Move one contact, inside the caller's transaction; raises IllegalMove if the funnel forbids it."""
    if at.tzinfo is None:
        raise ValueError("a move needs an aware timestamp")
    from_stage = _current_stage(conn, contact_id)
    move = check_move(config.funnel, from_stage, to_stage)
    now = dt.datetime.now(dt.UTC)
    conn.execute(
        insert(StageChange),
        {
            "entity_type": "contact",
            "entity_id": contact_id,
            "from_stage": from_stage,
            "to_stage": to_stage,
            "changed_at": at,
            "changed_by_id": actor_id,
            "team_before": move.team_before,
            "team_after": move.team_after,
            "reason": reason,
            "note": note,
            "origin": origin,
            "recorded_at": now,
        },
    )
    conn.execute(update(Contact).where(Contact.id == contact_id).values(stage=to_stage, updated_at=now))
    conn.execute(
        insert(AuditEntry),
        {
            "at": now,
            "actor": actor,
            "action": "stage_move",
            "entity_type": "contact",
            "entity_id": contact_id,
            "before": {"stage": from_stage},
            "after": {"stage": to_stage, "reason": reason},
        },
    )
    _follow_handoff(conn, config, contact_id, move, at, actor_id, reason, note)
    return move


def _follow_handoff(conn, config, contact_id, move: Move, at, actor_id, reason, note) -> None:
    from truce.services import handoff

    funnel = config.funnel
    if move.from_stage == funnel.handoff_stage:
        handoff.close(conn, config, contact_id, move.to_stage, at, actor_id, reason, note)
    if move.to_stage == funnel.handoff_stage:
        handoff.open_handoff(conn, config, contact_id, at)


__all__ = ["IllegalMove", "Move", "NotFound", "contact_by_email", "move_contact", "user_by_email"]
