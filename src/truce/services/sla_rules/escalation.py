"""Escalation, so no lead waits for ever: `[sla.escalation]` after the decision deadline passes.

Each open handoff carries the moment of its next escalation step (`escalation_due_at`, first its
decision deadline). The scan takes the handoffs whose moment has come, batch by batch, and
claims the whole batch with one conditional update (the moment must still be due and the
handoff still open), so two workers never escalate the same handoff twice. Then, by business
hours past the decision deadline (truce.domain.event_rules):

- **tell the leader**: the sales leaders are owed `sla_escalated`; the handoff remembers it;
- **take the lead away**: the handoff is closed as `expired` with the reason `sla_expired`, a
  `decision_expired` breach is recorded against the seller who held it (sales' side), and the
  lead is either re-routed by [routing] to another seller (a new handoff naming the expired
  one, same MQL moment, fresh clocks; the new owner is owed `lead_routed`) or moved to
  marketing's nurture stage through the stage ledger with the reason `sla_expired`. Leaders and
  the seller who lost it are owed `sla_escalated`.

Re-routing moves no stage: the lead stays an MQL, so the ledger (which funnel reports and the
history rebuild count) gets no row; the expired handoff, its breach and the new handoff are the
custody record. One audit entry per batch names every handoff, breach and new handoff by id.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from typing import Any

from sqlalchemy import Connection, Engine, bindparam, func, select, update

from truce.config import TruceConfig
from truce.domain import event_rules as rules
from truce.services import handoff as handoff_service
from truce.services import sla
from truce.services.connectors import writeback
from truce.services.lifecycle import move_contacts
from truce.services.sla_rules.notices import (
    Notice,
    crowd_key,
    emails_of,
    listed,
    owe_each,
    sales_leaders,
    to_owner_and_leaders,
)
from truce.services.sla_rules.routed import _contact_emails
from truce.store.models import Contact, Handoff, User
from truce.store.work import unit_of_work

REASON = "sla_expired"
LINK = "/handoffs"
HANDOFFS = Handoff.__table__  # executemany on the Core table: the ORM's bulk path costs more per row
COUNTS = ("leaders_told", "rerouted", "nurtured", "escalation_messages")


def escalate(
    engine: Engine, config: TruceConfig, now: dt.datetime, actor: str = "cli", origin: str = "cli", batch: int = 2000
) -> dict[str, int]:
    """Take every escalation step due at `now`; counts of leaders told, leads re-routed and nurtured."""
    totals = Counter({name: 0 for name in COUNTS})
    if not config.sla.escalation.enabled:
        return dict(totals)
    while True:
        with unit_of_work(engine, actor, origin) as work:
            seen, done = _one_batch(work.conn, config, now, batch, actor)
        totals.update(done)
        if seen < batch:
            return dict(totals)


def _one_batch(conn: Connection, config: TruceConfig, now: dt.datetime, batch: int, actor: str) -> tuple[int, Counter]:
    due = conn.execute(
        select(Handoff)
        .where(Handoff.escalation_due_at.is_not(None), Handoff.escalation_due_at <= now, Handoff.status == "open")
        .order_by(Handoff.escalation_due_at, Handoff.id)
        .limit(batch)
    ).mappings().all()  # fmt: skip
    claimed = _claim(conn, [h["id"] for h in due], now)
    mine = [h for h in due if h["id"] in claimed]
    steps = _steps(config, mine, now)
    done: Counter[str] = Counter()
    _wait_more(conn, steps["none"])
    told = _tell_leaders(conn, steps[rules.TELL_LEADER])
    done["leaders_told"] = len(steps[rules.TELL_LEADER])
    taken = _take_away(conn, config, steps[rules.TAKE_AWAY], now, actor)
    done["rerouted"], done["nurtured"] = len(taken["rerouted"]), len(taken["nurtured"])
    done["escalation_messages"] = told + taken["messages"]
    if due:  # the claim wrote to handoffs even when another scan had taken them all
        _audit(conn, actor, now, steps, taken)
    return len(due), done


def _claim(conn: Connection, ids: list[int], now: dt.datetime) -> set[int]:
    """Take these handoffs for this scan; those another scan took first (or a decision closed) drop out."""
    if not ids:
        return set()
    claimed = conn.execute(
        update(Handoff)
        .where(Handoff.id.in_(ids), Handoff.escalation_due_at <= now, Handoff.status == "open")
        .values(escalation_due_at=None)
        .returning(Handoff.id)
    )
    return set(claimed.scalars())


def _steps(config: TruceConfig, handoffs, now: dt.datetime) -> dict[str, list[dict]]:
    """Each claimed handoff with its escalation moments and the step due now."""
    policy = config.sla.escalation
    clock = config.business_hours.clock(config.company.timezone)
    steps: dict[str, list[dict]] = {rules.NONE: [], rules.TELL_LEADER: [], rules.TAKE_AWAY: []}
    for handoff in handoffs:
        moments = rules.escalation_moments(
            clock, handoff["decision_due_at"], policy.tell_leader_after_hours, policy.reroute_after_hours
        )
        told = handoff["escalation"] == "leader_told"
        step = rules.escalation_step(moments, now, told)
        steps[step].append({**handoff, "moments": moments, "next": rules.next_escalation_at(moments, now, told)})
    return steps


def _wait_more(conn: Connection, handoffs: list[dict]) -> None:
    """Nothing due yet (the first look at a deadline): come back at the next step's moment."""
    if handoffs:
        conn.execute(
            update(HANDOFFS).where(HANDOFFS.c.id == bindparam("_id")).values(escalation_due_at=bindparam("_next")),
            [{"_id": h["id"], "_next": h["next"]} for h in handoffs],
        )


