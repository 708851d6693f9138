"""Syncing with HubSpot (a fake CRM v3 on 127.0.0.1): what lands in truce, record by record.

Documented fields these tests rely on (HubSpot API reference): search answers' `results`,
`paging.next.after`, `total` and the 10,000-result cap; records' `id`, `properties`
(`lastmodifieddate` / `hs_lastmodifieddate`, `email`, `firstname`, `lastname`, `lifecyclestage`,
`hubspot_owner_id`, `dealname`, `amount`, `dealstage`, `pipeline`, `closedate`, `hs_timestamp`,
`hs_merged_object_ids`), `archived` / `archivedAt` on the archived listing; owners' `id`, `email`,
`firstName`, `lastName`, `archived`; pipelines' `stages[].label` and `metadata.isClosed` /
`metadata.probability`; v4 associations' `from.id`, `to[].toObjectId`, `associationTypes[].typeId/label`;
`propertiesWithHistory.lifecyclestage[].value/timestamp` on batch read.
"""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from tests.fakes.hubspot import FakeHubSpot, MemoryRecords, connect, connector, hubspot_config, running, small_crm
from truce.services.connectors.errors import CrmError
from truce.services.connectors.sync import sync
from truce.store.models import (
    Account,
    Contact,
    CrmSyncCursor,
    Handoff,
    Opportunity,
    StageChange,
    Touchpoint,
    User,
)

UTC = dt.UTC


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
    return engine


def run(engine, config, full=False, **options):
    return sync(engine, config, "hubspot", full=full, connector=connector(engine, config, **options))


def rows(engine, model, key):
    with engine.connect() as conn:
        return {getattr(r, key): r for r in conn.execute(select(model))}


def contacts(engine):
    return rows(engine, Contact, "hubspot_id")


def ledger(engine):
    """Every contact move as (contact's HubSpot id, from, to, when) — the ledger row by row."""
    with engine.connect() as conn:
        found = conn.execute(
            select(Contact.hubspot_id, StageChange.from_stage, StageChange.to_stage, StageChange.changed_at)
            .join(Contact, Contact.id == StageChange.entity_id)
            .where(StageChange.entity_type == "contact")
            .order_by(Contact.hubspot_id, StageChange.changed_at)
        ).all()
    return [(h, f, t, at.replace(tzinfo=UTC) if at.tzinfo is None else at) for h, f, t, at in found]


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=UTC)


def test_it_brings_in_owners_companies_contacts_deals_and_touches_as_the_crm_holds_them(store, config):
    report = run(store, config)
    assert report.status == "ok"
    users = rows(store, User, "external_id")
    assert {k: (u.email, u.team, u.name) for k, u in users.items()} == {
        "101": ("ann@acme.example", "sales", "Ann Seller"),
        "102": ("mark@acme.example", "marketing", "Mark Eting"),
    }
    accounts = rows(store, Account, "hubspot_id")
    assert {k: (a.name, a.domain, a.owner_id) for k, a in accounts.items()} == {
        "201": ("Acme", "acme.example", users["101"].id),
        "202": ("Globex", "globex.example", None),
    }
    people = contacts(store)
    assert {k: (c.email, c.stage, c.account_id, c.owner_id) for k, c in people.items()} == {
        "301": ("p1@acme.example", "mql", accounts["201"].id, users["101"].id),
        "302": ("p2@globex.example", "inquiry", accounts["202"].id, None),
    }
    deals = rows(store, Opportunity, "hubspot_id")
    assert {k: (d.name, str(d.amount), d.stage, d.status, d.account_id, d.primary_contact_id, d.owner_id)
            for k, d in deals.items()} == {
        "401": ("Acme platform", "5000.00", "Closed Won", "won", accounts["201"].id, people["301"].id, users["101"].id),
        "402": ("Globex pilot", "1200.00", "Qualified To Buy", "open", accounts["202"].id, people["302"].id, None),
    }  # fmt: skip
    touches = rows(store, Touchpoint, "external_id")
    # Each engagement touches each contact it was with; its team is its owner's (no owner: marketing).
    assert {k: (t.contact_id, t.kind, t.channel, t.touch_type, t.occurred_at.replace(tzinfo=UTC)) for k, t in touches.items()} == {
        "hubspot-email-501-301": (people["301"].id, "marketing", "email", "email", at("2026-11-04T10:00:00")),
        "hubspot-email-501-302": (people["302"].id, "marketing", "email", "email", at("2026-11-04T10:00:00")),
        "hubspot-call-601-301": (people["301"].id, "sales", "phone", "call", at("2026-11-04T11:00:00")),
        "hubspot-meeting-701-302": (people["302"].id, "sales", "meeting", "meeting", at("2026-11-04T12:00:00")),
        "hubspot-note-801-301": (people["301"].id, "marketing", "sales_note", "note", at("2026-11-04T13:00:00")),
    }  # fmt: skip
    # The owner and the contact without an email are rejects named by their HubSpot id, with the reason.
    assert sorted((r["object"], r["crm_id"], "email" in r["reason"]) for r in report.rejects) == [
        ("contacts", "303", True),
        ("owners", "103", True),
    ]


