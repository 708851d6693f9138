"""Webhooks in: a CRM says a record changed, truce pulls that record now.

So an SLA clock starts seconds after a lead becomes an MQL in the CRM, not at the next
scheduled sync. Each delivery is checked, then its changes are pulled through the one sync
path (`sync.pull_records`: the importer's mapping, validation, ledger moves and handoffs):

- HubSpot (webhooks v3): `X-HubSpot-Signature-v3` is base64(HMAC-SHA256(the app's client
  secret, method + full request URI + body + `X-HubSpot-Request-Timestamp`)); the timestamp
  (milliseconds) must be within `[connectors.hubspot] webhook_window_seconds`; the portal must
  be the connection's `portal_id` when it has one.
- Salesforce (Outbound Messages, SOAP): not signed, so the org id must be the connection's
  `org_id` and the URL must carry the connection's webhook secret as `?key=`.

Vendors deliver at least once and retry what was not acknowledged, so every event is
taken once: its key (HubSpot's eventId, Salesforce's Notification Id) goes into
webhook_receipts (unique) before the pull, and an event seen before is acknowledged without
pulling again. A pull that fails gives its keys back, so the vendor's retry pulls them.
The records behind a lost event still come in with the next scheduled sync (its cursor).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import re
import xml.etree.ElementTree as ET
from collections import defaultdict
from dataclasses import dataclass, field

from sqlalchemy import Engine, delete
from sqlalchemy.dialects import postgresql, sqlite

from truce.config import TruceConfig
from truce.services.connectors import connections, sync
from truce.services.connectors.errors import CrmError, SyncRefused
from truce.services.connectors.secrets import SecretUnavailable
from truce.store.models import WebhookReceipt
from truce.store.work import unit_of_work

# HubSpot's subscription type names the object before the dot: contact.propertyChange.
HUBSPOT_OBJECTS = {"contact": "contacts", "company": "companies", "deal": "deals"}
SALESFORCE_OBJECTS = ("Lead", "Contact", "Account", "Opportunity")
OUTBOUND = "{http://soap.sforce.com/2005/09/outbound}"
XSI_TYPE = "{http://www.w3.org/2001/XMLSchema-instance}type"
# Characters HubSpot decodes in the request URI before it signs it (its request-validation guide).
HUBSPOT_DECODED = {"%3A": ":", "%2F": "/", "%3F": "?", "%40": "@", "%21": "!", "%24": "$", "%27": "'",
                   "%28": "(", "%29": ")", "%2A": "*", "%2C": ",", "%3B": ";"}  # fmt: skip
# Vendors retry for about a day (HubSpot up to 24 h, Salesforce up to 24 h); receipts a week
# old can no longer meet a retry and are let go in the same write that takes new ones.
KEEP_RECEIPTS = dt.timedelta(days=7)
MAX_EVENTS = 1000
MAX_ID = 100  # characters of an event's or a record's id (the receipt's key has room for 200)


class WebhookRefused(Exception):
    """A delivery truce will not take; `status` is the HTTP answer, the message says why."""

    status = 400


class NotReceiving(WebhookRefused):
    """No such connection on this route, or it was revoked."""

    status = 404


class Forged(WebhookRefused):
    """The signature, the timestamp, the portal or org, or the shared secret is not right."""

    status = 401


class Malformed(WebhookRefused):
    status = 400


class PullFailed(WebhookRefused):
    """The CRM did not give the records now; the vendor should retry (its keys were given back)."""

    status = 502


class SecretMissing(WebhookRefused):
    """This server cannot read the connection's webhook secret (its variable unset, another key)."""

    status = 503


@dataclass
class Receipt:
    """What a delivery did: its events, those new (pulled) and those seen before (acknowledged only)."""

    connection: str
    events: int = 0
    new: int = 0
    replayed: int = 0
    ignored: int = 0  # objects truce does not read (tickets, tasks…)
    pulled: dict[str, dict[str, int]] = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {"connection": self.connection, "events": self.events, "new": self.new, "replayed": self.replayed,
                "ignored": self.ignored, "pulled": self.pulled}  # fmt: skip


