"""The Salesforce connector against a fake org: every object lands as the file importer would write it,
by SOQL on queryAll with nextRecordsUrl paging and by Bulk API 2.0 for a full sync; a second sync
changes nothing; a killed sync resumes without gap or duplicate; deletions, merges, conversions and
bad records are handled; LeadHistory becomes dated ledger moves and an MQL enters the queue.

Documented fields relied on (tests/fakes/salesforce.py serves them): queryAll's `records`, `done`,
`nextRecordsUrl`, `IsDeleted`, `MasterRecordId`; the objects' API names (User.Email/Name/IsActive,
Account.Website/Industry/NumberOfEmployees/BillingCountry/OwnerId, Contact.AccountId/LeadSource,
Lead.Status/Company/IsConverted/ConvertedContactId/ConvertedDate, Campaign.Type/BudgetedCost/
ActualCost/StartDate/EndDate, Opportunity.StageName/Amount/CloseDate/CampaignId,
CampaignMember.CampaignId/LeadId/ContactId/Status/FirstRespondedDate, Task.WhoId/TaskSubtype/
CompletedDateTime, Event.WhoId/StartDateTime, LeadHistory and OpportunityFieldHistory Field/OldValue/
NewValue/CreatedDate/CreatedById, SystemModstamp); Bulk 2.0's job `state` and `Sforce-Locator`.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from sqlalchemy import select

from tests.fakes.salesforce import TOML, FakeSalesforce, Killed, connect, connector, run, serving, small_org
from truce import config as truce_config
from truce.services.connectors import connections
from truce.services.connectors.sync import pull_records, sync
from truce.store.models import (
    Account,
    Campaign,
    Contact,
    CrmSyncCursor,
    Handoff,
    Opportunity,
    StageChange,
    Touchpoint,
    User,
)

UTC = dt.UTC


@pytest.fixture(scope="module")
def config():
    return truce_config.parse(TOML, "truce.toml")


@pytest.fixture
def org():
    fake = FakeSalesforce()
    with serving(fake):
        yield fake


@pytest.fixture
def ids(org):
    return small_org(org)


@pytest.fixture
def connected(engine, config, org, monkeypatch):
    return connect(engine, config, org, monkeypatch)


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=UTC)


def aware(moment):
    return moment if moment is None or moment.tzinfo else moment.replace(tzinfo=UTC)


def snapshot(engine) -> dict:
    """Every synced table as plain rows keyed by the CRM id (store ids replaced by CRM ids or names)."""
    with engine.connect() as conn:
        users = {u.id: u.external_id for u in conn.execute(select(User))}
        accounts = {a.id: a.salesforce_id or a.name for a in conn.execute(select(Account))}
        contacts = {c.id: c.salesforce_id for c in conn.execute(select(Contact))}
        campaigns = {c.id: c.salesforce_id for c in conn.execute(select(Campaign))}
        deals = {o.id: o.salesforce_id for o in conn.execute(select(Opportunity))}
        return {
            "users": {u.external_id: (u.email, u.name, u.team) for u in conn.execute(select(User))},
            "accounts": {a.salesforce_id or a.name: (a.name, a.domain, a.industry, a.employees, a.region,
                                                     users.get(a.owner_id), aware(a.deleted_at) is not None)
                         for a in conn.execute(select(Account))},
            "contacts": {c.salesforce_id: (c.email, c.first_name, c.last_name, c.title, accounts.get(c.account_id),
                                           c.source_channel, c.stage, c.lead_status, users.get(c.owner_id),
                                           c.deleted_at is not None, contacts.get(c.merged_into_id))
                         for c in conn.execute(select(Contact))},
            "campaigns": {c.salesforce_id: (c.name, c.channel, c.budget, c.actual_cost, c.starts_on, c.ends_on,
                                            users.get(c.owner_id)) for c in conn.execute(select(Campaign))},
            "opportunities": {o.salesforce_id: (o.name, accounts.get(o.account_id), o.amount, o.stage, o.status,
                                                o.close_date, campaigns.get(o.campaign_id), users.get(o.owner_id))
                              for o in conn.execute(select(Opportunity))},
            "touchpoints": {t.external_id: (contacts.get(t.contact_id), campaigns.get(t.campaign_id), t.channel, t.kind,
                                            t.touch_type, aware(t.occurred_at), users.get(t.user_id))
                            for t in conn.execute(select(Touchpoint))},
            "ledger": sorted(((s.external_id or "", s.entity_type,
                               (contacts if s.entity_type == "contact" else deals).get(s.entity_id),
                               s.from_stage, s.to_stage, aware(s.changed_at), users.get(s.changed_by_id))
                              for s in conn.execute(select(StageChange))), key=lambda row: (row[5], row[0])),
        }  # fmt: skip


def expected(ids: dict) -> dict:
    """The small org as truce must hold it, worked out by hand from tests/fakes/salesforce.small_org."""
    ann, mia = ids["ann"], ids["mia"]
    return {
        "users": {ann: ("ann@acme.example", "Ann Seller", "sales"), mia: ("mia@acme.example", "Mia Marketer", "marketing")},
        "accounts": {
            ids["acme"]: ("Acme", "acme.example", "Software", 250, "Germany", ann, False),
            # A lead's company is an account by name, as in a file import.
            "Beta GmbH": ("Beta GmbH", None, None, None, None, None, False),
            "Gamma": ("Gamma", None, None, None, None, None, False),
        },
        "contacts": {
            ids["carl"]: ("carl@acme.example", "Carl", "Buyer", "CFO", ids["acme"], "web", "inquiry", None, ann, False, None),
            ids["lena"]: ("lena@beta.example", "Lena", "Lead", None, "Beta GmbH", "webinar", "inquiry", "Raw - New", mia,
                          False, None),
            ids["otto"]: ("otto@gamma.example", "Otto", "Other", None, "Gamma", None, "sal", "Working - Contacted", ann,
                          False, None),
        },
        "campaigns": {ids["webinar"]: ("December webinar", "webinar", Decimal("5000.00"), Decimal("4200.50"),
                                       dt.date(2026, 11, 1), dt.date(2026, 12, 15), mia)},
        "opportunities": {ids["deal"]: ("Acme expansion", ids["acme"], Decimal("48000.00"), "Qualification", "open",
                                        dt.date(2027, 3, 31), ids["webinar"], ann)},
        "touchpoints": {
            f"salesforce-{ids['member']}": (ids["lena"], ids["webinar"], "webinar", "marketing", "responded",
                                            at("2026-11-20T00:00:00"), None),
            f"salesforce-{ids['call']}": (ids["carl"], None, "phone", "sales", "call", at("2026-11-25T14:30:00"), ann),
            f"salesforce-{ids['meeting']}": (ids["lena"], None, "meeting", "sales", "meeting", at("2026-11-27T10:00:00"), ann),
        },
        # The deal moved Prospecting → Qualification at the history row's CreatedDate (the 9th tick).
        "ledger": [(f"salesforce-{ids['deal_moved']}", "opportunity", ids["deal"], "Prospecting", "Qualification",
                    at("2026-12-01T09:00:09"), ann)],
    }  # fmt: skip


def test_it_pulls_every_object_as_the_importer_writes_it(connected, config, org, ids):
    report = run(connected, config)
    assert report.status == "ok" and report.rejects == []
    assert snapshot(connected) == expected(ids)


def test_a_second_sync_reads_nothing_and_changes_nothing(connected, config, org, ids):
    run(connected, config)
    before = snapshot(connected)
    again = run(connected, config)
    totals = again.totals()
    assert (totals["read"], totals["inserted"], totals["updated"]) == (0, 0, 0)
    assert snapshot(connected) == before


def test_a_changed_record_is_picked_up_and_only_it(connected, config, org, ids):
    run(connected, config)
    org.update("Contact", ids["carl"], Title="CEO")
    report = run(connected, config)
    assert report.objects["Contact"]["read"] == 1 and report.objects["Contact"]["updated"] == 1
    assert report.totals()["read"] == 1
    assert snapshot(connected)["contacts"][ids["carl"]][3] == "CEO"


def test_records_sharing_one_timestamp_are_neither_skipped_nor_read_twice(connected, config, org, ids):
    run(connected, config)
    moment = org.tick()
    made = [org.add("Contact", at=moment, Email=f"p{i}@acme.example", LastName=f"P{i}") for i in range(5)]
    batches_before = org.api_calls("/queryAll/01g")
    report = run(connected, config)  # pages of 2 end between records stamped alike
    assert report.objects["Contact"]["read"] == 5 and report.objects["Contact"]["inserted"] == 5
    assert org.api_calls("/queryAll/01g") - batches_before == 2, "5 records in batches of 2: two nextRecordsUrl calls"
    assert set(made) <= set(snapshot(connected)["contacts"])
    assert run(connected, config).totals()["read"] == 0


def test_a_sync_killed_between_pages_resumes_without_gap_or_duplicate(connected, config, org, ids, monkeypatch):
    monkeypatch.setattr("truce.services.connectors.sync.ROWS_PER_COMMIT", 1)  # each page its own unit of work
    for kill_after in (3, 6):
        dying = Killed(
            connections.get(connected, "salesforce"), config, connected, pages=kill_after, sleep=lambda s: None
        )
        with pytest.raises(RuntimeError, match="killed"):
            sync(connected, config, "salesforce", connector=dying)
    run(connected, config)
    assert snapshot(connected) == expected(ids)
    with connected.connect() as conn:
        assert conn.execute(select(StageChange.external_id)).scalars().all() == [f"salesforce-{ids['deal_moved']}"]


def test_a_full_sync_by_bulk_jobs_equals_the_soql_sync_and_reports_no_difference(connected, config, org, ids):
    run(connected, config)
    report = run(connected, config, full=True)
    assert snapshot(connected) == expected(ids)
    assert org.api_calls("/jobs/query") > 0, "the large objects were read by Bulk API 2.0"
    for name in ("Lead", "Contact", "Opportunity", "CampaignMember", "Task", "Event"):
        assert report.differences[name] == {"differed": 0, "new_in_truce": 0, "missing_in_crm": 0, "missing_ids": []}
    assert report.totals()["updated"] == 0


def test_a_first_sync_by_bulk_gives_the_same_rows_and_its_cursor_continues(connected, config, org, ids):
    run(connected, config, full=True)
    assert snapshot(connected) == expected(ids)
    org.update("Lead", ids["otto"], Title="Head of IT")
    report = run(connected, config)
    assert report.objects["Lead"]["read"] == 1 and report.totals()["read"] == 1


def test_an_interrupted_full_sync_resumes_in_the_same_bulk_job(connected, config, org, ids, monkeypatch):
    monkeypatch.setattr("truce.services.connectors.sync.ROWS_PER_COMMIT", 1)  # each page its own unit of work
    for i in range(4):
        org.add("Contact", Email=f"extra{i}@acme.example", LastName=f"Extra{i}")
    dying = Killed(
        connections.get(connected, "salesforce"), config, connected, pages=3, sleep=lambda s: None, bulk_set_size=2
    )
    with pytest.raises(RuntimeError, match="killed"):
        sync(connected, config, "salesforce", full=True, connector=dying)
    with connected.connect() as conn:
        position = conn.execute(select(CrmSyncCursor.position).where(CrmSyncCursor.object == "Contact")).scalar_one()
    assert '"bulk_job"' in position
    jobs_before = sum(1 for method, path in org.requests if method == "POST" and path.endswith("/jobs/query"))
    report = run(connected, config, full=True)
    contact_jobs = [p for m, p in org.requests if m == "POST" and p.endswith("/jobs/query")]
    assert len(contact_jobs) - jobs_before == 5, (
        "Contact resumed its job; Lead, Opportunity, CampaignMember, Task, Event made theirs"
    )
    assert report.objects["Contact"]["inserted"] == 5 - 2  # 5 contacts; the first set of 2 was in before the kill
    assert len([c for c in snapshot(connected)["contacts"] if c.startswith("003")]) == 5


def test_lead_history_becomes_dated_moves_and_an_mql_enters_the_queue(connected, config, org, ids):
    run(connected, config)
    changed = org.history("LeadHistory", "LeadId", ids["lena"], "Status", "Raw - New", "Open - Not Contacted",
                          CreatedById=ids["mia"])  # fmt: skip
    org.update("Lead", ids["lena"], Status="Open - Not Contacted")
    report = run(connected, config)
    assert report.totals()["handoffs_opened"] == 1
    with connected.connect() as conn:
        lena = conn.execute(select(Contact).where(Contact.salesforce_id == ids["lena"])).one()
        moves = conn.execute(select(StageChange).where(StageChange.entity_id == lena.id,
                                                       StageChange.entity_type == "contact")).all()  # fmt: skip
        handoff = conn.execute(select(Handoff).where(Handoff.contact_id == lena.id)).one()
        mia = conn.execute(select(User.id).where(User.external_id == ids["mia"])).scalar_one()
    # One move, dated when Salesforce recorded it (the 15th tick), not when truce synced: no second, undated one.
    assert [(m.external_id, m.from_stage, m.to_stage, aware(m.changed_at), m.changed_by_id) for m in moves] == [
        (f"salesforce-{changed}", "inquiry", "mql", at("2026-12-01T09:00:15"), mia)
    ]
    assert (lena.stage, lena.lead_status) == ("mql", "Open - Not Contacted")
    assert handoff.status == "open" and aware(handoff.mql_at) == at("2026-12-01T09:00:15")
    assert run(connected, config).totals()["read"] == 0


def test_deleted_and_merged_records_are_marked_between_syncs(connected, config, org, ids):
    twin = org.add("Lead", Email="lena.twin@beta.example", LastName="Twin", Company="Beta GmbH", Status="Raw - New")
    run(connected, config)
    org.delete("Lead", ids["otto"])
    org.merge("Lead", twin, ids["lena"])
    org.delete("Task", ids["call"])
    report = run(connected, config)
    assert report.objects["Lead"]["deleted"] == 1 and report.objects["Lead"]["merged"] == 1
    assert report.objects["Task"]["deleted"] == 1
    now = snapshot(connected)
    assert now["contacts"][ids["otto"]][9:] == (True, None)
    assert now["contacts"][twin][9:] == (True, ids["lena"])
    assert now["contacts"][ids["lena"]][9:] == (False, None)
    assert f"salesforce-{ids['call']}" not in now["touchpoints"]
    again = run(connected, config)
    assert again.totals()["deleted"] == 0 and again.totals()["merged"] == 0


def test_a_converted_lead_stays_one_person_with_its_contact(connected, config, org, ids):
    run(connected, config)
    # Salesforce converts Otto: a Contact with his e-mail, the lead marked converted.
    otto_contact = org.add(
        "Contact", Email="otto@gamma.example", FirstName="Otto", LastName="Other", AccountId=ids["acme"]
    )
    org.update("Lead", ids["otto"], IsConverted=True, ConvertedContactId=otto_contact, ConvertedDate="2026-12-02",
               Status="Closed - Converted")  # fmt: skip
    report = run(connected, config)
    assert report.rejects == []
    with connected.connect() as conn:
        people = conn.execute(select(Contact).where(Contact.email == "otto@gamma.example")).all()
        moves = conn.execute(select(StageChange.external_id, StageChange.to_stage, StageChange.changed_at)
                             .where(StageChange.entity_type == "contact")).all()  # fmt: skip
    assert len(people) == 1 and people[0].salesforce_id == otto_contact and people[0].deleted_at is None
    assert people[0].stage == "sql", "Closed - Converted maps to sql, dated by ConvertedDate"
    assert [(m[0], m[1], aware(m[2])) for m in moves] == [
        (f"salesforce-{ids['otto']}-converted", "sql", at("2026-12-02T00:00:00"))
    ]
    assert run(connected, config).totals()["read"] == 0


def test_a_bad_record_is_a_reject_named_by_its_crm_id_and_the_rest_go_in(connected, config, org, ids):
    bad = org.add("Lead", Email="not-an-email", LastName="Broken", Status="Raw - New")
    odd = org.add("Lead", Email="odd@delta.example", LastName="Odd", Status="Nurture - Someday")
    report = run(connected, config)
    reasons = {r["crm_id"]: r["reason"] for r in report.rejects}
    assert set(reasons) == {bad, odd}
    assert "email" in reasons[bad] and "[mapping.salesforce.lead_status]" in reasons[odd]
    assert set(snapshot(connected)["contacts"]) == {ids["carl"], ids["lena"], ids["otto"]}
    org.update("Lead", bad, Email="fixed@delta.example")
    run(connected, config)
    assert bad in snapshot(connected)["contacts"]


def test_a_full_sync_reports_what_differed_and_what_the_crm_no_longer_has(connected, config, org, ids):
    run(connected, config)
    # A change the incremental read could not see (its timestamp did not move), and a lead gone for good.
    org.store["Contact"][ids["carl"]]["Title"] = "COO"
    del org.store["Lead"][ids["otto"]]
    report = run(connected, config, full=True)
    assert report.differences["Contact"]["differed"] == 1
    assert report.differences["Lead"]["missing_in_crm"] == 1 and report.differences["Lead"]["missing_ids"] == [
        ids["otto"]
    ]
    now = snapshot(connected)
    assert now["contacts"][ids["carl"]][3] == "COO" and now["contacts"][ids["otto"]][9] is True


def test_named_records_are_pulled_now_and_a_vanished_one_is_reported_deleted(connected, config, org, ids):
    run(connected, config)
    org.update("Lead", ids["lena"], Title="CTO")
    del org.store["Lead"][ids["otto"]]
    report = pull_records(connected, config, "salesforce", "Lead", [ids["lena"], ids["otto"]],
                          connector=connector(connected, config))  # fmt: skip
    assert report.totals()["updated"] == 1 and report.totals()["deleted"] == 1
    assert snapshot(connected)["contacts"][ids["lena"]][3] == "CTO"