def test_lifecycle_history_becomes_dated_ledger_moves_and_the_mql_opens_a_handoff(store, config):
    report = run(store, config)
    assert ledger(store) == [
        ("301", None, "inquiry", at("2026-11-01T09:00:00")),
        ("301", "inquiry", "mql", at("2026-11-03T09:00:00")),
        ("302", None, "inquiry", at("2026-11-02T09:00:00")),
    ]
    assert report.objects["contacts"]["handoffs_opened"] == 1
    with store.connect() as conn:
        handoffs = conn.execute(select(Handoff.contact_id, Handoff.status)).all()
    assert handoffs == [(contacts(store)["301"].id, "open")]


def test_a_second_sync_changes_nothing(store, config, hub):
    run(store, config)
    before = {
        m.__name__: sorted(map(tuple, _snapshot(store, m))) for m in (User, Account, Contact, Opportunity, Touchpoint)
    }
    moves = ledger(store)
    searches = len(hub.calls("POST", "/search"))
    again = run(store, config)
    totals = again.totals()
    assert (totals["inserted"], totals["updated"]) == (0, 0)
    # Read again: the two rejects (owner 103, contact 303), and the 3 owners (no modified filter).
    assert again.objects["owners"]["read"] == 1 + 3 and totals["read"] == 1 + 3 + 1
    after = {
        m.__name__: sorted(map(tuple, _snapshot(store, m))) for m in (User, Account, Contact, Opportunity, Touchpoint)
    }
    assert after == before and ledger(store) == moves
    assert len(hub.calls("POST", "/search")) - searches == 7, "one empty search per object after its cursor"


def _snapshot(engine, model):
    skip = {"updated_at", "score", "scored_at"}
    with engine.connect() as conn:
        return [tuple(v for k, v in r._mapping.items() if k not in skip) for r in conn.execute(select(model.__table__))]


def test_a_change_in_the_crm_is_picked_up_by_the_next_sync_from_its_cursor(store, config, hub):
    run(store, config)
    with store.connect() as conn:
        cursor = conn.execute(select(CrmSyncCursor.cursor).where(CrmSyncCursor.object == "contacts")).scalar_one()
    assert cursor == "2026-11-03T09:00:00.000Z|", "the last whole moment read"
    hub.records.put(
        "contacts", 302, "2026-11-07T09:00:00Z", jobtitle="Head of Ops", lifecyclestage="salesqualifiedlead"
    )
    report = run(store, config)
    assert report.objects["contacts"]["read"] == 1 + 1  # 302, and 303 asked for again as a reject
    assert report.objects["contacts"]["updated"] == 1
    person = contacts(store)["302"]
    assert (person.title, person.stage) == ("Head of Ops", "sql")
    assert ledger(store)[-1] == ("302", "inquiry", "sql", at("2026-11-07T09:00:00"))
    search = hub.calls("POST", "/crm/v3/objects/contacts/search")[-1][3]
    assert search["filterGroups"] == [
        {"filters": [{"propertyName": "lastmodifieddate", "operator": "GT", "value": str(_ms("2026-11-03T09:00:00"))}]}
    ]
    assert search["sorts"] == [{"propertyName": "lastmodifieddate", "direction": "ASCENDING"}]


