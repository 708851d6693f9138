"""HubSpot webhook signature v3 and the records a delivery names.

Documented behaviour relied on (HubSpot, "Validating requests"): `X-HubSpot-Signature-v3` is the
base64 of HMAC-SHA256, keyed with the app's client secret, over the UTF-8 string method + URI +
body + `X-HubSpot-Request-Timestamp`; URL-encoded characters such as %3A are decoded in the URI;
timestamps older than 5 minutes are refused. Webhook events carry `subscriptionType`,
`objectId`, `eventId`, `occurredAt`; merges `primaryObjectId`/`mergedObjectIds`; association
changes `associationType`, `fromObjectId`, `toObjectId`; `object.*` events `objectTypeId`.

The expected signatures are computed by a second HMAC written here from RFC 2104 (not hmac.new),
itself checked against RFC 4231's published test case 2.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib

from truce.services.connectors.hubspot.signature import changed_records, other_portals, verify_v3


def hmac_sha256_by_hand(key: bytes, message: bytes) -> bytes:
    """RFC 2104: H((K ^ opad) || H((K ^ ipad) || m)), 64-byte blocks."""
    key = hashlib.sha256(key).digest() if len(key) > 64 else key
    key = key.ljust(64, b"\0")
    inner = hashlib.sha256(bytes(b ^ 0x36 for b in key) + message).digest()
    return hashlib.sha256(bytes(b ^ 0x5C for b in key) + inner).digest()


def test_the_hand_made_hmac_matches_rfc_4231():
    assert hmac_sha256_by_hand(b"Jefe", b"what do ya want for nothing?").hex() == (
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
    )


SECRET = "yyyyyyyy-yyyy-yyyy-yyyy-yyyyyyyyyyyy"
URI = "https://truce.acme.example/api/webhooks/hubspot/hubspot"
BODY = '[{"eventId":1,"subscriptionId":12345,"portalId":62515,"occurredAt":1764582000000,"subscriptionType":"contact.propertyChange","attemptNumber":0,"objectId":301,"propertyName":"lifecyclestage","propertyValue":"marketingqualifiedlead","changeSource":"CRM"}]'
SENT_MS = "1764582000000"  # 2025-12-01T09:40:00Z
NOW = dt.datetime.fromtimestamp(1764582000000 / 1000 + 60, dt.UTC)  # a minute later


def expected(method: str, uri: str, body: str, timestamp: str) -> str:
    return base64.b64encode(hmac_sha256_by_hand(SECRET.encode(), (method + uri + body + timestamp).encode())).decode()


def test_a_delivery_signed_with_the_client_secret_is_accepted():
    signature = expected("POST", URI, BODY, SENT_MS)
    assert verify_v3(SECRET, "POST", URI, BODY.encode(), SENT_MS, signature, NOW) is None


def test_the_uri_is_signed_with_its_encoded_characters_decoded():
    signed = expected("POST", URI + "?from=hub:spot", BODY, SENT_MS)
    assert verify_v3(SECRET, "POST", URI + "?from=hub%3Aspot", BODY, SENT_MS, signed, NOW) is None


def test_a_forged_stale_or_incomplete_delivery_is_refused_with_the_reason():
    good = expected("POST", URI, BODY, SENT_MS)
    forged = BODY.replace("301", "302")
    assert verify_v3(SECRET, "POST", URI, forged, SENT_MS, good, NOW) == "bad signature"
    assert verify_v3("another-secret", "POST", URI, BODY, SENT_MS, good, NOW) == "bad signature"
    six_minutes = NOW + dt.timedelta(minutes=5)
    assert verify_v3(SECRET, "POST", URI, BODY, SENT_MS, good, six_minutes).startswith("stale: signed 360 seconds ago")
    assert verify_v3(SECRET, "POST", URI, BODY, SENT_MS, None, NOW) == "missing X-HubSpot-Signature-v3"
    assert verify_v3(SECRET, "POST", URI, BODY, None, good, NOW) == "missing X-HubSpot-Request-Timestamp"
    assert verify_v3(None, "POST", URI, BODY, SENT_MS, good, NOW).startswith("no webhook secret")


def test_a_batch_of_events_names_each_changed_record_once():
    events = [
        {"eventId": 1, "subscriptionType": "contact.propertyChange", "objectId": 301, "occurredAt": 1},
        {"eventId": 2, "subscriptionType": "contact.propertyChange", "objectId": 301, "occurredAt": 2},
        {"eventId": 3, "subscriptionType": "deal.creation", "objectId": 401, "occurredAt": 3},
        {"eventId": 4, "subscriptionType": "contact.merge", "objectId": 305, "primaryObjectId": 305,
         "mergedObjectIds": [302], "occurredAt": 4},
        {"eventId": 5, "subscriptionType": "contact.associationChange", "associationType": "CONTACT_TO_COMPANY",
         "fromObjectId": 303, "toObjectId": 201, "occurredAt": 5},
        {"eventId": 6, "subscriptionType": "object.propertyChange", "objectTypeId": "0-49", "objectId": 501, "occurredAt": 6},
        {"eventId": 7, "subscriptionType": "ticket.creation", "objectId": 9, "occurredAt": 7},
        {"eventId": 8, "subscriptionType": "company.deletion", "objectId": 202, "occurredAt": 8},
    ]  # fmt: skip
    assert changed_records(events) == {
        "contacts": ["301", "305", "302", "303"],
        "deals": ["401"],
        "companies": ["201", "202"],
        "emails": ["501"],
    }


def test_a_timestamp_that_is_not_plain_digits_is_refused_before_any_arithmetic():
    """HubSpot sends epoch milliseconds as ASCII digits; "+…", "…_…" or a superscript digit are forged."""
    good = expected("POST", URI, BODY, SENT_MS)
    for odd in ("+" + SENT_MS, SENT_MS[:4] + "_" + SENT_MS[4:], SENT_MS[:-1] + "\u00b2", "9" * 40):
        assert verify_v3(SECRET, "POST", URI, BODY, odd, good, NOW).endswith("is not epoch milliseconds")


def test_a_timestamp_from_the_future_is_refused_as_well():
    early = NOW - dt.timedelta(minutes=7)  # the clock here is six minutes behind the sender's
    assert verify_v3(SECRET, "POST", URI, BODY, SENT_MS, expected("POST", URI, BODY, SENT_MS), early).startswith(
        "request timestamp 360 seconds in the future"
    )


def test_only_other_portals_are_named():
    events = [{"portalId": 62515}, {"portalId": 99999}, {"portalId": "62515"}]
    assert other_portals(events, "62515") == ["99999"]
    assert other_portals(events, None) == [], "a connection without a portal id takes any account's events"
