"""Salesforce Outbound Messages: a SOAP notification that records changed, and its acknowledgement.

A workflow rule or flow sends `notifications` (namespace http://soap.sforce.com/2005/09/outbound)
holding the org's `OrganizationId` and one `Notification` per change, each with its own `Id` and an
`sObject` whose `xsi:type` names the object ("sf:Lead") and whose `Id` is the record's. truce
pulls those records at once (truce.services.connectors.sync.pull_records). Salesforce resends a
message until it gets `<Ack>true</Ack>`, so the notification ids let a receiver drop repeats.

The body is parsed with the standard library after refusing any DTD: a notification never has
one, and refusing it closes the door on entity-expansion attacks. The refusal is expat's own
(a handler on the document type), not a search of the bytes, so a body in UTF-16 cannot slip one by.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
import xml.parsers.expat
from dataclasses import dataclass, field

OUTBOUND = "http://soap.sforce.com/2005/09/outbound"
SOAP = "http://schemas.xmlsoap.org/soap/envelope/"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
MAX_BYTES = 2_000_000
MAX_NOTIFICATIONS = 1000  # Salesforce sends at most 100 in one message
MAX_ID = 100  # characters of a notification's or a record's id (an id is 15 or 18)


class OutboundRefused(ValueError):
    """Not a notification truce accepts; the message says why (the receiver answers 4xx, no Ack)."""


class ForeignOrg(OutboundRefused):
    """A well-formed message from another org, or no org on the connection to check it against."""


@dataclass(frozen=True)
class Notification:
    notification_id: str  # Salesforce's id of this notification: the same on every resend
    sobject: str  # "Lead", from xsi:type="sf:Lead"
    record_id: str


@dataclass
class OutboundMessage:
    org_id: str
    notifications: list[Notification] = field(default_factory=list)

    @property
    def records(self) -> dict[str, list[str]]:
        """Object name → record ids, in order."""
        found: dict[str, list[str]] = {}
        for note in self.notifications:
            found.setdefault(note.sobject, []).append(note.record_id)
        return found

    @property
    def notification_ids(self) -> list[str]:
        return [note.notification_id for note in self.notifications]


def parse(body: bytes | str, expected_org: str | None) -> OutboundMessage:
    """The org and its notifications; refuses another org (ForeignOrg) or a malformed body."""
    raw = body.encode() if isinstance(body, str) else body
    if len(raw) > MAX_BYTES:
        raise OutboundRefused("outbound message larger than 2 MB")
    _refuse_document_types(raw)
    try:
        root = ET.fromstring(raw)
    except ET.ParseError as exc:
        raise OutboundRefused(f"not XML: {exc}") from None
    notifications = root if root.tag == f"{{{OUTBOUND}}}notifications" else root.find(f".//{{{OUTBOUND}}}notifications")
    if notifications is None:
        raise OutboundRefused("no <notifications> element in the namespace of Salesforce outbound messages")
    org = (notifications.findtext(f"{{{OUTBOUND}}}OrganizationId") or "").strip()
    if not org:
        raise OutboundRefused("outbound message without OrganizationId")
    if not expected_org:
        raise ForeignOrg(
            "this connection has no org id to check messages against; run `truce connect salesforce --org-id …`"
        )
    if org[:15] != expected_org.strip()[:15]:  # an org id is 15 or 18 characters; the first 15 are the id
        raise ForeignOrg(f"outbound message from org {org[:MAX_ID]}, not this connection's org")
    message = OutboundMessage(org)
    for place, note in enumerate(notifications.findall(f"{{{OUTBOUND}}}Notification")):
        message.notifications.append(_notification(place, note))
    if not message.notifications:
        raise OutboundRefused("the message has no Notification")
    if len(message.notifications) > MAX_NOTIFICATIONS:
        raise OutboundRefused(
            f"{len(message.notifications)} notifications in one message; truce takes {MAX_NOTIFICATIONS}"
        )
    return message


def _notification(place: int, note: ET.Element) -> Notification:
    # Its Id is the replay key: an empty one would make every such notification "seen before".
    notification_id = (note.findtext(f"{{{OUTBOUND}}}Id") or "").strip()
    if not 0 < len(notification_id) <= MAX_ID:
        raise OutboundRefused(f"notification {place} has no Id (of at most {MAX_ID} characters)")
    record = note.find(f"{{{OUTBOUND}}}sObject")
    if record is None:
        raise OutboundRefused(f"notification {place} has no sObject")
    kind = record.get(f"{{{XSI}}}type", "").rpartition(":")[2]
    record_id = next(((child.text or "").strip() for child in record if child.tag.rpartition("}")[2] == "Id"), "")
    if not kind or not 0 < len(record_id) <= MAX_ID:
        raise OutboundRefused(f"notification {place}'s sObject has no xsi:type or no Id")
    return Notification(notification_id, kind, record_id)


def _refuse_document_types(raw: bytes) -> None:
    """A document type declaration (DTD) anywhere refuses the body, before any entity is expanded."""

    def refuse(*_args) -> None:
        raise OutboundRefused("a document type declaration (DTD) or entity is not taken in an outbound message")

    parser = xml.parsers.expat.ParserCreate()
    parser.StartDoctypeDeclHandler = refuse
    parser.EntityDeclHandler = refuse
    try:
        parser.Parse(raw, True)
    except xml.parsers.expat.ExpatError:
        pass  # not XML: ElementTree says so next, with its own message


def acknowledgement(ok: bool = True) -> str:
    """The SOAP answer Salesforce waits for; with `ok` false it will send the message again later."""
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<soapenv:Envelope xmlns:soapenv="{SOAP}"><soapenv:Body>'
        f'<notificationsResponse xmlns="{OUTBOUND}"><Ack>{"true" if ok else "false"}</Ack></notificationsResponse>'
        "</soapenv:Body></soapenv:Envelope>"
    )