# ---- HubSpot --------------------------------------------------------------------------------------


def signed_v3(secret: str, method: str, uri: str, body: bytes, timestamp: str) -> str:
    """The signature HubSpot sends for this request (X-HubSpot-Signature-v3)."""
    for encoded, plain in HUBSPOT_DECODED.items():
        uri = uri.replace(encoded, plain).replace(encoded.lower(), plain)
    source = method.upper().encode() + uri.encode() + body + timestamp.encode()
    return base64.b64encode(hmac.new(secret.encode(), source, hashlib.sha256).digest()).decode()


def check_v3(secret: str, method: str, uri: str, body: bytes, timestamp: str | None, signature: str | None,
             now: dt.datetime, window_seconds: int) -> None:  # fmt: skip
    """Forged unless the signature is HubSpot's and its timestamp is within the window."""
    if not signature or not timestamp:
        raise Forged("X-HubSpot-Signature-v3 and X-HubSpot-Request-Timestamp are required")
    if not timestamp.isdigit() or len(timestamp) > 15:
        raise Forged("X-HubSpot-Request-Timestamp is not milliseconds since 1970")
    age = now.timestamp() - int(timestamp) / 1000
    # A timestamp from the future is as suspect as an old one (a clock far off, or a forged header).
    if abs(age) > window_seconds:
        raise Forged(f"the request timestamp is {age:.0f} s old; truce takes {window_seconds} s at most (a replay?)")
    expected = signed_v3(secret, method, uri, body, timestamp)
    # Constant time: a byte-by-byte compare would tell a forger how much of a guess was right.
    if not hmac.compare_digest(expected.encode(), signature.strip().encode()):
        raise Forged("the signature does not match the request and the app's client secret")


def receive_hubspot(engine: Engine, config: TruceConfig, name: str, *, method: str, uri: str, body: bytes,
                    signature: str | None, timestamp: str | None, now: dt.datetime | None = None) -> Receipt:  # fmt: skip
    """Check a HubSpot delivery and pull the records its events name."""
    now = now or dt.datetime.now(dt.UTC)
    connection = _receiving(engine, name, "hubspot")
    check_v3(_webhook_secret(connection), method, uri, body, timestamp, signature, now,
             config.connectors.hubspot.webhook_window_seconds)  # fmt: skip
    events = _hubspot_events(body)
    portal = str(connection.settings.get("portal_id") or "")
    wrong = sorted({str(e.get("portalId")) for e in events if portal and str(e.get("portalId")) != portal})
    if wrong:
        raise Forged(f"the events come from HubSpot account {', '.join(wrong)}, not {portal} (this connection's)")
    keyed: dict[str, tuple[str, list[str]]] = {}
    ignored = 0
    for event in events:
        obj = HUBSPOT_OBJECTS.get(str(event["subscriptionType"]).split(".", 1)[0])
        if obj is None:
            ignored += 1
            continue
        keyed[f"hubspot:{connection.id}:{event['eventId']}"] = (obj, _hubspot_ids(event))
    receipt = Receipt(connection.name, events=len(events), ignored=ignored)
    return _take(engine, config, connection, keyed, receipt, now)


def _hubspot_events(body: bytes) -> list[dict]:
    try:
        events = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise Malformed("the body is not JSON; HubSpot sends a JSON array of events") from None
    if not isinstance(events, list) or not events:
        raise Malformed("the body must be a JSON array of one or more events")
    if len(events) > MAX_EVENTS:
        raise Malformed(f"{len(events)} events in one delivery; HubSpot sends at most 100, truce takes {MAX_EVENTS}")
    for place, event in enumerate(events):
        if not isinstance(event, dict):
            raise Malformed(f"event {place} is not an object")
        for name in ("eventId", "subscriptionType", "objectId"):
            value = event.get(name)
            if isinstance(value, bool) or not isinstance(value, int | str) or not 0 < len(str(value)) <= MAX_ID:
                raise Malformed(f"event {place} has no {name} (text or a number of at most {MAX_ID} characters)")
    return events


