"""Journeys from the store: each conversion and the touches before it, as Ibis expressions.

Input tables (handed to the engine by `truce.analytics.sources.attribution_sources`), times
in whole seconds since 1970-01-01 UTC:

    touches        id, contact_id, account_id, ts, channel, team, campaign, person
    contacts       id, account_id, created
    opportunities  id, contact_id, account_id, amount, status, created, closed
    stage_entries  contact_id, account_id, stage, ts      (first entry of a contact into a stage)

The rules (docs/attribution.md says the same to users):

- Whose journey: a contact's (level "contact"), or an account's — all its contacts'
  touches together, the buying group (level "account"; contacts without an account drop out).
- A conversion, by `conversion`: "won" — a won opportunity, at the end (23:59:59 UTC) of its
  close date, revenue its amount; "opportunity" — an opportunity created, at its creation,
  revenue its amount (pipeline); "sql" / "mql" — the first entry into that stage (for an
  account, of its first contact to get there), revenue 0. An opportunity belongs to its
  primary contact, or at account level to its account.
- A touch belongs to the first conversion of its contact or account at or after it (the
  lowest id first when two happen at the same second), if it happened at most
  `lookback_days` before that conversion; older touches count for nothing.
- Touches after the last conversion form one journey that did not convert; only those in
  the `lookback_days` before its last touch count.
- A conversion without any touch in its window is unattributed: no model can credit it,
  and reports count it apart.
- Milestones (w_shaped, full_path): lead creation is the contact's creation (for an
  account, its first contact's); opportunity creation is the converting opportunity's
  creation (none for sql/mql); a "won" conversion closes a deal.
"""

from __future__ import annotations

import ibis
import ibis.expr.types as ir

from truce.vocabulary import ATTRIBUTION_BY as BY
from truce.vocabulary import CONVERSIONS
from truce.vocabulary import JOURNEY_LEVELS as LEVELS  # noqa: F401  (the CLI and pages import LEVELS from here)

MICROS = 1_000_000
DAY = 86_400


# A double zero on every engine: Spark reads a bare `0.0` as DECIMAL(1,1), and a cached table of
# journeys whose revenue is all such zeros (mql and sql conversions) comes back typed decimal.
NO_REVENUE = ibis.literal(0).cast("float64")


def conversions(opportunities: ir.Table, stage_entries: ir.Table, conversion: str, level: str) -> ir.Table:
    """conv_id, entity, conv_ts, revenue, oc_ts, closes — one row per conversion."""
    if conversion not in CONVERSIONS:
        raise ValueError(f"unknown conversion {conversion!r}; choose one of {', '.join(CONVERSIONS)}")
    entity_of = "contact_id" if level == "contact" else "account_id"
    if conversion in ("won", "opportunity"):
        opps = opportunities
        if conversion == "won":
            opps = opps.filter((opps.status == "won") & opps.closed.notnull())
        when = opps.closed if conversion == "won" else opps.created
        found = opps.select(
            conv_id=opps.id,
            entity=opps[entity_of],
            conv_ts=when,
            revenue=opps.amount.cast("float64"),
            oc_ts=opps.created,
            closes=ibis.literal(conversion == "won"),
        )
        return found.filter(found.entity.notnull())
    entries = stage_entries.filter(stage_entries.stage == conversion)
    entries = entries.filter(entries[entity_of].notnull())
    first = entries.group_by(entity=entries[entity_of]).aggregate(conv_ts=entries.ts.min())
    return first.select(
        conv_id=first.entity,  # one conversion per contact or account
        entity="entity",
        conv_ts="conv_ts",
        revenue=NO_REVENUE,
        oc_ts=ibis.null("int64"),
        closes=ibis.literal(False),
    )


