"""Webhooks in, on the real receiver routes: a signed HubSpot delivery or a Salesforce outbound
message pulls the records it names at once (an MQL made in the CRM is in truce's queue when the
answer goes back); forged, stale, replayed, foreign and malformed deliveries are refused, and
nothing a sender can put in a request makes a 500.

The CRM behind the pull is a stand-in connector (the sync's `open_connector` is replaced), so
these tests rely only on the vendors' documented delivery formats:
- HubSpot webhooks v3 (developers.hubspot.com, "Validating requests", and "Webhooks API"):
  headers X-HubSpot-Signature-v3 = base64(HMAC-SHA256(client secret, method + URI + body +
  timestamp)) and X-HubSpot-Request-Timestamp (milliseconds); a JSON array of events with
  eventId, subscriptionType, objectId, occurredAt, portalId (merges: primaryObjectId, mergedObjectIds).
- Salesforce Outbound Messages (the outbound messaging WSDL): a SOAP envelope whose
  <notifications> (namespace http://soap.sforce.com/2005/09/outbound) holds OrganizationId,
  ActionId, SessionId and Notification elements with Id and an sObject (xsi:type="sf:Lead", sf:Id);
  the answer is <notificationsResponse><Ack>true</Ack>.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from truce.services.connectors import connections
from truce.services.connectors.errors import CrmError
from truce.services.connectors.protocol import CrmObject, Page, WriteResult
from truce.store.models import AuditEntry, Contact, Handoff, WebhookReceipt
from truce.web.app import create_app

HOOK_SECRET = "hubspot-client-secret-4f1e"
SF_KEY = "sf-shared-key-77aa"
PORTAL = 62515
ORG = "00D5g000004ABCDEAZ"
BASE = "http://127.0.0.1"


class Crm:
    """A stand-in CRM: records by id; `fetch` answers the ones asked for and counts the asks."""

    def __init__(self, system: str, objects: list[CrmObject], records: dict[str, dict]):
        self.system, self._objects, self.records = system, objects, records
        self.asked: list[tuple[str, list[str]]] = []
        self.fail = False

    def objects(self):
        return self._objects

    def pages(self, obj, cursor, position, full):
        return iter(())

    def fetch(self, obj, crm_ids):
        self.asked.append((obj.name, list(crm_ids)))
        if self.fail:
            raise CrmError("HubSpot answered 503 Service Unavailable after 6 attempts", status=503)
        rows = [self.records[i] for i in crm_ids if i in self.records]
        return Page(rows={obj.table: rows}, seen=[r["external_id"] for r in rows])

    def write_back(self, object_name, crm_id, fields, read_at, context=None):
        return WriteResult("skipped")

    def close(self):
        pass


def hubspot_crm() -> Crm:
    objects = [CrmObject("contacts", "contacts", "hubspot"), CrmObject("deals", "opportunities", "hubspot")]
    ann = {"external_id": "501", "email": "ann@acme.example", "first_name": "Ann", "last_name": "Lee",
           "lifecycle_stage": "marketingqualifiedlead", "created_at": "2026-12-01T09:00:00Z"}  # fmt: skip
    return Crm("hubspot", objects, {"501": ann})


def salesforce_crm() -> Crm:
    objects = [CrmObject("Lead", "contacts", "salesforce", id_prefix="00Q")]
    lead = {"external_id": "00Q5g00000AbCdEAAV", "email": "sam@beta.example", "first_name": "Sam", "last_name": "Poe",
            "lead_status": "Open - Not Contacted", "created_at": "2026-12-01T09:00:00Z"}  # fmt: skip
    return Crm("salesforce", objects, {lead["external_id"]: lead})


@pytest.fixture
def hooks(engine, default_config, monkeypatch, tmp_path):
    """The app with a HubSpot and a Salesforce connection, each CRM a stand-in; (client, engine, crms)."""
    monkeypatch.setenv("HS_TOKEN", "pat-never-shown")
    monkeypatch.setenv("HS_HOOK_SECRET", HOOK_SECRET)
    monkeypatch.setenv("SF_SECRET", "sf-client-secret")
    monkeypatch.setenv("SF_HOOK_KEY", SF_KEY)
    Request = connections.Request
    connections.connect(engine, default_config, Request("hubspot", secret_env="HS_TOKEN", webhook_secret_env="HS_HOOK_SECRET",
                        settings={"portal_id": str(PORTAL)}), actor="ria@yourco.example")  # fmt: skip
    connections.connect(engine, default_config, Request("salesforce", base_url="http://127.0.0.1:9", secret_env="SF_SECRET",
                        webhook_secret_env="SF_HOOK_KEY", settings={"client_id": "cid", "org_id": ORG}),
                        actor="ria@yourco.example")  # fmt: skip
    crms = {"hubspot": hubspot_crm(), "salesforce": salesforce_crm()}
    monkeypatch.setattr(
        "truce.services.connectors.sync.open_connector", lambda connection, config, engine: crms[connection.system]
    )
    app = create_app(engine, default_config, config_path=tmp_path / "truce.toml")
    with TestClient(app, base_url=BASE, raise_server_exceptions=False) as client:
        yield client, engine, crms


def sign(body: bytes, timestamp: str, uri: str, secret: str = HOOK_SECRET, method: str = "POST") -> str:
    """HubSpot's v3 signature, computed here from its definition (not with truce's code)."""
    source = method.encode() + uri.encode() + body + timestamp.encode()
    return base64.b64encode(hmac.new(secret.encode(), source, hashlib.sha256).digest()).decode()


def event(
    event_id: int, kind: str = "contact.propertyChange", object_id: int = 501, portal: int = PORTAL, **more
) -> dict:
    return {"eventId": event_id, "subscriptionId": 2, "portalId": portal, "appId": 7, "occurredAt": 1764579600000,
            "subscriptionType": kind, "attemptNumber": 0, "objectId": object_id, "changeSource": "CRM", **more}  # fmt: skip


def post_hubspot(client, events, *, age_seconds: float = 0, secret: str = HOOK_SECRET, name: str = "hubspot",
                 body: bytes | None = None, uri: str | None = None, headers: dict | None = None):  # fmt: skip
    body = json.dumps(events).encode() if body is None else body
    path = f"/hooks/hubspot/{name}"
    timestamp = str(int((time.time() - age_seconds) * 1000))
    signed = sign(body, timestamp, uri or BASE + path, secret)
    sent = {"content-type": "application/json", "x-hubspot-signature-v3": signed,
            "x-hubspot-request-timestamp": timestamp, **(headers or {})}  # fmt: skip
    return client.post(path, content=body, headers=sent)


def outbound(*notes: tuple[str, str, str], org: str = ORG) -> bytes:
    """A Salesforce outbound message: (notification id, sObject type, record id) per notification."""
    items = "".join(
        f'<Notification><Id>{nid}</Id><sObject xsi:type="sf:{kind}" xmlns:sf="urn:sobject.enterprise.soap.sforce.com">'
        f"<sf:Id>{rid}</sf:Id></sObject></Notification>"
        for nid, kind, rid in notes
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body>'
        '<notifications xmlns="http://soap.sforce.com/2005/09/outbound">'
        f'<OrganizationId>{org}</OrganizationId><ActionId>04k5g000000ABCD</ActionId><SessionId xsi:nil="true"/>'
        f"{items}</notifications></soapenv:Body></soapenv:Envelope>"
    ).encode()


def post_salesforce(client, body: bytes, key: str | None = SF_KEY, name: str = "salesforce"):
    params = {"key": key} if key is not None else {}
    return client.post(f"/hooks/salesforce/{name}", content=body, params=params, headers={"content-type": "text/xml"})


def open_handoffs(engine) -> list[str]:
    with engine.connect() as conn:
        return conn.execute(
            select(Contact.email).join(Handoff, Handoff.contact_id == Contact.id).where(Handoff.status == "open")
        ).scalars().all()  # fmt: skip


# ---- HubSpot ----------------------------------------------------------------------------------


def test_it_puts_a_lead_that_became_an_mql_in_hubspot_in_the_queue_before_answering(hooks):
    client, engine, crms = hooks
    started = time.monotonic()
    answer = post_hubspot(client, [event(1, "contact.propertyChange", propertyName="lifecyclestage",
                                         propertyValue="marketingqualifiedlead")])  # fmt: skip
    took = time.monotonic() - started
    assert answer.status_code == 200, answer.text
    assert answer.json()["new"] == 1 and answer.json()["pulled"]["contacts"]["handoffs_opened"] == 1
    assert open_handoffs(engine) == ["ann@acme.example"], "the SLA clocks run from the moment the answer leaves"
    assert crms["hubspot"].asked == [("contacts", ["501"])]
    with engine.connect() as conn:
        pulled = conn.execute(select(AuditEntry.actor, AuditEntry.after).where(AuditEntry.action == "crm_pull")).all()
    assert [(actor, after["crm_ids"]) for actor, after in pulled] == [("webhook", ["501"])]
    assert took < 5, "HubSpot waits 5 s for an answer; the pull happens within it"


def test_it_refuses_a_forged_signature_and_pulls_nothing(hooks):
    client, engine, crms = hooks
    answer = post_hubspot(client, [event(2)], secret="not-the-client-secret")
    assert answer.status_code == 401 and "signature" in answer.json()["error"]
    assert crms["hubspot"].asked == [] and open_handoffs(engine) == []


def test_it_refuses_a_body_changed_after_signing(hooks):
    client, _, crms = hooks
    body = json.dumps([event(3)]).encode()
    timestamp = str(int(time.time() * 1000))
    headers = {"x-hubspot-signature-v3": sign(body, timestamp, BASE + "/hooks/hubspot/hubspot"),
               "x-hubspot-request-timestamp": timestamp}  # fmt: skip
    tampered = body.replace(b"501", b"502")
    assert client.post("/hooks/hubspot/hubspot", content=tampered, headers=headers).status_code == 401
    assert crms["hubspot"].asked == []


# Past the window by a margin: a loaded test machine takes seconds between signing and checking.
@pytest.mark.parametrize("age_seconds", [320, -320])
def test_it_refuses_a_timestamp_outside_the_five_minute_window(hooks, age_seconds):
    client, _, crms = hooks
    answer = post_hubspot(client, [event(4)], age_seconds=age_seconds)
    assert answer.status_code == 401 and "timestamp" in answer.json()["error"]
    assert crms["hubspot"].asked == []


def test_it_takes_a_timestamp_just_inside_the_window(hooks):
    client, _, _ = hooks
    assert post_hubspot(client, [event(5)], age_seconds=290).status_code == 200


def test_a_replayed_delivery_is_acknowledged_without_a_second_pull(hooks):
    client, engine, crms = hooks
    body = json.dumps([event(6)]).encode()
    timestamp = str(int(time.time() * 1000))
    headers = {"x-hubspot-signature-v3": sign(body, timestamp, BASE + "/hooks/hubspot/hubspot"),
               "x-hubspot-request-timestamp": timestamp}  # fmt: skip
    first = client.post("/hooks/hubspot/hubspot", content=body, headers=headers)
    again = client.post("/hooks/hubspot/hubspot", content=body, headers=headers)
    # HubSpot's own retry: the same event, signed anew, with the next attempt number.
    retried = post_hubspot(client, [event(6, attemptNumber=1)])
    assert (first.json()["new"], again.json()["new"], retried.json()["new"]) == (1, 0, 0)
    assert again.status_code == retried.status_code == 200 and again.json()["replayed"] == 1
    assert len(crms["hubspot"].asked) == 1, "one pull for one event, however often it arrives"
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(WebhookReceipt)).scalar_one() == 1


def test_a_batch_pulls_each_record_once_and_skips_objects_truce_does_not_read(hooks):
    client, _, crms = hooks
    events = [event(7), event(8, "contact.creation"), event(9, "ticket.creation", object_id=77),
              event(10, "deal.propertyChange", object_id=9001)]  # fmt: skip
    answer = post_hubspot(client, events)
    assert answer.status_code == 200
    assert (answer.json()["events"], answer.json()["new"], answer.json()["ignored"]) == (4, 3, 1)
    assert sorted(crms["hubspot"].asked) == [("contacts", ["501"]), ("deals", ["9001"])]


def test_a_merge_pulls_the_survivor_and_the_merged_away_records(hooks):
    client, _, crms = hooks
    post_hubspot(client, [event(11, "contact.merge", object_id=501, primaryObjectId=501, mergedObjectIds=[498, 499])])
    assert crms["hubspot"].asked == [("contacts", ["501", "498", "499"])]


def test_it_refuses_events_from_another_hubspot_account(hooks):
    client, _, crms = hooks
    answer = post_hubspot(client, [event(12, portal=99999)])
    assert answer.status_code == 401 and "99999" in answer.json()["error"]
    assert crms["hubspot"].asked == []


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (b"not json at all", "not JSON"),
        (b"{}", "JSON array"),
        (b"[]", "JSON array"),
        (b"[1]", "event 0 is not an object"),
        (json.dumps([{"subscriptionType": "contact.creation", "objectId": 1, "portalId": PORTAL}]).encode(), "eventId"),
        (json.dumps([{"eventId": 1, "subscriptionType": "contact.creation", "portalId": PORTAL}]).encode(), "objectId"),
        (
            json.dumps([{"eventId": "x" * 500, "subscriptionType": "contact.creation", "objectId": 1}]).encode(),
            "eventId",
        ),
    ],
)
def test_a_malformed_body_is_400_naming_the_problem(hooks, body, says):
    client, _, _ = hooks
    answer = post_hubspot(client, None, body=body)
    assert answer.status_code == 400 and says in answer.json()["error"]


def test_an_unknown_or_revoked_connection_is_404(hooks, default_config):
    client, engine, _ = hooks
    assert post_hubspot(client, [event(13)], name="nobody").status_code == 404
    assert post_hubspot(client, [event(14)], name="salesforce").status_code == 404, (
        "a HubSpot delivery to a Salesforce connection"
    )
    connections.revoke(engine, "hubspot", actor="ria@yourco.example")
    answer = post_hubspot(client, [event(15)])
    assert answer.status_code == 404 and "hubspot" in answer.json()["error"]


def test_a_failed_pull_gives_the_event_back_for_hubspots_retry(hooks):
    client, engine, crms = hooks
    crms["hubspot"].fail = True
    failed = post_hubspot(client, [event(16)])
    assert failed.status_code == 502 and "503" in failed.json()["error"]
    crms["hubspot"].fail = False
    retried = post_hubspot(client, [event(16, attemptNumber=1)])
    assert retried.status_code == 200 and retried.json()["new"] == 1
    assert open_handoffs(engine) == ["ann@acme.example"]


def test_behind_a_proxy_the_signed_uri_is_the_public_address(engine, default_config, hooks, tmp_path):
    """HubSpot signs the URL it was given (https://truce.example.com/…), not the one the server sees."""
    _, _, crms = hooks
    config = default_config.model_copy(
        update={"notify": default_config.notify.model_copy(update={"base_url": "https://truce.example.com"})}
    )
    config.notify.model_fields_set.add("base_url")
    app = create_app(engine, config, config_path=tmp_path / "truce.toml")
    with TestClient(app, base_url=BASE) as client:
        public = post_hubspot(client, [event(17)], uri="https://truce.example.com/hooks/hubspot/hubspot")
        seen_here = post_hubspot(client, [event(18)])
    assert public.status_code == 200 and seen_here.status_code == 401


@pytest.mark.parametrize(
    "headers",
    [
        {"x-hubspot-signature-v3": ""},
        {"x-hubspot-request-timestamp": "yesterday"},
        {"x-hubspot-request-timestamp": "9" * 40},
        {"x-hubspot-signature-v3": "é".encode("latin-1") * 10},
    ],
)
def test_odd_headers_are_refused_never_a_500(hooks, headers):
    client, _, _ = hooks
    answer = post_hubspot(client, [event(19)], headers=headers)
    assert answer.status_code == 401, answer.text


# ---- Salesforce -------------------------------------------------------------------------------


def test_an_outbound_message_pulls_the_lead_and_is_acknowledged(hooks):
    client, engine, crms = hooks
    answer = post_salesforce(client, outbound(("04l5g000000001", "Lead", "00Q5g00000AbCdEAAV")))
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/xml")
    assert "<Ack>true</Ack>" in answer.text
    assert crms["salesforce"].asked == [("Lead", ["00Q5g00000AbCdEAAV"])]
    assert open_handoffs(engine) == ["sam@beta.example"]


def test_a_retried_outbound_message_is_acknowledged_without_a_second_pull(hooks):
    client, _, crms = hooks
    body = outbound(("04l5g000000002", "Lead", "00Q5g00000AbCdEAAV"))
    assert post_salesforce(client, body).status_code == 200
    again = post_salesforce(client, body)
    assert again.status_code == 200 and "<Ack>true</Ack>" in again.text
    assert len(crms["salesforce"].asked) == 1


def test_the_org_id_may_be_given_in_15_or_18_characters(hooks):
    client, _, _ = hooks
    assert (
        post_salesforce(client, outbound(("04l5g000000003", "Lead", "00Q5g00000AbCdEAAV"), org=ORG[:15])).status_code
        == 200
    )


@pytest.mark.parametrize(("key", "org", "says"), [
    ("wrong-key", ORG, "key"),
    (None, ORG, "key"),
    (SF_KEY, "00D000000000001AAA", "org"),
])  # fmt: skip
def test_a_wrong_key_or_org_is_refused(hooks, key, org, says):
    client, _, crms = hooks
    answer = post_salesforce(client, outbound(("04l5g000000004", "Lead", "00Q5g00000AbCdEAAV"), org=org), key=key)
    assert answer.status_code == 401 and says in answer.json()["error"]
    assert crms["salesforce"].asked == []


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (b"<notifications", "not XML"),
        (b"<x/>", "no <notifications>"),
        (b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">]><lolz>&lol;</lolz>', "document type"),
        (outbound().replace(b"<OrganizationId>" + ORG.encode() + b"</OrganizationId>", b""), "OrganizationId"),
        (outbound(), "no Notification"),
    ],
)
def test_a_malformed_outbound_message_is_400(hooks, body, says):
    client, _, _ = hooks
    answer = post_salesforce(client, body)
    assert answer.status_code == 400 and says in answer.json()["error"]


def test_other_sobjects_are_acknowledged_and_not_pulled(hooks):
    client, _, crms = hooks
    answer = post_salesforce(client, outbound(("04l5g000000005", "Case", "5005g00000XyZ")))
    assert answer.status_code == 200 and crms["salesforce"].asked == []


def test_an_association_change_pulls_both_sides(hooks):
    """HubSpot's associationChange events carry associationType, fromObjectId and toObjectId, no objectId."""
    client, _, crms = hooks
    change = event(20, "contact.associationChange", associationType="CONTACT_TO_DEAL", fromObjectId=501,
                   toObjectId=9001, associationRemoved=False)  # fmt: skip
    del change["objectId"]
    answer = post_hubspot(client, [change])
    assert answer.status_code == 200, answer.text
    assert sorted(crms["hubspot"].asked) == [("contacts", ["501"]), ("deals", ["9001"])]
