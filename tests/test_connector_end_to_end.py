"""Issue 13 end to end: the real HubSpot and Salesforce connectors against the fake CRMs on
127.0.0.1, through the real job (`crm_write_back`, run by the scheduler under its lease), the
real webhook routes and the real `truce` commands — no stand-in anywhere.

A sync killed between pages: HubSpot's is in tests/test_connector_hubspot_sync.py (the fake's
`break_after`, 350 contacts with two dated stages each, ledger row by row) and is not repeated.
Salesforce's there is killed inside the connector, over a small org whose ledger has one row; the
one here is killed by the org itself (its `break_after`) across leads whose Status history makes
the ledger, and checks every lead, move and handoff.

Vendor facts relied on are named in each test's docstring; the fakes serve them as the vendors'
references describe (tests/fakes/hubspot.py, tests/fakes/salesforce.py).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import time

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from typer.testing import CliRunner

from tests.fakes.hubspot import TOKEN_ENV, FakeHubSpot, running, small_crm
from tests.fakes.salesforce import TOML, FakeSalesforce, serving, small_org
from truce import config as truce_config
from truce.cli import app as cli
from truce.services import handoff
from truce.services.connectors import connections
from truce.services.connectors.errors import CrmError
from truce.services.connectors.sync import sync
from truce.services.jobs import scheduler
from truce.store.models import Contact, CrmWrite, Handoff, StageChange
from truce.store.revision import data_revision
from truce.web.app import create_app

UTC = dt.UTC
runner = CliRunner()
HUBSPOT_TEAMS = (
    '\n[connectors.hubspot]\ndefault_team = "marketing"\n[connectors.hubspot.teams]\n"ann@acme.example" = "sales"\n'
)
WRITE_BACK = "handoff_status = true\nrejection_reason = true\n"
HOOK_SECRET = "hubspot-app-client-secret-e2e"
SF_KEY = "salesforce-outbound-key-e2e"
PORTAL = "62515"


def hubspot_toml() -> str:
    return truce_config.default_text() + HUBSPOT_TEAMS + "[connectors.hubspot.write_back]\n" + WRITE_BACK


def salesforce_toml() -> str:
    return TOML + "[connectors.salesforce.write_back]\n" + WRITE_BACK


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=UTC)


def aware(moment: dt.datetime | None) -> dt.datetime | None:
    return moment if moment is None or moment.tzinfo else moment.replace(tzinfo=UTC)


# ---- the two CRMs and truce connected to them ---------------------------------------------------


@pytest.fixture
def hub():
    crm = FakeHubSpot(records=small_crm())
    with running(crm) as url:
        crm.url = url
        yield crm


@pytest.fixture
def hubspot(engine, hub, monkeypatch):
    """truce connected to the fake HubSpot (webhooks signed with HOOK_SECRET, portal 62515); its config."""
    config = truce_config.parse(hubspot_toml(), "truce.toml")
    monkeypatch.setenv(TOKEN_ENV, hub.token)
    monkeypatch.setenv("HUBSPOT_CLIENT_SECRET", HOOK_SECRET)
    request = connections.Request("hubspot", base_url=hub.url, secret_env=TOKEN_ENV,
                                  webhook_secret_env="HUBSPOT_CLIENT_SECRET", settings={"portal_id": PORTAL})  # fmt: skip
    connections.connect(engine, config, request, actor="revops@acme.example")
    return config


@pytest.fixture
def org():
    fake = FakeSalesforce()
    with serving(fake):
        yield fake


@pytest.fixture
def salesforce(engine, org, monkeypatch):
    """truce connected to the fake org by client credentials (outbound messages keyed SF_KEY); its config."""
    config = truce_config.parse(salesforce_toml(), "truce.toml")
    monkeypatch.setenv("SF_SECRET", org.client_secret)
    monkeypatch.setenv("SF_OUTBOUND_KEY", SF_KEY)
    request = connections.Request("salesforce", base_url=org.url, secret_env="SF_SECRET",
                                  webhook_secret_env="SF_OUTBOUND_KEY",
                                  settings={"client_id": org.client_id, "login_url": org.login_url,
                                            "org_id": org.org_id})  # fmt: skip
    connections.connect(engine, config, request, actor="revops@acme.example")
    return config


def write_back_job(engine, config, now: dt.datetime):
    """The `crm_write_back` job as the worker runs it: claimed under its lease, then recorded."""
    outcome = scheduler.run_now(engine, config, "crm_write_back", clock=lambda: now)
    assert outcome.status == "ok", outcome.error
    return outcome.counts


def crm_writes(engine) -> list[tuple[str, str, str]]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(select(CrmWrite.object, CrmWrite.crm_id, CrmWrite.status))]


def listed_conflicts(database_url: str, name: str) -> list[dict]:
    listed = runner.invoke(cli, ["connections", "writes", name, "--status", "conflict", "--json", "--db", database_url])
    assert listed.exit_code == 0, listed.output
    return json.loads(listed.output)


def handoffs(engine) -> dict[str, str]:
    with engine.connect() as conn:
        found = conn.execute(select(Contact.email, Handoff.status).join(Contact, Contact.id == Handoff.contact_id))
        return dict(found.all())


JOB_TIME = dt.datetime(2027, 1, 10, 12, 0, tzinfo=UTC)


# ---- HubSpot: a rejection written back, once; a newer edit kept ----------------------------------


def test_a_rejection_in_truce_reaches_hubspot_once_with_its_reason(engine, hubspot, hub):
    """Documented fields: PATCH /crm/v3/objects/contacts/{id} with {"properties": {...}}; the default
    lead status UNQUALIFIED (hs_lead_status) for a rejected lead; GET …/contacts/{id}?propertiesWithHistory=
    answering propertiesWithHistory.{name}[].value/timestamp; search on lastmodifieddate; lifecyclestage
    marketingqualifiedlead; hubspot_owner_id and the owners' email."""
    sync(engine, hubspot, "hubspot")
    assert handoffs(engine) == {"p1@acme.example": "open"}, "contact 301 became an MQL in HubSpot on 3 Nov"
    handoff.reject(engine, hubspot, "p1@acme.example", "ann@acme.example", "no_budget")

    first = write_back_job(engine, hubspot, JOB_TIME)
    # Worked out from docs/connectors.md's table: rejected → hs_lead_status UNQUALIFIED; the reason
    # code to truce_rejection_reason. lifecycle_stage is not switched on, so it is not written.
    assert hub.patches == [
        ("contacts", "301", {"hs_lead_status": "UNQUALIFIED", "truce_rejection_reason": "no_budget"})
    ]
    assert (first["queued"], first["sent"]) == (1, 1)
    stored = hub.records.live["contacts"]["301"]["properties"]
    assert (stored["hs_lead_status"], stored["truce_rejection_reason"]) == ("UNQUALIFIED", "no_budget")

    again = write_back_job(engine, hubspot, JOB_TIME + dt.timedelta(minutes=1))
    assert len(hub.patches) == 1, "the job's second round sends nothing again"
    assert (again["queued"], again["sent"]) == (0, 0)
    assert crm_writes(engine) == [("contacts", "301", "sent")]


