"""One lead's record and moves: its whole history in one place, and a door to move it by hand."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Engine, select

from truce.config import TruceConfig
from truce.services.lifecycle import contact_by_email, move_contact, user_by_email
from truce.store.models import Handoff, SlaEvent, StageChange, Touchpoint, User
from truce.store.work import unit_of_work


def move(
    engine: Engine,
    config: TruceConfig,
    email: str,
    to_stage: str,
    *,
    actor_email: str | None,
    reason: str | None = None,
    note: str | None = None,
    at: dt.datetime | None = None,
) -> dict:
    """Move a lead to another stage by hand, through the same rules as every other move."""
    at = at or dt.datetime.now(dt.UTC)
    with unit_of_work(engine, actor_email or "cli") as work:
        conn = work.conn
        actor = user_by_email(conn, actor_email) if actor_email else None
        contact = contact_by_email(conn, email)
        _decision_by_whoever_may(conn, config, contact, to_stage, actor)
        moved = move_contact(
            conn,
            config,
            contact["id"],
            to_stage,
            at=at,
            actor_id=actor["id"] if actor else None,
            actor=actor["email"] if actor else "cli",
            reason=reason,
            note=note,
            origin="cli",
        )
    return {
        "email": contact["email"],
        "from_stage": moved.from_stage,
        "to_stage": moved.to_stage,
        "team_before": moved.team_before,
        "team_after": moved.team_after,
        "skipped": list(moved.skipped),
    }


def _decision_by_whoever_may(conn, config: TruceConfig, contact, to_stage: str, actor) -> None:
    """Taking a lead out of the handoff queue is sales' decision, by hand as much as by a button."""
    from truce.services.handoff import HandoffRefused, may_decide

    if contact["stage"] != config.funnel.handoff_stage or to_stage == config.funnel.handoff_stage:
        return
    if actor is None or actor["team"] != "sales" or not actor["active"]:
        raise HandoffRefused(
            f"{contact['email']} is waiting in the handoff queue: moving it out is sales' decision; "
            "say who decides with --as (the seller it is routed to, or a sales leader)"
        )
    may_decide(conn, actor, contact)


def _all(conn, query) -> list:
    return list(conn.execute(query).mappings().all())


def history(engine: Engine, email: str) -> dict:
    """Every move, handoff, breach and touch of one lead, oldest first."""
    who = User.__table__.alias("who")
    with engine.connect() as conn:
        contact = contact_by_email(conn, email)
        moves = _all(
            conn,
            select(
                StageChange.changed_at,
                StageChange.from_stage,
                StageChange.to_stage,
                StageChange.team_after,
                StageChange.reason,
                StageChange.note,
                StageChange.origin,
                who.c.email.label("by"),
            )
            .outerjoin(who, who.c.id == StageChange.changed_by_id)
            .where(StageChange.entity_type == "contact", StageChange.entity_id == contact["id"])
            .order_by(StageChange.changed_at, StageChange.id),
        )
        handoffs = _all(
            conn,
            select(
                Handoff.id,
                Handoff.mql_at,
                Handoff.status,
                Handoff.routing_rule,
                Handoff.first_touch_due_at,
                Handoff.decision_due_at,
                Handoff.decided_at,
                Handoff.rejection_reason,
                who.c.email.label("owner"),
            )
            .outerjoin(who, who.c.id == Handoff.owner_id)
            .where(Handoff.contact_id == contact["id"])
            .order_by(Handoff.id),
        )
        breaches = _all(
            conn,
            select(SlaEvent.handoff_id, SlaEvent.kind, SlaEvent.due_at, SlaEvent.detail)
            .where(SlaEvent.contact_id == contact["id"])
            .order_by(SlaEvent.id),
        )
        touches = _all(
            conn,
            select(Touchpoint.occurred_at, Touchpoint.kind, Touchpoint.touch_type, Touchpoint.channel)
            .where(Touchpoint.contact_id == contact["id"])
            .order_by(Touchpoint.occurred_at),
        )
    return {
        "email": contact["email"],
        "stage": contact["stage"],
        "score": contact["score"],
        "moves": [dict(m) for m in moves],
        "handoffs": [dict(h) for h in handoffs],
        "sla_breaches": [dict(b) for b in breaches],
        "touchpoints": [dict(t) for t in touches],
    }