# ---- telling the leader -----------------------------------------------------------------------------


def _tell_leaders(conn: Connection, handoffs: list[dict]) -> int:
    if not handoffs:
        return 0
    conn.execute(
        update(HANDOFFS)
        .where(HANDOFFS.c.id == bindparam("_id"))
        .values(escalation="leader_told", escalation_due_at=bindparam("_next"), updated_at=dt.datetime.now(dt.UTC)),
        [{"_id": h["id"], "_next": h["moments"].take_away_at} for h in handoffs],
    )
    items = _described(conn, handoffs)
    leaders = sales_leaders(conn)
    by_person: dict[int | None, list[dict]] = {leader: items for leader in leaders} if leaders else {None: items}

    def one(item: dict) -> Notice:
        return Notice(
            f"Escalation: {item['email']} waits past its decision deadline",
            f"{item['email']}, routed to {item['owner'] or 'nobody'}, was due to be accepted or rejected by "
            f"{item['decision_due_at'].isoformat()} and still waits. It will be taken from its seller at "
            f"{item['moments'].take_away_at.isoformat()}.",
            LINK,
            f"sla_escalated:tell_leader:handoff:{item['id']}",
            {"handoff_id": item["id"], "step": "tell_leader", "owner": item["owner"]},
        )

    def many(found: list[dict]) -> Notice:
        ids = [i["id"] for i in found]
        return Notice(
            f"Escalation: {len(found)} leads wait past their decision deadline",
            f"{len(found)} leads still wait for sales' decision past their deadline, e.g. {found[0]['email']} "
            f"({found[0]['owner'] or 'nobody'}).",
            LINK,
            crowd_key("sla_escalated", "tell_leader", ids),
            {"handoffs": listed(ids), "step": "tell_leader"},
        )

    return owe_each(conn, "sla_escalated", by_person, one, many)


def _described(conn: Connection, handoffs: list[dict]) -> list[dict]:
    """The handoffs with their lead's email and their owner's, for messages."""
    leads = _contact_emails(conn, [h["contact_id"] for h in handoffs])
    owners = emails_of(conn, [h["owner_id"] for h in handoffs])
    return [{**h, "email": leads.get(h["contact_id"]), "owner": owners.get(h["owner_id"])} for h in handoffs]


# ---- taking the lead away ---------------------------------------------------------------------------


