"""What each truce field holds, how a cell becomes its value, and which fields a table needs."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from truce.config import TruceConfig, value_key
from truce.imports import values as v
from truce.store.models import TEAMS, TOUCH_KINDS


@dataclass
class Reading:
    """How to read cells in this import: the company's zone and date order."""

    config: TruceConfig
    zone: ZoneInfo
    day_first: bool = False

    def __post_init__(self) -> None:
        funnel = self.config.funnel
        self._stages = {value_key(name): s.key for s in funnel.stages + funnel.exits for name in (s.key, s.label)}
        self._seen: dict[str, str] = {}  # a file repeats a handful of stage values a million times

    def stage(self, cell: str) -> str:
        """A funnel stage by key or label: "mql", "MQL", "Marketing qualified lead"."""
        known = self._seen.get(cell)
        if known is None:
            known = self._stages.get(value_key(cell))
            if known is None:
                stages = ", ".join(self.config.funnel.stage_keys)
                raise v.BadValue(f"unknown stage {cell.strip()!r}; known stages: {stages}")
            self._seen[cell] = known
        return known


def _one_of(allowed: tuple[str, ...], what: str) -> Callable[[str], str]:
    def parse(cell: str) -> str:
        value = cell.strip().lower()
        if value not in allowed:
            raise v.BadValue(f"unknown {what} {cell.strip()!r}; use one of {', '.join(allowed)}")
        return value

    return parse


def parsers(reading: Reading) -> dict[str, Callable[[str], Any]]:
    """Every truce field that is not plain text, and its parser.

    Stages are checked by the table's writer: a contact's stage is a funnel stage, an
    opportunity's is whatever deal stage the CRM uses.
    """
    zone, day_first = reading.zone, reading.day_first

    def when(cell: str):
        return v.timestamp(cell, zone, day_first)

    def day(cell: str):
        return v.date(cell, zone, day_first)

    return {
        "email": v.email,
        "contact_email": v.email,
        "primary_contact_email": v.email,
        "created_at": when,
        "occurred_at": when,
        "occurred_at_fallback": when,
        "changed_at": when,
        "starts_on": day,
        "ends_on": day,
        "close_date": day,
        "budget": v.money,
        "actual_cost": v.money,
        "amount": v.money,
        "list_amount": v.money,
        "discount_rate": v.rate,
        "employees": v.whole_number,
        "is_key_account": v.boolean,
        "is_leader": v.boolean,
        "active": v.boolean,
        "team": _one_of(TEAMS, "team"),
        "marketing_focus": _one_of(("upstream", "downstream"), "marketing focus"),
        "source_channel": v.channel,
        "channel": v.channel,
        "domain": v.domain,
        "account_domain": v.domain,
        "owning_team": _one_of(TEAMS, "team"),
        "team_before": _one_of(TEAMS, "team"),
        "team_after": _one_of(TEAMS, "team"),
        "kind": _one_of(TOUCH_KINDS, "touch kind"),
        "entity_type": _one_of(("contact", "opportunity"), "entity type"),
        "status": _one_of(("open", "won", "lost"), "status"),
        "currency": lambda cell: cell.strip().upper(),
    }


# A row must carry one field from each group (several names can satisfy a need).
REQUIRED: dict[str, list[tuple[str, ...]]] = {
    "users": [("email",), ("team",)],
    "accounts": [("name",)],
    "contacts": [("email",)],
    "campaigns": [("name",), ("channel",)],
    "touchpoints": [
        ("external_id",),
        ("contact_email", "contact_external_id"),
        ("channel", "campaign_external_id"),
        ("occurred_at", "occurred_at_fallback"),
    ],
    "opportunities": [("external_id",), ("amount",), ("stage", "status")],
    "stage_changes": [
        ("external_id",),
        ("contact_email", "contact_external_id", "opportunity_external_id"),
        ("to_stage",),
        ("changed_at",),
    ],
}

# The stage a HubSpot contact export alone can tell us is its lifecycle stage, and a
# Salesforce lead export's is its lead status; both go through truce.toml's mapping.
MAPPED_STAGE_FIELDS = {"hubspot": ("lifecycle_stage", "lifecycle_stage"), "salesforce": ("lead_status", "lead_status")}
