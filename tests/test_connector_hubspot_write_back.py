"""Writing truce's decisions into HubSpot: translated to HubSpot's properties, sent once, and never
over a change HubSpot holds that is newer than truce's read.

Documented behaviour relied on (HubSpot API reference): PATCH /crm/v3/objects/{object}/{id} with
`{"properties": {...}}`; GET /crm/v3/objects/{object}/{id}?propertiesWithHistory=… answers
`propertiesWithHistory.{name}[].value/timestamp`; 404 for a record that is gone; the default lead
statuses OPEN, IN_PROGRESS, UNQUALIFIED, BAD_TIMING; lifecycle stage internal values.
"""

from __future__ import annotations

import datetime as dt

import pytest

from tests.fakes.hubspot import FakeHubSpot, connect, connector, hubspot_config, running, small_crm
from truce.services.connectors.hubspot.write_back import WriteBackProblem, hubspot_values
from truce.services.connectors.sync import sync

READ_AT = dt.datetime(2026, 11, 10, 9, 0, tzinfo=dt.UTC)


@pytest.fixture
def config(default_config):
    return hubspot_config(default_config)


@pytest.fixture
def hub():
    crm = FakeHubSpot(records=small_crm())
    with running(crm) as url:
        crm.url = url
        yield crm


@pytest.fixture
def store(engine, config, hub, monkeypatch):
    connect(engine, config, hub.url, monkeypatch)
    sync(engine, config, "hubspot", only=["owners"], connector=connector(engine, config))
    return engine


def test_a_rejection_arrives_once_with_its_reason_and_the_owner_as_hubspot_knows_them(store, config, hub):
    result = connector(store, config).write_back(
        "contacts", "302", {"handoff_status": "rejected", "rejection_reason": "no_budget", "owner": "ann@acme.example"},
        READ_AT,
    )  # fmt: skip
    assert result.status == "sent"
    assert hub.patches == [
        (
            "contacts",
            "302",
            {"hs_lead_status": "UNQUALIFIED", "truce_rejection_reason": "no_budget", "hubspot_owner_id": "101"},
        )
    ]
    stored = hub.records.live["contacts"]["302"]["properties"]
    assert (stored["hs_lead_status"], stored["hubspot_owner_id"]) == ("UNQUALIFIED", "101")


def test_a_change_in_hubspot_after_truce_read_the_record_wins(store, config, hub):
    hub.records.put("contacts", 302, "2026-11-10T09:30:00Z", hs_lead_status="CONNECTED")  # a seller, after truce's read
    result = connector(store, config).write_back("contacts", "302", {"handoff_status": "rejected"}, READ_AT)
    assert result.status == "conflict" and hub.patches == []
    assert "hs_lead_status was set to 'CONNECTED' in HubSpot at 2026-11-10T09:30:00+00:00" in result.detail
    assert result.crm_modified_at == dt.datetime(2026, 11, 10, 9, 30, tzinfo=dt.UTC)


def test_a_change_before_truce_read_the_record_is_written_over(store, config, hub):
    hub.records.put("contacts", 302, "2026-11-10T08:30:00Z", hs_lead_status="CONNECTED")
    result = connector(store, config).write_back("contacts", "302", {"handoff_status": "accepted"}, READ_AT)
    assert result.status == "sent" and hub.patches == [("contacts", "302", {"hs_lead_status": "IN_PROGRESS"})]


def test_property_names_follow_the_config_and_stages_map_back_to_hubspot_values(default_config):
    config = hubspot_config(default_config, write_back={"fields": {"mql_score": "lead_score_from_truce"}})
    assert hubspot_values(config, None, {"mql_score": "72", "lifecycle_stage": "sql", "sla_breach": "true",
                                         "score_link": "https://truce.acme.example/leads/9"}) == {
        "lead_score_from_truce": "72",
        "lifecyclestage": "salesqualifiedlead",
        "truce_sla_breach": "true",
        "truce_score_link": "https://truce.acme.example/leads/9",
    }  # fmt: skip
    with pytest.raises(
        WriteBackProblem, match="lifecycle_stage: no HubSpot lifecycle stage maps to truce's 'recycled'"
    ):
        hubspot_values(config, None, {"lifecycle_stage": "recycled"})
    with pytest.raises(WriteBackProblem, match="handoff_status: 'maybe'"):
        hubspot_values(config, None, {"handoff_status": "maybe"})


def test_an_owner_truce_does_not_know_is_asked_of_hubspot_and_a_gone_record_is_skipped(store, config, hub):
    hub.records.add_owner(104, "new.seller@acme.example")
    sent = connector(store, config).write_back("contacts", "301", {"owner": "new.seller@acme.example"}, None)
    assert sent.status == "sent" and hub.patches[-1] == ("contacts", "301", {"hubspot_owner_id": "104"})
    gone = connector(store, config).write_back("contacts", "999", {"handoff_status": "open"}, READ_AT)
    assert gone.status == "skipped" and "no longer exists" in gone.detail
    unknown = connector(store, config).write_back("contacts", "301", {"owner": "nobody@acme.example"}, READ_AT)
    assert unknown.status == "skipped" and "owner: 'nobody@acme.example' is not a HubSpot owner" in unknown.detail