def test_a_contact_changed_in_hubspot_after_truce_read_it_is_not_overwritten(engine, hubspot, hub, database_url):
    """Documented fields: propertiesWithHistory.hs_lead_status[].value/timestamp (a value set after
    truce's read, by someone else, is a newer edit); PATCH is never sent then. truce's read is the
    contacts cursor: the newest lastmodifieddate it took in (301's, 3 Nov 09:00)."""
    sync(engine, hubspot, "hubspot")
    # A seller works the lead in HubSpot a week after truce's read, before truce's decision goes out.
    hub.records.put("contacts", 301, "2026-11-10T09:00:00Z", hs_lead_status="CONNECTED")
    handoff.reject(engine, hubspot, "p1@acme.example", "ann@acme.example", "no_budget")

    counts = write_back_job(engine, hubspot, JOB_TIME)
    assert counts["conflict"] == 1 and hub.patches == []
    assert [c for c in hub.calls("PATCH")] == [], "nothing was sent over the seller's edit"
    assert hub.records.live["contacts"]["301"]["properties"]["hs_lead_status"] == "CONNECTED"
    assert crm_writes(engine) == [("contacts", "301", "conflict")]

    (conflict,) = listed_conflicts(database_url, "hubspot")
    assert (conflict["object"], conflict["crm_id"], conflict["status"]) == ("contacts", "301", "conflict")
    assert conflict["fields"] == {"handoff_status": "rejected", "rejection_reason": "no_budget"}
    assert "CONNECTED" in conflict["detail"] and "2026-11-10T09:00:00" in conflict["detail"]
    assert conflict["read_at"] == "2026-11-03T09:00:00+00:00"

    write_back_job(engine, hubspot, JOB_TIME + dt.timedelta(hours=1))
    assert hub.calls("PATCH") == [], "a conflict is never retried"


