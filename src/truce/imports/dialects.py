"""Which CRM wrote this file, and what its columns mean in truce's words.

Three dialects: truce's own column names; Salesforce (API names from Data Loader and
report labels alike); HubSpot exports. Headers are matched without regard to case,
spaces or punctuation, so "Company / Account" and "company account" are one column.
Each table lists the truce field every known header feeds.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from truce.config import value_key
from truce.imports.csvfile import FileProblem

DIALECTS = ("truce", "salesforce", "hubspot")

# The column that holds a record's id in each system lands in this store column.
ID_COLUMN = {"truce": "external_id", "salesforce": "salesforce_id", "hubspot": "hubspot_id"}

# truce's own headers are its field names.
TRUCE_FIELDS: dict[str, tuple[str, ...]] = {
    "users": (
        "external_id", "email", "name", "first_name", "last_name", "team", "marketing_focus",
        "is_leader", "region", "segment", "active", "created_at",
    ),
    "accounts": (
        "external_id",
        "name",
        "domain",
        "industry",
        "employees",
        "region",
        "segment",
        "owner_email",
        "is_key_account",
        "created_at",
    ),
    "contacts": (
        "external_id",
        "email",
        "first_name",
        "last_name",
        "title",
        "phone",
        "account_external_id",
        "account_domain",
        "company",
        "source_channel",
        "stage",
        "lead_status",
        "owner_email",
        "created_at",
    ),
    "campaigns": (
        "external_id",
        "name",
        "channel",
        "owning_team",
        "budget",
        "actual_cost",
        "starts_on",
        "ends_on",
        "owner_email",
    ),
    "touchpoints": (
        "external_id",
        "contact_email",
        "contact_external_id",
        "campaign_external_id",
        "channel",
        "kind",
        "touch_type",
        "occurred_at",
        "user_email",
    ),
    "opportunities": (
        "external_id",
        "name",
        "account_external_id",
        "account_domain",
        "company",
        "primary_contact_email",
        "campaign_external_id",
        "amount",
        "list_amount",
        "discount_rate",
        "currency",
        "stage",
        "status",
        "created_at",
        "close_date",
        "loss_reason",
        "competitor",
        "product",
        "owner_email",
    ),
    "stage_changes": (
        "external_id",
        "entity_type",
        "contact_email",
        "contact_external_id",
        "opportunity_external_id",
        "from_stage",
        "to_stage",
        "changed_at",
        "changed_by_email",
        "reason",
        "note",
        # A deal's stages are the CRM's, outside the funnel: the team holding it is carried as written.
        "team_before",
        "team_after",
    ),
}

# Salesforce: API names (Data Loader) and report labels, per object.
SALESFORCE: dict[str, dict[str, str]] = {
    # User export: team is not a Salesforce field; add a `team` column or use --mapping.
    "users": {
        "Id": "external_id", "User ID": "external_id", "Email": "email", "Name": "name", "Full Name": "name",
        "FirstName": "first_name", "First Name": "first_name", "LastName": "last_name", "Last Name": "last_name",
        "IsActive": "active", "Active": "active", "CreatedDate": "created_at", "Created Date": "created_at",
    },
    "accounts": {
        "Id": "external_id",
        "Account ID": "external_id",
        "Name": "name",
        "Account Name": "name",
        "Website": "domain",
        "Industry": "industry",
        "NumberOfEmployees": "employees",
        "Employees": "employees",
        "BillingCountry": "region",
        "Billing Country": "region",
        "OwnerId": "owner_email",
        "Account Owner": "owner_email",
        "CreatedDate": "created_at",
        "Created Date": "created_at",
    },
    "contacts": {
        "Id": "external_id",
        "Lead ID": "external_id",
        "Contact ID": "external_id",
        "FirstName": "first_name",
        "First Name": "first_name",
        "LastName": "last_name",
        "Last Name": "last_name",
        "Email": "email",
        "Title": "title",
        "Phone": "phone",
        "Company": "company",
        "Company / Account": "company",
        "Account Name": "company",
        "AccountId": "account_external_id",
        "LeadSource": "source_channel",
        "Lead Source": "source_channel",
        "Status": "lead_status",
        "Lead Status": "lead_status",
        "CreatedDate": "created_at",
        "Create Date": "created_at",
        "Created Date": "created_at",
        "OwnerId": "owner_email",
        "Lead Owner": "owner_email",
        "Contact Owner": "owner_email",
    },
    "campaigns": {
        "Id": "external_id",
        "Campaign ID": "external_id",
        "Name": "name",
        "Campaign Name": "name",
        "Type": "channel",
        "Campaign Type": "channel",
        "BudgetedCost": "budget",
        "Budgeted Cost": "budget",
        "ActualCost": "actual_cost",
        "Actual Cost": "actual_cost",
        "StartDate": "starts_on",
        "Start Date": "starts_on",
        "EndDate": "ends_on",
        "End Date": "ends_on",
        "OwnerId": "owner_email",
        "Campaign Owner": "owner_email",
    },
    # CampaignMember rows are marketing touches: a lead or contact responding to a campaign.
    "touchpoints": {
        "Id": "external_id",
        "Campaign Member ID": "external_id",
        "CampaignId": "campaign_external_id",
        "Campaign ID": "campaign_external_id",
        "LeadId": "contact_external_id",
        "ContactId": "contact_external_id",
        "Email": "contact_email",
        "Status": "touch_type",
        "Member Status": "touch_type",
        "FirstRespondedDate": "occurred_at",
        "First Responded Date": "occurred_at",
        "CreatedDate": "occurred_at_fallback",
        "Created Date": "occurred_at_fallback",
    },
    "opportunities": {
        "Id": "external_id",
        "Opportunity ID": "external_id",
        "Name": "name",
        "Opportunity Name": "name",
        "AccountId": "account_external_id",
        "Account Name": "company",
        "Amount": "amount",
        "StageName": "stage",
        "Stage": "stage",
        "CloseDate": "close_date",
        "Close Date": "close_date",
        "CreatedDate": "created_at",
        "Created Date": "created_at",
        "CampaignId": "campaign_external_id",
        "Primary Campaign Source": "campaign_name",
        "OwnerId": "owner_email",
        "Opportunity Owner": "owner_email",
        "CurrencyIsoCode": "currency",
        "Opportunity Currency": "currency",
    },
    "stage_changes": {},
}

HUBSPOT: dict[str, dict[str, str]] = {
    "users": {
        "User ID": "external_id", "Email": "email", "First Name": "first_name", "Last Name": "last_name",
    },
    "accounts": {
        "Record ID": "external_id",
        "Company ID": "external_id",
        "Company name": "name",
        "Name": "name",
        "Company Domain Name": "domain",
        "Website URL": "domain",
        "Industry": "industry",
        "Number of Employees": "employees",
        "Country/Region": "region",
        "Company owner": "owner_email",
        "Create Date": "created_at",
    },
    "contacts": {
        "Record ID": "external_id",
        "Contact ID": "external_id",
        "First Name": "first_name",
        "Last Name": "last_name",
        "Email": "email",
        "Phone Number": "phone",
        "Job Title": "title",
        "Associated Company": "company",
        "Company Name": "company",
        "Associated Company IDs": "account_external_id",
        "Associated Company ID": "account_external_id",
        "Lifecycle Stage": "lifecycle_stage",
        "Lead Status": "lead_status",
        "Original Source": "source_channel",
        "Create Date": "created_at",
        "Contact owner": "owner_email",
    },
    "campaigns": {},
    "touchpoints": {},
    "opportunities": {
        "Record ID": "external_id",
        "Deal ID": "external_id",
        "Deal Name": "name",
        "Amount": "amount",
        "Deal Stage": "stage",
        "Close Date": "close_date",
        "Create Date": "created_at",
        "Deal owner": "owner_email",
        "Associated Company": "company",
        "Associated Company IDs": "account_external_id",
        "Associated Company ID": "account_external_id",
        "Currency": "currency",
    },
    "stage_changes": {},
}

# Columns of `truce export` that truce keeps itself: read without complaint and deliberately not
# imported. Records are matched by external_id and natural keys, and point at each other through
# the key columns an export writes beside the ids (services/export.REFERENCES), because ids mean
# nothing in another store.
MANAGED_BY_TRUCE = {
    "id": "truce's own id",
    "account_id": "a truce id; the account_* columns name the account",
    "owner_id": "a truce id; owner_email names the owner",
    "contact_id": "a truce id; contact_email and contact_external_id name the contact",
    "primary_contact_id": "a truce id; primary_contact_email names the contact",
    "campaign_id": "a truce id; campaign_external_id names the campaign",
    "user_id": "a truce id; user_email names the person",
    "entity_id": "a truce id; contact_* or opportunity_external_id name the record",
    "changed_by_id": "a truce id; changed_by_email names the person",
    "updated_at": "stamped by truce when it writes",
    "recorded_at": "stamped by truce when it writes",
    "deleted_at": "set when a CRM sync finds the record removed",
    "merged_into_id": "set when a CRM sync finds the record merged",
    "salesforce_id": "set by the Salesforce connector",
    "hubspot_id": "set by the HubSpot connector",
    "score": "computed from the touches and the scoring rules",
    "scored_at": "computed from the touches and the scoring rules",
    "access": "given on the users page or with truce users, never by a file",
    "origin": "an imported move's origin is import",
}

_MANAGED_KEYS = {value_key(name): name for name in MANAGED_BY_TRUCE}

# HubSpot's "Became a Marketing Qualified Lead Date" names a lifecycle stage; each becomes a ledger move.
BECAME = re.compile(r"^became an? (?P<stage>.+) date$", re.IGNORECASE)

# Headers that only one dialect writes: one of them settles the question.
SIGNATURES = {
    "hubspot": {"recordid", "lifecyclestage", "originalsource", "contactowner", "dealstage"},
    "salesforce": {
        "id",
        "leadid",
        "leadsource",
        "stagename",
        "companyaccount",
        "leadowner",
        "ownerid",
        "opportunityid",
        "accountid",
        "campaignid",
    },
}


@dataclass(frozen=True)
class HeaderPlan:
    """What each header of one file feeds, for one table in one dialect."""

    dialect: str
    fields: dict[str, str]  # header → truce field
    became: dict[str, str]  # header → the source system's stage name it dates
    unknown: list[str]
    managed: dict[str, str] = field(default_factory=dict)  # header → why truce keeps it itself


def _synonyms(dialect: str, table: str) -> dict[str, str]:
    if dialect == "truce":
        return {value_key(f): f for f in TRUCE_FIELDS[table]}
    source = SALESFORCE if dialect == "salesforce" else HUBSPOT
    return {value_key(header): field for header, field in source[table].items()}


def is_truce_export(header: list[str], table: str) -> bool:
    """Whether the header is a `truce export` of `table`: exactly its columns, or, from a store whose
    schema had fewer columns, a part of them with the id and every reference key (exports only grow)."""
    from truce.services.export import REFERENCES, exported_header

    keys = {value_key(h) for h in header}
    exported = {value_key(name) for name in exported_header(table)}
    if keys == exported:
        return True
    needed = {"id"} | {value_key(r.name) for r in REFERENCES[table]}
    return keys <= exported and needed <= keys


def detect(header: list[str], table: str) -> str:
    """A truce export is truce's; else the dialect that recognises most of the header (a signature header settles ties)."""
    if is_truce_export(header, table):
        return "truce"
    keys = {value_key(h) for h in header}
    if any(BECAME.match(h) for h in header):
        return "hubspot"
    scores = {}
    for dialect in DIALECTS:
        known = keys & set(_synonyms(dialect, table))
        signed = keys & SIGNATURES.get(dialect, set())
        scores[dialect] = (len(known) + 2 * len(signed), dialect == "truce")
    return max(DIALECTS, key=lambda d: scores[d])