def _take_away(conn: Connection, config: TruceConfig, handoffs: list[dict], now: dt.datetime, actor: str) -> dict:
    taken: dict[str, Any] = {"rerouted": [], "nurtured": [], "breach_ids": [], "new_handoff_ids": [], "messages": 0}
    if not handoffs:
        return taken
    policy = config.sla.escalation
    reroutes = _reroutes_so_far(conn, handoffs)
    sellers = set(
        conn.execute(
            select(User.id).where(User.team == "sales", User.active.is_(True), User.access != "viewer")
        ).scalars()
    )  # who routing may choose (truce.services.handoff.routable_sellers), without its per-seller load
    for h in handoffs:
        other = bool(sellers - {h["owner_id"]})
        action = rules.take_away_action(policy.action, reroutes.get(h["id"], 0), policy.max_reroutes, other)
        taken["rerouted" if action == "reroute" else "nurtured"].append(h)
    _expire(conn, taken, now)
    taken["breach_ids"] = _record_breaches(conn, config, handoffs, now)
    new_owners = _reroute(conn, config, taken["rerouted"], now)
    taken["new_handoff_ids"] = sorted(new_owners)
    _nurture(conn, config, taken["nurtured"], now, actor)
    taken["messages"] = _tell_taken(conn, taken, new_owners)
    return taken


def _reroutes_so_far(conn: Connection, handoffs: list[dict]) -> dict[int, int]:
    """How many times each handoff's lead was re-routed already in this MQL episode (its expired handoffs)."""
    chained = [h for h in handoffs if h["previous_handoff_id"] is not None]
    if not chained:
        return {}
    contacts = sorted({h["contact_id"] for h in chained})
    counts: dict[tuple[int, dt.datetime], int] = {}
    for start in range(0, len(contacts), 900):
        rows = conn.execute(
            select(Handoff.contact_id, Handoff.mql_at, func.count())
            .where(Handoff.contact_id.in_(contacts[start : start + 900]), Handoff.status == "expired")
            .group_by(Handoff.contact_id, Handoff.mql_at)
        ).all()
        counts.update({(contact_id, sla.as_utc(mql_at)): n for contact_id, mql_at, n in rows})
    return {h["id"]: counts.get((h["contact_id"], h["mql_at"]), 0) for h in chained}


def _expire(conn: Connection, taken: dict, now: dt.datetime) -> None:
    rows = [
        {"_id": h["id"], "_escalation": escalation, "_note": note}
        for escalation, group, note in (
            ("rerouted", taken["rerouted"], "no decision in time: re-routed to another seller"),
            ("nurtured", taken["nurtured"], "no decision in time: returned to marketing's nurture"),
        )
        for h in group
    ]
    conn.execute(
        update(HANDOFFS)
        .where(HANDOFFS.c.id == bindparam("_id"))
        .values(
            status="expired",
            escalation=bindparam("_escalation"),
            escalation_due_at=None,
            decided_at=now,
            rejection_reason=REASON,
            note=bindparam("_note"),
            updated_at=dt.datetime.now(dt.UTC),
        ),
        rows,
    )


def _record_breaches(conn: Connection, config: TruceConfig, handoffs: list[dict], now: dt.datetime) -> list[int]:
    """A `decision_expired` breach against the seller who held each lead (sales' side, like every handoff breach)."""
    after = config.sla.escalation.reroute_after_hours
    detail = f"no accept or reject {after:g} business hours after the deadline: the lead was taken away"
    rows = [
        {"handoff_id": h["id"], "contact_id": h["contact_id"], "side": sla.BREACH_SIDE, "kind": "decision_expired",
         "user_id": h["owner_id"], "due_at": h["decision_due_at"], "detected_at": now, "detail": detail}
        for h in handoffs
    ]  # fmt: skip
    inserted = sla.insert_breaches(conn, rows)
    lead_of = {h["id"]: h["contact_id"] for h in handoffs}
    found = [
        {"id": event_id, "contact_id": lead_of[handoff_id], "kind": kind}
        for (handoff_id, kind), event_id in inserted.items()
    ]
    writeback.owe_breaches(conn, config, found)
    return sorted(inserted.values())


def _reroute(conn: Connection, config: TruceConfig, handoffs: list[dict], now: dt.datetime) -> dict[int, dict]:
    """New handoffs for the re-routed leads; {new handoff id: the expired handoff, with the new owner}."""
    if not handoffs:
        return {}
    contact_ids = [h["contact_id"] for h in handoffs]
    new_ids = handoff_service.open_handoffs(conn, config, contact_ids, now, replacing=handoffs, clocks_from=now)
    owners = dict(conn.execute(select(Handoff.id, Handoff.owner_id).where(Handoff.id.in_(new_ids))).all())
    return {new_id: {**h, "new_owner_id": owners.get(new_id)} for new_id, h in zip(new_ids, handoffs, strict=True)}


