"""The handoff from marketing to sales: route the MQL, start both SLA clocks, record the decision.

Sales accepts a lead (it moves to the accepted stage) or rejects it with one of the reason
codes both teams signed (it goes back to marketing's nurture, or out). Only sales users
decide, and only on leads that are theirs: the seller the lead was routed to, or a sales
leader for their team. RevOps (or a sales leader) reassigns a lead to another seller. The
decision, its time and its reason stay on the handoff for the custody record.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from sqlalchemy import Connection, Engine, bindparam, func, insert, select, update

from truce.config import TruceConfig
from truce.domain.access import Forbidden
from truce.domain.routing import Seller, route
from truce.services import sla
from truce.services.connectors import writeback
from truce.services.lifecycle import ID_CHUNK, contact_by_email, move_contact, user_by_email
from truce.store.ids import reserve_ids
from truce.store.models import Account, Contact, Handoff, User
from truce.store.present import present
from truce.store.work import unit_of_work

NOTE_LIMIT = 500  # a rejection's note for marketing: what the form shows, and what the server keeps to


class HandoffRefused(ValueError):
    """A decision the rules do not allow; the message says which rule and what to do."""


class NotYours(Forbidden):
    """The lead is routed to someone else; the message names its owner and who may decide it."""


def routable_sellers(conn: Connection) -> list[Seller]:
    load = (
        select(Handoff.owner_id, func.count().label("open"))
        .where(Handoff.status == "open")
        .group_by(Handoff.owner_id)
        .subquery()
    )
    last = select(Handoff.owner_id, func.max(Handoff.created_at).label("last")).group_by(Handoff.owner_id).subquery()
    rows = conn.execute(
        select(User.id, User.email, User.region, User.segment, User.active, load.c.open, last.c.last)
        .outerjoin(load, load.c.owner_id == User.id)
        .outerjoin(last, last.c.owner_id == User.id)
        .where(User.team == "sales", User.access != "viewer")  # a viewer reads; leads go to those who decide
    ).all()
    return [Seller(r.id, r.email, r.region, r.segment, r.active, r.open or 0, _aware(r.last)) for r in rows]


def _aware(value):
    if isinstance(value, str):  # SQLite hands aggregates back as text
        value = dt.datetime.fromisoformat(value)
    if value is not None and value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value


def open_handoff(conn: Connection, config: TruceConfig, contact_id: int, mql_at: dt.datetime) -> int:
    """A new MQL: pick its seller, compute both deadlines, and put it in the queue."""
    return open_handoffs(conn, config, [contact_id], mql_at)[0]


def open_handoffs(
    conn: Connection,
    config: TruceConfig,
    contact_ids: Sequence[int],
    mql_at: dt.datetime,
    *,
    replacing: Sequence[Mapping] = (),
    clocks_from: dt.datetime | None = None,
) -> list[int]:
    """New MQLs, routed in the given order, each seeing the ones routed before it; their handoff ids.

    Each new owner is owed a `lead_routed` message. `replacing` (escalation's re-route) gives, per
    contact, the handoff that expired: the new one names it, keeps its MQL moment and never goes
    to the seller who let it expire; its clocks start at `clocks_from`.
    """
    if not contact_ids:
        return []
    previous = {h["contact_id"]: h for h in replacing}
    first_touch_due, decision_due = sla.deadlines(config, clocks_from or mql_at)
    rows, owners = [], []
    for contact_id, decision, stamp in _route(conn, config, contact_ids, previous):
        expired = previous.get(contact_id)
        if decision.seller_id is not None:
            owners.append({"_contact_id": contact_id, "_owner_id": decision.seller_id})
        rows.append(
            {
                "contact_id": contact_id,
                "mql_at": expired["mql_at"] if expired else mql_at,
                "owner_id": decision.seller_id,
                "routing_rule": f"re-routed: {decision.rule}" if expired else decision.rule,
                "status": "open",
                "first_touch_due_at": first_touch_due,
                "decision_due_at": decision_due,
                "sla_due_at": min(first_touch_due, decision_due),
                "attempts": 0,
                "created_at": stamp,
                "updated_at": stamp,
                "escalation_due_at": decision_due,
                "previous_handoff_id": expired["id"] if expired else None,
            }
        )
    # Core tables, not the ORM entities: a re-route after a pause inserts thousands at once. Ids are
    # reserved first, so the rows go in as one executemany (SQLite inserts RETURNING rows one by one).
    handoffs, contacts = Handoff.__table__, Contact.__table__
    ids = reserve_ids(conn, handoffs, len(rows))
    for new_id, row in zip(ids, rows, strict=True):
        row["id"] = new_id
    conn.execute(insert(handoffs), rows)
    if owners:
        conn.execute(
            update(contacts).where(contacts.c.id == bindparam("_contact_id")).values(owner_id=bindparam("_owner_id")),
            owners,
        )
    _owe_routed(conn, rows, replacing)
    writeback.owe_owners(conn, config, rows)
    return ids


def _route(conn: Connection, config: TruceConfig, contact_ids: Sequence[int], previous: Mapping[int, Mapping]):
    """(contact, routing decision, moment) for each contact in order, never to the seller it is taken from."""
    places = territories(conn, contact_ids)
    sellers = {seller.id: seller for seller in routable_sellers(conn)}
    stamp = None
    for contact_id in contact_ids:
        region, segment = places.get(contact_id, (None, None))
        taken_from = previous[contact_id]["owner_id"] if contact_id in previous else None
        pool = [s for s in sellers.values() if s.id != taken_from]
        decision = route(pool, region, segment, config.routing.rules, config.routing.strategy)
        stamp = _later(stamp)
        if decision.seller_id is not None:
            chosen = sellers[decision.seller_id]
            # What `routable_sellers` would read back after this insert: one more open, assigned just now.
            sellers[chosen.id] = replace(chosen, open_handoffs=chosen.open_handoffs + 1, last_assigned_at=stamp)
        yield contact_id, decision, stamp


def other_seller_exists(conn: Connection, owner_id: int | None) -> bool:
    """Whether an active seller other than `owner_id` could take a lead (before re-routing it)."""
    return any(s.active and s.id != owner_id for s in routable_sellers(conn))


def _owe_routed(conn: Connection, opened: list[dict], replacing: Sequence[Mapping]) -> None:
    from truce.services.sla_rules.routed import owe_routed

    owe_routed(conn, opened, "re-routed" if replacing else "routed")


def territories(conn: Connection, contact_ids: Sequence[int]) -> dict[int, tuple[str | None, str | None]]:
    """(region, segment) of each contact's account; contacts without one are left out."""
    places: dict[int, tuple[str | None, str | None]] = {}
    ordered = sorted(set(contact_ids))
    for start in range(0, len(ordered), ID_CHUNK):
        rows = conn.execute(
            select(Contact.id, Account.region, Account.segment)
            .join(Account, Contact.account_id == Account.id)
            .where(Contact.id.in_(ordered[start : start + ID_CHUNK]))
        )
        places.update((contact_id, (region, segment)) for contact_id, region, segment in rows)
    return places


def _later(previous: dt.datetime | None) -> dt.datetime:
    """Now, but strictly after `previous`: round robin orders sellers by when they last got a lead."""
    now = dt.datetime.now(dt.UTC)
    if previous is not None and now <= previous:
        now = previous + dt.timedelta(microseconds=1)
    return now


def close(conn, config: TruceConfig, contact_id: int, to_stage: str, at, actor_id, reason, note) -> None:
    """The lead left the handoff stage: record the decision on its open handoff."""
    handoff = sla.open_handoff_of(conn, contact_id)
    if handoff is None:
        return
    status = "rejected" if to_stage in {e.key for e in config.funnel.exits} else "accepted"
    conn.execute(
        update(Handoff)
        .where(Handoff.id == handoff["id"])
        .values(
            status=status,
            decided_at=at,
            decided_by_id=actor_id,
            rejection_reason=reason if status == "rejected" else None,
            note=note,
            updated_at=dt.datetime.now(dt.UTC),
            escalation_due_at=None,  # decided: nothing left to escalate
        )
    )
    sla.after_decision(conn, config, handoff, at)
    writeback.owe_decision(conn, config, handoff, status, reason, to_stage)


@dataclass(frozen=True)
class Decided:
    email: str
    stage: str
    status: str
    late: bool
    warnings: tuple[str, ...] = ()

    def as_dict(self) -> dict:
        return {
            "email": self.email,
            "stage": self.stage,
            "status": self.status,
            "late": self.late,
            "warnings": list(self.warnings),
        }


def acting_seller(conn: Connection, actor_email: str | None):
    if not actor_email:
        raise HandoffRefused("say who decides: --as EMAIL or TRUCE_USER (a sales user)")
    user = user_by_email(conn, actor_email)
    if user["team"] != "sales":
        raise HandoffRefused(
            f"only sales users may accept or reject handoffs; {user['email']} is on the {user['team']} team"
        )
    if not user["active"]:
        raise HandoffRefused(f"{user['email']} is not an active user")
    return user


def waiting_contact(conn: Connection, config: TruceConfig, email: str):
    contact = contact_by_email(conn, email)
    if contact["stage"] != config.funnel.handoff_stage:
        raise HandoffRefused(
            f"{contact['email']} is at stage {contact['stage']!r}, not waiting in the handoff queue ({config.funnel.handoff_stage!r})"
        )
    return contact


def may_decide(conn: Connection, decider, contact) -> None:
    """NotYours unless `decider` (a sales user) owns the lead (its open handoff, else the contact) or leads sales."""
    found = sla.open_handoff_of(conn, contact["id"])
    owner_id = found["owner_id"] if found is not None else contact["owner_id"]
    if decider["id"] == owner_id or decider["is_leader"]:
        return
    raise NotYours(not_yours(conn, decider["email"], owner_id))


def not_yours(conn: Connection, email: str, owner_id: int | None) -> str:
    if owner_id is None:
        return (
            f"this lead is not routed to anyone yet, so {email} may not decide it; "
            "a sales leader may, or RevOps can assign it (truce handoff assign)"
        )
    owner = conn.execute(select(User.email).where(User.id == owner_id)).scalar_one_or_none()
    return (
        f"this lead is routed to {owner}; only {owner} or a sales leader may decide it "
        "(RevOps can reassign it: truce handoff assign)"
    )


def accept(
    engine: Engine,
    config: TruceConfig,
    email: str,
    actor_email: str | None,
    at: dt.datetime | None = None,
    origin: str = "cli",
) -> Decided:
    """`origin` is the face deciding ("cli", "api", "web"); the stage ledger keeps it."""
    at = at or dt.datetime.now(dt.UTC)
    with unit_of_work(engine, actor_email or "unknown", origin) as work:
        conn = work.conn
        seller = acting_seller(conn, actor_email)
        contact = waiting_contact(conn, config, email)
        may_decide(conn, seller, contact)
        move_contact(
            conn,
            config,
            contact["id"],
            config.funnel.accepted_stage,
            at=at,
            actor_id=seller["id"],
            actor=seller["email"],
            origin=origin,
        )
        late = _late(conn, contact["id"], at)
    return Decided(contact["email"], config.funnel.accepted_stage, "accepted", late)


def reject(
    engine: Engine,
    config: TruceConfig,
    email: str,
    actor_email: str | None,
    reason: str | None,
    note: str | None = None,
    at: dt.datetime | None = None,
    origin: str = "cli",
) -> Decided:
    codes = {r.code: r for r in config.funnel.rejection_reasons}
    if not reason:
        raise HandoffRefused(f"a rejection needs a reason; choose one of: {', '.join(codes)}")
    if reason not in codes:
        raise HandoffRefused(f"unknown reason {reason!r}; choose one of: {', '.join(codes)}")
    if note is not None and len(note) > NOTE_LIMIT:
        raise HandoffRefused(f"note: at most {NOTE_LIMIT} characters, not {len(note):,}; say it in fewer words")
    at = at or dt.datetime.now(dt.UTC)
    with unit_of_work(engine, actor_email or "unknown", origin) as work:
        conn = work.conn
        seller = acting_seller(conn, actor_email)
        contact = waiting_contact(conn, config, email)
        may_decide(conn, seller, contact)
        warnings = sla.check_attempts(conn, config, contact["id"], reason, at)
        exit_stage = codes[reason].exit
        move_contact(
            conn,
            config,
            contact["id"],
            exit_stage,
            at=at,
            actor_id=seller["id"],
            actor=seller["email"],
            reason=reason,
            note=note,
            origin=origin,
        )
        late = _late(conn, contact["id"], at)
    return Decided(contact["email"], exit_stage, "rejected", late, tuple(warnings))


def assign(
    engine: Engine, config: TruceConfig, email: str, to_email: str, actor_email: str | None, origin: str = "cli"
) -> dict:
    """Give a waiting lead to another seller: RevOps' call, or a sales leader's. Audited; the SLA clocks run on."""
    with unit_of_work(engine, actor_email or "unknown", origin) as work:
        conn = work.conn
        actor = _assigner(conn, actor_email)
        contact = waiting_contact(conn, config, email)
        seller = user_by_email(conn, to_email)
        if seller["team"] != "sales" or not seller["active"]:
            raise HandoffRefused(f"a lead goes to an active sales user; {seller['email']} is not one")
        found = sla.open_handoff_of(conn, contact["id"])
        if found is None:
            raise HandoffRefused(f"{contact['email']} has no open handoff to assign; run: truce sla rebuild")
        before = found["owner_id"]
        if before == seller["id"]:
            return {"email": contact["email"], "owner": seller["email"], "previous_owner": seller["email"]}
        now = dt.datetime.now(dt.UTC)
        rule = f"assigned by {actor['email']}"
        conn.execute(
            update(Handoff)
            .where(Handoff.id == found["id"])
            .values(owner_id=seller["id"], routing_rule=rule, updated_at=now)
        )
        conn.execute(update(Contact).where(Contact.id == contact["id"]).values(owner_id=seller["id"], updated_at=now))
        previous = conn.execute(select(User.email).where(User.id == before)).scalar_one_or_none() if before else None
        _owe_assigned(conn, found, seller["id"], rule)
        writeback.owe_owners(conn, config, [{"id": found["id"], "contact_id": contact["id"], "owner_id": seller["id"]}])
        work.record(
            "handoff_assign",
            "handoff",
            found["id"],
            {"owner": previous},
            {"owner": seller["email"]},
            actor=actor["email"],
        )
    return {"email": contact["email"], "owner": seller["email"], "previous_owner": previous}


def _owe_assigned(conn: Connection, handoff, owner_id: int, rule: str) -> None:
    from truce.services.sla_rules.routed import owe_routed

    owe_routed(conn, [{"id": handoff["id"], "contact_id": handoff["contact_id"], "owner_id": owner_id,
                       "routing_rule": rule}], "assigned")  # fmt: skip


def _assigner(conn: Connection, actor_email: str | None):
    if not actor_email:
        raise HandoffRefused("say who assigns: --as EMAIL or TRUCE_USER (a RevOps user or a sales leader)")
    user = user_by_email(conn, actor_email)
    if not user["active"]:
        raise HandoffRefused(f"{user['email']} is not an active user")
    if user["team"] == "revops" or (user["team"] == "sales" and user["is_leader"]):
        return user
    raise Forbidden(f"only RevOps or a sales leader may assign leads; {user['email']} may not")


def _late(conn: Connection, contact_id: int, at: dt.datetime) -> bool:
    due = (
        conn.execute(
            select(Handoff.decision_due_at).where(Handoff.contact_id == contact_id).order_by(Handoff.id.desc())
        )
        .scalars()
        .first()
    )
    return due is not None and at > due


def past_first_touch(lead: dict) -> bool:
    """A queued lead still waiting for its first touch after that clock ran out (one touched is not)."""
    return lead["hours_to_first_touch"] is not None and lead["hours_to_first_touch"] < 0


def past_a_deadline(lead: dict) -> bool:
    """A queued lead past its first-touch clock (untouched) or its decision clock."""
    return past_first_touch(lead) or lead["hours_to_decision"] < 0


def queue(engine: Engine, config: TruceConfig, now: dt.datetime | None = None) -> list[dict]:
    """Open handoffs, oldest first, with business hours left on each clock (negative: overdue)."""
    now = now or dt.datetime.now(dt.UTC)
    clock = config.business_hours.clock(config.company.timezone)
    owner = User.__table__.alias("owner")
    with engine.connect() as conn:
        rows = (
            conn.execute(
                select(Handoff, Contact.email, Contact.score, owner.c.email.label("owner_email"))
                .join(Contact, Contact.id == Handoff.contact_id)
                .outerjoin(owner, owner.c.id == Handoff.owner_id)
                .where(Handoff.status == "open", present(Contact))
                .order_by(Handoff.mql_at, Handoff.id)
            )
            .mappings()
            .all()
        )
    return [
        {
            "handoff_id": r["id"],
            "email": r["email"],
            "owner": r["owner_email"],
            "routing_rule": r["routing_rule"],
            "score": r["score"],
            "mql_at": r["mql_at"],
            "first_touch_due_at": r["first_touch_due_at"],
            "decision_due_at": r["decision_due_at"],
            # A lead already touched has no first-touch clock left to run: None, not the hours past it.
            "hours_to_first_touch": None
            if r["first_touch_at"] is not None
            else sla.hours_left(clock, now, r["first_touch_due_at"]),
            "hours_to_decision": sla.hours_left(clock, now, r["decision_due_at"]),
        }
        for r in rows
    ]
