"""What truce decided, in HubSpot's properties and values; and the check that nothing newer is overwritten.

The write-back service passes truce's field names and values (handoff_status "rejected",
rejection_reason "no_budget", owner "ann@acme.example", …). Here they become HubSpot
properties (`hs_lead_status` UNQUALIFIED, `truce_rejection_reason`, `hubspot_owner_id` 123…),
each renamable in `[connectors.hubspot.write_back] fields`. HubSpot has no conditional update,
so before writing, the properties' history is read: a value set after truce read the record
wins, and the write is reported as a conflict instead.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Engine, func, select

from truce.config import TruceConfig, value_key
from truce.store.models import User

# truce field → HubSpot property, unless [connectors.hubspot.write_back] fields names another.
PROPERTIES = {
    "handoff_status": "hs_lead_status",
    "rejection_reason": "truce_rejection_reason",
    "lifecycle_stage": "lifecyclestage",
    "owner": "hubspot_owner_id",
    "mql_score": "truce_mql_score",
    "score_link": "truce_score_link",
    "sla_breach": "truce_sla_breach",
}
# A handoff's status as HubSpot's lead status: what sales is doing with the lead now.
LEAD_STATUS = {"open": "OPEN", "accepted": "IN_PROGRESS", "rejected": "UNQUALIFIED", "expired": "BAD_TIMING"}


class WriteBackProblem(ValueError):
    """A truce value with no HubSpot counterpart; the message names the field."""


def property_names(config: TruceConfig) -> dict[str, str]:
    return PROPERTIES | dict(config.connectors.hubspot.write_back.fields)


def hubspot_values(
    config: TruceConfig, engine: Engine | None, fields: dict[str, str | None], owner_lookup=None
) -> dict[str, str]:
    """{HubSpot property: value} for truce's {field: value}. None clears a property (empty string).
    `owner_lookup(email)` finds a HubSpot owner id the store does not know (the owners API)."""
    names = property_names(config)
    properties = {}
    for field, value in fields.items():
        if field not in names:
            raise WriteBackProblem(f"{field}: truce writes back only {', '.join(PROPERTIES)}")
        properties[names[field]] = "" if value is None else _value(config, engine, field, str(value), owner_lookup)
    return properties


def _value(config: TruceConfig, engine, field: str, value: str, owner_lookup) -> str:
    if field == "handoff_status":
        if value.isupper():
            return value  # already one of HubSpot's lead statuses
        if value not in LEAD_STATUS:
            raise WriteBackProblem(f"handoff_status: {value!r} is not one of {', '.join(LEAD_STATUS)}")
        return LEAD_STATUS[value]
    if field == "lifecycle_stage":
        return lifecycle_value(config, value)
    if field == "owner":
        return owner_id(engine, value, owner_lookup)
    if field == "sla_breach":
        return "true" if value.strip().lower() in ("true", "1", "yes", "breached") else "false"
    return value


def lifecycle_value(config: TruceConfig, stage: str) -> str:
    """The HubSpot lifecycle stage for a truce stage: the first value [mapping.hubspot.lifecycle_stage]
    maps to it. A HubSpot value given as is passes through."""
    table = config.mapping.hubspot.get("lifecycle_stage", {})
    if value_key(stage) in {value_key(k) for k in table}:
        return stage
    for hubspot_value, truce_stage in table.items():
        if truce_stage == stage:
            return hubspot_value
    raise WriteBackProblem(
        f"lifecycle_stage: no HubSpot lifecycle stage maps to truce's {stage!r}; add one to [mapping.hubspot.lifecycle_stage]"
    )


def owner_id(engine: Engine | None, owner: str, owner_lookup=None) -> str:
    """A truce user (email) → their HubSpot owner id: the external id the owners sync gave them,
    else HubSpot's own answer for that email. An id given as is passes through."""
    if owner.isdigit():
        return owner
    if engine is not None:
        with engine.connect() as conn:
            found = conn.execute(
                select(User.external_id).where(func.lower(User.email) == owner.strip().lower())
            ).scalar_one_or_none()
        if found and found.isdigit():
            return found
    if owner_lookup is not None:
        listed = owner_lookup(owner.strip().lower())
        if listed:
            return str(listed["id"])
    raise WriteBackProblem(f"owner: {owner!r} is not a HubSpot owner (sync owners, or add the user in HubSpot)")


def newer_change(record: dict, properties: dict[str, str], read_at: dt.datetime) -> str | None:
    """Why the write must not go ahead: a property set in HubSpot after `read_at` to another value
    than truce would write. None when nothing newer is there."""
    history = record.get("propertiesWithHistory") or {}
    for name, wanted in properties.items():
        entries = sorted(history.get(name) or [], key=lambda e: e.get("timestamp") or "", reverse=True)
        if not entries:
            continue
        latest = entries[0]
        when = _moment(latest.get("timestamp"))
        if when is not None and when > read_at and (latest.get("value") or "") != wanted:
            return (
                f"{name} was set to {latest.get('value')!r} in HubSpot at {when.isoformat()}, "
                f"after truce read the record at {read_at.isoformat()}; HubSpot's value stands"
            )
    return None


def _moment(value) -> dt.datetime | None:
    if not value:
        return None
    text = str(value)
    if text.isdigit():
        return dt.datetime.fromtimestamp(int(text) / 1000, dt.UTC)
    moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)