def _nurture(conn: Connection, config: TruceConfig, handoffs: list[dict], now: dt.datetime, actor: str) -> None:
    """Back to marketing through the stage ledger; a lead no longer at the handoff stage stays where it is."""
    if not handoffs:
        return
    stage = config.funnel.handoff_stage
    contact_ids = sorted({h["contact_id"] for h in handoffs})
    at_handoff = set(
        conn.execute(select(Contact.id).where(Contact.id.in_(contact_ids), Contact.stage == stage)).scalars()
    )
    moves = [(cid, "no decision in time (SLA escalation)") for cid in contact_ids if cid in at_handoff]
    move_contacts(
        conn, config, moves, config.sla.escalation.nurture_stage, at=now, actor=actor, reason=REASON, origin="rule"
    )


def _tell_taken(conn: Connection, taken: dict, new_owners: dict[int, dict]) -> int:
    """`sla_escalated` to the leaders and the seller who lost each lead."""
    by_old = {h["id"]: new_id for new_id, h in new_owners.items()}
    handoffs = taken["rerouted"] + taken["nurtured"]
    new_owner_of = {h["id"]: h["new_owner_id"] for h in new_owners.values()}
    items = _described(conn, handoffs)
    names = emails_of(conn, new_owner_of.values())
    for item in items:
        owner = new_owner_of.get(item["id"])
        item["new_owner"] = names.get(owner) if owner is not None else None
        item["new_handoff_id"] = by_old.get(item["id"])
    leaders = sales_leaders(conn)
    owed = owe_each(conn, "sla_escalated", to_owner_and_leaders(items, leaders), _taken_one, _taken_many)
    if not leaders:
        owed += owe_each(conn, "sla_escalated", {None: items}, _taken_one, _taken_many)
    return owed


def _where_to(item: dict) -> str:
    if item["new_handoff_id"] is not None:
        return f"re-routed to {item['new_owner'] or 'nobody (no seller matched)'}"
    return "returned to marketing's nurture (sla_expired)"


def _taken_one(item: dict) -> Notice:
    return Notice(
        f"Escalation: {item['email']} was taken from {item['owner'] or 'nobody'}",
        f"{item['email']} was not accepted or rejected in time (deadline {item['decision_due_at'].isoformat()}); "
        f"a decision_expired breach is recorded against {item['owner'] or 'nobody'}, and the lead was "
        f"{_where_to(item)}.",
        LINK,
        f"sla_escalated:take_away:handoff:{item['id']}",
        {"handoff_id": item["id"], "step": "take_away", "new_handoff_id": item["new_handoff_id"]},
    )


def _taken_many(found: list[dict]) -> Notice:
    ids = [i["id"] for i in found]
    rerouted = sum(i["new_handoff_id"] is not None for i in found)
    return Notice(
        f"Escalation: {len(found)} leads were taken from their sellers",
        f"{len(found)} leads were not accepted or rejected in time and were taken away: {rerouted} re-routed, "
        f"{len(found) - rerouted} returned to marketing's nurture. Each is a decision_expired breach of the seller "
        "who held it.",
        LINK,
        crowd_key("sla_escalated", "take_away", ids),
        {"handoffs": listed(ids), "step": "take_away", "rerouted": rerouted},
    )


def _audit(conn: Connection, actor: str, now: dt.datetime, steps: dict[str, list[dict]], taken: dict) -> None:
    """One entry for the batch: counts, and every handoff and breach it touched as runs of ids."""
    ranges = sla.id_ranges
    told = steps[rules.TELL_LEADER]
    after = {
        "as_of": now.isoformat(),
        "rescheduled": len(steps[rules.NONE]),
        "leaders_told": len(told),
        "rerouted": len(taken["rerouted"]),
        "nurtured": len(taken["nurtured"]),
        "told_handoff_id_ranges": ranges([h["id"] for h in told]),
        "rerouted_handoff_id_ranges": ranges([h["id"] for h in taken["rerouted"]]),
        "nurtured_handoff_id_ranges": ranges([h["id"] for h in taken["nurtured"]]),
        "new_handoff_id_ranges": ranges(taken["new_handoff_ids"]),
        "sla_event_id_ranges": ranges(taken["breach_ids"]),
    }
    sla.write_audit(conn, actor, "sla_escalate", "handoffs", after)