def _hubspot_ids(event: dict) -> list[str]:
    """The records an event names: the object, and for a merge the survivor and those merged into it."""
    ids = [str(event["objectId"])]
    if isinstance(event.get("primaryObjectId"), int | str):
        ids.append(str(event["primaryObjectId"]))
    merged = event.get("mergedObjectIds")
    if isinstance(merged, list):
        ids.extend(str(i) for i in merged if isinstance(i, int | str) and not isinstance(i, bool))
    return [i for i in ids if 0 < len(i) <= MAX_ID]


# ---- Salesforce -----------------------------------------------------------------------------------


def receive_salesforce(engine: Engine, config: TruceConfig, name: str, *, key: str | None, body: bytes,
                       now: dt.datetime | None = None) -> Receipt:  # fmt: skip
    """Check a Salesforce outbound message and pull the records its notifications name."""
    now = now or dt.datetime.now(dt.UTC)
    connection = _receiving(engine, name, "salesforce")
    secret = _webhook_secret(connection)
    if not key or not hmac.compare_digest(key.encode(), secret.encode()):
        raise Forged("the URL's key is not this connection's webhook secret")
    org, notifications = _outbound_message(body)
    expected = str(connection.settings.get("org_id") or "")
    if not expected:
        raise Forged(f"the connection {connection.name!r} has no org id: run `truce connect salesforce --org-id …`")
    # An org id is 15 characters (case-sensitive) or those 15 plus a 3-letter checksum.
    if org[:15] != expected[:15]:
        raise Forged(f"the message comes from org {org}, not {expected} (this connection's)")
    keyed, ignored = {}, 0
    for notification_id, sobject, record_id in notifications:
        if sobject not in SALESFORCE_OBJECTS:
            ignored += 1
            continue
        keyed[f"salesforce:{connection.id}:{notification_id}"] = (sobject, [record_id])
    receipt = Receipt(connection.name, events=len(notifications), ignored=ignored)
    return _take(engine, config, connection, keyed, receipt, now)


def _outbound_message(body: bytes) -> tuple[str, list[tuple[str, str, str]]]:
    """(org id, [(notification id, sObject type, record id)]) of a SOAP outbound message."""
    # No document type, so no entity of any kind: ElementTree then has nothing to expand or fetch.
    if re.search(rb"<!(DOCTYPE|ENTITY)", body, re.I):
        raise Malformed("a document type or entity declaration is not taken in an outbound message")
    try:
        root = ET.fromstring(body)
    except ET.ParseError as exc:
        raise Malformed(f"the body is not XML: {exc}") from None
    found = root.find(f".//{OUTBOUND}notifications")
    if found is None and root.tag == f"{OUTBOUND}notifications":
        found = root
    if found is None:
        raise Malformed("no <notifications> element (namespace http://soap.sforce.com/2005/09/outbound)")
    org = (found.findtext(f"{OUTBOUND}OrganizationId") or "").strip()
    if not org:
        raise Malformed("the message has no OrganizationId")
    notifications = []
    for place, note in enumerate(found.findall(f"{OUTBOUND}Notification")):
        notification_id = (note.findtext(f"{OUTBOUND}Id") or "").strip()
        sobject = note.find(f"{OUTBOUND}sObject")
        if not 0 < len(notification_id) <= MAX_ID or sobject is None:
            raise Malformed(f"notification {place} has no Id or no sObject")
        kind = (sobject.get(XSI_TYPE) or "").rsplit(":", 1)[-1]
        record_id = next((child.text or "" for child in sobject if child.tag.rsplit("}", 1)[-1] == "Id"), "").strip()
        if not kind or not 0 < len(record_id) <= MAX_ID:
            raise Malformed(f"notification {place}'s sObject has no xsi:type or no Id")
        notifications.append((notification_id, kind, record_id))
    if not notifications:
        raise Malformed("the message has no Notification")
    if len(notifications) > MAX_EVENTS:
        raise Malformed(f"{len(notifications)} notifications in one message; truce takes {MAX_EVENTS}")
    return org, notifications


