"""Salesforce Outbound Messages: a SOAP notification that records changed, and its acknowledgement.

A workflow rule or flow sends `notifications` (namespace http://soap.sforce.com/2005/09/outbound)
holding the org's `OrganizationId` and one `Notification` per change, each with its own `Id` and an
`sObject` whose `xsi:type` names the object ("sf:Lead") and whose `Id` is the record's. truce
pulls those records at once (truce.services.connectors.sync.pull_records). Salesforce resends a
message until it gets `<Ack>true</Ack>`, so the notification ids let a receiver drop repeats.

The body is parsed with the standard library after refusing any DTD: a notification never has
one, and refusing it closes the door on entity-expansion attacks.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

OUTBOUND = "http://soap.sforce.com/2005/09/outbound"
SOAP = "http://schemas.xmlsoap.org/soap/envelope/"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
MAX_BYTES = 2_000_000


class OutboundRefused(ValueError):
    """Not a notification truce accepts; the message says why (the receiver answers 4xx, no Ack)."""


@dataclass
class OutboundMessage:
    org_id: str
    records: dict[str, list[str]] = field(default_factory=dict)  # object name → record ids, in order
    notification_ids: list[str] = field(default_factory=list)


def parse(body: bytes | str, expected_org: str | None) -> OutboundMessage:
    """The org, the records by object and the notification ids; refuses another org or a malformed body."""
    raw = body.encode() if isinstance(body, str) else body
    if len(raw) > MAX_BYTES:
        raise OutboundRefused("outbound message larger than 2 MB")
    if b"<!DOCTYPE" in raw.upper() or b"<!ENTITY" in raw.upper():
        raise OutboundRefused("outbound message with a DTD refused")
    try:
        root = ET.fromstring(raw)
    except ET.ParseError as exc:
        raise OutboundRefused(f"not XML: {exc}") from None
    notifications = root.find(f".//{{{OUTBOUND}}}notifications")
    if notifications is None:
        raise OutboundRefused("no <notifications> element in the namespace of Salesforce outbound messages")
    org = (notifications.findtext(f"{{{OUTBOUND}}}OrganizationId") or "").strip()
    if not org:
        raise OutboundRefused("outbound message without OrganizationId")
    if not expected_org:
        raise OutboundRefused(
            "this connection has no org id to check messages against; run `truce connect salesforce --org-id …`"
        )
    if org[:15] != expected_org.strip()[:15]:  # an org id is 15 or 18 characters; the first 15 are the id
        raise OutboundRefused(f"outbound message from org {org}, not this connection's org")
    message = OutboundMessage(org)
    for note in notifications.findall(f"{{{OUTBOUND}}}Notification"):
        message.notification_ids.append((note.findtext(f"{{{OUTBOUND}}}Id") or "").strip())
        record = note.find(f"{{{OUTBOUND}}}sObject")
        if record is None:
            raise OutboundRefused("a Notification without an sObject")
        kind = record.get(f"{{{XSI}}}type", "").rpartition(":")[2]
        record_id = next(((child.text or "").strip() for child in record if child.tag.rpartition("}")[2] == "Id"), "")
        if not kind or not record_id:
            raise OutboundRefused("an sObject without its type or Id")
        message.records.setdefault(kind, []).append(record_id)
    return message


def acknowledgement(ok: bool = True) -> str:
    """The SOAP answer Salesforce waits for; with `ok` false it will send the message again later."""
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<soapenv:Envelope xmlns:soapenv="{SOAP}"><soapenv:Body>'
        f'<notificationsResponse xmlns="{OUTBOUND}"><Ack>{"true" if ok else "false"}</Ack></notificationsResponse>'
        "</soapenv:Body></soapenv:Envelope>"
    )