def _ms(text: str) -> int:
    return int(at(text).timestamp() * 1000)


def many_contacts(count: int, moments: int) -> MemoryRecords:
    """`count` contacts whose modified times fall on `moments` distinct seconds (ties on purpose)."""
    crm = MemoryRecords()
    base = dt.datetime(2026, 12, 1, tzinfo=UTC)
    for i in range(count):
        when = base + dt.timedelta(seconds=i % moments)
        crm.put("contacts", 1000 + i, when.isoformat(), email=f"c{i}@bulk.example", lifecyclestage="lead")
    return crm


def test_more_results_than_one_search_may_return_are_read_each_exactly_once(engine, config, monkeypatch):
    """The cap is lowered to 250 (a switch of the fake, and the connector told the same) so 1,000
    records need several windows; they share 40 moments (25 records each, a page ends mid-moment),
    and ties come in descending id order."""
    crm = FakeHubSpot(records=many_contacts(1000, 40), search_cap=250)
    with running(crm) as url:
        connect(engine, config, url, monkeypatch)
        report = sync(engine, config, "hubspot", only=["contacts"], connector=connector(engine, config, search_cap=250))
    assert report.objects["contacts"]["inserted"] == 1000 and report.objects["contacts"]["read"] == 1000
    assert sorted(contacts(engine)) == [str(1000 + i) for i in range(1000)]
    afters = [int(body.get("after") or 0) for _, _, _, body in crm.calls("POST", "/search")]
    assert max(afters) < 250, "no search asked past the cap"


def test_a_moment_larger_than_the_cap_is_read_in_id_order_without_loss(engine, config, monkeypatch):
    crm = FakeHubSpot(records=many_contacts(600, 1), search_cap=250)  # 600 contacts, one modified time
    with running(crm) as url:
        connect(engine, config, url, monkeypatch)
        report = sync(engine, config, "hubspot", only=["contacts"], connector=connector(engine, config, search_cap=250))
    assert report.objects["contacts"]["read"] == 600 and len(contacts(engine)) == 600
    with engine.connect() as conn:
        cursor = conn.execute(select(CrmSyncCursor.cursor)).scalar_one()
    assert cursor == "2026-12-01T00:00:00.000Z|1599", "the moment, read up to its last id"


def test_a_sync_killed_between_pages_resumes_without_gap_or_duplicate(engine, config, monkeypatch):
    monkeypatch.setattr("truce.services.connectors.sync.ROWS_PER_COMMIT", 1)  # each page its own unit of work
    crm = FakeHubSpot(records=many_contacts(350, 350))  # 4 pages of 100, one moment per record
    for i in range(350):  # each with two dated stages: the ledger shows any gap or duplicate
        crm.records.put(
            "contacts", 1000 + i, f"2026-12-02T00:{i // 60:02d}:{i % 60:02d}Z", lifecyclestage="marketingqualifiedlead"
        )
    with running(crm) as url:
        connect(engine, config, url, monkeypatch)
        crm.break_after(2)  # the CRM stops answering once it has served two pages of contacts
        with pytest.raises(CrmError, match="500"):
            sync(engine, config, "hubspot", only=["contacts"], connector=connector(engine, config))
        first = sorted(contacts(engine))
        crm.break_after(None)
        report = sync(engine, config, "hubspot", only=["contacts"], connector=connector(engine, config))
    # Page one's 100 records came; its last moment might go on in page two, so 99 went in with their cursor.
    assert first == [str(1000 + i) for i in range(99)]
    assert report.objects["contacts"]["read"] == 350 - len(first)
    assert sorted(contacts(engine)) == [str(1000 + i) for i in range(350)]
    expected = []
    for i in range(350):
        expected.append((str(1000 + i), None, "inquiry", at(f"2026-12-01T00:{i // 60:02d}:{i % 60:02d}")))
        expected.append((str(1000 + i), "inquiry", "mql", at(f"2026-12-02T00:{i // 60:02d}:{i % 60:02d}")))
    assert sorted(ledger(engine), key=repr) == sorted(expected, key=repr)