ACK = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body>'
    '<notificationsResponse xmlns="http://soap.sforce.com/2005/09/outbound"><Ack>true</Ack></notificationsResponse>'
    "</soapenv:Body></soapenv:Envelope>"
)


# ---- both -----------------------------------------------------------------------------------------


def _receiving(engine: Engine, name: str, system: str) -> connections.Connection:
    try:
        connection = connections.get(engine, name)
    except connections.NoSuchConnection:
        raise NotReceiving(f"no {system} connection called {name!r} takes webhooks here") from None
    if connection.system != system or not connection.active:
        raise NotReceiving(f"no {system} connection called {name!r} takes webhooks here")
    return connection


def _webhook_secret(connection: connections.Connection) -> str:
    try:
        secret = connection.webhook_secret()
    except SecretUnavailable as exc:
        raise SecretMissing(f"this server cannot read the webhook secret: {exc}") from None
    if not secret:
        raise Forged(
            f"the connection {connection.name!r} has no webhook secret, so no delivery can be checked: "
            f"run `truce connect {connection.system} --webhook-secret-env VARIABLE`"
        )
    return secret


def _take(engine, config, connection, keyed: dict[str, tuple[str, list[str]]], receipt: Receipt, now) -> Receipt:
    """Claim the events not seen before, pull their records, and give the claims back if the pull fails."""
    fresh = _claim(engine, connection.id, list(keyed), now)
    receipt.new, receipt.replayed = len(fresh), len(keyed) - len(fresh)
    wanted: dict[str, list[str]] = defaultdict(list)
    for key in fresh:
        obj, ids = keyed[key]
        wanted[obj].extend(i for i in ids if i not in wanted[obj])
    try:
        for obj, ids in wanted.items():
            report = sync.pull_records(engine, config, connection.name, obj, ids, actor="webhook", origin="webhook")
            receipt.pulled[obj] = report.totals()
    except SyncRefused as exc:
        _release(engine, fresh)
        raise NotReceiving(str(exc)) from None
    except (CrmError, SecretUnavailable) as exc:
        _release(engine, fresh)
        raise PullFailed(f"the records could not be pulled now, so the delivery was not taken: {exc}") from None
    except BaseException:
        _release(engine, fresh)
        raise
    return receipt


def _claim(engine, connection_id: int, keys: list[str], now: dt.datetime) -> list[str]:
    """The keys not taken before, now taken. Insert-or-skip, so two copies arriving at once
    (a vendor's retry racing the first delivery) cannot both be pulled, nor fail on the unique key."""
    if not keys:
        return []
    with unit_of_work(engine, "webhook", "webhook") as work:
        dialect = postgresql if work.conn.dialect.name == "postgresql" else sqlite
        rows = [{"connection_id": connection_id, "delivery_key": key, "received_at": now} for key in keys]
        taken = work.conn.execute(
            dialect.insert(WebhookReceipt)
            .values(rows)
            .on_conflict_do_nothing(index_elements=["delivery_key"])
            .returning(WebhookReceipt.delivery_key)
        ).scalars().all()  # fmt: skip
        work.conn.execute(delete(WebhookReceipt).where(WebhookReceipt.received_at < now - KEEP_RECEIPTS))
    return [key for key in keys if key in set(taken)]


def _release(engine, keys: list[str]) -> None:
    if not keys:
        return
    with unit_of_work(engine, "webhook", "webhook") as work:
        work.conn.execute(delete(WebhookReceipt).where(WebhookReceipt.delivery_key.in_(keys)))