# ---- Salesforce: the same, with If-Unmodified-Since -----------------------------------------------


def new_mql(org: FakeSalesforce, ids: dict) -> str:
    """A lead that is an MQL in Salesforce (Status "Open - Not Contacted"), owned by the seller Ann;
    added after small_org's 14 records, so it is the 15th second past 09:00."""
    return org.add("Lead", Email="nia@delta.example", FirstName="Nia", LastName="Nguyen", Company="Delta",
                   Status="Open - Not Contacted", OwnerId=ids["ann"], IsConverted=False)  # fmt: skip


def test_a_rejection_in_truce_reaches_salesforce_once_with_its_reason(engine, salesforce, org):
    """Documented fields: PATCH /services/data/v62.0/sobjects/Lead/{Id} with the fields as JSON and
    `If-Unmodified-Since` (an HTTP date), answered 204; Lead.Status, Lead.OwnerId, SystemModstamp and
    LastModifiedDate; queryAll's records/done/nextRecordsUrl."""
    ids = small_org(org)
    nia = new_mql(org, ids)
    sync(engine, salesforce, "salesforce")
    assert handoffs(engine) == {"nia@delta.example": "open"}
    handoff.reject(engine, salesforce, "nia@delta.example", "ann@acme.example", "no_budget")

    write_back_job(engine, salesforce, JOB_TIME)
    # By hand: no_budget's exit is recycled, and the default [mapping.salesforce.lead_status] maps
    # "Recycled" to recycled, so that is the status written (the stage travels with the decision).
    # truce read the Lead object up to Nia's SystemModstamp, 09:00:15 on Tuesday 1 December 2026.
    assert org.patches == [{"object": "Lead", "id": nia,
                            "body": {"Status": "Recycled", "Truce_Rejection_Reason__c": "no_budget"},
                            "if_unmodified_since": "Tue, 01 Dec 2026 09:00:15 GMT"}]  # fmt: skip
    assert org.record("Lead", nia)["Status"] == "Recycled"

    write_back_job(engine, salesforce, JOB_TIME + dt.timedelta(minutes=1))
    assert len(org.patches) == 1 and org.api_calls("/sobjects/Lead/") == 1
    assert crm_writes(engine) == [("Lead", nia, "sent")]


def lead_stages(engine, salesforce_id: str) -> list[str]:
    with engine.connect() as conn:
        return conn.execute(
            select(StageChange.to_stage)
            .join(Contact, Contact.id == StageChange.entity_id)
            .where(StageChange.entity_type == "contact", Contact.salesforce_id == salesforce_id)
            .order_by(StageChange.changed_at, StageChange.id)
        ).scalars().all()  # fmt: skip


def test_truces_own_rejection_read_back_from_salesforce_leaves_the_lead_where_the_seller_put_it(
    engine, salesforce, org
):
    """Documented fields: Lead.Status and SystemModstamp (truce's own PATCH moves the modstamp, so
    the next incremental sync reads the lead again). A no_budget rejection exits to recycled; the
    lead must not become disqualified because truce's own write came back."""
    ids = small_org(org)
    nia = new_mql(org, ids)
    sync(engine, salesforce, "salesforce")
    handoff.reject(engine, salesforce, "nia@delta.example", "ann@acme.example", "no_budget")
    write_back_job(engine, salesforce, JOB_TIME)
    assert lead_stages(engine, nia) == ["recycled"], "the import of an MQL lead has no dated move; the rejection has"
    sync(engine, salesforce, "salesforce")
    assert lead_stages(engine, nia) == ["recycled"]


def test_a_lead_changed_in_salesforce_after_truce_read_it_is_refused_412_and_listed(
    engine, salesforce, org, database_url
):
    """Documented behaviour: the REST API answers 412 PRECONDITION_FAILED to a PATCH whose
    If-Unmodified-Since is older than the record's LastModifiedDate; nothing is written."""
    ids = small_org(org)
    nia = new_mql(org, ids)
    sync(engine, salesforce, "salesforce")
    org.update("Lead", nia, Status="Working - Contacted")  # a seller, at 09:00:16: after truce's read
    handoff.reject(engine, salesforce, "nia@delta.example", "ann@acme.example", "no_budget")

    counts = write_back_job(engine, salesforce, JOB_TIME)
    assert counts["conflict"] == 1
    assert org.api_calls("/sobjects/Lead/") == 1, "one PATCH asked, with If-Unmodified-Since"
    assert org.patches == [] and org.record("Lead", nia)["Status"] == "Working - Contacted"
    assert crm_writes(engine) == [("Lead", nia, "conflict")]
    (conflict,) = listed_conflicts(database_url, "salesforce")
    assert (conflict["object"], conflict["crm_id"]) == ("Lead", nia)
    assert "Tue, 01 Dec 2026 09:00:15 GMT" in conflict["detail"] and "not overwritten" in conflict["detail"]

    write_back_job(engine, salesforce, JOB_TIME + dt.timedelta(hours=1))
    assert org.api_calls("/sobjects/Lead/") == 1, "a conflict is never retried"


