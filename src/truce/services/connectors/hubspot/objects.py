"""HubSpot records as rows of truce field names, the file importer's vocabulary.

Values stay text, as an export's cells would be; the importer parses and checks them, so a record
truce cannot take (no email, an unknown stage) still becomes a row and the importer names why.
Owners are referred to by their HubSpot owner id, which the owners sync stores as the user's
external id, so `hubspot_owner_id` resolves like an owner's email would.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from truce.services.connectors.protocol import CrmObject


@dataclass(frozen=True)
class Spec:
    """What truce reads of one HubSpot object."""

    obj: CrmObject
    modified: str  # the last-modified property the search filters and sorts on
    properties: tuple[str, ...]
    touch: tuple[str, str, str] | None = None  # engagements: (touch_type, channel, touch id prefix)


def _engagement(name: str, touch_type: str, channel: str) -> Spec:
    prefix = f"hubspot-{touch_type}-"
    return Spec(
        CrmObject(name, "touchpoints", "hubspot", id_prefix=prefix),
        "hs_lastmodifieddate",
        ("hs_timestamp", "hubspot_owner_id", "hs_lastmodifieddate"),
        touch=(touch_type, channel, prefix),
    )


# In the order the references need: owners before everything they own, companies before their
# people and deals, contacts before their deals and touches.
SPECS: dict[str, Spec] = {
    spec.obj.name: spec
    for spec in (
        Spec(CrmObject("owners", "users", "hubspot", full_only=True), "updatedAt", ()),
        Spec(
            CrmObject("companies", "accounts", "hubspot"),
            "hs_lastmodifieddate",
            (
                "name",
                "domain",
                "industry",
                "numberofemployees",
                "country",
                "hubspot_owner_id",
                "createdate",
                "hs_lastmodifieddate",
                "hs_merged_object_ids",
            ),
        ),  # fmt: skip
        Spec(
            CrmObject("contacts", "contacts", "hubspot"),
            "lastmodifieddate",
            (
                "email",
                "firstname",
                "lastname",
                "jobtitle",
                "phone",
                "lifecyclestage",
                "hs_lead_status",
                "hs_analytics_source",
                "hubspot_owner_id",
                "createdate",
                "lastmodifieddate",
                "hs_merged_object_ids",
            ),
        ),  # fmt: skip
        Spec(
            CrmObject("deals", "opportunities", "hubspot"),
            "hs_lastmodifieddate",
            (
                "dealname",
                "amount",
                "closedate",
                "dealstage",
                "pipeline",
                "hubspot_owner_id",
                "createdate",
                "deal_currency_code",
                "hs_lastmodifieddate",
                "hs_merged_object_ids",
            ),
        ),  # fmt: skip
        _engagement("emails", "email", "email"),
        _engagement("calls", "call", "phone"),
        _engagement("meetings", "meeting", "meeting"),
        _engagement("notes", "note", "sales note"),
    )
}


def moment(record: dict, spec: Spec) -> int:
    """A record's last-modified time in epoch milliseconds (what searches filter on)."""
    value = (record.get("properties") or {}).get(spec.modified) or record.get("updatedAt")
    if value is None:  # HubSpot always sends updatedAt
        raise ValueError(f"{spec.obj.name} record {record.get('id')} has neither {spec.modified} nor updatedAt")
    return to_ms(value)


def to_ms(value: str | int) -> int:
    text = str(value).strip()
    if text.isdigit():
        return int(text)
    return int(dt.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000)


def iso(ms: int) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def merged_ids(record: dict) -> list[str]:
    """`hs_merged_object_ids`: the ids merged into this record, separated by semicolons."""
    value = (record.get("properties") or {}).get("hs_merged_object_ids") or ""
    return [part.strip() for part in value.split(";") if part.strip()]


def owner_row(owner: dict, team: str) -> dict:
    return {
        "external_id": str(owner["id"]),
        "email": owner.get("email") or "",
        "first_name": owner.get("firstName") or "",
        "last_name": owner.get("lastName") or "",
        "team": team,
        "active": "false" if owner.get("archived") else "true",
    }


def company_row(record: dict) -> dict:
    p = record.get("properties") or {}
    return {
        "external_id": str(record["id"]),
        "name": p.get("name") or "",
        "domain": p.get("domain") or "",
        "industry": p.get("industry") or "",
        "employees": p.get("numberofemployees") or "",
        "region": p.get("country") or "",
        "owner_email": p.get("hubspot_owner_id") or "",
        "created_at": p.get("createdate") or record.get("createdAt") or "",
    }


def contact_row(record: dict, company_id: str | None, became: dict[str, str]) -> dict:
    p = record.get("properties") or {}
    row = {
        "external_id": str(record["id"]),
        "email": p.get("email") or "",
        "first_name": p.get("firstname") or "",
        "last_name": p.get("lastname") or "",
        "title": p.get("jobtitle") or "",
        "phone": p.get("phone") or "",
        "account_external_id": company_id or "",
        "lifecycle_stage": p.get("lifecyclestage") or "",
        "lead_status": p.get("hs_lead_status") or "",
        "source_channel": p.get("hs_analytics_source") or "",
        "owner_email": p.get("hubspot_owner_id") or "",
        "created_at": p.get("createdate") or record.get("createdAt") or "",
    }
    return row | became


