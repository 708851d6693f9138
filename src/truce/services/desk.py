"""The seller's desk: the cards of the handoff queue, and what a seller does with a lead besides deciding it.

- `cards`: each waiting lead with who it is (name, company, title, segment, source channel, the
  campaign that made it an MQL, its score) and both SLA clocks in words and tone.
  The campaign shown is **the MQL's campaign**: the campaign of the lead's last marketing touch at
  or before the moment it became an MQL, i.e. the touch that tipped it over the line; a seller
  calls about what the lead just did, not about how it first arrived (`source_channel` says that).
- `standing`: a seller's first-touch promises this month, and what falls due next, in words.
- `log_touch`: a call, email or meeting by the seller, recorded as a sales touchpoint; the first
  one after the MQL stops the first-touch clock the SLA measures (truce.services.sla), at once.
- `claim`: a seller takes an open lead nobody owns (who may: truce.domain.desk.claimers).
- `undo`: the seller who accepted or rejected a lead takes it back within `[sla.sales] undo_minutes`; the ledger
  is append-only, so the undo is a new move back to the handoff stage with reason "undo", and the
  handoff it decided opens again with its clocks as they were.

Every action is one function the page, the API and the CLI call; each is one audited unit of work.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Connection, Engine, func, insert, select, update

from truce.config import TruceConfig
from truce.domain.desk import claimers, read_clock
from truce.services import sla
from truce.services.connectors import writeback
from truce.services.handoff import (
    HandoffRefused,
    NotYours,
    acting_seller,
    not_yours,
    routable_sellers,
    territories,
    waiting_contact,
)
from truce.services.lifecycle import ID_CHUNK, contact_by_email, user_by_email
from truce.store.models import Account, Campaign, Contact, Handoff, StageChange, Touchpoint, User
from truce.store.present import present
from truce.store.work import unit_of_work

TOUCH_KINDS = ("call", "email", "meeting")
SOON_HOURS = 4  # "due in the next 4 business hours"


def day_hours(config: TruceConfig) -> float:
    """The length of a working day in hours (opens to closes)."""
    hours = config.business_hours
    opens = dt.datetime.combine(dt.date(2000, 1, 3), hours.opens)
    return (dt.datetime.combine(dt.date(2000, 1, 3), hours.closes) - opens) / dt.timedelta(hours=1)


# ---- the cards ------------------------------------------------------------------------------------


def cards(engine: Engine, config: TruceConfig, now: dt.datetime | None = None) -> list[dict]:
    """Every open handoff as a card, oldest MQL first."""
    now = now or dt.datetime.now(dt.UTC)
    owner = User.__table__.alias("owner")
    with engine.connect() as conn:
        rows = conn.execute(
            select(Handoff, Contact.email, Contact.first_name, Contact.last_name, Contact.title, Contact.score,
                   Contact.source_channel, Account.id.label("account_id"), Account.name.label("company"),
                   Account.segment, owner.c.email.label("owner_email"), owner.c.name.label("owner_name"))
            .join(Contact, Contact.id == Handoff.contact_id)
            .outerjoin(Account, Account.id == Contact.account_id)
            .outerjoin(owner, owner.c.id == Handoff.owner_id)
            .where(Handoff.status == "open", present(Contact))
            .order_by(Handoff.mql_at, Handoff.id)
        ).mappings().all()  # fmt: skip
        campaigns = mql_campaigns(conn, [(r["contact_id"], r["mql_at"]) for r in rows])
    return [_card(config, r, campaigns.get(r["contact_id"]), now) for r in rows]


def held_by(found: list[dict], owner: str | None) -> list[dict]:
    """The cards of one seller (an email, any case), of nobody (`none`), or all (None)."""
    if owner is None:
        return found
    wanted = owner.strip().lower()
    if wanted == "none":
        return [c for c in found if c["owner"] is None]
    return [c for c in found if (c["owner"] or "").lower() == wanted]


def _card(config: TruceConfig, row, campaign: dict | None, now: dt.datetime) -> dict:
    name = " ".join(part for part in (row["first_name"], row["last_name"]) if part) or None
    return {
        "handoff_id": row["id"],
        "contact_id": row["contact_id"],
        "email": row["email"],
        "name": name,
        "title": row["title"],
        "company": row["company"],
        "account_id": row["account_id"],
        "segment": row["segment"],
        "source_channel": row["source_channel"],
        "campaign": campaign,
        "score": row["score"],
        "owner": row["owner_email"],
        "owner_name": row["owner_name"],
        "routing_rule": row["routing_rule"],
        "mql_at": row["mql_at"],
        "first_touch_at": row["first_touch_at"],
        "first_touch": None if row["first_touch_at"] else clock(config, row["first_touch_due_at"], now, "first_touch"),
        "decision": clock(config, row["decision_due_at"], now, "decision"),
    }


def clock(config: TruceConfig, due: dt.datetime, now: dt.datetime, which: str) -> dict:
    """One SLA clock of a card: when it is due, business hours left (negative: overdue), in words and tone."""
    business = config.business_hours.clock(config.company.timezone)
    promise = config.sla.sales
    promised = promise.first_touch_hours if which == "first_touch" else promise.decision_hours
    left = sla.hours_left(business, now, due)
    reading = read_clock(left, promised, day_hours(config), due, now)
    return {"due_at": due, "hours_left": left, "words": reading.words, "tone": reading.tone, "label": reading.label}


def mql_campaigns(conn: Connection, leads: Sequence[tuple[int, dt.datetime]]) -> dict[int, dict]:
    """{contact: {id, name, channel}} of the last marketing touch with a campaign at or before its MQL moment."""
    became = dict(leads)
    found: dict[int, tuple] = {}
    ordered = sorted(became)
    for start in range(0, len(ordered), ID_CHUNK):
        rows = conn.execute(
            select(Touchpoint.contact_id, Touchpoint.occurred_at, Campaign.id, Campaign.name, Campaign.channel)
            .join(Campaign, Campaign.id == Touchpoint.campaign_id)
            .where(Touchpoint.contact_id.in_(ordered[start : start + ID_CHUNK]), Touchpoint.kind == "marketing")
            .order_by(Touchpoint.contact_id, Touchpoint.occurred_at, Touchpoint.id)
        )
        for contact_id, occurred_at, campaign_id, name, channel in rows:
            if sla.as_utc(occurred_at) <= became[contact_id]:
                found[contact_id] = (campaign_id, name, channel)  # later rows win: the last before the MQL
    return {c: {"id": i, "name": n, "channel": ch} for c, (i, n, ch) in found.items()}


# ---- my standing ----------------------------------------------------------------------------------


def standing(engine: Engine, config: TruceConfig, seller_email: str, now: dt.datetime | None = None) -> dict:
    """A seller's first-touch promises due this month so far (kept or not), and what falls due soon.

    A promise is kept when a sales touch came after the MQL and by the deadline, whether or not
    the sweep has looked yet; "this month" is the calendar month in the company's time zone.
    """
    now = now or dt.datetime.now(dt.UTC)
    business = config.business_hours.clock(config.company.timezone)
    month_start = _month_start(now, config.company.timezone)
    soon = business.add(now, dt.timedelta(hours=SOON_HOURS))
    with engine.connect() as conn:
        seller = user_by_email(conn, seller_email)
        due = conn.execute(
            select(Handoff.id, Handoff.first_touch_due_at).where(
                Handoff.owner_id == seller["id"],
                Handoff.first_touch_due_at >= month_start,
                Handoff.first_touch_due_at <= now,
            )
        ).all()
        touched = sla.first_touches(conn, [h.id for h in due])
        waiting = conn.execute(
            select(Handoff.first_touch_at, Handoff.first_touch_due_at, Handoff.decision_due_at).where(
                Handoff.owner_id == seller["id"], Handoff.status == "open"
            )
        ).all()
    kept = sum(1 for h in due if h.id in touched and touched[h.id] <= h.first_touch_due_at)
    deadlines = [_next(h) for h in waiting]
    result = {
        "seller": seller["email"],
        "month": month_start.astimezone(dt.UTC).strftime("%Y-%m"),
        "first_touch_due": len(due),
        "first_touch_kept": kept,
        "waiting": len(waiting),
        "due_soon": sum(1 for d in deadlines if now <= d <= soon),
        "overdue": sum(1 for d in deadlines if d < now),
        "soon_hours": SOON_HOURS,
    }
    return result | {"words": standing_words(result)}


def _next(handoff) -> dt.datetime:
    """The next deadline of a waiting lead: its first touch until touched, then its decision."""
    if handoff.first_touch_at is None:
        return min(handoff.first_touch_due_at, handoff.decision_due_at)
    return handoff.decision_due_at


def _month_start(now: dt.datetime, zone: str) -> dt.datetime:
    from zoneinfo import ZoneInfo

    local = now.astimezone(ZoneInfo(zone))
    return local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def standing_words(s: dict) -> str:
    """ "You kept 18 of 20 first-touch promises this month; 2 leads are due in the next 4 business hours"."""
    if s["first_touch_due"]:
        kept = f"You kept {s['first_touch_kept']} of {s['first_touch_due']} first-touch promises this month"
    else:
        kept = "No first-touch promise of yours has fallen due this month yet"
    soon = s["due_soon"]
    lead = "lead is" if soon == 1 else "leads are"
    parts = [kept, f"{soon} {lead} due in the next {s['soon_hours']} business hours"]
    if s["overdue"]:
        parts.append(f"{s['overdue']} {'is' if s['overdue'] == 1 else 'are'} overdue")
    return "; ".join(parts) + "."


# ---- log a touch ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Touched:
    email: str
    kind: str
    occurred_at: dt.datetime
    first_touch: bool  # this touch stopped the first-touch clock
    late: bool  # … after its deadline (a breach, recorded at once)

    def as_dict(self) -> dict:
        return {"email": self.email, "kind": self.kind, "occurred_at": self.occurred_at,
                "first_touch": self.first_touch, "late": self.late}  # fmt: skip


def log_touch(
    engine: Engine, config: TruceConfig, email: str, kind: str, actor_email: str | None,
    at: dt.datetime | None = None, origin: str = "cli",
) -> Touched:  # fmt: skip
    """A seller's call, email or meeting with their lead, as a sales touchpoint in their name."""
    if kind not in TOUCH_KINDS:
        raise HandoffRefused(f"kind: {kind!r} is not a touch truce logs; choose one of: {', '.join(TOUCH_KINDS)}")
    at = at or dt.datetime.now(dt.UTC)
    at = at if at.tzinfo else at.replace(tzinfo=dt.UTC)  # a moment without a zone is UTC, as everywhere in truce
    with unit_of_work(engine, actor_email or "unknown", origin) as work:
        conn = work.conn
        seller = acting_seller(conn, actor_email)
        contact = contact_by_email(conn, email)
        _may_touch(conn, seller, contact)
        touch_id = conn.execute(
            insert(Touchpoint).returning(Touchpoint.id),
            {"contact_id": contact["id"], "account_id": contact["account_id"], "channel": f"sales_{kind}",
             "kind": "sales", "touch_type": kind, "occurred_at": at, "user_id": seller["id"]},
        ).scalar_one()  # fmt: skip
        first, late = _stop_first_touch_clock(conn, config, contact["id"], at)
        work.record("handoff_touch", "touchpoint", touch_id, None,
                    {"contact": contact["email"], "kind": kind, "occurred_at": at.isoformat(), "first_touch": first})  # fmt: skip
    return Touched(contact["email"], kind, at, first, late)


