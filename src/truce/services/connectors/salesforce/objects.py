"""Salesforce records as rows of truce fields (the file importer's vocabulary, dialect "salesforce").

Records arrive flat: field → text, a parent's field under its dotted name ("ConvertedContact.Email"),
from the REST API's JSON and Bulk API 2.0's CSV alike (`flat`). Each object's `Spec` says what
to select, which timestamp orders it, whether queryAll can return it deleted, and how a record
becomes rows. The mapping table is in docs/connectors.md (## Salesforce).

Touches and ledger rows share tables with other sources, so their external ids carry a
`salesforce-` prefix (CampaignMember 00v…, Task 00T…, Event 00U…, field history 017…).
"""

from __future__ import annotations

from dataclasses import dataclass

from truce.config import TruceConfig

PREFIX = "salesforce-"
LEAD, CONTACT = "00Q", "003"


@dataclass(frozen=True)
class Spec:
    name: str
    table: str
    fields: tuple[str, ...]
    stamp: str = "SystemModstamp"
    deletable: bool = True  # queryAll lists it deleted (IsDeleted); history and users are not
    mergeable: bool = False  # a merged-away record carries MasterRecordId
    bulk: bool = False  # a full sync reads it with a Bulk API 2.0 query job
    id_prefix: str = ""  # its ids in a table it shares (contacts), or its touch prefix
    condition: str | None = None  # always part of its WHERE (history: the one field truce follows)

    def select_fields(self) -> tuple[str, ...]:
        extra = (("IsDeleted",) if self.deletable else ()) + (("MasterRecordId",) if self.mergeable else ())
        return (*self.fields, *extra)


SPECS = (
    Spec("User", "users", ("Id", "Email", "FirstName", "LastName", "Name", "IsActive", "CreatedDate", "SystemModstamp"),
         deletable=False),
    Spec("Account", "accounts", ("Id", "Name", "Website", "Industry", "NumberOfEmployees", "BillingCountry", "OwnerId",
                                 "CreatedDate", "SystemModstamp"), mergeable=True),
    Spec("Contact", "contacts", ("Id", "Email", "FirstName", "LastName", "Title", "Phone", "AccountId", "LeadSource",
                                 "OwnerId", "CreatedDate", "SystemModstamp"),
         mergeable=True, bulk=True, id_prefix=CONTACT),
    Spec("Lead", "contacts", ("Id", "Email", "FirstName", "LastName", "Title", "Phone", "Company", "LeadSource", "Status",
                              "OwnerId", "IsConverted", "ConvertedDate", "ConvertedContactId", "ConvertedContact.Email",
                              "CreatedDate", "SystemModstamp"),
         mergeable=True, bulk=True, id_prefix=LEAD),
    Spec("Campaign", "campaigns", ("Id", "Name", "Type", "BudgetedCost", "ActualCost", "StartDate", "EndDate", "OwnerId",
                                   "SystemModstamp")),
    Spec("Opportunity", "opportunities", ("Id", "Name", "AccountId", "Amount", "StageName", "CloseDate", "CampaignId",
                                          "OwnerId", "CreatedDate", "SystemModstamp"), bulk=True),
    Spec("CampaignMember", "touchpoints", ("Id", "CampaignId", "LeadId", "ContactId", "Status", "FirstRespondedDate",
                                           "CreatedDate", "SystemModstamp"), bulk=True, id_prefix=PREFIX + "00v"),
    Spec("Task", "touchpoints", ("Id", "WhoId", "TaskSubtype", "OwnerId", "CompletedDateTime", "CreatedDate",
                                 "SystemModstamp"), bulk=True, id_prefix=PREFIX + "00T"),
    Spec("Event", "touchpoints", ("Id", "WhoId", "OwnerId", "StartDateTime", "CreatedDate", "SystemModstamp"),
         bulk=True, id_prefix=PREFIX + "00U"),
    Spec("OpportunityFieldHistory", "stage_changes", ("Id", "OpportunityId", "Field", "OldValue", "NewValue",
                                                      "CreatedDate", "CreatedById"),
         stamp="CreatedDate", deletable=False, condition="Field = 'StageName'", id_prefix=PREFIX + "017"),
)  # fmt: skip
BY_NAME = {spec.name: spec for spec in SPECS}
LEAD_HISTORY = ("Id", "LeadId", "Field", "OldValue", "NewValue", "CreatedDate", "CreatedById")


def flat(record: dict, prefix: str = "") -> dict[str, str | None]:
    """A JSON record as field → text, parents' fields dotted; `attributes` left out."""
    out: dict[str, str | None] = {}
    for key, value in record.items():
        if key == "attributes":
            continue
        if isinstance(value, dict):
            out |= flat(value, f"{prefix}{key}.")
        else:
            out[f"{prefix}{key}"] = text(value)
    return out


def text(value) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def yes(value: str | None) -> bool:
    return (value or "").lower() == "true"


def touch_id(crm_id: str) -> str:
    return PREFIX + crm_id


def crm_id(row_id: str) -> str:
    """A row's external id back to the Salesforce id (rejects of touches are named with the prefix)."""
    return row_id[len(PREFIX) :] if row_id.startswith(PREFIX) else row_id


def person(who: str | None) -> str | None:
    """A WhoId that is a lead or a contact (tasks may name neither)."""
    return who if who and who[:3] in (LEAD, CONTACT) else None