# ---- webhooks: a change in the CRM is pulled at once ------------------------------------------------


def sign_v3(body: bytes, timestamp: str, uri: str) -> str:
    """HubSpot's X-HubSpot-Signature-v3 from its definition: base64(HMAC-SHA256(client secret,
    method + URI + body + timestamp))."""
    message = b"POST" + uri.encode() + body + timestamp.encode()
    return base64.b64encode(hmac.new(HOOK_SECRET.encode(), message, hashlib.sha256).digest()).decode()


def test_a_signed_hubspot_webhook_puts_the_new_mql_in_the_queue_and_a_replay_pulls_nothing(
    engine, hubspot, hub, tmp_path
):
    """Documented fields: the webhook body is a JSON array of events with eventId, subscriptionId,
    portalId, occurredAt, subscriptionType (contact.propertyChange), propertyName/propertyValue,
    objectId; headers X-HubSpot-Signature-v3 and X-HubSpot-Request-Timestamp (ms). The pull is
    POST /crm/v3/objects/contacts/batch/read with propertiesWithHistory=lifecyclestage."""
    sync(engine, hubspot, "hubspot")
    hub.records.put("contacts", 302, "2026-11-08T09:00:00Z", lifecyclestage="marketingqualifiedlead")
    events = [{"eventId": 4001, "subscriptionId": 77, "portalId": int(PORTAL), "appId": 5, "occurredAt": 1794128400000,
               "subscriptionType": "contact.propertyChange", "attemptNumber": 0, "objectId": 302,
               "propertyName": "lifecyclestage", "propertyValue": "marketingqualifiedlead", "changeSource": "CRM_UI"}]  # fmt: skip
    body = json.dumps(events).encode()
    timestamp = str(int(time.time() * 1000))
    headers = {"content-type": "application/json", "x-hubspot-request-timestamp": timestamp,
               "x-hubspot-signature-v3": sign_v3(body, timestamp, "http://127.0.0.1/hooks/hubspot/hubspot")}  # fmt: skip
    web = create_app(engine, hubspot, config_path=tmp_path / "truce.toml")
    with TestClient(web, base_url="http://127.0.0.1") as client:
        asked_before = len(hub.requests)
        answer = client.post("/hooks/hubspot/hubspot", content=body, headers=headers)
        assert answer.status_code == 200, answer.text
        asked = hub.requests[asked_before:]
        replay = client.post("/hooks/hubspot/hubspot", content=body, headers=headers)
        assert replay.status_code == 200 and replay.json()["replayed"] == 1
    # The record, its company, and its lifecycle-stage history: for contact 302 alone.
    assert [(method, path) for method, path, _, _ in asked] == [
        ("POST", "/crm/v3/objects/contacts/batch/read"),
        ("POST", "/crm/v4/associations/contacts/companies/batch/read"),
        ("POST", "/crm/v3/objects/contacts/batch/read"),
    ]
    assert all(body["inputs"] == [{"id": "302"}] for _, _, _, body in asked)
    assert asked[2][3]["propertiesWithHistory"] == ["lifecyclestage"]
    assert len(hub.requests) == asked_before + len(asked), "the replay asked HubSpot for nothing"
    assert answer.json()["pulled"]["contacts"]["handoffs_opened"] == 1
    assert handoffs(engine) == {"p1@acme.example": "open", "p2@globex.example": "open"}
    with engine.connect() as conn:
        moves = conn.execute(
            select(StageChange.from_stage, StageChange.to_stage, StageChange.changed_at)
            .join(Contact, Contact.id == StageChange.entity_id)
            .where(StageChange.entity_type == "contact", Contact.hubspot_id == "302")
            .order_by(StageChange.changed_at)
        ).all()  # fmt: skip
    # Dated when HubSpot recorded the change, so the SLA clock is the CRM's, not the webhook's.
    assert [(f, t, aware(w)) for f, t, w in moves] == [
        (None, "inquiry", at("2026-11-02T09:00:00")),
        ("inquiry", "mql", at("2026-11-08T09:00:00")),
    ]