def _may_touch(conn: Connection, seller, contact) -> None:
    """A seller logs touches on the leads that are theirs (its open handoff's, else the contact's owner)."""
    found = sla.open_handoff_of(conn, contact["id"])
    owner_id = found["owner_id"] if found is not None else contact["owner_id"]
    if seller["id"] == owner_id or seller["is_leader"]:
        return
    if owner_id is None:
        raise NotYours(f"{contact['email']} is not routed to anyone yet: claim it first, then log your touch")
    owner = conn.execute(select(User.email).where(User.id == owner_id)).scalar_one_or_none()
    raise NotYours(f"{contact['email']} is {owner}'s lead; only {owner} or a sales leader may log touches on it")


def _stop_first_touch_clock(conn: Connection, config: TruceConfig, contact_id: int, at: dt.datetime):
    """(whether this was the first touch, whether it came late). A late one is a breach now, not at the sweep."""
    handoff = sla.open_handoff_of(conn, contact_id)
    if handoff is None or handoff["first_touch_at"] is not None or at < handoff["mql_at"]:
        return False, False
    due = handoff["first_touch_due_at"]
    late = at > due
    # The sweep judges an unsettled first touch when its deadline passes; settling it here means the
    # sweep will not look again, so a late touch records its breach itself.
    pending = handoff["decision_due_at"] if handoff["sla_due_at"] is not None else None
    conn.execute(update(Handoff).where(Handoff.id == handoff["id"])
                 .values(first_touch_at=at, sla_due_at=pending, updated_at=dt.datetime.now(dt.UTC)))  # fmt: skip
    if late:
        business = config.business_hours.clock(config.company.timezone)
        hours = business.between(due, at) / sla.HOUR
        detail = f"first sales touch {at.isoformat()}, {hours:.1f} business hours late"
        sla.record_and_tell(conn, config, handoff, "first_touch_late", due, detail)
    return True, late


