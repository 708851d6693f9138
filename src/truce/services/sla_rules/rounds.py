"""One round of the SLA rules: what the `sla_sweep` job and `truce sla sweep` run."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Engine

from truce.config import TruceConfig
from truce.services import sla
from truce.services.sla_rules import due_soon, escalation


def run_round(engine: Engine, config: TruceConfig, now: dt.datetime, actor: str = "cli", origin: str = "cli") -> dict:
    """Breaches first (they judge the deadlines), then escalation, then reminders (re-routed leads
    included); counts, and the breaches as `truce sla sweep --json` lists them.

    Each step commits its own units of work, each audited and owing its messages with its change.
    """
    breaches = sla.sweep(engine, config, now, actor=actor, origin=origin)
    escalated = escalation.escalate(engine, config, now, actor=actor, origin=origin)
    reminders = due_soon.remind(engine, config, now, actor=actor, origin=origin)
    return {"breaches_recorded": len(breaches), "breaches": breaches, "reminders_owed": reminders, **escalated}
