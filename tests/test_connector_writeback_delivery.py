"""The job crm_write_back with a stand-in CRM: a write-back goes once, a conflict is kept and never
retried, a failing CRM is retried with backoff then given up, two workers send once, a refused
credential leaves the writes waiting, and the notify fan-out never touches these messages."""

from __future__ import annotations

import datetime as dt
import json
import threading
import time

from sqlalchemy import func, select
from typer.testing import CliRunner
from writeback_scene import MQL_AT, READ_AT, company, config_with, make_mql

from truce.cli import app
from truce.services import handoff
from truce.services.connectors import connections
from truce.services.connectors import sync as sync_module
from truce.services.connectors.errors import CredentialRevoked, CrmError
from truce.services.connectors.protocol import WriteResult
from truce.services.connectors.writeback import writes
from truce.services.connectors.writeback_jobs import deliver, run
from truce.store.models import CrmConnection, CrmWrite, Delivery, OutboxMessage, StoreRevision

REJECTED_AT = MQL_AT + dt.timedelta(hours=2)
NOW = dt.datetime(2026, 12, 7, 12, 0, tzinfo=dt.UTC)
RETRIES = "[notify.retries]\nmax_attempts = 3\nbackoff_seconds = 60\n"


class StandInCrm:
    """A CRM that records each write-back it is asked for and answers as told."""

    system = "hubspot"

    def __init__(self, answer=None, pause: float = 0.0):
        self.calls: list[tuple] = []
        self.answer = answer or (lambda: WriteResult("sent"))
        self.pause = pause
        self.closed = 0

    def write_back(self, object_name, crm_id, fields, read_at, context=None):
        self.calls.append((object_name, crm_id, dict(fields), read_at))
        time.sleep(self.pause)
        return self.answer()

    def close(self):
        self.closed += 1


def rejected(engine, monkeypatch, *switches, extra: str = ""):
    config = config_with(*(switches or ("handoff_status", "rejection_reason")), extra=extra)
    ids = company(engine, monkeypatch)
    make_mql(engine, config, ids["ann"])
    handoff.reject(engine, config, "ann@acme.example", "eva@seller.example", "no_budget", at=REJECTED_AT)
    return config, ids


def _write(engine):
    with engine.connect() as conn:
        return conn.execute(select(CrmWrite)).one()


def _revision(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(select(StoreRevision.revision)).scalar_one()


def test_a_rejection_reaches_the_crm_once_with_its_reason(engine, monkeypatch):
    config, _ = rejected(engine, monkeypatch)
    crm = StandInCrm()
    before = _revision(engine)
    counts = deliver(engine, config, NOW, connector_for=lambda connection: crm)
    assert counts["queued"] == 1 and counts["sent"] == 1
    assert crm.calls == [("contacts", "101", {"handoff_status": "rejected", "rejection_reason": "no_budget"}, READ_AT)]
    assert _write(engine).status == "sent" and _write(engine).attempts == 1
    assert _revision(engine) == before, "delivering a write-back is bookkeeping, not a data change"
    again = deliver(engine, config, NOW + dt.timedelta(days=1), connector_for=lambda connection: crm)
    assert again["queued"] == 0 and again["sent"] == 0 and len(crm.calls) == 1


def test_the_scheduled_job_opens_the_connections_own_connector(engine, monkeypatch):
    config, _ = rejected(engine, monkeypatch)
    crm = StandInCrm()
    opened = []
    monkeypatch.setattr(
        sync_module, "open_connector", lambda connection, cfg, eng: opened.append(connection.name) or crm
    )
    assert run(engine, config, NOW)["sent"] == 1
    assert opened == ["hubspot"] and crm.closed == 1


def test_writes_for_one_record_due_together_go_as_one_patch(engine, monkeypatch):
    config, ids = rejected(engine, monkeypatch, "handoff_status", "rejection_reason", "owner")
    crm = StandInCrm()
    deliver(engine, config, NOW, connector_for=lambda connection: crm)
    [(_, _, fields, read_at)] = crm.calls
    assert fields["handoff_status"] == "rejected" and fields["rejection_reason"] == "no_budget"
    assert fields["owner"] in {"eva@seller.example", "sam@seller.example"}
    assert read_at == READ_AT
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).where(CrmWrite.status == "sent")).scalar_one() == 2