# ---- claim ----------------------------------------------------------------------------------------


def claim(engine: Engine, config: TruceConfig, email: str, actor_email: str | None, origin: str = "cli") -> dict:
    """A seller takes a waiting lead nobody owns. Its SLA clocks run on from its MQL moment."""
    with unit_of_work(engine, actor_email or "unknown", origin) as work:
        conn = work.conn
        seller = acting_seller(conn, actor_email)
        contact = waiting_contact(conn, config, email)
        found = sla.open_handoff_of(conn, contact["id"])
        if found is None:
            raise HandoffRefused(f"{contact['email']} has no open handoff to claim")
        if found["owner_id"] is not None:
            raise HandoffRefused(
                not_yours(conn, seller["email"], found["owner_id"]).split(";")[0] + "; it has an owner"
            )
        _may_claim(conn, config, seller, contact)
        rule = f"claimed by {seller['email']}"
        # Only while it is still nobody's: two sellers claiming at once, one gets it.
        taken = conn.execute(
            update(Handoff)
            .where(Handoff.id == found["id"], Handoff.owner_id.is_(None), Handoff.status == "open")
            .values(owner_id=seller["id"], routing_rule=rule, updated_at=dt.datetime.now(dt.UTC))
        ).rowcount
        if taken != 1:
            raise HandoffRefused(f"{contact['email']} was claimed by someone else a moment ago")
        conn.execute(update(Contact).where(Contact.id == contact["id"])
                     .values(owner_id=seller["id"], updated_at=dt.datetime.now(dt.UTC)))  # fmt: skip
        writeback.owe_owners(conn, config, [{"id": found["id"], "contact_id": contact["id"], "owner_id": seller["id"]}])
        work.record("handoff_claim", "handoff", found["id"], {"owner": None}, {"owner": seller["email"]})
    return {"email": contact["email"], "owner": seller["email"], "handoff_id": found["id"]}