@dataclass(frozen=True)
class DealStage:
    label: str
    status: str  # won, lost, open


def deal_stages(pipelines: dict) -> dict[tuple[str, str], DealStage]:
    """(pipeline id, stage id) → label and status. A closed stage with probability 1 is won, else lost."""
    stages = {}
    for pipeline in pipelines.get("results") or []:
        for stage in pipeline.get("stages") or []:
            meta = stage.get("metadata") or {}
            closed = str(meta.get("isClosed", "false")).lower() == "true"
            try:
                probability = float(meta.get("probability", 0) or 0)
            except ValueError:
                probability = 0.0
            status = ("won" if probability >= 1.0 else "lost") if closed else "open"
            stages[(str(pipeline["id"]), str(stage["id"]))] = DealStage(stage.get("label") or str(stage["id"]), status)
    return stages


def deal_row(record: dict, stages: dict, company_id: str | None, contact_email: str | None) -> dict:
    p = record.get("properties") or {}
    stage_id, pipeline = p.get("dealstage") or "", p.get("pipeline") or "default"
    stage = stages.get((pipeline, stage_id)) or next(
        (s for (_, sid), s in stages.items() if sid == stage_id), None
    )  # a deal may name a stage id without its pipeline
    return {
        "external_id": str(record["id"]),
        "name": p.get("dealname") or "",
        "amount": p.get("amount") or "",
        "close_date": p.get("closedate") or "",
        "stage": stage.label if stage else stage_id,
        "status": stage.status if stage else "",
        "created_at": p.get("createdate") or record.get("createdAt") or "",
        "owner_email": p.get("hubspot_owner_id") or "",
        "currency": p.get("deal_currency_code") or "",
        "account_external_id": company_id or "",
        "primary_contact_email": contact_email or "",
    }


def touch_id(spec: Spec, engagement_id: str, contact_id: str) -> str:
    """One touch per engagement and contact it was with: an email to three people touched three."""
    return f"{touch_prefix(spec)}{engagement_id}-{contact_id}"


def touch_prefix(spec: Spec) -> str:
    """How the ids of the touches made of this engagement object begin."""
    if spec.touch is None:  # a caller's slip: only engagement objects make touches
        raise ValueError(f"HubSpot {spec.obj.name} records are not engagements; they make no touches")
    return spec.touch[2]


def engagement_of(spec: Spec, crm_id: str) -> str:
    """The engagement id in a touch id (a reject is named by its touch id), or the id itself."""
    if spec.touch and crm_id.startswith(spec.touch[2]):
        return crm_id[len(spec.touch[2]) :].split("-")[0]
    return crm_id


def touch_rows(spec: Spec, record: dict, contact_ids: list[str]) -> list[dict]:
    """A touch per associated contact. Its kind is left to the importer: a sales owner's touch is
    sales, any other marketing. No contact, no touch: there is no one it touched."""
    p = record.get("properties") or {}
    if spec.touch is None:  # not an engagement: it makes no touches
        return []
    touch_type, channel, _ = spec.touch
    return [
        {
            "external_id": touch_id(spec, str(record["id"]), contact_id),
            "contact_external_id": contact_id,
            "channel": channel,
            "touch_type": touch_type,
            "occurred_at": p.get("hs_timestamp") or record.get("createdAt") or "",
            "user_email": p.get("hubspot_owner_id") or "",
        }
        for contact_id in contact_ids
    ]


def primary(associations: list[dict], primary_type_ids: frozenset[int] = frozenset()) -> str | None:
    """The associated record labelled Primary (or of a primary association type), else the first."""
    for to in associations:
        for kind in to.get("associationTypes") or []:
            if (kind.get("label") or "").lower() == "primary" or kind.get("typeId") in primary_type_ids:
                return str(to["toObjectId"])
    return str(associations[0]["toObjectId"]) if associations else None


def inline_associations(records: list[dict], to_object: str) -> dict[str, list[dict]] | None:
    """Associations a list answer carried inline (GET …?associations=contacts), in the v4 batch
    shape {from id: [{toObjectId, associationTypes}]}; None when the answer carried none (a search
    or a batch read, which do not offer them), so the caller asks the associations API."""
    if not records or not any("associations" in r for r in records):
        return None
    found = {}
    for record in records:
        linked = ((record.get("associations") or {}).get(to_object) or {}).get("results") or []
        found[str(record["id"])] = [
            {"toObjectId": int(link["id"]),
             "associationTypes": [{"category": "HUBSPOT_DEFINED", "typeId": None, "label": None,
                                   "type": link.get("type")}]}
            for link in linked
        ]  # fmt: skip
    return found
