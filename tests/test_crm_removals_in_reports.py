"""Records deleted or merged away in the CRM leave the reports; their history stays in the store.

The store: five HubSpot contacts brought in by a sync — a@ (MQL), b@ (MQL), c@ (MQL), d@ and
e@ (leads, so inquiry) — and three won deals (list 1,000 / 2,000 / 4,000, sold for 900 / 1,600 /
2,000). Then a second sync reports b@ deleted, c@ merged into a@, and the third deal deleted.

Worked by hand, without them:
- funnel snapshot: inquiry 2 (d@, e@), mql 1 (a@) — before the removal: inquiry 2, mql 3;
  entered: inquiry 3, mql 1 — before: inquiry 5, mql 3;
- handoff queue: a@ only — before: a@, b@, c@;
- pricing totals: 2 won deals, list 3,000, realised 2,500, given away 500 — before: 3, 7,000, 4,500.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from conftest import writing
from sqlalchemy import func, insert, select

from truce.services.connectors import connections
from truce.services.connectors.protocol import CrmObject, Page, WriteResult
from truce.services.connectors.sync import sync
from truce.services.funnel import funnel_report
from truce.services.handoff import queue
from truce.services.pricing import pricing_report
from truce.store.models import AuditEntry, Contact, Opportunity, StageChange
from truce.store.revision import data_revision

CONTACTS = CrmObject("contacts", "contacts", "hubspot")
DEALS = CrmObject("deals", "opportunities", "hubspot")
NOW = dt.datetime(2026, 12, 3, 12, tzinfo=dt.UTC)


def person(crm_id: str, email: str, stage: str) -> dict:
    """A contact as the connector gives it, with HubSpot's dated lifecycle history (ledger moves)."""
    dated = {"Became a Lead Date": "2026-11-02T09:00:00Z"}
    if stage == "marketingqualifiedlead":
        dated["Became a Marketing Qualified Lead Date"] = "2026-11-05T09:00:00Z"
    return {"external_id": crm_id, "email": email, "first_name": "Pat", "last_name": crm_id,
            "lifecycle_stage": stage, "created_at": "2026-11-02T09:00:00Z", **dated}  # fmt: skip


class Crm:
    """Contacts in one page; then, when told, the deletions and the merge as the CRM reports them."""

    system = "hubspot"

    def __init__(self, removed: bool = False):
        self.removed = removed

    def objects(self):
        return [CONTACTS, DEALS]

    def pages(self, obj, cursor, position, full):
        if obj.name == "contacts" and not self.removed:
            rows = [person("1", "a@acme.example", "marketingqualifiedlead"), person("2", "b@acme.example", "marketingqualifiedlead"),
                    person("3", "c@acme.example", "marketingqualifiedlead"), person("4", "d@acme.example", "lead"),
                    person("5", "e@acme.example", "lead")]  # fmt: skip
            yield Page(rows={"contacts": rows}, cursor="2026-12-01T00:00:00Z")
        elif obj.name == "contacts":
            yield Page(deleted=["2"], merged=[("3", "1")], cursor="2026-12-02T00:00:00Z")
        elif self.removed:
            yield Page(deleted=["d3"], cursor="2026-12-02T00:00:00Z")

    def fetch(self, obj, crm_ids):
        return Page()

    def write_back(self, object_name, crm_id, fields, read_at, context=None):
        return WriteResult("skipped")

    def close(self):
        pass


@pytest.fixture
def store(engine, default_config, monkeypatch):
    monkeypatch.setenv("HS_TOKEN", "pat-x")
    connections.connect(
        engine, default_config, connections.Request("hubspot", secret_env="HS_TOKEN"), actor="ria@yourco.example"
    )
    sync(engine, default_config, "hubspot", connector=Crm())
    created = dt.datetime(2026, 11, 10, tzinfo=dt.UTC)
    with writing(engine) as conn:
        for crm_id, listed, sold in (("d1", 1000, 900), ("d2", 2000, 1600), ("d3", 4000, 2000)):
            conn.execute(insert(Opportunity), {
                "name": crm_id, "hubspot_id": crm_id, "amount": Decimal(sold), "list_amount": Decimal(listed),
                "stage": "closedwon", "status": "won", "created_at": created, "close_date": dt.date(2026, 11, 30),
                "updated_at": created})  # fmt: skip
    return engine


def snapshot(engine, config) -> dict[str, int]:
    report = funnel_report(engine, config)
    return {row["stage"]: row["count"] for row in report["volume"]["snapshot"] if row["count"]}


def entered(engine, config) -> dict[str, int]:
    return {row["stage"]: row["entered"] for row in funnel_report(engine, config)["volume"]["total"]}


def remove(engine, config) -> None:
    report = sync(engine, config, "hubspot", connector=Crm(removed=True))
    assert (report.totals()["deleted"], report.totals()["merged"]) == (2, 1)


def test_the_funnel_counts_leave_out_deleted_and_merged_contacts(store, default_config):
    assert snapshot(store, default_config) == {"inquiry": 2, "mql": 3}
    assert entered(store, default_config) == {"inquiry": 5, "mql": 3}
    remove(store, default_config)
    assert snapshot(store, default_config) == {"inquiry": 2, "mql": 1}
    assert entered(store, default_config) == {"inquiry": 3, "mql": 1}, (
        "their moves stay in the store, not in the counts"
    )


def test_the_handoff_queue_leaves_them_out(store, default_config):
    assert sorted(h["email"] for h in queue(store, default_config, NOW)) == [
        "a@acme.example",
        "b@acme.example",
        "c@acme.example",
    ]
    remove(store, default_config)
    assert [h["email"] for h in queue(store, default_config, NOW)] == ["a@acme.example"]


def test_a_reports_totals_leave_out_a_deal_deleted_in_the_crm(store, default_config):
    before = pricing_report(store, default_config)["totals"]
    assert (before["deals"], before["list_total"], before["realised_total"]) == (3, 7000.0, 4500.0)
    remove(store, default_config)
    after = pricing_report(store, default_config)["totals"]
    assert (after["deals"], after["list_total"], after["realised_total"], after["given_away"]) == (
        2,
        3000.0,
        2500.0,
        500.0,
    )


def test_the_removal_moves_the_data_revision_so_cached_reports_are_computed_again(store, default_config):
    snapshot(store, default_config)  # remembered at this revision (truce.analytics.store_read)
    revision = data_revision(store)
    remove(store, default_config)
    assert data_revision(store) > revision
    assert snapshot(store, default_config)["mql"] == 1, "not the answer remembered before the removal"


def test_their_ledger_and_audit_entries_stay_in_the_store(store, default_config):
    with store.connect() as conn:
        moves_before = conn.execute(select(func.count()).select_from(StageChange)).scalar_one()
    remove(store, default_config)
    with store.connect() as conn:
        assert conn.execute(select(func.count()).select_from(StageChange)).scalar_one() == moves_before
        assert conn.execute(select(func.count()).select_from(Contact)).scalar_one() == 5
        assert conn.execute(select(func.count()).select_from(Opportunity)).scalar_one() == 3
        actions = (
            conn.execute(select(AuditEntry.action).where(AuditEntry.action.in_(("crm_deleted", "crm_merged"))))
            .scalars()
            .all()
        )
    assert sorted(actions) == ["crm_deleted", "crm_deleted", "crm_merged"]
