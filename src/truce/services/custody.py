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

from truce.analytics.store_read import remembered
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
    """The cold leads as of `now`, worked out once per revision of the data, moment and rules:
    the brief and the diagnostic's indicators both ask. Shared between callers: read, never change."""
    now = now or dt.datetime.now(dt.UTC)
    rules = config.model_dump_json(include={"custody", "funnel", "company"})
    return remembered(engine, ("custody.cold_leads", now, rules), lambda: _cold_leads(engine, config, now))


def _cold_leads(engine: Engine, config: TruceConfig, now: dt.datetime) -> dict:
    quiet = dt.timedelta(days=config.custody.cold_after_days)
    final = set(config.custody.final_stages)
    zone = ZoneInfo(config.company.timezone)
    found = _read_on_copy(engine, final, now - quiet) or _read_from_store(engine, final)
    contacts, touched, entered, emails, campaign_owners, broken = found
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


def _read_from_store(engine: Engine, final: set[str]) -> tuple:
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
    return contacts, touched, entered, emails, campaign_owners, broken


def _read_on_copy(engine: Engine, final: set[str], quiet_since: dt.datetime) -> tuple | None:
    """What _read_from_store reads, from the analytical copy, for the leads quiet since `quiet_since` only."""
    from truce.analytics.copy import CopyUnavailable, open_copy

    try:
        con = open_copy(engine)
    except CopyUnavailable:
        return None
    try:
        con.execute("CREATE TEMP TABLE final_stages (stage VARCHAR)")
        con.executemany("INSERT INTO final_stages VALUES (?)", [[stage] for stage in sorted(final)])
        rows = con.execute(COLD_ON_COPY, [quiet_since]).fetchall()
        emails = dict(con.execute("SELECT id, email FROM users").fetchall())
        broken: dict[int, set[str]] = defaultdict(set)
        for contact_id, kind in con.execute(BROKEN_ON_COPY).fetchall():
            broken[contact_id].add(kind)
    finally:
        con.close()
    contacts = [row[:5] for row in rows]
    touched = {row[0]: row[5] for row in rows if row[5] is not None}
    entered = {row[0]: row[6] for row in rows if row[6] is not None}
    owners = {row[0]: row[8] for row in rows if row[7]}
    return contacts, touched, entered, emails, owners, broken


# The leads cold_leads keeps, in the store's order (by id): not in a final stage, present, and
# quiet since the moment given (their last touch, stage move or creation no later than it).
# The campaign owner is the one behind the latest marketing touch; among touches at the same
# moment the last written (highest id), as the store's index order gives it.
COLD_ON_COPY = """
WITH touched AS (
    SELECT contact_id, max(occurred_at) AS last_touch FROM touchpoints GROUP BY contact_id
), entered AS (
    SELECT entity_id AS contact_id, max(changed_at) AS entered_at
    FROM stage_changes WHERE entity_type = 'contact' GROUP BY entity_id
), marketing AS (
    SELECT t.contact_id, arg_max(c.owner_id, (t.occurred_at, t.id)) AS campaign_owner
    FROM touchpoints t JOIN campaigns c ON c.id = t.campaign_id
    WHERE t.kind = 'marketing' GROUP BY t.contact_id
)
SELECT c.id, c.email, c.stage, c.owner_id, c.created_at, t.last_touch, e.entered_at,
       m.contact_id IS NOT NULL AS has_campaign, m.campaign_owner
FROM contacts c
LEFT JOIN touched t ON t.contact_id = c.id
LEFT JOIN entered e ON e.contact_id = c.id
LEFT JOIN marketing m ON m.contact_id = c.id
WHERE c.deleted_at IS NULL AND c.stage NOT IN (SELECT stage FROM final_stages)
  AND greatest(t.last_touch, coalesce(e.entered_at, c.created_at), c.created_at) <= ?
ORDER BY c.id
"""

# _broken_promises on the copy.
BROKEN_ON_COPY = """
WITH latest AS (
    SELECT max(id) AS id FROM handoffs GROUP BY contact_id
), episode AS (
    SELECT h.contact_id, h.mql_at FROM handoffs h JOIN latest ON latest.id = h.id
), in_episode AS (
    SELECT h.id FROM handoffs h JOIN episode e ON e.contact_id = h.contact_id AND e.mql_at = h.mql_at
)
SELECT contact_id, kind FROM sla_events WHERE handoff_id IN (SELECT id FROM in_episode)
"""


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
