"""The connector core with a stand-in connector: pages go through the importer with their cursor,
rejects are kept by CRM id and asked for again, a crash between pages resumes without gap or
duplicate, deletions and merges are marked not erased, and secrets never leave."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from sqlalchemy import func, select

from truce.services.connectors import connections
from truce.services.connectors.errors import SyncRefused
from truce.services.connectors.protocol import CrmObject, Page, WriteResult
from truce.services.connectors.sync import sync
from truce.store.models import (
    AuditEntry,
    Contact,
    CrmConnection,
    CrmSyncCursor,
    CrmSyncReject,
    Handoff,
    StageChange,
    Touchpoint,
)

CONTACTS = CrmObject("contacts", "contacts", "hubspot")
TOUCHES = CrmObject("emails", "touchpoints", "hubspot", id_prefix="hs-email-")


def person(crm_id: str, email: str, stage: str = "lead", modified: str = "2026-12-01T10:00:00Z", **more) -> dict:
    return {"external_id": crm_id, "email": email, "first_name": "Ann", "last_name": crm_id,
            "lifecycle_stage": stage, "created_at": "2026-11-01T09:00:00Z", **more}  # fmt: skip


class StandIn:
    """A connector whose CRM is a dict: records with a modified time, served oldest first in pages."""

    system = "hubspot"

    def __init__(self, records: list[dict], page_size: int = 2, fail_after_pages: int | None = None):
        self.records, self.page_size, self.fail_after_pages = records, page_size, fail_after_pages
        self.deleted: list[str] = []
        self.merged: list[tuple[str, str]] = []
        self.served = 0

    def objects(self):
        return [CONTACTS]

    def pages(self, obj, cursor, position, full):
        changed = [r for r in self.records if cursor is None or r["_modified"] > cursor]
        changed.sort(key=lambda r: r["_modified"])
        for start in range(0, len(changed), self.page_size):
            if self.fail_after_pages is not None and self.served >= self.fail_after_pages:
                raise RuntimeError("the process died here")
            chunk = changed[start : start + self.page_size]
            self.served += 1
            yield Page(
                rows={"contacts": [{k: v for k, v in r.items() if not k.startswith("_")} for r in chunk]},
                cursor=chunk[-1]["_modified"],
                seen=[r["external_id"] for r in chunk],
            )
        if self.deleted or self.merged:
            yield Page(deleted=list(self.deleted), merged=list(self.merged), cursor=None)

    def fetch(self, obj, crm_ids):
        found = [r for r in self.records if r["external_id"] in crm_ids]
        return Page(rows={"contacts": [{k: v for k, v in r.items() if not k.startswith("_")} for r in found]})

    def write_back(self, object_name, crm_id, fields, read_at, context=None):
        return WriteResult("sent")

    def close(self):
        pass


def record(crm_id, email, modified, **more):
    return {**person(crm_id, email, **more), "_modified": modified}


@pytest.fixture
def connected(engine, default_config, monkeypatch):
    monkeypatch.setenv("TEST_HUBSPOT_TOKEN", "pat-secret-value-123")
    connections.connect(
        engine, default_config, connections.Request("hubspot", secret_env="TEST_HUBSPOT_TOKEN"), actor="revops@x.example"
    )
    return engine


def _contacts(engine):
    with engine.connect() as conn:
        return {r.hubspot_id: r for r in conn.execute(select(Contact))}


def test_pages_go_in_with_their_cursor_and_a_second_sync_changes_nothing(connected, default_config):
    crm = StandIn([record(str(i), f"p{i}@acme.example", f"2026-12-01T10:00:0{i}Z") for i in range(5)])
    report = sync(connected, default_config, "hubspot", connector=crm)
    assert report.totals()["inserted"] == 5 and report.totals()["pages"] == 3
    with connected.connect() as conn:
        cursor = conn.execute(select(CrmSyncCursor.cursor, CrmSyncCursor.records)).one()
    assert cursor == ("2026-12-01T10:00:04Z", 5)
    again = sync(connected, default_config, "hubspot", connector=StandIn(crm.records))
    assert again.totals()["read"] == 0 and len(_contacts(connected)) == 5


def test_a_sync_killed_between_pages_resumes_without_gap_or_duplicate(connected, default_config, monkeypatch):
    monkeypatch.setattr("truce.services.connectors.sync.ROWS_PER_COMMIT", 2)  # each page its own unit of work
    records = [record(str(i), f"p{i}@acme.example", f"2026-12-01T10:00:0{i}Z") for i in range(7)]
    with pytest.raises(RuntimeError, match="died"):
        sync(connected, default_config, "hubspot", connector=StandIn(records, fail_after_pages=2))
    assert sorted(_contacts(connected)) == ["0", "1", "2", "3"]  # two whole pages, nothing of the third
    with connected.connect() as conn:
        assert conn.execute(select(CrmSyncCursor.cursor)).scalar_one() == "2026-12-01T10:00:03Z"
    resumed = StandIn(records)
    report = sync(connected, default_config, "hubspot", connector=resumed)
    assert report.totals()["read"] == 3, "only what the first run had not written is read again"
    assert sorted(_contacts(connected)) == [str(i) for i in range(7)]


def test_a_bad_record_is_a_reject_by_crm_id_and_the_rest_go_in(connected, default_config):
    records = [
        record("1", "good@acme.example", "2026-12-01T10:00:01Z"),
        record("2", "not-an-email", "2026-12-01T10:00:02Z"),
        record("3", "also.good@acme.example", "2026-12-01T10:00:03Z"),
    ]
    report = sync(connected, default_config, "hubspot", connector=StandIn(records, page_size=10))
    assert sorted(_contacts(connected)) == ["1", "3"]
    assert [(r["crm_id"], "not an email address" in r["reason"]) for r in report.rejects] == [("2", True)]
    # Fixed in the CRM later: the next sync asks for it again although the cursor is past it.
    records[1]["email"] = "fixed@acme.example"
    sync(connected, default_config, "hubspot", connector=StandIn(records, page_size=10))
    assert sorted(_contacts(connected)) == ["1", "2", "3"]
    with connected.connect() as conn:
        assert conn.execute(select(func.count()).where(CrmSyncReject.resolved_at.is_(None))).scalar_one() == 0


def test_deleted_and_merged_records_are_marked_and_keep_their_ledger(connected, default_config):
    records = [record(str(i), f"p{i}@acme.example", f"2026-12-01T10:00:0{i}Z") for i in range(3)]
    sync(connected, default_config, "hubspot", connector=StandIn(records, page_size=10))
    contacts = _contacts(connected)
    from tests.conftest import writing

    with writing(connected) as conn:
        conn.execute(Touchpoint.__table__.insert(), {"contact_id": contacts["1"].id, "channel": "email", "kind": "marketing",
                     "touch_type": "email_open", "occurred_at": dt.datetime(2026, 11, 5, tzinfo=dt.UTC)})  # fmt: skip
    crm = StandIn(records, page_size=10)
    crm.deleted, crm.merged = ["2"], [("1", "0")]
    report = sync(connected, default_config, "hubspot", connector=crm)
    assert report.totals()["deleted"] == 1 and report.totals()["merged"] == 1
    after = _contacts(connected)
    assert after["2"].deleted_at is not None and after["2"].merged_into_id is None
    assert after["1"].deleted_at is not None and after["1"].merged_into_id == after["0"].id
    with connected.connect() as conn:
        owner = conn.execute(select(Touchpoint.contact_id)).scalar_one()
    assert owner == after["0"].id, "the merged-away person's touches follow them to the survivor"
    again = sync(connected, default_config, "hubspot", connector=crm)
    assert again.totals()["merged"] == 0 and again.totals()["deleted"] == 0


def test_an_mql_made_in_the_crm_enters_the_queue_within_the_sync(connected, default_config):
    records = [record("1", "p1@acme.example", "2026-12-01T10:00:01Z", stage="lead")]
    sync(connected, default_config, "hubspot", connector=StandIn(records))
    records[0].update(lifecycle_stage="marketingqualifiedlead", _modified="2026-12-02T10:00:00Z")
    report = sync(connected, default_config, "hubspot", connector=StandIn(records))
    assert report.totals()["handoffs_opened"] == 1
    with connected.connect() as conn:
        handoffs = conn.execute(select(Handoff.status)).scalars().all()
        moves = conn.execute(select(StageChange.to_stage)).scalars().all()
    assert handoffs == ["open"] and "mql" in moves


def test_a_revoked_connection_does_not_sync_and_its_sealed_secret_is_gone(engine, default_config, monkeypatch, tmp_path):
    monkeypatch.setenv("TRUCE_SECRET_KEY_FILE", str(tmp_path / "key"))
    made = connections.connect(engine, default_config, connections.Request("hubspot", secret="pat-sealed-999"), actor="x")
    assert made.secret() == "pat-sealed-999"
    assert (tmp_path / "key").stat().st_mode & 0o077 == 0
    connections.revoke(engine, "hubspot", actor="x")
    with pytest.raises(SyncRefused, match="revoked"):
        sync(engine, default_config, "hubspot", connector=StandIn([]))
    assert connections.get(engine, "hubspot").secret() is None


def test_secrets_never_reach_the_listing_or_the_audit_trail(engine, default_config, monkeypatch, tmp_path):
    monkeypatch.setenv("TRUCE_SECRET_KEY_FILE", str(tmp_path / "key"))
    monkeypatch.setenv("SF_SECRET", "sf-client-secret-xyz")
    connections.connect(engine, default_config, connections.Request("hubspot", secret="pat-sealed-999"), actor="x")
    connections.connect(
        engine, default_config,
        connections.Request("salesforce", base_url="http://127.0.0.1:9", settings={"client_id": "cid"}, secret_env="SF_SECRET"),
        actor="x",
    )  # fmt: skip
    listing = json.dumps(connections.listing(engine), default=str)
    with engine.connect() as conn:
        trail = json.dumps([dict(r._mapping) for r in conn.execute(select(AuditEntry))], default=str)
        sealed = conn.execute(select(func.max(CrmConnection.secret_sealed))).scalar_one()
    for text in (listing, trail):
        assert "pat-sealed-999" not in text and "sf-client-secret-xyz" not in text
        assert sealed not in text
    assert "environment variable SF_SECRET" in listing and "sealed in the store" in listing


def test_connect_refuses_what_cannot_work(engine, default_config):
    with pytest.raises(connections.ConnectionProblem, match="instance URL"):
        connections.connect(engine, default_config, connections.Request("salesforce", settings={"client_id": "c"}, secret="s"), actor="x")
    with pytest.raises(connections.ConnectionProblem, match="--client-id"):
        connections.connect(engine, default_config, connections.Request("salesforce", base_url="https://a.example", secret="s"), actor="x")
    with pytest.raises(connections.ConnectionProblem, match="--token-env"):
        connections.connect(engine, default_config, connections.Request("hubspot"), actor="x")


def test_pulling_named_records_writes_them_and_leaves_the_cursor(connected, default_config):
    from truce.services.connectors.sync import pull_records

    records = [record("1", "p1@acme.example", "2026-12-01T10:00:01Z", stage="marketingqualifiedlead")]
    report = pull_records(connected, default_config, "hubspot", "contacts", ["1"], connector=StandIn(records))
    assert report.totals()["inserted"] == 1 and report.totals()["handoffs_opened"] == 1
    with connected.connect() as conn:
        assert conn.execute(select(func.count()).select_from(CrmSyncCursor)).scalar_one() == 0
        assert conn.execute(select(AuditEntry.action).where(AuditEntry.action == "crm_pull")).scalar_one()


def test_pages_held_together_keep_the_latest_version_of_a_record_listed_twice(connected, default_config):
    first = record("1", "p1@acme.example", "2026-12-01T10:00:01Z", title="Buyer")
    again = {**first, "title": "Head of buying", "_modified": "2026-12-01T10:00:05Z"}
    report = sync(connected, default_config, "hubspot", connector=StandIn([first, record("2", "p2@acme.example",
                  "2026-12-01T10:00:02Z"), again], page_size=2))  # fmt: skip
    assert report.totals()["rejected"] == 0
    assert _contacts(connected)["1"].title == "Head of buying"
