"""Custody of cold leads: for every lead that went cold, who held it, for how long, and which promise broke.

A lead has gone cold when nothing has happened to it — no touchpoint from either team, no
stage move — for `cold_after_days` while it sits in a stage that is not final. It went cold
at its last activity plus that many days, in the stage it is still in, so the team that owns
that stage in truce.toml held it; for sales stages the person is the lead's owner, for
marketing stages the owner of the campaign that touched it last. "Held for" runs from the
moment the lead entered its stage to the moment it went cold.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, func, select

from truce.config import TruceConfig
from truce.store.models import Campaign, Contact, Handoff, SlaEvent, StageChange, Touchpoint, User
from truce.store.present import present


def _utc(value):
    if isinstance(value, str):  # SQLite returns aggregates of timestamps as text
        value = dt.datetime.fromisoformat(value)
    return value.replace(tzinfo=dt.UTC) if value is not None and value.tzinfo is None else value


def _latest(conn, column, key, *where) -> dict:
    return {k: _utc(v) for k, v in conn.execute(select(key, func.max(column)).where(*where).group_by(key))}


def _last_campaign_owner(conn) -> dict[int, int]:
    """The owner of the campaign behind each contact's latest marketing touch."""
    # Ordered by time, the last row per contact wins; the time itself is not needed (reading it
    # would turn every one of the touches into a datetime).
    return dict(
        conn.execute(
            select(Touchpoint.contact_id, Campaign.owner_id)
            .join(Campaign, Campaign.id == Touchpoint.campaign_id)
            .where(Touchpoint.kind == "marketing")
            .order_by(Touchpoint.contact_id, Touchpoint.occurred_at)
        ).all()
    )


def cold_leads(engine: Engine, config: TruceConfig, now: dt.datetime | None = None) -> dict:
    now = now or dt.datetime.now(dt.UTC)
    quiet = dt.timedelta(days=config.custody.cold_after_days)
    final = set(config.custody.final_stages)
    zone = ZoneInfo(config.company.timezone)
    with engine.connect() as conn:
        contacts = conn.execute(
            select(Contact.id, Contact.email, Contact.stage, Contact.owner_id, Contact.created_at).where(
                Contact.stage.not_in(final), present(Contact)
            )
        ).all()
        touched = _latest(conn, Touchpoint.occurred_at, Touchpoint.contact_id)
        entered = _latest(conn, StageChange.changed_at, StageChange.entity_id, StageChange.entity_type == "contact")
        emails = dict(conn.execute(select(User.id, User.email)).all())
        campaign_owners = _last_campaign_owner(conn)
        broken = _broken_promises(conn)
    leads: list[dict] = []
    for contact_id, email, stage, owner_id, created_at in contacts:
        entered_at = entered.get(contact_id) or created_at
        last = max(t for t in (touched.get(contact_id), entered_at, created_at) if t is not None)
        if now - last < quiet:
            continue
        went_cold = last + quiet
        team = config.funnel.team_of(stage)
        holder = owner_id if team == "sales" else campaign_owners.get(contact_id)
        leads.append(
            {
                "email": email,
                "stage": stage,
                "team": team,
                "person": emails.get(holder) if holder is not None else None,
                "went_cold_at": went_cold.isoformat(),
                "last_activity_at": last.isoformat(),
                "held_days": round((went_cold - entered_at) / dt.timedelta(days=1), 2),
                "sla_broken": sorted(broken.get(contact_id, ())),
                "month": went_cold.astimezone(zone).strftime("%Y-%m"),
            }
        )
    leads.sort(key=lambda lead: lead["went_cold_at"])
    return {
        "as_of": now.isoformat(),
        "cold_after_days": config.custody.cold_after_days,
        "leads": leads,
        "by_team_and_month": _summary(leads),
    }


def _broken_promises(conn) -> dict[int, set[str]]:
    """SLA breaches in each contact's latest MQL episode: its latest handoff and any that expired before it
    (a lead re-routed by escalation keeps the breach of the seller who let it expire)."""
    latest = select(Handoff.contact_id, func.max(Handoff.id).label("id")).group_by(Handoff.contact_id).subquery()
    episode = select(Handoff.contact_id, Handoff.mql_at).join(latest, latest.c.id == Handoff.id).subquery()
    in_episode = select(Handoff.id).join(
        episode, (episode.c.contact_id == Handoff.contact_id) & (episode.c.mql_at == Handoff.mql_at)
    )
    broken = defaultdict(set)
    for contact_id, kind in conn.execute(
        select(SlaEvent.contact_id, SlaEvent.kind).where(SlaEvent.handoff_id.in_(in_episode))
    ):
        broken[contact_id].add(kind)
    return broken


def _summary(leads: list[dict]) -> list[dict]:
    counts: dict[tuple[str, str], list] = defaultdict(lambda: [0, 0.0])
    for lead in leads:
        tally = counts[(lead["month"], lead["team"])]
        tally[0] += 1
        tally[1] += lead["held_days"]
    return [
        {"month": month, "team": team, "cold_leads": n, "mean_held_days": round(total / n, 2)}
        for (month, team), (n, total) in sorted(counts.items())
    ]
