"""Handoffs for history that arrived without them: the demo company, or imported stage changes.

Every move into the handoff stage in the ledger starts a handoff; the next move out of it is
sales' decision (who, when, which reason). Deadlines are computed with today's truce.toml,
late decisions are recorded as breaches at once, and a sweep as of `now` settles the rest.
Running it again adds only handoffs it has not made before.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Engine, select

from truce.config import TruceConfig
from truce.imports.upsert import insert_new
from truce.services import sla
from truce.store.models import Contact, Handoff, StageChange

HISTORY_RULE = "from the stage history"


def _episodes(conn, config: TruceConfig) -> list[dict]:
    """(contact, MQL moment, decision) for every pass through the handoff stage in the ledger."""
    stage = config.funnel.handoff_stage
    exits = {e.key for e in config.funnel.exits}
    moves = conn.execute(
        select(
            StageChange.entity_id,
            StageChange.from_stage,
            StageChange.to_stage,
            StageChange.changed_at,
            StageChange.changed_by_id,
            StageChange.reason,
        )
        .where(StageChange.entity_type == "contact")
        .where((StageChange.to_stage == stage) | (StageChange.from_stage == stage))
        .order_by(StageChange.entity_id, StageChange.changed_at, StageChange.id)
    ).all()
    episodes, open_ = [], {}
    for contact_id, from_stage, to_stage, at, by, reason in moves:
        if from_stage == stage and contact_id in open_:
            episode = open_.pop(contact_id)
            rejected = to_stage in exits
            episode.update(
                status="rejected" if rejected else "accepted",
                decided_at=at,
                decided_by_id=by,
                rejection_reason=reason if rejected else None,
            )
        if to_stage == stage:
            open_[contact_id] = {
                "contact_id": contact_id,
                "mql_at": at,
                "status": "open",
                "decided_at": None,
                "decided_by_id": None,
                "rejection_reason": None,
            }
            episodes.append(open_[contact_id])
    return episodes


def rebuild(engine: Engine, config: TruceConfig, now: dt.datetime | None = None) -> dict:
    """Create the missing handoffs from the ledger, then sweep them as of `now`."""
    now = now or dt.datetime.now(dt.UTC)
    with engine.begin() as conn:
        known = set(conn.execute(select(Handoff.contact_id, Handoff.mql_at)).all())
        owners = dict(conn.execute(select(Contact.id, Contact.owner_id)).all())
        new = [e for e in _episodes(conn, config) if (e["contact_id"], e["mql_at"]) not in known]
        columns = _columns(config, new, owners, now)
        ids = insert_new(conn, Handoff.__table__, columns)
        late = 0
        for handoff_id, episode, first_due, decision_due in zip(
            ids, new, columns["first_touch_due_at"], columns["decision_due_at"], strict=True
        ):
            if episode["decided_at"] is not None and episode["decided_at"] > decision_due:
                handoff = {
                    "id": handoff_id,
                    "contact_id": episode["contact_id"],
                    "owner_id": owners.get(episode["contact_id"]),
                    "decision_due_at": decision_due,
                    "first_touch_at": None,
                    "first_touch_due_at": first_due,
                }
                late += sla.record_breach(
                    conn,
                    handoff,
                    "decision_late",
                    decision_due,
                    now,
                    f"decided {episode['decided_at'].isoformat()}, after the deadline",
                )
    swept = sla.sweep(engine, config, now)
    return {"handoffs_created": len(new), "late_decisions": late, "breaches_from_sweep": len(swept)}


def _columns(config: TruceConfig, episodes: list[dict], owners: dict, now: dt.datetime) -> dict[str, list]:
    columns: dict[str, list] = {
        name: []
        for name in (
            "contact_id",
            "mql_at",
            "owner_id",
            "routing_rule",
            "status",
            "first_touch_due_at",
            "decision_due_at",
            "decided_at",
            "decided_by_id",
            "rejection_reason",
            "attempts",
            "sla_due_at",
            "created_at",
            "updated_at",
        )
    }
    for episode in episodes:
        first_due, decision_due = sla.deadlines(config, episode["mql_at"])
        pending = [first_due] + ([decision_due] if episode["status"] == "open" else [])
        row = dict(
            episode,
            owner_id=owners.get(episode["contact_id"]),
            routing_rule=HISTORY_RULE,
            first_touch_due_at=first_due,
            decision_due_at=decision_due,
            attempts=0,
            sla_due_at=min(pending),
            created_at=now,
            updated_at=now,
        )
        for name in columns:
            columns[name].append(row[name])
    return columns