def test_truces_own_earlier_write_is_not_taken_for_a_newer_edit(engine, monkeypatch):
    config = config_with("owner", "handoff_status")
    ids = company(engine, monkeypatch)
    make_mql(engine, config, ids["ann"])  # the owner is owed
    ours = dt.datetime(2026, 12, 7, 9, 0, 5, tzinfo=dt.UTC)
    first = StandInCrm(lambda: WriteResult("sent", crm_modified_at=ours))
    deliver(engine, config, NOW, connector_for=lambda connection: first)
    handoff.reject(engine, config, "ann@acme.example", "eva@seller.example", "no_budget", at=REJECTED_AT)
    second = StandInCrm()
    deliver(engine, config, NOW + dt.timedelta(minutes=1), connector_for=lambda connection: second)
    # The record last changed when truce wrote the owner; the sync has not read it since.
    assert [call[3] for call in second.calls] == [ours]


def test_a_conflict_is_kept_reported_and_never_retried(engine, monkeypatch):
    config, _ = rejected(engine, monkeypatch)
    crm = StandInCrm(lambda: WriteResult("conflict", "hs_lead_status was set to IN_PROGRESS at 2026-12-07T11:00:00Z"))
    assert deliver(engine, config, NOW, connector_for=lambda connection: crm)["conflict"] == 1
    for hours in (1, 24, 24 * 30):
        deliver(engine, config, NOW + dt.timedelta(hours=hours), connector_for=lambda connection: crm)
    assert len(crm.calls) == 1
    [listed] = writes(engine, "hubspot", status="conflict")
    assert listed["crm_id"] == "101" and "IN_PROGRESS" in listed["detail"]
    assert listed["fields"] == {"handoff_status": "rejected", "rejection_reason": "no_budget"}
    [entry] = connections.listing(engine)
    assert entry["writes"] == {"pending": 0, "conflict": 1, "dead": 0, "sent": 0}


def test_the_cli_lists_conflicts(engine, monkeypatch):
    config, _ = rejected(engine, monkeypatch)
    crm = StandInCrm(lambda: WriteResult("conflict", "changed in HubSpot after truce read it"))
    deliver(engine, config, NOW, connector_for=lambda connection: crm)
    url = engine.url.render_as_string(hide_password=False)
    result = CliRunner().invoke(
        app, ["connections", "writes", "hubspot", "--status", "conflict", "--db", url, "--json"]
    )
    assert result.exit_code == 0, result.output
    [listed] = json.loads(result.output)
    assert (listed["status"], listed["crm_id"], listed["fields"]["rejection_reason"]) == (
        "conflict",
        "101",
        "no_budget",
    )
    assert json.loads(CliRunner().invoke(app, ["connections", "writes", "hubspot", "--status", "sent", "--db", url,
                                               "--json"]).output) == []  # fmt: skip
    unknown = CliRunner().invoke(app, ["connections", "writes", "nowhere", "--db", url])
    assert unknown.exit_code == 2 and "no connection called 'nowhere'" in unknown.output
    [entry] = json.loads(CliRunner().invoke(app, ["connections", "--db", url, "--json"]).output)
    assert entry["writes"]["conflict"] == 1


def test_a_failing_crm_is_retried_with_backoff_then_given_up(engine, monkeypatch):
    config, _ = rejected(engine, monkeypatch, extra=RETRIES)

    def down():
        raise CrmError("HubSpot answered 500 Internal Server Error", status=500)

    crm = StandInCrm(down)
    send = lambda at: deliver(engine, config, at, connector_for=lambda connection: crm)  # noqa: E731
    assert send(NOW)["failed"] == 1
    # Attempt 1 failed at NOW: the next waits 60 s; attempt 2 then waits 120 s; attempt 3 is the last.
    assert (_write(engine).status, _write(engine).next_attempt_at) == ("failed", NOW + dt.timedelta(seconds=60))
    assert send(NOW + dt.timedelta(seconds=59))["failed"] == 0 and len(crm.calls) == 1
    assert send(NOW + dt.timedelta(seconds=60))["failed"] == 1
    assert _write(engine).next_attempt_at == NOW + dt.timedelta(seconds=180)
    assert send(NOW + dt.timedelta(seconds=179))["dead"] == 0
    assert send(NOW + dt.timedelta(seconds=180))["dead"] == 1
    write = _write(engine)
    assert (write.status, write.attempts, len(crm.calls)) == ("dead", 3, 3)
    assert "500" in write.last_error
    assert send(NOW + dt.timedelta(days=1))["dead"] == 0 and len(crm.calls) == 3
    assert connections.listing(engine)[0]["writes"]["dead"] == 1


