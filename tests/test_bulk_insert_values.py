"""Rows written in bulk (COPY of Arrow-written CSV on PostgreSQL, executemany on SQLite) read back
exactly as given: text with commas, quotes and line breaks, an empty text apart from a missing
one, money, dates, JSON, and times given in another zone."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from zoneinfo import ZoneInfo

from conftest import writing
from sqlalchemy import select

from truce.imports.upsert import insert_new
from truce.store.models import AuditEntry, Campaign

BERLIN = ZoneInfo("Europe/Berlin")
AWKWARD = 'Spring, "big" launch\nsecond line'


def test_bulk_inserted_values_read_back_as_given(engine):
    with writing(engine) as conn:
        campaign_ids = insert_new(
            conn,
            Campaign.__table__,
            {
                "external_id": ["c-1", "", None],
                "name": [AWKWARD, "Plain", "ÖKO Straße"],
                "channel": ["webinar", "email", "events"],
                "owning_team": ["marketing", "sales", "marketing"],
                "budget": [Decimal("1200.50"), None, Decimal("0")],
                "actual_cost": [Decimal("99.99"), Decimal("0.01"), None],
                "starts_on": [dt.date(2026, 2, 28), None, dt.date(2025, 12, 31)],
                "ends_on": [None, None, None],
                "owner_id": [None, None, None],
            },
        )
        audit_ids = insert_new(
            conn,
            AuditEntry.__table__,
            {
                "at": [dt.datetime(2026, 3, 29, 3, 30, tzinfo=BERLIN), dt.datetime(2026, 1, 1, tzinfo=dt.UTC)],
                "actor": ["ann@example.com", "import"],
                "action": ["import_update", "import_update"],
                "entity_type": ["campaign", "campaign"],
                "entity_id": [campaign_ids[0], None],
                "before": [{"name": 'a,"b"\nc'}, None],
                "after": [{"budget": "1200.50", "tags": [1, None]}, {}],
            },
        )

    with engine.connect() as conn:
        campaigns = conn.execute(
            select(Campaign.external_id, Campaign.name, Campaign.budget, Campaign.actual_cost, Campaign.starts_on)
            .where(Campaign.id.in_(campaign_ids))
            .order_by(Campaign.id)
        ).all()
        audit = conn.execute(
            select(AuditEntry.at, AuditEntry.entity_id, AuditEntry.before, AuditEntry.after)
            .where(AuditEntry.id.in_(audit_ids))
            .order_by(AuditEntry.id)
        ).all()
    assert [tuple(row) for row in campaigns] == [
        ("c-1", AWKWARD, Decimal("1200.50"), Decimal("99.99"), dt.date(2026, 2, 28)),
        ("", "Plain", None, Decimal("0.01"), None),
        (None, "ÖKO Straße", Decimal("0.00"), None, dt.date(2025, 12, 31)),
    ]
    # 03:30 in Berlin on the night summer time starts is 01:30 UTC.
    assert [tuple(row) for row in audit] == [
        (
            dt.datetime(2026, 3, 29, 1, 30, tzinfo=dt.UTC),
            campaign_ids[0],
            {"name": 'a,"b"\nc'},
            {"budget": "1200.50", "tags": [1, None]},
        ),
        (dt.datetime(2026, 1, 1, tzinfo=dt.UTC), None, None, {}),
    ]