def plan(header: list[str], table: str, dialect: str, mapping: dict[str, str] | None = None) -> HeaderPlan:
    """Assign every header to a truce field. `mapping` (from --mapping) wins over the built-ins."""
    synonyms = _synonyms(dialect, table)
    user = _user_mapping(table, mapping or {})
    fields, became, unknown, managed = {}, {}, [], {}
    for name in header:
        key = value_key(name)
        if key in user:
            fields[name] = user[key]
        elif key in synonyms:
            fields[name] = synonyms[key]
        elif dialect == "hubspot" and table == "contacts" and (match := BECAME.match(name.strip())):
            became[name] = match.group("stage")
        elif dialect == "truce" and key in _MANAGED_KEYS:
            managed[name] = MANAGED_BY_TRUCE[_MANAGED_KEYS[key]]
        else:
            unknown.append(name)
    return HeaderPlan(dialect, fields, became, unknown, managed)


def _user_mapping(table: str, mapping: dict[str, str]) -> dict[str, str]:
    """--mapping's header → field, by header key; a field truce does not have is an error, not a lost column."""
    known = {value_key(f): f for f in (*TRUCE_FIELDS[table], *SALESFORCE[table].values(), *HUBSPOT[table].values())}
    user = {}
    for header, wanted in mapping.items():
        field = known.get(value_key(wanted))
        if field is None:
            raise FileProblem(
                f"--mapping: {header!r} names {wanted!r}, which is not a {table} field; "
                f"use one of {', '.join(TRUCE_FIELDS[table])}"
            )
        user[value_key(header)] = field
    return user
