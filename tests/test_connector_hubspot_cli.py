"""`truce connect hubspot`, `truce sync hubspot` and `truce connections` against the fake HubSpot,
as a RevOps lead runs them, with the audit trail they leave.

Documented fields relied on: as in test_connector_hubspot_sync (search `results`/`paging.next.after`,
owners, pipelines, v4 associations, `propertiesWithHistory`).
"""

from __future__ import annotations

import json

from sqlalchemy import select
from typer.testing import CliRunner

from tests.fakes.hubspot import FakeHubSpot, running, small_crm
from truce.cli import app
from truce.config import default_text
from truce.store import db
from truce.store.models import AuditEntry

runner = CliRunner()
TEAMS = '\n[connectors.hubspot]\ndefault_team = "marketing"\n[connectors.hubspot.teams]\n"ann@acme.example" = "sales"\n'


def test_it_connects_syncs_and_lists_the_connection_with_its_audit_entries(database_url, tmp_path, monkeypatch):
    config = tmp_path / "truce.toml"
    config.write_text(default_text() + TEAMS)
    monkeypatch.setenv("HUBSPOT_TOKEN", "pat-na1-test-token")
    crm = FakeHubSpot(records=small_crm())
    with running(crm) as url:
        made = runner.invoke(app, ["connect", "hubspot", "--base-url", url, "--token-env", "HUBSPOT_TOKEN",
                                   "--db", database_url, "--config", str(config), "--as", "revops@acme.example", "--json"])  # fmt: skip
        assert made.exit_code == 0, made.output
        synced = runner.invoke(app, ["sync", "hubspot", "--db", database_url, "--config", str(config), "--json"])
        assert synced.exit_code == 0, synced.output
    report = json.loads(synced.output)
    # Hand count from small_crm(): 2 owners, 2 companies, 2 contacts, 2 deals, 5 touches go in; 2 rejects.
    assert report["status"] == "ok"
    assert {name: counts["inserted"] for name, counts in report["objects"].items()} == {
        "owners": 2, "companies": 2, "contacts": 2, "deals": 2, "emails": 2, "calls": 1, "meetings": 1, "notes": 1,
    }  # fmt: skip
    assert report["reject_count"] == 2 and report["totals"]["handoffs_opened"] == 1
    listed = runner.invoke(app, ["connections", "--db", database_url, "--json"])
    assert listed.exit_code == 0, listed.output
    (connection,) = json.loads(listed.output)
    assert connection["base_url"] == url and connection["secret"] == "environment variable HUBSPOT_TOKEN"
    assert connection["last_run"]["status"] == "ok" and connection["open_rejects"] == 2
    cursors = {c["object"]: c["cursor"] for c in connection["cursors"]}
    assert cursors["contacts"] == "2026-11-03T09:00:00.000Z|" and cursors["notes"] == "2026-11-04T13:00:00.000Z|"
    assert "pat-na1-test-token" not in made.output + synced.output + listed.output
    engine = db.connect(database_url)
    with engine.connect() as conn:
        actions = conn.execute(select(AuditEntry.action, AuditEntry.actor)).all()
    engine.dispose()
    assert ("crm_connect", "revops@acme.example") in actions
    pages = [a for a in actions if a.action == "crm_sync_page"]
    assert len(pages) == 8, "one entry per page written: one page for each of the 8 objects"


def test_a_sync_of_a_connection_that_does_not_exist_is_a_usage_error(database_url):
    result = runner.invoke(app, ["sync", "hubspot", "--db", database_url])
    assert result.exit_code == 2 and "no connection called 'hubspot'" in result.output
