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

The vendor rules themselves live once, in the vendor packages: the signature, the timestamp
window, the portal and the records an event names in `hubspot.signature`; the SOAP message, its
org and its notifications in `salesforce.outbound`. This module adds what both share: which
connection, the replay receipts, the pull, and the HTTP status of each refusal.

Vendors deliver at least once and retry what was not acknowledged, so every event is
taken once: its key (HubSpot's eventId, Salesforce's Notification Id) goes into
webhook_receipts (unique) before the pull, and an event seen before is acknowledged without
pulling again. A pull that fails gives its keys back, so the vendor's retry pulls them.
The records behind a lost event still come in with the next scheduled sync (its cursor).
"""

from __future__ import annotations

import datetime as dt
import hmac
import json
from collections import defaultdict
from dataclasses import dataclass, field

from sqlalchemy import Engine, delete
from sqlalchemy.dialects import postgresql, sqlite

from truce.config import TruceConfig
from truce.services.connectors import connections, sync
from truce.services.connectors.errors import CrmError, SyncRefused
from truce.services.connectors.hubspot import signature as hubspot_webhooks
from truce.services.connectors.salesforce import outbound
from truce.services.connectors.secrets import SecretUnavailable
from truce.store.models import WebhookReceipt
from truce.store.work import unit_of_work

SALESFORCE_OBJECTS = ("Lead", "Contact", "Account", "Opportunity")
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


def receive_hubspot(engine: Engine, config: TruceConfig, name: str, *, method: str, uri: str, body: bytes,
                    signature: str | None, timestamp: str | None, now: dt.datetime | None = None) -> Receipt:  # fmt: skip
    """Check a HubSpot delivery and pull the records its events name."""
    now = now or dt.datetime.now(dt.UTC)
    connection = _receiving(engine, name, "hubspot")
    refused = hubspot_webhooks.verify_v3(_webhook_secret(connection), method, uri, body, timestamp, signature, now,
                                         config.connectors.hubspot.webhook_window_seconds)  # fmt: skip
    if refused:
        raise Forged(refused)
    events = _hubspot_events(body)
    portal = str(connection.settings.get("portal_id") or "")
    wrong = hubspot_webhooks.other_portals(events, portal)
    if wrong:
        raise Forged(f"the events come from HubSpot account {', '.join(wrong)}, not {portal} (this connection's)")
    keyed: dict[str, list[tuple[str, list[str]]]] = {}
    ignored = 0
    for event in events:
        named = {
            obj: [i for i in ids if len(i) <= MAX_ID] for obj, ids in hubspot_webhooks.records_named(event).items()
        }
        if not named:
            ignored += 1
            continue
        # HubSpot does not promise eventId unique on its own: with the object and the moment it names one change.
        key = f"hubspot:{connection.id}:{event['eventId']}:{event.get('objectId', '')}:{event.get('occurredAt', '')}"
        keyed[key[:200]] = list(named.items())
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
        # An association change names its two sides (fromObjectId, toObjectId), not an objectId.
        association = str(event.get("subscriptionType")).endswith("associationChange")
        sides = ("fromObjectId", "toObjectId") if association else ("objectId",)
        for name in ("eventId", "subscriptionType", *sides):
            value = event.get(name)
            if isinstance(value, bool) or not isinstance(value, int | str) or not 0 < len(str(value)) <= MAX_ID:
                raise Malformed(f"event {place} has no {name} (text or a number of at most {MAX_ID} characters)")
    return events


# ---- Salesforce -----------------------------------------------------------------------------------


def receive_salesforce(engine: Engine, config: TruceConfig, name: str, *, key: str | None, body: bytes,
                       now: dt.datetime | None = None) -> Receipt:  # fmt: skip
    """Check a Salesforce outbound message and pull the records its notifications name."""
    now = now or dt.datetime.now(dt.UTC)
    connection = _receiving(engine, name, "salesforce")
    secret = _webhook_secret(connection)
    if not key or not hmac.compare_digest(key.encode(), secret.encode()):
        raise Forged("the URL's key is not this connection's webhook secret")
    try:
        message = outbound.parse(body, str(connection.settings.get("org_id") or ""))
    except outbound.ForeignOrg as exc:
        raise Forged(str(exc)) from None
    except outbound.OutboundRefused as exc:
        raise Malformed(str(exc)) from None
    keyed, ignored = {}, 0
    for note in message.notifications:
        if note.sobject not in SALESFORCE_OBJECTS:
            ignored += 1
            continue
        keyed[f"salesforce:{connection.id}:{note.notification_id}"] = [(note.sobject, [note.record_id])]
    receipt = Receipt(connection.name, events=len(message.notifications), ignored=ignored)
    return _take(engine, config, connection, keyed, receipt, now)


ACK = outbound.acknowledgement()


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


def _take(engine, config, connection, keyed: dict[str, list[tuple[str, list[str]]]], receipt: Receipt, now) -> Receipt:
    """Claim the events not seen before, pull their records, and give the claims back if the pull fails."""
    fresh = _claim(engine, connection.id, list(keyed), now)
    receipt.new, receipt.replayed = len(fresh), len(keyed) - len(fresh)
    wanted: dict[str, list[str]] = defaultdict(list)
    for key in fresh:
        for obj, ids in keyed[key]:
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