def journey_rows(
    touches: ir.Table,
    contacts: ir.Table,
    found: ir.Table,
    *,
    level: str,
    lookback_days: int,
    keys: tuple[str, ...] = BY,
) -> ir.Table:
    """Each counted touch with its journey, before any key is chosen: one `value_<by>` column per
    way of crediting in `keys` (all of BY by default), so that one computation of the journeys
    serves credit by channel, campaign, team and person alike (`keyed` picks one). Each column
    costs time in the window sorts: a single report asks for its own key only."""
    entity_of = "contact_id" if level == "contact" else "account_id"
    t = touches.select(
        touch=touches.id,
        entity=touches[entity_of],
        ts=touches.ts,
        **{_value(by): touches[_column(by)].cast("string").fill_null("(none)") for by in keys},
    )
    values = [_value(by) for by in keys]
    t = t.filter(t.entity.notnull())
    lookback = lookback_days * DAY
    joined = t.left_join(found, [t.entity == found.entity, found.conv_ts >= t.ts])
    pick = ibis.window(group_by=joined.touch, order_by=[joined.conv_ts, joined.conv_id])
    joined = joined.mutate(rank=ibis.row_number().over(pick))
    first = joined.filter(joined.rank == 0)
    converting = first.filter(first.conv_id.notnull() & (first.conv_ts - first.ts <= lookback))
    converting = converting.select(
        journey=converting.conv_id + 1,
        entity=converting.entity,
        ts=converting.ts,
        **{v: converting[v] for v in values},
        converted=ibis.literal(True),
        revenue=converting.revenue,
        conv_ts=converting.conv_ts,
        oc_ts=converting.oc_ts,
        closes=converting.closes,
    )
    trailing = first.filter(first.conv_id.isnull())
    trailing = trailing.mutate(last=trailing.ts.max().over(ibis.window(group_by=trailing.entity)))
    trailing = trailing.filter(trailing.last - trailing.ts <= lookback)
    trailing = trailing.select(
        journey=-trailing.entity,
        entity=trailing.entity,
        ts=trailing.ts,
        **{v: trailing[v] for v in values},
        converted=ibis.literal(False),
        revenue=NO_REVENUE,
        conv_ts=trailing.last,
        oc_ts=ibis.null("int64"),
        closes=ibis.literal(False),
    )
    both = converting.union(trailing)
    created = _lead_creation(contacts, level)
    both = both.left_join(created, both.entity == created.entity)
    return both.select(
        journey=both.journey.cast("int64"),
        ts=both.ts.cast("int64") * MICROS,
        **{v: both[v] for v in values},
        converted=both.converted,
        revenue=both.revenue.cast("float64"),
        conv_ts=both.conv_ts.cast("int64") * MICROS,
        lc_ts=both.lc_ts.cast("int64") * MICROS,
        oc_ts=both.oc_ts.cast("int64") * MICROS,
        closes=both.closes,
        period=month_of(both.conv_ts.cast("int64")),
    )


def keyed(rows: ir.Table, key_codes: ir.Table, by: str) -> ir.Table:
    """`journey_rows` credited by one key: its value swapped for its code from key_codes."""
    both = rows.join(key_codes, rows[_value(by)] == key_codes.value)
    return both.select(
        journey=both.journey,
        ts=both.ts,
        key=both.key.cast("int64"),
        converted=both.converted,
        revenue=both.revenue,
        conv_ts=both.conv_ts,
        lc_ts=both.lc_ts,
        oc_ts=both.oc_ts,
        closes=both.closes,
        period=both.period,
    )


def key_values(touches: ir.Table, by: str) -> ir.Table:
    """The distinct key values touches carry (strings, "(none)" for a missing one)."""
    return touches.select(value=touches[_column(by)].cast("string").fill_null("(none)")).distinct().order_by("value")


def _value(by: str) -> str:
    return f"value_{_column(by)}"


def _column(by: str) -> str:
    if by not in BY:
        raise ValueError(f"cannot credit by {by!r}; choose one of {', '.join(BY)}")
    return {"channel": "channel", "campaign": "campaign", "team": "team", "user": "person"}[by]


def _lead_creation(contacts: ir.Table, level: str) -> ir.Table:
    if level == "contact":
        return contacts.select(entity=contacts.id, lc_ts=contacts.created)
    grouped = contacts.filter(contacts.account_id.notnull())
    return grouped.group_by(entity=grouped.account_id).aggregate(lc_ts=grouped.created.min())


def month_of(seconds: ir.IntegerValue) -> ir.IntegerValue:
    """The UTC calendar month of a time in seconds, as year·100 + month, in integer arithmetic.

    Days to a civil date by the proleptic Gregorian rules (H. Hinnant's days→civil
    algorithm), so every engine gives the same month without its own time-zone functions.
    """
    z = seconds // DAY + 719_468
    era = z // 146_097
    doe = z - era * 146_097
    yoe = (doe - doe // 1_460 + doe // 36_524 - doe // 146_096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    month = ibis.ifelse(mp < 10, mp + 3, mp - 9)
    year = yoe + era * 400 + ibis.ifelse(month <= 2, 1, 0)
    return (year * 100 + month).cast("int64")
