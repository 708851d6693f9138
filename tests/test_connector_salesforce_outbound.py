"""Salesforce Outbound Messages: which records changed, from which org, and the acknowledgement.

Documented shape relied on (Outbound Messaging WSDL): a SOAP envelope whose body holds
`notifications` (namespace http://soap.sforce.com/2005/09/outbound) with `OrganizationId`,
`ActionId`, `SessionId`, `EnterpriseUrl`, `PartnerUrl` and one `Notification` per change, each with
`Id` and an `sObject` typed `xsi:type="sf:<Object>"` holding `sf:Id` and the chosen fields; the
listener answers `notificationsResponse` with `<Ack>true</Ack>`.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from truce.services.connectors.salesforce.outbound import ForeignOrg, OutboundRefused, acknowledgement, parse

ORG = "00D5g000000TRUCEAAA"


def envelope(org: str = ORG, notes: tuple[tuple[str, str, str], ...] = ()) -> str:
    body = "".join(
        f'<Notification><Id>{note}</Id><sObject xsi:type="sf:{kind}" xmlns:sf="urn:sobject.enterprise.soap.sforce.com">'
        f"<sf:Id>{record}</sf:Id><sf:Email>x@acme.example</sf:Email></sObject></Notification>"
        for note, kind, record in notes
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
        'xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
        '<soapenv:Body><notifications xmlns="http://soap.sforce.com/2005/09/outbound">'
        f"<OrganizationId>{org}</OrganizationId><ActionId>04k5g000000ACTNAAA</ActionId>"
        '<SessionId xsi:nil="true"/><EnterpriseUrl>https://acme.my.salesforce.com/services/Soap/c/62.0</EnterpriseUrl>'
        "<PartnerUrl>https://acme.my.salesforce.com/services/Soap/u/62.0</PartnerUrl>"
        f"{body}</notifications></soapenv:Body></soapenv:Envelope>"
    )


def test_it_reads_the_changed_records_by_object_and_the_notification_ids():
    message = parse(envelope(notes=(("04l1", "Lead", "00Q000000000001AAA"), ("04l2", "Contact", "003000000000002AAA"),
                                    ("04l3", "Lead", "00Q000000000003AAA"))), ORG)  # fmt: skip
    assert message.org_id == ORG
    assert message.records == {"Lead": ["00Q000000000001AAA", "00Q000000000003AAA"], "Contact": ["003000000000002AAA"]}
    assert message.notification_ids == ["04l1", "04l2", "04l3"]


def test_it_accepts_the_15_character_form_of_the_org_id():
    assert parse(envelope(notes=(("04l1", "Lead", "00Q000000000001AAA"),)), ORG[:15]).org_id == ORG


def test_it_refuses_another_org():
    with pytest.raises(OutboundRefused, match="not this connection's org"):
        parse(envelope(org="00D5g000000OTHERAAA"), ORG)


def test_it_refuses_without_an_org_to_check_against():
    with pytest.raises(OutboundRefused, match="--org-id"):
        parse(envelope(), None)


@pytest.mark.parametrize(
    ("body", "why"),
    [
        ("<not xml", "not XML"),
        ("<a/>", "no <notifications>"),
        ('<?xml version="1.0"?><!DOCTYPE a [<!ENTITY x "y">]><a>&x;</a>', "DTD"),
    ],
)
def test_it_refuses_what_is_not_a_notification(body, why):
    with pytest.raises(OutboundRefused, match=why):
        parse(body, ORG)


def test_the_acknowledgement_is_the_soap_answer_salesforce_waits_for():
    root = ET.fromstring(acknowledgement())
    ack = root.find(".//{http://soap.sforce.com/2005/09/outbound}notificationsResponse/"
                    "{http://soap.sforce.com/2005/09/outbound}Ack")  # fmt: skip
    assert root.tag == "{http://schemas.xmlsoap.org/soap/envelope/}Envelope" and ack.text == "true"
    assert "<Ack>false</Ack>" in acknowledgement(ok=False)


def test_it_refuses_a_dtd_hidden_in_a_utf16_body():
    """expat reads UTF-16 (its byte-order mark); a search of the bytes for "<!DOCTYPE" would not see one."""
    body = '<?xml version="1.0" encoding="UTF-16"?><!DOCTYPE a [<!ENTITY x "y">]><a>&x;</a>'.encode("utf-16")
    with pytest.raises(OutboundRefused, match="DTD"):
        parse(body, ORG)


@pytest.mark.parametrize(
    ("notes", "why"),
    [((), "no Notification"), ((("", "Lead", "00Q000000000001AAA"),), "notification 0 has no Id")],
)
def test_it_refuses_a_message_without_notifications_or_with_an_empty_notification_id(notes, why):
    """The notification Id is the replay key: an empty one would make later ones look seen before."""
    with pytest.raises(OutboundRefused, match=why):
        parse(envelope(notes=notes), ORG)


def test_another_org_is_told_apart_from_a_malformed_message():
    """The receiver answers another org 401 (forged) and a malformed body 400."""
    with pytest.raises(ForeignOrg):
        parse(envelope(org="00D5g000000OTHERAAA", notes=(("04l1", "Lead", "00Q000000000001AAA"),)), ORG)
    with pytest.raises(OutboundRefused) as refused:
        parse("<a/>", ORG)
    assert not isinstance(refused.value, ForeignOrg)
