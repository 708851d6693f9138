"""The connectors' scheduled work: pull every active connection (crm_sync)."""

from __future__ import annotations

import datetime as dt
import logging

from sqlalchemy import Engine

from truce.config import TruceConfig
from truce.services.jobs.registry import job

ACTOR = "job:crm_sync"
log = logging.getLogger(__name__)


@job("crm_sync", every="15m", help="Pull what changed in each connected CRM (HubSpot, Salesforce) since its last sync")
def crm_sync(engine: Engine, config: TruceConfig, now: dt.datetime) -> dict[str, int]:
    from truce.services.connectors import connections
    from truce.services.connectors.errors import CrmError, SyncRefused
    from truce.services.connectors.secrets import SecretUnavailable
    from truce.services.connectors.sync import sync

    counts = {"connections": 0, "records": 0, "rejected": 0, "failed": 0}
    for connection in connections.active(engine):
        counts["connections"] += 1
        try:
            report = sync(engine, config, connection.name, actor=ACTOR, origin="job")
        except (CrmError, SyncRefused, SecretUnavailable) as exc:
            # One CRM down must not keep the other from syncing; the run and the connection keep the error.
            log.warning("crm_sync: %s: %s", connection.name, exc)
            counts["failed"] += 1
            continue
        totals = report.totals()
        counts["records"] += totals["read"]
        counts["rejected"] += totals["rejected"]
    return counts