def outbound_message(org_id: str, notification_id: str, lead_id: str) -> bytes:
    """A Salesforce outbound message as the outbound messaging WSDL defines it."""
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body>'
        '<notifications xmlns="http://soap.sforce.com/2005/09/outbound">'
        f"<OrganizationId>{org_id}</OrganizationId><ActionId>04k5g000000E2EAAA</ActionId>"
        '<SessionId xsi:nil="true"/><EnterpriseUrl>https://acme.my.salesforce.com/services/Soap/c/62.0</EnterpriseUrl>'
        f'<Notification><Id>{notification_id}</Id><sObject xsi:type="sf:Lead" '
        f'xmlns:sf="urn:sobject.enterprise.soap.sforce.com"><sf:Id>{lead_id}</sf:Id></sObject></Notification>'
        "</notifications></soapenv:Body></soapenv:Envelope>"
    ).encode()


def test_a_salesforce_outbound_message_pulls_the_lead_into_the_queue(engine, salesforce, org, tmp_path):
    """Documented fields: the outbound message's notifications/OrganizationId and Notification Id,
    sObject xsi:type="sf:Lead" with sf:Id; the answer notificationsResponse/Ack true. The pull is a
    queryAll SOQL … WHERE Id IN (…) on Lead (Status, SystemModstamp)."""
    ids = small_org(org)
    sync(engine, salesforce, "salesforce")
    org.update("Lead", ids["lena"], Status="Open - Not Contacted")  # Lena becomes an MQL in Salesforce
    body = outbound_message(org.org_id, "04l5g00000E2E01", ids["lena"])
    web = create_app(engine, salesforce, config_path=tmp_path / "truce.toml")
    with TestClient(web, base_url="http://127.0.0.1") as client:
        queries = org.api_calls("/queryAll")
        answer = client.post("/hooks/salesforce/salesforce", params={"key": SF_KEY}, content=body,
                             headers={"content-type": "text/xml"})  # fmt: skip
        pulled = org.api_calls("/queryAll") - queries
        again = client.post("/hooks/salesforce/salesforce", params={"key": SF_KEY}, content=body,
                            headers={"content-type": "text/xml"})  # fmt: skip
    assert answer.status_code == 200 and "<Ack>true</Ack>" in answer.text
    assert pulled >= 1 and org.api_calls("/queryAll") - queries == pulled, "the resent message pulled nothing"
    assert again.status_code == 200 and "<Ack>true</Ack>" in again.text
    assert handoffs(engine) == {"lena@beta.example": "open"}
    with engine.connect() as conn:
        stage = conn.execute(select(Contact.stage).where(Contact.salesforce_id == ids["lena"])).scalar_one()
    assert stage == "mql"


# ---- a sync killed between pages, by the CRM ------------------------------------------------------