def _may_claim(conn: Connection, config: TruceConfig, seller, contact) -> None:
    region, segment = territories(conn, [contact["id"]]).get(contact["id"], (None, None))
    allowed, rule = claimers(routable_sellers(conn), region, segment, config.routing.rules)
    if seller["id"] not in allowed:
        raise NotYours(
            f"{contact['email']} belongs to the sellers of {rule} by the routing rules; "
            f"{seller['email']} is not one of them (RevOps or a sales leader can assign it: truce handoff assign)"
        )


# ---- undo -----------------------------------------------------------------------------------------


def undo(
    engine: Engine, config: TruceConfig, email: str, actor_email: str | None,
    now: dt.datetime | None = None, origin: str = "cli",
) -> dict:  # fmt: skip
    """Take back one's own accept or reject within `[sla.sales] undo_minutes`: the lead returns to the
    queue, its handoff opens again with the clocks it had, the ledger gains a move with reason "undo",
    and a CRM that was told of the decision is told it is open again."""
    now = now or dt.datetime.now(dt.UTC)
    with unit_of_work(engine, actor_email or "unknown", origin) as work:
        conn = work.conn
        seller = acting_seller(conn, actor_email)
        contact = contact_by_email(conn, email)
        decision = _last_decision(conn, config, contact)
        handoff = _decided_handoff(conn, contact["id"])
        _may_undo(conn, seller, contact, decision, handoff, now, config.sla.sales.undo_window)
        _move_back(conn, config, contact, decision, seller, now, origin)
        _reopen(conn, handoff, now)
        writeback.owe_undo(conn, config, handoff, config.funnel.handoff_stage)
        work.record("handoff_undo", "handoff", handoff["id"],
                    {"status": handoff["status"], "stage": contact["stage"]},
                    {"status": "open", "stage": config.funnel.handoff_stage})  # fmt: skip
    return {"email": contact["email"], "undone": handoff["status"], "stage": config.funnel.handoff_stage,
            "handoff_id": handoff["id"]}  # fmt: skip


def _last_decision(conn: Connection, config: TruceConfig, contact):
    """The ledger's latest move of the lead, if it is the one that took it out of the handoff stage."""
    last = conn.execute(
        select(StageChange)
        .where(StageChange.entity_type == "contact", StageChange.entity_id == contact["id"])
        .order_by(StageChange.recorded_at.desc(), StageChange.id.desc())
        .limit(1)
    ).mappings().first()  # fmt: skip
    if last is None or last["from_stage"] != config.funnel.handoff_stage or last["reason"] == "undo":
        raise HandoffRefused(
            f"{contact['email']}: its last move was not an accept or reject, so there is nothing to undo"
        )
    return last


