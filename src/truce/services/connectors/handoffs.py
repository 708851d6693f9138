"""The handoff follows the CRM: a lead that became an MQL there enters truce's queue at once.

After a sync page is written, each contact it touched is compared with the handoff queue: one now
in the handoff stage with no open handoff gets one (routed, both SLA clocks started from the
moment the ledger dates its arrival), and one whose open handoff it has left in the CRM has that
handoff closed with the CRM's move as the decision (accepted, or rejected with the CRM's reason).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict

from sqlalchemy import Connection, func, select

from truce.config import TruceConfig
from truce.services import handoff
from truce.store.models import Contact, Handoff, StageChange


def follow(conn: Connection, config: TruceConfig, contact_ids: list[int], now: dt.datetime) -> int:
    """Open and close handoffs for these contacts as their stage says; how many were opened."""
    stage = config.funnel.handoff_stage
    current = dict(
        conn.execute(
            select(Contact.id, Contact.stage).where(Contact.id.in_(contact_ids), Contact.deleted_at.is_(None))
        ).all()
    )
    open_now = set(
        conn.execute(select(Handoff.contact_id).where(Handoff.contact_id.in_(contact_ids), Handoff.status == "open"))
        .scalars()
        .all()
    )
    arrived = [c for c, s in current.items() if s == stage and c not in open_now]
    left = [c for c in open_now if current.get(c) not in (stage, None)]
    for contact_id in left:
        move = _last_move(conn, contact_id, leaving=stage)
        if move is not None:
            handoff.close(
                conn, config, contact_id, move.to_stage, move.changed_at, move.changed_by_id, move.reason, move.note
            )
    by_moment: dict[dt.datetime, list[int]] = defaultdict(list)
    arrivals = _arrivals(conn, arrived, stage)
    for contact_id in arrived:
        by_moment[arrivals.get(contact_id) or now].append(contact_id)
    opened = 0
    for moment in sorted(by_moment):
        opened += len(handoff.open_handoffs(conn, config, by_moment[moment], moment))
    return opened


def _arrivals(conn: Connection, contact_ids: list[int], stage: str) -> dict[int, dt.datetime]:
    if not contact_ids:
        return {}
    rows = conn.execute(
        select(StageChange.entity_id, func.max(StageChange.changed_at))
        .where(
            StageChange.entity_type == "contact", StageChange.entity_id.in_(contact_ids), StageChange.to_stage == stage
        )
        .group_by(StageChange.entity_id)
    ).all()
    return {contact_id: _aware(at) for contact_id, at in rows}


def _last_move(conn: Connection, contact_id: int, leaving: str):
    return conn.execute(
        select(StageChange)
        .where(
            StageChange.entity_type == "contact", StageChange.entity_id == contact_id, StageChange.from_stage == leaving
        )
        .order_by(StageChange.changed_at.desc(), StageChange.id.desc())
        .limit(1)
    ).first()


def _aware(value):
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    if value is not None and value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value