def whole_record(engine: Engine, contact_id: int) -> dict:
    """The lead page: who the lead is, and every move, handoff, breach, touch, deal and feedback about it."""
    from truce.services.lifecycle import NotFound
    from truce.store.models import Account, Campaign, Contact, FeedbackItem, Opportunity

    owner, author = User.__table__.alias("owner"), User.__table__.alias("author")
    with engine.connect() as conn:
        person = conn.execute(
            select(Contact, Account.name.label("company"), Account.domain, Account.segment, Account.region,
                   owner.c.email.label("owner_email"), owner.c.name.label("owner_name"))
            .outerjoin(Account, Account.id == Contact.account_id)
            .outerjoin(owner, owner.c.id == Contact.owner_id)
            .where(Contact.id == contact_id)
        ).mappings().one_or_none()  # fmt: skip
        if person is None:
            raise NotFound(f"no contact with id {contact_id}")
        touches = conn.execute(
            select(Touchpoint.occurred_at, Touchpoint.kind, Touchpoint.touch_type, Touchpoint.channel,
                   Campaign.name.label("campaign"), author.c.email.label("by"))
            .outerjoin(Campaign, Campaign.id == Touchpoint.campaign_id)
            .outerjoin(author, author.c.id == Touchpoint.user_id)
            .where(Touchpoint.contact_id == contact_id).order_by(Touchpoint.occurred_at, Touchpoint.id)
        ).mappings().all()  # fmt: skip
        deals = conn.execute(
            select(Opportunity.id, Opportunity.name, Opportunity.amount, Opportunity.currency, Opportunity.stage,
                   Opportunity.status, Opportunity.created_at, Opportunity.close_date, Opportunity.loss_reason)
            .where(Opportunity.primary_contact_id == contact_id).order_by(Opportunity.created_at, Opportunity.id)
        ).mappings().all()  # fmt: skip
        feedback = conn.execute(
            select(FeedbackItem.id, FeedbackItem.kind, FeedbackItem.text, FeedbackItem.status, FeedbackItem.reply,
                   FeedbackItem.created_at, author.c.email.label("by"))
            .outerjoin(author, author.c.id == FeedbackItem.author_id)
            .where(FeedbackItem.contact_id == contact_id).order_by(FeedbackItem.created_at, FeedbackItem.id)
        ).mappings().all()  # fmt: skip
    record = history(engine, person["email"])
    name = " ".join(p for p in (person["first_name"], person["last_name"]) if p) or None
    return record | {
        "contact_id": contact_id, "name": name, "title": person["title"], "phone": person["phone"],
        "company": person["company"], "account_id": person["account_id"], "domain": person["domain"],
        "segment": person["segment"], "region": person["region"], "source_channel": person["source_channel"],
        "owner": person["owner_email"], "owner_name": person["owner_name"],
        "touchpoints": [dict(t) for t in touches], "deals": [dict(d) for d in deals],
        "feedback": [dict(f) for f in feedback],
    }  # fmt: skip


def contact_id_of(engine: Engine, email: str) -> int:
    """The id of the contact with this email (for links that know only the email)."""
    with engine.connect() as conn:
        return contact_by_email(conn, email)["id"]


def deal_contact(engine: Engine, deal_id: int) -> int:
    """The primary contact of a deal, whose lead page shows it."""
    from truce.services.lifecycle import NotFound
    from truce.store.models import Opportunity

    with engine.connect() as conn:
        found = conn.execute(select(Opportunity.primary_contact_id).where(Opportunity.id == deal_id)).one_or_none()
    if found is None or found[0] is None:
        raise NotFound(f"no deal with id {deal_id} and a contact to show it with")
    return found[0]