def test_two_workers_at_once_send_once(engine, monkeypatch):
    config, _ = rejected(engine, monkeypatch)
    crm = StandInCrm(pause=0.3)
    start = threading.Barrier(2)
    errors = []

    def worker():
        try:
            start.wait()
            deliver(engine, config, NOW, connector_for=lambda connection: crm)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == [] and len(crm.calls) == 1
    assert _write(engine).status == "sent"


def test_a_refused_credential_leaves_the_writes_waiting_and_says_so_on_the_connection(engine, monkeypatch):
    config, _ = rejected(engine, monkeypatch)

    def revoked():
        raise CredentialRevoked("HubSpot refused the token (401): the private app was deleted")

    refused = StandInCrm(revoked)
    counts = deliver(engine, config, NOW, connector_for=lambda connection: refused)
    assert counts["waiting"] == 1 and counts["failed"] == 0
    write = _write(engine)
    assert (write.status, write.attempts) == ("pending", 0)
    with engine.connect() as conn:
        error = conn.execute(select(CrmConnection.last_error)).scalar_one()
    assert "private app was deleted" in error
    assert connections.listing(engine)[0]["writes"]["pending"] == 1
    fixed = StandInCrm()
    deliver(engine, config, NOW + dt.timedelta(minutes=1), connector_for=lambda connection: fixed)
    assert fixed.calls == [], "it rests before trying again"
    deliver(engine, config, NOW + dt.timedelta(minutes=15), connector_for=lambda connection: fixed)
    assert len(fixed.calls) == 1 and _write(engine).status == "sent"


def test_a_revoked_connections_writes_wait_until_it_is_connected_again(engine, monkeypatch):
    config, _ = rejected(engine, monkeypatch)
    connections.revoke(engine, "hubspot", "revops@x.example")
    crm = StandInCrm()
    deliver(engine, config, NOW, connector_for=lambda connection: crm)
    assert crm.calls == [] and _write(engine).status == "pending"
    connections.connect(
        engine, config, connections.Request("hubspot", secret_env="TEST_HUBSPOT_TOKEN"), "revops@x.example"
    )
    deliver(engine, config, NOW + dt.timedelta(minutes=1), connector_for=lambda connection: crm)
    assert len(crm.calls) == 1


def test_a_worker_that_died_mid_send_leaves_the_write_to_the_next_once_its_claim_ran_out(engine, monkeypatch):
    config, _ = rejected(engine, monkeypatch)
    from truce.services.connectors.writeback_jobs import claim, queue

    queue(engine, NOW)
    assert len(claim(engine, config, NOW)) == 1  # and then the worker vanished
    crm = StandInCrm()
    deliver(engine, config, NOW + dt.timedelta(seconds=299), connector_for=lambda connection: crm)
    assert crm.calls == []
    deliver(engine, config, NOW + dt.timedelta(seconds=300), connector_for=lambda connection: crm)
    assert len(crm.calls) == 1 and _write(engine).attempts == 2


def test_the_notify_fan_out_never_sends_write_backs_to_people_or_webhooks(engine, monkeypatch):
    from truce.services.notify.delivery import fan_out

    hook = '[[notify.webhooks]]\nname = "revops-slack"\nshape = "slack"\nurl = "http://127.0.0.1:9/hook"\n'
    config, _ = rejected(engine, monkeypatch, extra=hook)
    assert fan_out(engine, config, NOW) == 1  # the seller's lead_routed message; not the write-back
    assert fan_out(engine, config, NOW) == 0, "nor is the write-back looked at again every round"
    with engine.connect() as conn:
        fanned = conn.execute(
            select(OutboxMessage.kind, Delivery.channel).join(Delivery, Delivery.outbox_id == OutboxMessage.id)
        ).all()
    # Without the skip, the write-back (owed to no person) would have gone to the company's webhook.
    assert [tuple(row) for row in fanned] == [("lead_routed", "inbox")]


def test_write_backs_are_not_offered_as_a_notification_preference(engine, monkeypatch):
    from truce.services.notify.preferences import preferences

    rejected(engine, monkeypatch)
    shown = preferences(engine, config_with(), "eva@seller.example")
    assert "crm_write_back" not in {k["kind"] for k in shown["kinds"]}