class Rows:
    """Record → row for each object; `config` gives users' teams."""

    def __init__(self, config: TruceConfig):
        settings = config.connectors.salesforce
        self.teams = {email.strip().lower(): team for email, team in settings.teams.items()}
        self.default_team = settings.default_team
        self.config = config

    def User(self, r):
        email = (r.get("Email") or "").strip().lower()
        return {"external_id": r["Id"], "email": r.get("Email"), "name": r.get("Name"), "first_name": r.get("FirstName"),
                "last_name": r.get("LastName"), "active": r.get("IsActive"), "created_at": r.get("CreatedDate"),
                "team": self.teams.get(email, self.default_team)}  # fmt: skip

    def Account(self, r):
        return {"external_id": r["Id"], "name": r.get("Name"), "domain": r.get("Website"), "industry": r.get("Industry"),
                "employees": r.get("NumberOfEmployees"), "region": r.get("BillingCountry"),
                "owner_email": r.get("OwnerId"), "created_at": r.get("CreatedDate")}  # fmt: skip

    def Contact(self, r):
        return {"external_id": r["Id"], "email": r.get("Email"), "first_name": r.get("FirstName"),
                "last_name": r.get("LastName"), "title": r.get("Title"), "phone": r.get("Phone"),
                "account_external_id": r.get("AccountId"), "source_channel": r.get("LeadSource"),
                "owner_email": r.get("OwnerId"), "created_at": r.get("CreatedDate")}  # fmt: skip

    def Lead(self, r, with_status: bool = True):
        row = {"external_id": r["Id"], "email": r.get("Email"), "first_name": r.get("FirstName"),
               "last_name": r.get("LastName"), "title": r.get("Title"), "phone": r.get("Phone"),
               "company": r.get("Company"), "source_channel": r.get("LeadSource"), "owner_email": r.get("OwnerId"),
               "created_at": r.get("CreatedDate")}  # fmt: skip
        if with_status:
            row["lead_status"] = r.get("Status")
        return row

    def converted(self, r):
        """A converted lead is the person its Contact is: only what ties them together."""
        return {"external_id": r["ConvertedContactId"], "email": r.get("ConvertedContact.Email") or r.get("Email")}

    def status_only(self, r):
        return {"external_id": r["Id"], "email": r.get("Email"), "lead_status": r.get("Status")}

    def Campaign(self, r):
        # A campaign without a Type still has a channel in truce: "other", until someone sets it.
        return {"external_id": r["Id"], "name": r.get("Name"), "channel": r.get("Type") or "other",
                "budget": r.get("BudgetedCost"), "actual_cost": r.get("ActualCost"), "starts_on": r.get("StartDate"),
                "ends_on": r.get("EndDate"), "owner_email": r.get("OwnerId")}  # fmt: skip

    def Opportunity(self, r):
        return {"external_id": r["Id"], "name": r.get("Name"), "account_external_id": r.get("AccountId"),
                "amount": r.get("Amount"), "stage": r.get("StageName"), "close_date": r.get("CloseDate"),
                "campaign_external_id": r.get("CampaignId"), "owner_email": r.get("OwnerId"),
                "created_at": r.get("CreatedDate")}  # fmt: skip

    def CampaignMember(self, r):
        return {"external_id": touch_id(r["Id"]), "campaign_external_id": r.get("CampaignId"),
                "contact_external_id": r.get("ContactId") or r.get("LeadId"), "kind": "marketing",
                "touch_type": r.get("Status"), "occurred_at": r.get("FirstRespondedDate"),
                "occurred_at_fallback": r.get("CreatedDate")}  # fmt: skip

    def Task(self, r):
        who = person(r.get("WhoId"))
        if who is None:
            return None
        subtype = (r.get("TaskSubtype") or "Task").lower()
        channel = {"call": "phone", "email": "email", "listemail": "email"}.get(subtype, "sales_activity")
        # No kind: the importer takes it from the owner's team (a seller's call is a sales touch).
        return {"external_id": touch_id(r["Id"]), "contact_external_id": who, "channel": channel,
                "touch_type": subtype, "user_email": r.get("OwnerId"),
                "occurred_at": r.get("CompletedDateTime"), "occurred_at_fallback": r.get("CreatedDate")}  # fmt: skip

    def Event(self, r):
        who = person(r.get("WhoId"))
        if who is None:
            return None
        return {"external_id": touch_id(r["Id"]), "contact_external_id": who, "channel": "meeting",
                "touch_type": "meeting", "user_email": r.get("OwnerId"), "occurred_at": r.get("StartDateTime"),
                "occurred_at_fallback": r.get("CreatedDate")}  # fmt: skip

    def OpportunityFieldHistory(self, r):
        return {"external_id": touch_id(r["Id"]), "entity_type": "opportunity",
                "opportunity_external_id": r.get("OpportunityId"), "from_stage": r.get("OldValue"),
                "to_stage": r.get("NewValue"), "changed_at": r.get("CreatedDate"),
                "changed_by_email": r.get("CreatedById")}  # fmt: skip

    def lead_move(self, h, person_id: str):
        """A LeadHistory Status change as a ledger move, the statuses read through the lead-status mapping."""
        return {"external_id": touch_id(h["Id"]), "entity_type": "contact", "contact_external_id": person_id,
                "from_stage": self._stage(h.get("OldValue")), "to_stage": self._stage(h.get("NewValue")),
                "changed_at": h.get("CreatedDate"), "changed_by_email": h.get("CreatedById")}  # fmt: skip

    def conversion_move(self, r):
        """A lead converted without tracked Status history: its conversion is still a dated move."""
        return {"external_id": f"{PREFIX}{r['Id']}-converted", "entity_type": "contact",
                "contact_external_id": r["ConvertedContactId"], "to_stage": self._stage(r.get("Status")),
                "changed_at": r.get("ConvertedDate")}  # fmt: skip

    def _stage(self, status: str | None) -> str | None:
        # An unmapped status stays as it is, so the ledger's writer names it in the reject.
        if status is None:
            return None
        return self.config.stage_for("salesforce", "lead_status", status) or status