def _decided_handoff(conn: Connection, contact_id: int):
    handoff = conn.execute(
        select(Handoff).where(Handoff.contact_id == contact_id).order_by(Handoff.id.desc()).limit(1)
    ).mappings().first()  # fmt: skip
    if handoff is None or handoff["status"] not in ("accepted", "rejected"):
        raise HandoffRefused("there is no accepted or rejected handoff to undo")
    return handoff


def _may_undo(conn: Connection, seller, contact, decision, handoff, now: dt.datetime, window: dt.timedelta) -> None:
    if decision["changed_by_id"] != seller["id"] or handoff["decided_by_id"] != seller["id"]:
        decider = conn.execute(select(User.email).where(User.id == decision["changed_by_id"])).scalar_one_or_none()
        raise NotYours(f"only the person who decided {contact['email']} ({decider or 'nobody named'}) may undo it")
    recorded = sla.as_utc(decision["recorded_at"])
    if now - recorded > window:
        minutes = int(window / dt.timedelta(minutes=1))
        raise HandoffRefused(
            f"{contact['email']} was {handoff['status']} at {recorded:%H:%M} UTC; a decision can be undone "
            f"for {minutes} minutes only (a sales leader or RevOps can move it by hand: truce lead move)"
        )


def _move_back(conn: Connection, config: TruceConfig, contact, decision, seller, now: dt.datetime, origin: str):
    """The undo in the append-only ledger: a new move from where the decision put the lead back to the queue.

    Not through the funnel's transitions (sal → mql is no move a seller makes): it restores a
    state the funnel allowed a moment ago, and only its decider may, only within the window.
    """
    from truce.store import work

    stage = config.funnel.handoff_stage
    if contact["stage"] != decision["to_stage"]:
        raise HandoffRefused(f"{contact['email']} has moved on to {contact['stage']!r} since; undo it by hand")
    conn.execute(insert(StageChange), {
        "entity_type": "contact", "entity_id": contact["id"], "from_stage": contact["stage"], "to_stage": stage,
        "changed_at": now, "changed_by_id": seller["id"], "team_before": config.funnel.team_of(contact["stage"]),
        "team_after": config.funnel.team_of(stage), "reason": "undo", "note": f"undoes the move to {decision['to_stage']}",
        "origin": origin, "recorded_at": now,
    })  # fmt: skip
    conn.execute(update(Contact).where(Contact.id == contact["id"]).values(stage=stage, updated_at=now))
    work.record(conn, "stage_move", "contact", contact["id"], {"stage": contact["stage"]},
                {"stage": stage, "reason": "undo"}, actor=seller["email"], at=now)  # fmt: skip


def _reopen(conn: Connection, handoff, now: dt.datetime) -> None:
    """The handoff waits again with the deadlines it had; the sweep judges whichever has passed meanwhile."""
    pending = [handoff["decision_due_at"]]
    if handoff["first_touch_at"] is None:
        pending.append(handoff["first_touch_due_at"])
    conn.execute(
        update(Handoff)
        .where(Handoff.id == handoff["id"])
        .values(status="open", decided_at=None, decided_by_id=None, rejection_reason=None, note=None,
                sla_due_at=min(pending), escalation_due_at=handoff["decision_due_at"], updated_at=now)
    )  # fmt: skip


def undoable(
    engine: Engine, config: TruceConfig, seller_email: str, now: dt.datetime | None = None
) -> list[dict]:
    """The seller's own decisions still inside the undo window, newest first (for the page's Undo buttons)."""
    now = now or dt.datetime.now(dt.UTC)
    with engine.connect() as conn:
        seller = conn.execute(select(User.id).where(User.email == seller_email.strip().lower())).scalar_one_or_none()
        if seller is None:
            return []
        rows = conn.execute(
            select(Handoff.id, Handoff.contact_id, Handoff.status, Handoff.decided_at, Contact.email,
                   func.max(StageChange.recorded_at).label("recorded_at"))
            .join(Contact, Contact.id == Handoff.contact_id)
            .join(StageChange, (StageChange.entity_type == "contact") & (StageChange.entity_id == Handoff.contact_id)
                  & (StageChange.changed_by_id == seller))
            .where(Handoff.decided_by_id == seller, Handoff.status.in_(("accepted", "rejected")),
                   StageChange.recorded_at >= now - config.sla.sales.undo_window)
            .group_by(Handoff.id, Handoff.contact_id, Handoff.status, Handoff.decided_at, Contact.email)
            .order_by(Handoff.id.desc())
        ).mappings().all()  # fmt: skip
    return [dict(r) for r in rows]