def test_a_salesforce_sync_killed_by_the_org_between_pages_resumes_without_gap_or_duplicate(
    engine, salesforce, org, monkeypatch
):
    """Documented fields: queryAll's records/done/nextRecordsUrl in batches (Sforce-Query-Options
    batchSize, here 2), a 500 UNKNOWN_EXCEPTION answer; Lead.Status and SystemModstamp; LeadHistory
    LeadId/Field/OldValue/NewValue/CreatedDate. Seven leads, read, then each made an MQL (a Status
    history row and the new Status); the next sync dies twice between pages, and a third finishes it."""
    monkeypatch.setattr("truce.services.connectors.sync.ROWS_PER_COMMIT", 1)  # each page its own unit of work
    ann = org.add(
        "User", Email="ann@acme.example", FirstName="Ann", LastName="Seller", Name="Ann Seller", IsActive=True
    )
    leads = [org.add("Lead", Email=f"lead{i}@delta.example", LastName=f"Lead{i}", Company="Delta", Status="Raw - New",
                     OwnerId=ann, IsConverted=False) for i in range(7)]  # fmt: skip
    sync(engine, salesforce, "salesforce")
    made_mql = {}
    for lead in leads:
        changed = org.history("LeadHistory", "LeadId", lead, "Status", "Raw - New", "Open - Not Contacted")
        made_mql[lead] = (changed, org.record("LeadHistory", changed)["CreatedDate"])
        org.update("Lead", lead, Status="Open - Not Contacted")

    halfway = []
    # The connector reads leads in batches of 2 and, for each batch, that batch's LeadHistory rows.
    for _ in range(2):
        org.break_after(2, "Lead")  # two batches of leads are served, then the org stops answering
        with pytest.raises(CrmError, match="500"):
            sync(engine, salesforce, "salesforce")
        org.break_after(None)
        halfway.append(statuses_and_moves(engine))
    # By hand. First kill: Lead batch 1 (leads 1-2) and its history are served, Lead batch 2 is
    # served but its history is refused: leads 1-2 are in. Second kill: it resumes after lead 2;
    # leads 3-4 and their history, then leads 5-6, whose history is refused: leads 3-4 are in too.
    assert halfway == [(2, 2), (4, 4)]
    sync(engine, salesforce, "salesforce")

    with engine.connect() as conn:
        people = conn.execute(select(Contact.salesforce_id, Contact.stage)).all()
        moves = conn.execute(
            select(StageChange.external_id, Contact.salesforce_id, StageChange.from_stage, StageChange.to_stage,
                   StageChange.changed_at)
            .join(Contact, Contact.id == StageChange.entity_id)
            .where(StageChange.entity_type == "contact")
        ).all()  # fmt: skip
        opened = conn.execute(select(Contact.salesforce_id).join(Handoff, Handoff.contact_id == Contact.id)).all()
    assert sorted(people) == sorted((lead, "mql") for lead in leads), "each lead once, each an MQL"
    # One move per lead, dated when Salesforce recorded it: none missing, none twice, none undated.
    assert sorted((e, c, f, t, aware(w)) for e, c, f, t, w in moves) == sorted(
        (f"salesforce-{changed}", lead, "inquiry", "mql", parse_sf(when)) for lead, (changed, when) in made_mql.items()
    )
    assert sorted(r[0] for r in opened) == sorted(leads), "one handoff per lead"


def statuses_and_moves(engine) -> tuple[int, int]:
    """How many leads hold their new Status in truce, and how many stage moves the ledger holds."""
    with engine.connect() as conn:
        new = conn.execute(select(Contact.id).where(Contact.lead_status == "Open - Not Contacted")).all()
        moves = conn.execute(select(StageChange.id).where(StageChange.entity_type == "contact")).all()
    return len(new), len(moves)


def parse_sf(text: str) -> dt.datetime:
    """A Salesforce datetime (2026-12-01T09:00:15.000+0000)."""
    return dt.datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%f%z").astimezone(UTC)


# ---- truce sync twice changes nothing ---------------------------------------------------------------


def sync_twice(database_url: str, config_file, name: str) -> tuple[dict, dict, int, int]:
    first = runner.invoke(cli, ["sync", name, "--db", database_url, "--config", str(config_file), "--json"])
    assert first.exit_code == 0, first.output
    from truce.store import db

    engine = db.connect(database_url)
    try:
        before = data_revision(engine)
        second = runner.invoke(cli, ["sync", name, "--db", database_url, "--config", str(config_file), "--json"])
        assert second.exit_code == 0, second.output
        after = data_revision(engine)
    finally:
        engine.dispose()
    return json.loads(first.output), json.loads(second.output), before, after


def test_truce_sync_hubspot_twice_changes_nothing_the_second_time(engine, hubspot, database_url, tmp_path):
    """Documented fields: as the HubSpot sync (search results/paging.next.after on lastmodifieddate or
    hs_lastmodifieddate, owners, pipelines, v4 associations, propertiesWithHistory)."""
    config_file = tmp_path / "truce.toml"
    config_file.write_text(hubspot_toml())
    first, second, before, after = sync_twice(database_url, config_file, "hubspot")
    assert first["totals"]["inserted"] == 2 + 2 + 2 + 2 + 5, "owners, companies, contacts, deals, touches"
    assert (second["totals"]["inserted"], second["totals"]["updated"]) == (0, 0)
    assert after == before, "the data revision did not move"


def test_truce_sync_salesforce_twice_changes_nothing_the_second_time(engine, salesforce, org, database_url, tmp_path):
    """Documented fields: as the Salesforce sync (queryAll on SystemModstamp with nextRecordsUrl)."""
    small_org(org)
    config_file = tmp_path / "truce.toml"
    config_file.write_text(salesforce_toml())
    first, second, before, after = sync_twice(database_url, config_file, "salesforce")
    assert first["totals"]["inserted"] > 0 and first["status"] == "ok"
    assert (second["totals"]["read"], second["totals"]["inserted"], second["totals"]["updated"]) == (0, 0, 0)
    assert after == before, "the data revision did not move"
