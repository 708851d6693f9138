"""HubSpot webhooks: is a delivery really HubSpot's (signature v3), and which records it names.

The v3 signature (`X-HubSpot-Signature-v3`) is the base64 HMAC-SHA256, keyed with the app's client
secret, of method + full request URI + raw body + `X-HubSpot-Request-Timestamp` (epoch ms).
HubSpot asks receivers to refuse timestamps older than five minutes and to compare in constant
time. Deliveries are JSON arrays of events, batched and retried, so the same record can be named
several times: the ids come back once each. Pure functions; the receiver route does the I/O.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac

# HubSpot signs the URI with these characters decoded, whichever way the receiver sees them.
_DECODED = {
    "%3A": ":", "%2F": "/", "%3F": "?", "%40": "@", "%21": "!", "%24": "$", "%27": "'",
    "%28": "(", "%29": ")", "%2A": "*", "%2C": ",", "%3B": ";",
}  # fmt: skip

# objectTypeId of the generic `object.*` events → the object truce reads.
OBJECT_TYPES = {
    "0-1": "contacts", "0-2": "companies", "0-3": "deals",
    "0-46": "notes", "0-47": "meetings", "0-48": "calls", "0-49": "emails",
}  # fmt: skip
# The older per-object subscription names: contact.propertyChange, company.creation, deal.merge, …
SUBSCRIPTION_OBJECTS = {"contact": "contacts", "company": "companies", "deal": "deals"}


def _decoded(uri: str) -> str:
    for encoded, plain in _DECODED.items():
        uri = uri.replace(encoded, plain).replace(encoded.lower(), plain)
    return uri


def signature_v3(secret: str, method: str, uri: str, body: bytes | str, timestamp: str) -> str:
    """The signature HubSpot sends for this request (what `verify_v3` compares with)."""
    raw = body.encode() if isinstance(body, str) else body
    message = method.upper().encode() + _decoded(uri).encode() + raw + str(timestamp).encode()
    return base64.b64encode(hmac.new(secret.encode(), message, hashlib.sha256).digest()).decode()


def verify_v3(
    secret: str | None,
    method: str,
    uri: str,
    body: bytes | str,
    timestamp: str | None,
    signature: str | None,
    now: dt.datetime,
    window_seconds: int = 300,
) -> str | None:
    """None when the delivery is HubSpot's and fresh; else why it is refused (missing, stale, bad)."""
    if not secret:
        return "no webhook secret is set for this connection (truce connect hubspot --webhook-secret-env …)"
    if not signature:
        return "missing X-HubSpot-Signature-v3"
    if not timestamp:
        return "missing X-HubSpot-Request-Timestamp"
    # Digits only: int() would also take "+5", " 5" or "1_000", which HubSpot never sends.
    if not (timestamp.isascii() and timestamp.isdigit()) or len(timestamp) > 15:
        return f"X-HubSpot-Request-Timestamp {timestamp[:20]!r} is not epoch milliseconds"
    age = now.timestamp() - int(timestamp) / 1000
    # A delivery from the future is as suspect as a stale one (a clock far off, or a forged header).
    if age > window_seconds:
        return f"stale: signed {age:.0f} seconds ago, more than the {window_seconds} allowed (request timestamp)"
    if age < -window_seconds:
        return f"request timestamp {-age:.0f} seconds in the future, more than the {window_seconds} allowed"
    expected = signature_v3(secret, method, uri, body, timestamp)
    if not hmac.compare_digest(expected.encode(), signature.strip().encode()):
        return "bad signature"
    return None


def object_of(event: dict) -> str | None:
    kind = str(event.get("subscriptionType") or "")
    prefix = kind.split(".", 1)[0]
    if prefix == "object":
        return OBJECT_TYPES.get(str(event.get("objectTypeId") or ""))
    return SUBSCRIPTION_OBJECTS.get(prefix)


def records_named(event: dict) -> dict[str, list[str]]:
    """{object name: [ids]} one event names (see `changed_records`); {} for objects truce does not read."""
    found: dict[str, dict[str, None]] = {}

    def add(name: str | None, crm_id) -> None:
        if name and isinstance(crm_id, int | str) and not isinstance(crm_id, bool) and str(crm_id):
            found.setdefault(name, {})[str(crm_id)] = None

    kind = str(event.get("subscriptionType") or "")
    if kind.endswith("associationChange"):
        left, _, right = str(event.get("associationType") or "").partition("_TO_")
        add(SUBSCRIPTION_OBJECTS.get(left.lower()), event.get("fromObjectId"))
        add(SUBSCRIPTION_OBJECTS.get(right.lower()), event.get("toObjectId"))
        return {name: list(ids) for name, ids in found.items()}
    name = object_of(event)
    add(name, event.get("objectId"))
    if kind.endswith(".merge"):
        add(name, event.get("primaryObjectId"))
        for merged in event.get("mergedObjectIds") or []:
            add(name, merged)
    return {name: list(ids) for name, ids in found.items()}


def changed_records(events: list[dict]) -> dict[str, list[str]]:
    """{object name: [ids]} a batch of events names, each id once, in the order first named.

    A merge names the survivor and the merged-away ids (a pull of them marks the merge); an
    association change names the record on each side; a deletion names the deleted id, which a
    pull finds gone and marks deleted. Events of objects truce does not read are left out.
    """
    found: dict[str, dict[str, None]] = {}
    for event in events:
        for name, ids in records_named(event).items():
            found.setdefault(name, {}).update(dict.fromkeys(ids))
    return {name: list(ids) for name, ids in found.items()}


def other_portals(events: list[dict], portal_id: str | None) -> list[str]:
    """The HubSpot accounts (portalId) other than the connection's that events come from.

    One app's client secret signs deliveries for every account that installed it, so a valid
    signature alone does not say the events are this connection's account's."""
    if not portal_id:
        return []
    return sorted({str(e.get("portalId")) for e in events if str(e.get("portalId")) != str(portal_id)})
