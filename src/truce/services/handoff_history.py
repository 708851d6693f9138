"""Handoffs for history that arrived without them: the demo company, or imported stage changes.

Every move into the handoff stage in the ledger starts a handoff; the next move out of it is
sales' decision (who, when, which reason). Deadlines are computed with today's truce.toml
and judged as of `now` by the same rules as the sweep; deadlines still ahead are left to
later sweeps. Running it again adds only handoffs it has not made before. What it creates is
named in one audit entry ("sla_rebuild"), written in the same transaction.
"""

from __future__ import annotations

import datetime as dt
from bisect import bisect_left

from sqlalchemy import Engine, select

from truce.config import TruceConfig
from truce.imports.upsert import insert_new
from truce.services import sla
from truce.store.models import Contact, Handoff, SlaEvent, StageChange, Touchpoint
from truce.store.work import unit_of_work

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
    episodes: list[dict] = []
    open_: dict[int, dict] = {}
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


def _sales_touches(conn, contacts: set[int]) -> dict[int, list[dt.datetime]]:
    """Every sales touch of the given contacts, in time order, read in one pass."""
    touches: dict[int, list[dt.datetime]] = {}
    query = select(Touchpoint.contact_id, Touchpoint.occurred_at).where(Touchpoint.kind == "sales")
    for contact_id, at in conn.execute(query.order_by(Touchpoint.contact_id, Touchpoint.occurred_at)):
        if contact_id in contacts:
            touches.setdefault(contact_id, []).append(at)
    return touches


def _first_after(times: list[dt.datetime], moment: dt.datetime) -> dt.datetime | None:
    index = bisect_left(times, moment)
    return times[index] if index < len(times) else None


def rebuild(engine: Engine, config: TruceConfig, now: dt.datetime | None = None, actor: str = "cli") -> dict:
    """Create the missing handoffs from the ledger and judge their deadlines as of `now`, in bulk.

    The handoffs are new in this transaction, so no other sweep can hold them: they are
    judged with the sweep's own rules (sla.judge) and written in one go, breaches included,
    with one audit entry in `actor`'s name naming them (none when nothing was missing).
    """
    now = now or dt.datetime.now(dt.UTC)
    clock = config.business_hours.clock(config.company.timezone)
    with unit_of_work(engine, actor) as work:
        conn = work.conn
        known = set(conn.execute(select(Handoff.contact_id, Handoff.mql_at)).all())
        owners = dict(conn.execute(select(Contact.id, Contact.owner_id)).all())
        new = [e for e in _episodes(conn, config) if (e["contact_id"], e["mql_at"]) not in known]
        touches = _sales_touches(conn, {e["contact_id"] for e in new})
        rows, breaches = [], []
        for episode in new:
            row = _handoff_row(config, episode, owners, now)
            verdict = sla.judge(row, _first_after(touches.get(row["contact_id"], []), row["mql_at"]), now, clock)
            row.update(first_touch_at=verdict.first_touch_at, sla_due_at=verdict.next_due)
            found = list(verdict.breaches)
            if row["decided_at"] is not None and row["decided_at"] > row["decision_due_at"]:
                late = clock.between(row["decision_due_at"], row["decided_at"]) / sla.HOUR
                found.append(
                    (
                        "decision_late",
                        row["decision_due_at"],
                        f"decided {row['decided_at'].isoformat()}, {late:.1f} business hours late",
                    )
                )
            rows.append(row)
            breaches.append(found)
        ids = insert_new(conn, Handoff.__table__, _as_columns(rows, HANDOFF_COLUMNS))
        events = [
            {
                "handoff_id": handoff_id,
                "contact_id": row["contact_id"],
                "side": "sales",
                "kind": kind,
                "user_id": row["owner_id"],
                "due_at": due,
                "detected_at": now,
                "detail": detail,
            }
            for handoff_id, row, found in zip(ids, rows, breaches, strict=True)
            for kind, due, detail in found
        ]
        event_ids = insert_new(conn, SlaEvent.__table__, _as_columns(events, EVENT_COLUMNS))
        if ids:
            sla.write_audit(conn, actor, "sla_rebuild", "handoffs", _created(now, ids, events, event_ids))
    return {"handoffs_created": len(rows), "breaches_recorded": len(events)}


def _created(now: dt.datetime, ids: list[int], events: list[dict], event_ids: list[int]) -> dict:
    """What one rebuild created, for its audit entry: counts, and every id as runs of consecutive ids."""
    return {
        "as_of": now.isoformat(),
        "handoffs_created": len(ids),
        "handoff_id_ranges": sla.id_ranges(ids),
        **sla.breach_counts(events),
        "sla_event_id_ranges": sla.id_ranges(event_ids),
    }


HANDOFF_COLUMNS = (
    "contact_id",
    "mql_at",
    "owner_id",
    "routing_rule",
    "status",
    "first_touch_due_at",
    "first_touch_at",
    "decision_due_at",
    "decided_at",
    "decided_by_id",
    "rejection_reason",
    "attempts",
    "sla_due_at",
    "created_at",
    "updated_at",
    "escalation_due_at",
)
EVENT_COLUMNS = ("handoff_id", "contact_id", "side", "kind", "user_id", "due_at", "detected_at", "detail")


def _handoff_row(config: TruceConfig, episode: dict, owners: dict, now: dt.datetime) -> dict:
    first_due, decision_due = sla.deadlines(config, episode["mql_at"])
    return dict(
        episode,
        owner_id=owners.get(episode["contact_id"]),
        routing_rule=HISTORY_RULE,
        first_touch_due_at=first_due,
        first_touch_at=None,
        decision_due_at=decision_due,
        attempts=0,
        sla_due_at=None,
        created_at=now,
        updated_at=now,
        # A lead still waiting is judged by the next escalation scan, from its decision deadline.
        escalation_due_at=decision_due if episode["status"] == "open" else None,
    )


def _as_columns(rows: list[dict], names: tuple[str, ...]) -> dict[str, list]:
    return {name: [row[name] for row in rows] for name in names}
