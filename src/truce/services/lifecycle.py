"""Moving a contact through the funnel: the one door every stage change goes through.

A seller's accept, a score crossing the line and a replayed history all call
`move_contact`, so the rules in truce.toml apply the same way to each, every move lands in
the append-only ledger, and the handoff queue opens and closes with the moves.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy import Connection, bindparam, insert, select, update

from truce.config import TruceConfig
from truce.domain.lifecycle import IllegalMove, Move, check_move
from truce.store import work
from truce.store.models import Contact, StageChange, User

# Ids per IN (...) list; SQLite builds before 3.32 allow 999 parameters.
ID_CHUNK = 900


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


def _current_stages(conn: Connection, contact_ids: Sequence[int]) -> dict[int, str]:
    stages: dict[int, str] = {}
    # Sorted: two writers lock contacts in the same order and cannot deadlock on each other.
    ordered = sorted(set(contact_ids))
    for start in range(0, len(ordered), ID_CHUNK):
        query = select(Contact.id, Contact.stage).where(Contact.id.in_(ordered[start : start + ID_CHUNK]))
        if conn.dialect.name == "postgresql":
            query = query.order_by(Contact.id).with_for_update()  # two people moving one lead at once: one waits
        stages.update(conn.execute(query).all())
    return stages


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
    return move_contacts(
        conn,
        config,
        [(contact_id, note)],
        to_stage,
        at=at,
        actor_id=actor_id,
        actor=actor,
        reason=reason,
        origin=origin,
    )[0]


def move_contacts(
    conn: Connection,
    config: TruceConfig,
    moves: Sequence[tuple[int, str | None]],
    to_stage: str,
    *,
    at: dt.datetime,
    actor_id: int | None = None,
    actor: str = "system",
    reason: str | None = None,
    origin: str = "cli",
) -> list[Move]:
    """Move contacts (id, note) to one stage in the given order, as `move_contact` would one by one.

    Nothing is written unless every move is allowed, and the caller's transaction decides
    the rest; the statements are one per kind of row, not one per contact.
    """
    if at.tzinfo is None:
        raise ValueError("a move needs an aware timestamp")
    if not moves:
        return []
    if len({contact_id for contact_id, _ in moves}) < len(moves):
        raise ValueError("a contact appears twice; move it in two calls, each from where the last left it")
    stages = _current_stages(conn, [contact_id for contact_id, _ in moves])
    checked = []
    for contact_id, _ in moves:
        if contact_id not in stages:
            raise NotFound(f"no contact with id {contact_id}")
        checked.append(check_move(config.funnel, stages[contact_id], to_stage))
    now = dt.datetime.now(dt.UTC)
    conn.execute(
        insert(StageChange),
        [
            {
                "entity_type": "contact",
                "entity_id": contact_id,
                "from_stage": move.from_stage,
                "to_stage": to_stage,
                "changed_at": at,
                "changed_by_id": actor_id,
                "team_before": move.team_before,
                "team_after": move.team_after,
                "reason": reason,
                "note": note,
                "origin": origin,
                "recorded_at": now,
            }
            for (contact_id, note), move in zip(moves, checked, strict=True)
        ],
    )
    conn.execute(
        update(Contact).where(Contact.id == bindparam("_contact_id")).values(stage=to_stage, updated_at=now),
        [{"_contact_id": contact_id} for contact_id, _ in moves],
    )
    work.record_many(
        conn,
        [
            {
                "action": "stage_move",
                "entity_type": "contact",
                "entity_id": contact_id,
                "before": {"stage": move.from_stage},
                "after": {"stage": to_stage, "reason": reason},
            }
            for (contact_id, _), move in zip(moves, checked, strict=True)
        ],
        actor=actor,
        at=now,
    )
    _follow_handoffs(conn, config, moves, checked, at, actor_id, reason)
    return checked


def _follow_handoffs(conn, config, moves, checked: list[Move], at, actor_id, reason) -> None:
    from truce.services import handoff

    funnel = config.funnel
    for (contact_id, note), move in zip(moves, checked, strict=True):
        if move.from_stage == funnel.handoff_stage:
            handoff.close(conn, config, contact_id, move.to_stage, at, actor_id, reason, note)
    arrived = [
        contact_id
        for (contact_id, _), move in zip(moves, checked, strict=True)
        if move.to_stage == funnel.handoff_stage
    ]
    handoff.open_handoffs(conn, config, arrived, at)


__all__ = ["IllegalMove", "Move", "NotFound", "contact_by_email", "move_contact", "move_contacts", "user_by_email"]