def test_a_record_deleted_and_one_merged_between_syncs_are_marked_not_erased(store, config, hub):
    run(store, config)
    hub.records.delete("contacts", 302, "2026-11-08T10:00:00Z")
    hub.records.merge("companies", 202, 201, "2026-11-08T11:00:00Z")  # Globex merged into Acme
    hub.records.delete("emails", 501, "2026-11-08T12:00:00Z")
    report = run(store, config)
    people, accounts = contacts(store), rows(store, Account, "hubspot_id")
    assert people["302"].deleted_at is not None and people["302"].merged_into_id is None
    assert accounts["202"].merged_into_id == accounts["201"].id and accounts["202"].deleted_at is not None
    assert people["302"].account_id == accounts["201"].id, "Globex's people follow it to Acme"
    assert ("302", None, "inquiry", at("2026-11-02T09:00:00")) in ledger(store), "the ledger keeps its history"
    assert sorted(rows(store, Touchpoint, "external_id")) == [
        "hubspot-call-601-301", "hubspot-meeting-701-302", "hubspot-note-801-301",
    ]  # fmt: skip
    assert (
        report.objects["contacts"]["deleted"],
        report.objects["companies"]["merged"],
        report.objects["emails"]["deleted"],
    ) == (1, 1, 2)
    again = run(store, config)
    assert again.totals()["deleted"] == 0 and again.totals()["merged"] == 0


def test_a_full_sync_reports_what_differed_and_what_the_crm_no_longer_has(store, config, hub):
    run(store, config)
    hub.records.put("contacts", 301, "2026-11-08T09:00:00Z", jobtitle="CTO")
    hub.records.live["deals"].pop("402")  # gone without a trace in the archive listing
    report = run(store, config, full=True)
    assert report.differences["contacts"]["differed"] == 1
    assert report.differences["deals"]["missing_in_crm"] == 1 and report.differences["deals"]["missing_ids"] == ["402"]
    assert rows(store, Opportunity, "hubspot_id")["402"].deleted_at is not None
    listed = {path for _, path, _, _ in hub.requests if path.startswith("/crm/v3/objects/") and "/search" not in path}
    assert "/crm/v3/objects/contacts" in listed, "a full sync lists records instead of searching"


def test_a_full_sync_stopped_half_way_resumes_at_its_position(engine, config, monkeypatch):
    monkeypatch.setattr("truce.services.connectors.sync.ROWS_PER_COMMIT", 1)  # each page its own unit of work
    crm = FakeHubSpot(records=many_contacts(250, 250))
    with running(crm) as url:
        connect(engine, config, url, monkeypatch)
        crm.break_after(2)  # the second page is listed, then its associations fail: page one is in
        with pytest.raises(CrmError):
            sync(engine, config, "hubspot", full=True, only=["contacts"], connector=connector(engine, config))
        with engine.connect() as conn:
            position = conn.execute(select(CrmSyncCursor.position)).scalar_one()
        crm.break_after(None)
        report = sync(engine, config, "hubspot", full=True, only=["contacts"], connector=connector(engine, config))
    assert position == "1100", "the next page's `after`"
    assert report.objects["contacts"]["read"] == 150 and len(contacts(engine)) == 250
    listed = [
        q.get("after")
        for _, path, q, _ in crm.requests
        if path == "/crm/v3/objects/contacts" and q.get("archived") == "false"
    ]
    assert listed == [None, "1100", "1100", "1200"]
