"""`truce import` reads truce's own columns, Salesforce exports and HubSpot exports, for every table.

Every expected value below was worked out by hand from the fixture files in
tests/fixtures/import/ and the funnel in default_truce.toml.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest
from conftest import writing
from sqlalchemy import insert, select

from truce import config as truce_config
from truce.imports import dialects
from truce.imports.csvfile import CsvFile
from truce.imports.service import Options, import_file
from truce.store.models import Account, Campaign, Contact, Opportunity, StageChange, Touchpoint, User

FIXTURES = Path(__file__).parent / "fixtures" / "import"
UTC = dt.UTC


def at(*parts: int) -> dt.datetime:
    return dt.datetime(*parts, tzinfo=UTC)


def rows(engine, model, *columns: str) -> list[tuple]:
    """The chosen columns of every row, in id order (values as the store types return them)."""
    table = model.__table__
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(select(*(table.c[c] for c in columns)).order_by(table.c.id))]


def ids(engine, model, column: str) -> dict:
    table = model.__table__
    with engine.connect() as conn:
        return dict(conn.execute(select(table.c[column], table.c.id)).all())


def load(engine, config, table: str, name: str, **options):
    return import_file(engine, table, FIXTURES / name, config, Options(**options))


@pytest.fixture
def maria(engine) -> int:
    """A marketer the exports name by email, by Salesforce user id and by name."""
    with writing(engine) as conn:
        return conn.execute(
            insert(User).returning(User.id),
            {
                "email": "maria@truce.example",
                "name": "Maria Lopez",
                "team": "marketing",
                "external_id": "0055g00000Own1AAA",
                "created_at": at(2025, 1, 1),
            },
        ).scalar_one()


def load_truce_records(engine, config) -> None:
    for table in ("accounts", "contacts", "campaigns", "touchpoints", "opportunities", "stage_changes"):
        load(engine, config, table, f"truce/{table}.csv")


# -- truce's own columns ------------------------------------------------------------------------


def test_it_loads_truce_accounts_with_domains_numbers_owners_and_utc_times(engine, default_config, maria):
    report = load(engine, default_config, "accounts", "truce/accounts.csv")

    assert (report.dialect, report.rows_read, report.inserted, report.updated) == ("truce", 3, 3, 0)
    assert report.warnings == {"unknown user 'nobody@truce.example' in column 'owner_email': left empty": 1}
    assert rows(
        engine, Account, "external_id", "name", "domain", "industry", "employees", "region", "segment",
        "owner_id", "is_key_account", "created_at",
    ) == [
        ("ACC-1", "Acme Corp", "acme.com", "Manufacturing", 1200, "EMEA", "Enterprise", maria, True, at(2026, 3, 29, 1, 30)),
        ("ACC-2", "Globex", "globex.example", "Software", 85, "North America", "SMB", None, False, at(2026, 1, 15, 9)),
        ("ACC-3", "Initech", "initech.example", "Finance", 40, "EMEA", "Mid-market", None, False, at(2026, 2, 10, 9)),
    ]
    created = rows(engine, Account, "created_at")[0][0]
    assert created.utcoffset() == dt.timedelta(0)


def test_it_loads_truce_contacts_with_stages_channels_and_account_links(engine, default_config, maria):
    load(engine, default_config, "accounts", "truce/accounts.csv")
    report = load(engine, default_config, "contacts", "truce/contacts.csv")

    assert (report.dialect, report.inserted, report.accounts_created) == ("truce", 3, 1)
    accounts = ids(engine, Account, "name")
    assert rows(
        engine, Contact, "external_id", "email", "first_name", "last_name", "title", "phone", "account_id",
        "source_channel", "stage", "lead_status", "owner_id",
    ) == [
        ("CON-1", "ann.lee@acme.com", "Ann", "Lee", "CTO", "+1 555 0100", accounts["Acme Corp"],
         "organic_search", "sql", "Working", maria),
        ("CON-2", "bob@globex.example", "Bob", "Ng", None, None, accounts["Globex"], "paid_social", "sal", None, None),
        ("CON-3", "cy@umbrella.example", "Cy", "Oh", None, None, accounts["Umbrella Group"], "webinar", "inquiry",
         None, None),
    ]
    created = [c for (c,) in rows(engine, Contact, "created_at")]
    assert created[:2] == [at(2026, 2, 1, 10), at(2026, 2, 2, 8, 15)]
    assert created[2] > at(2026, 2, 2)  # no date in the file: the time of the import
    # A first import says where each contact is, not when it got there: no invented moves.
    assert rows(engine, StageChange, "id") == []


def test_it_loads_truce_campaigns_with_exact_money_and_dates(engine, default_config, maria):
    report = load(engine, default_config, "campaigns", "truce/campaigns.csv")

    assert (report.dialect, report.inserted) == ("truce", 2)
    assert rows(
        engine, Campaign, "external_id", "name", "channel", "owning_team", "budget", "actual_cost", "starts_on",
        "ends_on", "owner_id",
    ) == [
        ("CMP-1", "Spring Webinar", "webinar", "marketing", Decimal("12500.50"), Decimal("9876.54"),
         dt.date(2026, 3, 1), dt.date(2026, 3, 31), maria),
        ("CMP-2", "Partner Dinner", "events", "sales", Decimal("3000.00"), None,
         dt.date(2026, 4, 10), dt.date(2026, 4, 10), None),
    ]
    assert all(isinstance(budget, Decimal) for (budget,) in rows(engine, Campaign, "budget"))


def test_it_loads_truce_touchpoints_linked_to_contacts_campaigns_and_accounts(engine, default_config, maria):
    for table in ("accounts", "contacts", "campaigns"):
        load(engine, default_config, table, f"truce/{table}.csv")
    report = load(engine, default_config, "touchpoints", "truce/touchpoints.csv")

    assert (report.dialect, report.inserted) == ("truce", 3)
    contacts, campaigns, accounts = ids(engine, Contact, "external_id"), ids(engine, Campaign, "external_id"), ids(
        engine, Account, "name"
    )
    assert rows(
        engine, Touchpoint, "external_id", "contact_id", "account_id", "campaign_id", "channel", "kind",
        "touch_type", "occurred_at",
    ) == [
        # The channel comes from the campaign when the row has none.
        ("TP-1", contacts["CON-1"], accounts["Acme Corp"], campaigns["CMP-1"], "webinar", "marketing",
         "webinar_attended", at(2026, 3, 15, 16)),
        ("TP-2", contacts["CON-2"], accounts["Globex"], None, "paid_social", "marketing", "ad_click",
         at(2026, 3, 16, 9, 30)),
        # 19:00 at +02:00 is 17:00 UTC.
        ("TP-3", contacts["CON-3"], accounts["Umbrella Group"], campaigns["CMP-2"], "events", "sales", "meeting",
         at(2026, 4, 10, 17)),
    ]


def test_it_loads_truce_opportunities_with_prices_that_agree(engine, default_config, maria):
    for table in ("accounts", "contacts", "campaigns"):
        load(engine, default_config, table, f"truce/{table}.csv")
    report = load(engine, default_config, "opportunities", "truce/opportunities.csv")

    assert (report.dialect, report.inserted) == ("truce", 3)
    accounts, contacts, campaigns = ids(engine, Account, "name"), ids(engine, Contact, "external_id"), ids(
        engine, Campaign, "external_id"
    )
    assert rows(
        engine, Opportunity, "external_id", "name", "account_id", "primary_contact_id", "campaign_id", "amount",
        "list_amount", "discount_rate", "currency", "stage", "status", "created_at", "close_date", "loss_reason",
        "competitor", "product",
    ) == [
        # 1 - 48,000 / 60,000 = 0.2
        ("OPP-1", "Acme expansion", accounts["Acme Corp"], contacts["CON-1"], campaigns["CMP-1"],
         Decimal("48000.00"), Decimal("60000.00"), Decimal("0.2000"), "USD", "Negotiation", "open",
         at(2026, 3, 20, 12), dt.date(2026, 6, 30), None, None, "Platform"),
        # 1,234.56 / (1 - 0.10) = 1,371.7333… → 1,371.73
        ("OPP-2", "Globex pilot", accounts["Globex"], None, None, Decimal("1234.56"), Decimal("1371.73"),
         Decimal("0.1000"), "EUR", "Closed Won", "won", at(2026, 3, 21, 12), dt.date(2026, 4, 30), None, None,
         "Starter"),
        # "INITECH" names the account "Initech", whatever the case.
        ("OPP-3", "Initech renewal", accounts["Initech"], None, None, Decimal("999.99"), None, None, "USD",
         "Closed Lost", "lost", at(2026, 3, 22, 12), dt.date(2026, 5, 1), "No budget", "Rival Inc", None),
    ]


def test_it_loads_truce_stage_changes_and_moves_the_contact_to_its_latest_stage(engine, default_config, maria):
    load_truce_records(engine, default_config)

    contacts, deals = ids(engine, Contact, "external_id"), ids(engine, Opportunity, "external_id")
    assert rows(
        engine, StageChange, "external_id", "entity_type", "entity_id", "from_stage", "to_stage", "changed_at",
        "changed_by_id", "team_before", "team_after", "note", "origin",
    ) == [
        ("SC-1", "contact", contacts["CON-1"], "mql", "sal", at(2026, 3, 2, 9), maria, "sales", "sales",
         "accepted at the Monday review", "import"),
        ("SC-2", "contact", contacts["CON-1"], "sal", "sql", at(2026, 3, 10, 9), None, "sales", "sales", None,
         "import"),
        # A deal's stages are the CRM's own words, and no team holds them.
        ("SC-3", "opportunity", deals["OPP-1"], "Prospecting", "Negotiation", at(2026, 3, 25, 9), None, None, None,
         None, "import"),
    ]
    assert rows(engine, Contact, "external_id", "stage")[0] == ("CON-1", "sql")


def test_it_reads_a_naive_time_in_the_company_time_zone(engine, default_config, tmp_path):
    berlin = truce_config.parse(
        truce_config.default_text().replace('timezone = "UTC"', 'timezone = "Europe/Berlin"'), "truce.toml"
    )
    path = tmp_path / "contacts.csv"
    # Berlin moves its clocks from 02:00 CET to 03:00 CEST on 29 March 2026.
    path.write_text("email,created_at\nwinter@x.example,2026-03-29 01:30\nsummer@x.example,2026-03-29 03:30\n")

    import_file(engine, "contacts", path, berlin)

    assert rows(engine, Contact, "email", "created_at") == [
        ("winter@x.example", at(2026, 3, 29, 0, 30)),
        ("summer@x.example", at(2026, 3, 29, 1, 30)),
    ]


def test_it_prices_a_deal_in_the_company_currency_unless_the_file_says_otherwise(sqlite_engine, tmp_path):
    euros = truce_config.parse(truce_config.default_text().replace('currency = "USD"', 'currency = "EUR"'), "truce.toml")
    without, blank = tmp_path / "without.csv", tmp_path / "blank.csv"
    without.write_text("external_id,amount,stage\nOPP-1,100,Prospecting\n")
    blank.write_text("external_id,amount,stage,currency\nOPP-2,200,Prospecting,\nOPP-3,300,Prospecting,gbp\n")

    import_file(sqlite_engine, "opportunities", without, euros)
    import_file(sqlite_engine, "opportunities", blank, euros)

    assert rows(sqlite_engine, Opportunity, "external_id", "currency") == [("OPP-1", "EUR"), ("OPP-2", "EUR"), ("OPP-3", "GBP")]


# -- Salesforce ---------------------------------------------------------------------------------


def test_it_loads_a_salesforce_lead_export_with_api_names(engine, default_config, maria):
    report = load(engine, default_config, "contacts", "salesforce/leads-api.csv")

    assert (report.dialect, report.inserted, report.accounts_created) == ("salesforce", 3, 2)
    accounts = ids(engine, Account, "name")
    assert rows(
        engine, Contact, "salesforce_id", "external_id", "email", "first_name", "last_name", "title", "account_id",
        "source_channel", "stage", "lead_status", "owner_id", "created_at",
    ) == [
        # Lead statuses map through [mapping.salesforce.lead_status]; OwnerId is a user's Salesforce id.
        ("00Q5g00000A1bCdEAF", None, "dana.scully@fbi.example", "Dana", "Scully", "Director",
         accounts["Bureau Analytics"], "organic_search", "mql", "Open - Not Contacted", maria, at(2026, 3, 29, 1, 30)),
        ("00Q5g00000A1bCeEAF", None, "fox@bureau.example", "Fox", "Mulder", "Agent", accounts["Bureau Analytics"],
         "web", "sal", "Working - Contacted", None, at(2026, 3, 28, 22, 15)),
        ("00Q5g00000A1bCfEAF", None, "walter@hoover.example", "Walter", "Skinner", "Assistant Director",
         accounts["Hoover Building"], "partner_referral", "sql", "Closed - Converted", None, at(2026, 3, 27, 8)),
    ]


def test_it_loads_a_salesforce_lead_report_with_labels(engine, default_config, maria):
    report = load(engine, default_config, "contacts", "salesforce/leads-report.csv")

    assert (report.dialect, report.inserted, report.accounts_created) == ("salesforce", 2, 1)
    account = ids(engine, Account, "name")["Bureau Analytics"]
    assert rows(
        engine, Contact, "salesforce_id", "email", "first_name", "last_name", "title", "account_id",
        "source_channel", "stage", "lead_status", "owner_id", "created_at",
    ) == [
        # "Lead Owner" is a person's name; "3/29/2026 1:30 AM" is month first, in the company zone (UTC).
        ("00Q5g00000B2cDeFAA", "dana.scully@fbi.example", "Dana", "Scully", "Director", account, "organic_search",
         "mql", "Open - Not Contacted", maria, at(2026, 3, 29, 1, 30)),
        ("00Q5g00000B2cDfFAA", "fox@bureau.example", "Fox", "Mulder", "Agent", account, "partner_referral",
         "disqualified", "Closed - Not Converted", None, at(2026, 3, 28, 22, 15)),
    ]


def test_it_loads_salesforce_opportunities_against_accounts_by_salesforce_id(engine, default_config, maria):
    accounts = load(engine, default_config, "accounts", "salesforce/accounts.csv")
    report = load(engine, default_config, "opportunities", "salesforce/opportunities.csv")

    assert (accounts.dialect, report.dialect, report.inserted) == ("salesforce", "salesforce", 2)
    assert rows(engine, Account, "salesforce_id", "name", "domain", "industry", "employees", "region") == [
        ("0015g00000Acc1AAA", "Bureau Analytics", "bureau.example", "Government", 500, "United States")
    ]
    account = ids(engine, Account, "salesforce_id")["0015g00000Acc1AAA"]
    assert rows(
        engine, Opportunity, "salesforce_id", "external_id", "name", "account_id", "amount", "stage", "status",
        "close_date", "created_at", "owner_id", "currency",
    ) == [
        ("0065g00000Opp1AAA", None, "Bureau Analytics - Platform", account, Decimal("25000.00"), "Prospecting",
         "open", dt.date(2026, 6, 30), at(2026, 3, 1, 10), maria, "USD"),
        ("0065g00000Opp2AAA", None, "Bureau Analytics - Renewal", account, Decimal("12345.67"), "Closed Won", "won",
         dt.date(2026, 4, 15), at(2026, 2, 1, 10), None, "EUR"),
    ]


def test_it_loads_salesforce_campaigns_and_campaign_members_as_touchpoints(engine, default_config, maria):
    load(engine, default_config, "contacts", "salesforce/leads-api.csv")
    campaigns = load(engine, default_config, "campaigns", "salesforce/campaigns.csv")
    # A member row names a lead (LeadId) or a contact (ContactId), leaving the other blank, or only an email.
    members = load(engine, default_config, "touchpoints", "salesforce/campaign-members.csv")

    assert (campaigns.dialect, campaigns.inserted, members.dialect, members.inserted) == (
        "salesforce", 2, "salesforce", 2,
    )
    assert rows(
        engine, Campaign, "salesforce_id", "external_id", "name", "channel", "owning_team", "budget", "actual_cost",
        "starts_on", "ends_on", "owner_id",
    ) == [
        ("7015g00000Cmp1AAA", None, "Spring Webinar", "webinar", "marketing", Decimal("5000.00"), Decimal("4200.50"),
         dt.date(2026, 3, 1), dt.date(2026, 3, 31), maria),
        ("7015g00000Cmp2AAA", None, "Dreamforce Booth", "trade_show", "marketing", Decimal("25000.00"), None,
         dt.date(2026, 9, 15), dt.date(2026, 9, 18), None),
    ]
    contacts, campaign_ids = ids(engine, Contact, "email"), ids(engine, Campaign, "salesforce_id")
    bureau = ids(engine, Account, "name")["Bureau Analytics"]
    assert rows(
        engine, Touchpoint, "external_id", "contact_id", "account_id", "campaign_id", "channel", "kind", "touch_type",
        "occurred_at",
    ) == [
        ("00v5g00000Mem1AAA", contacts["dana.scully@fbi.example"], bureau, campaign_ids["7015g00000Cmp1AAA"],
         "webinar", "marketing", "responded", at(2026, 3, 15)),
        # Never responded: the member's creation is when the touch happened.
        ("00v5g00000Mem2AAA", contacts["fox@bureau.example"], bureau, campaign_ids["7015g00000Cmp2AAA"],
         "trade_show", "marketing", "sent", at(2026, 9, 1, 12)),
    ]


# -- HubSpot ------------------------------------------------------------------------------------


def test_it_loads_hubspot_contacts_with_internal_values_and_dates_their_stage_history(
    engine, default_config, maria
):
    report = load(engine, default_config, "contacts", "hubspot/contacts-internal.csv")

    assert (report.dialect, report.inserted, report.accounts_created, report.stage_changes_recorded) == (
        "hubspot", 3, 1, 7,
    )
    orbit = ids(engine, Account, "name")["Orbit Labs"]
    assert rows(
        engine, Contact, "hubspot_id", "email", "first_name", "last_name", "account_id", "source_channel", "stage",
        "lead_status", "owner_id", "created_at",
    ) == [
        ("501", "hana.kim@orbit.example", "Hana", "Kim", orbit, "organic_search", "mql", "OPEN", None,
         at(2026, 3, 1, 9)),
        ("502", "ivo@orbit.example", "Ivo", "Petrov", orbit, "paid_search", "customer", None, maria,
         at(2026, 1, 10, 8)),
        ("503", "jon@wall.example", "Jon", "Snow", None, "offline", "inquiry", None, None, at(2026, 3, 29, 1, 30)),
    ]
    hana, ivo, jon = (ids(engine, Contact, "hubspot_id")[k] for k in ("501", "502", "503"))
    assert rows(engine, StageChange, "entity_type", "entity_id", "from_stage", "to_stage", "changed_at") == [
        ("contact", hana, None, "inquiry", at(2026, 3, 1, 9)),
        ("contact", hana, "inquiry", "mql", at(2026, 3, 5, 14, 30)),
        ("contact", ivo, None, "inquiry", at(2026, 1, 10, 8)),
        ("contact", ivo, "inquiry", "mql", at(2026, 1, 12, 10)),
        ("contact", ivo, "mql", "sql", at(2026, 1, 20, 11)),
        ("contact", ivo, "sql", "customer", at(2026, 2, 28, 16, 45)),
        ("contact", jon, None, "inquiry", at(2026, 3, 29, 1, 30)),
    ]
    assert rows(engine, StageChange, "team_before", "team_after", "origin")[:2] == [
        (None, "marketing", "import"),
        ("marketing", "sales", "import"),
    ]


def test_it_loads_hubspot_contacts_with_labels(engine, default_config):
    report = load(engine, default_config, "contacts", "hubspot/contacts-labels.csv")

    assert (report.dialect, report.inserted, report.accounts_created, report.stage_changes_recorded) == (
        "hubspot", 2, 1, 5,
    )
    moreau = ids(engine, Account, "name")["Moreau SA"]
    assert rows(engine, Contact, "hubspot_id", "email", "account_id", "source_channel", "stage", "lead_status") == [
        ("601", "lea@moreau.example", moreau, "organic_search", "mql", "New"),
        ("602", "max@weber.example", None, "social_media", "sql", None),
    ]
    lea, max_ = (ids(engine, Contact, "hubspot_id")[k] for k in ("601", "602"))
    assert rows(engine, StageChange, "entity_id", "from_stage", "to_stage", "changed_at") == [
        (lea, None, "inquiry", at(2026, 3, 1, 9)),
        (lea, "inquiry", "mql", at(2026, 3, 4, 12)),
        (max_, None, "inquiry", at(2026, 2, 1, 10)),
        (max_, "inquiry", "mql", at(2026, 2, 3, 10)),
        (max_, "mql", "sql", at(2026, 2, 10, 15)),
    ]


def test_it_loads_hubspot_deals_with_won_and_lost_stages(engine, default_config, maria):
    load(engine, default_config, "contacts", "hubspot/contacts-internal.csv")
    load(engine, default_config, "contacts", "hubspot/contacts-labels.csv")
    report = load(engine, default_config, "opportunities", "hubspot/deals.csv")

    assert (report.dialect, report.inserted) == ("hubspot", 3)
    accounts = ids(engine, Account, "name")
    assert rows(
        engine, Opportunity, "hubspot_id", "name", "account_id", "amount", "stage", "status", "close_date",
        "created_at", "owner_id", "currency",
    ) == [
        ("9001", "Orbit Labs - Annual", accounts["Orbit Labs"], Decimal("18500.25"), "closedwon", "won",
         dt.date(2026, 4, 1), at(2026, 3, 1, 9), None, "USD"),
        ("9002", "Orbit Labs - Add-on", accounts["Orbit Labs"], Decimal("750.00"), "appointmentscheduled", "open",
         dt.date(2026, 5, 15), at(2026, 3, 10, 9), maria, "USD"),
        ("9003", "Moreau SA - Pilot", accounts["Moreau SA"], Decimal("4999.99"), "Closed Lost", "lost",
         dt.date(2026, 3, 31), at(2026, 2, 15, 11), None, "EUR"),
    ]


def test_it_loads_hubspot_companies_and_links_contacts_to_them(engine, default_config, maria, tmp_path):
    companies = load(engine, default_config, "accounts", "hubspot/companies.csv")
    path = tmp_path / "contacts.csv"
    path.write_text("Record ID,Email,Associated Company IDs\n701,zed@orbit.example,3001\n")
    by_id = import_file(engine, "contacts", path, default_config)
    by_name = load(engine, default_config, "contacts", "hubspot/contacts-internal.csv")

    assert (companies.dialect, companies.inserted, by_id.dialect) == ("hubspot", 2, "hubspot")
    assert by_name.accounts_created == 0  # "Orbit Labs" is already an account
    assert rows(
        engine, Account, "hubspot_id", "name", "domain", "industry", "employees", "region", "owner_id", "created_at",
    ) == [
        ("3001", "Orbit Labs", "orbit.example", "COMPUTER_SOFTWARE", 120, "Germany", maria, at(2026, 1, 2, 10)),
        ("3002", "Moreau SA", "moreau.example", "RETAIL", 2500, "France", None, at(2025, 11, 20, 16, 30)),
    ]
    orbit = ids(engine, Account, "hubspot_id")["3001"]
    assert rows(engine, Contact, "email", "account_id") == [
        ("zed@orbit.example", orbit),
        ("hana.kim@orbit.example", orbit),
        ("ivo@orbit.example", orbit),
        ("jon@wall.example", None),
    ]


# -- choosing the dialect -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("table", "name", "dialect"),
    [
        ("accounts", "truce/accounts.csv", "truce"),
        ("contacts", "truce/contacts.csv", "truce"),
        ("stage_changes", "truce/stage_changes.csv", "truce"),
        ("contacts", "salesforce/leads-api.csv", "salesforce"),
        ("contacts", "salesforce/leads-report.csv", "salesforce"),
        ("accounts", "salesforce/accounts.csv", "salesforce"),
        ("campaigns", "salesforce/campaigns.csv", "salesforce"),
        ("touchpoints", "salesforce/campaign-members.csv", "salesforce"),
        ("accounts", "hubspot/companies.csv", "hubspot"),
        ("opportunities", "salesforce/opportunities.csv", "salesforce"),
        ("contacts", "hubspot/contacts-internal.csv", "hubspot"),
        ("contacts", "hubspot/contacts-labels.csv", "hubspot"),
        ("opportunities", "hubspot/deals.csv", "hubspot"),
    ],
)
def test_it_detects_the_dialect_from_the_header(table, name, dialect):
    assert dialects.detect(CsvFile(FIXTURES / name).header, table) == dialect


def test_it_reads_a_header_as_the_dialect_format_forces(sqlite_engine, default_config, tmp_path):
    # These three headers fit truce's own columns and Salesforce's labels equally; truce wins a tie.
    guessed, forced = tmp_path / "guessed.csv", tmp_path / "forced.csv"
    guessed.write_text("Email,Title,Lead Status\nann@x.example,CTO,Working - Contacted\n")
    forced.write_text("Email,Title,Lead Status\nbob@x.example,CFO,Working - Contacted\n")

    assert import_file(sqlite_engine, "contacts", guessed, default_config).dialect == "truce"
    assert import_file(sqlite_engine, "contacts", forced, default_config, Options(dialect="salesforce")).dialect == "salesforce"

    # Only Salesforce's lead status says where a lead is in the funnel ("Working - Contacted" → sal).
    assert rows(sqlite_engine, Contact, "email", "lead_status", "stage") == [
        ("ann@x.example", "Working - Contacted", "inquiry"),
        ("bob@x.example", "Working - Contacted", "sal"),
    ]
