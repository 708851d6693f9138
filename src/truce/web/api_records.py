"""The shared records: pages with filters, one record, create and update — every write audited.

Paging: `limit` (1–500, default 50), then `cursor` (the `next` of the previous page) or
`offset`. There is no DELETE: records are corrected, never erased, and the stage ledger and
the audit trail are append-only (GET only).
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import Depends, Path, Query, Request

from truce.services import audit_trail as trail
from truce.services import records
from truce.vocabulary import Team
from truce.web.api_common import (
    Cursor,
    IdQuery,
    Limit,
    MomentQuery,
    Offset,
    QueryMoment,
    TextQuery,
    api_router,
    settings,
    store,
)
from truce.web.app import Caller, allowed, login_guard
from truce.web.schemas import (
    MAX_BIG_ID,
    MAX_ID,
    AccountIn,
    AccountOut,
    AccountPatch,
    AuditOut,
    CampaignCostIn,
    CampaignIn,
    CampaignOut,
    CampaignPatch,
    ContactIn,
    ContactOut,
    ContactPatch,
    OpportunityIn,
    OpportunityOut,
    OpportunityPatch,
    Page,
    StageChangeOut,
    TouchpointOut,
    UserIn,
    UserOut,
)

router = api_router(tags=["records"])
Reader = Annotated[Caller, Depends(allowed("read_records"))]
Writer = Annotated[Caller, Depends(allowed("write_records"))]
RecordId = Annotated[int, Path(ge=1, le=MAX_ID)]
BigId = Annotated[int, Path(ge=1, le=MAX_BIG_ID)]
Owner = Annotated[str | None, *TextQuery("Only records this user (email) owns")]
UpdatedSince = Annotated[
    QueryMoment | None, *MomentQuery("updated_since", "Only records updated at or after this moment")
]
Since = Annotated[QueryMoment | None, *MomentQuery("since", "At or after this moment")]
Until = Annotated[QueryMoment | None, *MomentQuery("until", "Before this moment")]


def _page(request: Request, records_of: str, limit: int, cursor: str | None, offset: int | None, **filters) -> dict:
    return records.list_records(
        store(request), settings(request), records_of, limit=limit, cursor=cursor, offset=offset, **filters
    )


def _create(request: Request, who: Caller, kind: str, body) -> dict:
    given = body.model_dump(exclude_none=True)
    return records.create_record(
        store(request), settings(request), kind, given, actor_id=who.who.id, actor=who.who.email
    )


def _update(request: Request, who: Caller, kind: str, record_id: int, body) -> dict:
    given = body.model_dump(exclude_unset=True)
    return records.update_record(
        store(request), settings(request), kind, record_id, given, actor_id=who.who.id, actor=who.who.email
    )


# ---- accounts -------------------------------------------------------------------------------------


@router.get("/accounts", summary="Accounts, filtered, a page at a time", response_model=Page[AccountOut])
def list_accounts(
    request: Request,
    who: Reader,
    limit: Limit = 50,
    cursor: Cursor = None,
    offset: Offset = None,
    owner: Owner = None,
    segment: Annotated[str | None, *TextQuery("Only this segment", 64)] = None,
    region: Annotated[str | None, *TextQuery("Only this region", 64)] = None,
    key_account: Annotated[bool | None, Query(description="Only key accounts (true) or the others")] = None,
    domain: Annotated[str | None, *TextQuery("The account with this web domain", 253)] = None,
    updated_since: UpdatedSince = None,
):
    return _page(
        request,
        "accounts",
        limit,
        cursor,
        offset,
        owner=owner,
        segment=segment,
        region=region,
        is_key_account=key_account,
        domain=domain,
        updated_since=updated_since,
    )


@router.get("/accounts/{account_id}", summary="One account", response_model=AccountOut)
def get_account(request: Request, who: Reader, account_id: RecordId):
    return records.get_record(store(request), "accounts", account_id)


@router.post("/accounts", summary="Create an account", response_model=AccountOut, status_code=201)
def create_account(request: Request, who: Writer, body: AccountIn):
    return _create(request, who, "accounts", body)


@router.patch("/accounts/{account_id}", summary="Change an account's fields", response_model=AccountOut)
def update_account(request: Request, who: Writer, account_id: RecordId, body: AccountPatch):
    return _update(request, who, "accounts", account_id, body)


# ---- contacts -------------------------------------------------------------------------------------


@router.get(
    "/contacts", summary="Contacts (leads are contacts in early stages), filtered", response_model=Page[ContactOut]
)
def list_contacts(
    request: Request,
    who: Reader,
    limit: Limit = 50,
    cursor: Cursor = None,
    offset: Offset = None,
    stage: Annotated[str | None, *TextQuery("Only contacts at this funnel stage, e.g. mql", 32)] = None,
    owner: Owner = None,
    account_id: IdQuery = None,
    source_channel: Annotated[str | None, *TextQuery("Only contacts from this channel", 64, "source_channel")] = None,
    email: Annotated[str | None, *TextQuery("The contact with this email")] = None,
    updated_since: UpdatedSince = None,
):
    return _page(
        request,
        "contacts",
        limit,
        cursor,
        offset,
        stage=stage,
        owner=owner,
        account_id=account_id,
        source_channel=source_channel,
        email=email,
        updated_since=updated_since,
    )


@router.get("/contacts/{contact_id}", summary="One contact", response_model=ContactOut)
def get_contact(request: Request, who: Reader, contact_id: RecordId):
    return records.get_record(store(request), "contacts", contact_id)


@router.post(
    "/contacts",
    summary="Create a contact; its entry into the funnel goes into the ledger",
    response_model=ContactOut,
    status_code=201,
)
def create_contact(request: Request, who: Writer, body: ContactIn):
    return _create(request, who, "contacts", body)


@router.patch(
    "/contacts/{contact_id}",
    summary="Change a contact's fields (not its stage: that moves through handoffs and the ledger)",
    response_model=ContactOut,
)
def update_contact(request: Request, who: Writer, contact_id: RecordId, body: ContactPatch):
    return _update(request, who, "contacts", contact_id, body)


# ---- campaigns ------------------------------------------------------------------------------------


@router.get("/campaigns", summary="Campaigns with their budget and cost, filtered", response_model=Page[CampaignOut])
def list_campaigns(
    request: Request,
    who: Reader,
    limit: Limit = 50,
    cursor: Cursor = None,
    offset: Offset = None,
    channel: Annotated[str | None, *TextQuery("Only this channel", 64)] = None,
    owning_team: Annotated[Team | None, Query()] = None,
    owner: Owner = None,
):
    return _page(request, "campaigns", limit, cursor, offset, channel=channel, owning_team=owning_team, owner=owner)


@router.get("/campaigns/{campaign_id}", summary="One campaign", response_model=CampaignOut)
def get_campaign(request: Request, who: Reader, campaign_id: RecordId):
    return records.get_record(store(request), "campaigns", campaign_id)


@router.post(
    "/campaigns",
    summary="Create a campaign (its budget and cost: PUT /campaigns/{id}/cost)",
    response_model=CampaignOut,
    status_code=201,
)
def create_campaign(request: Request, who: Writer, body: CampaignIn):
    return _create(request, who, "campaigns", body)


@router.patch("/campaigns/{campaign_id}", summary="Change a campaign's fields", response_model=CampaignOut)
def update_campaign(request: Request, who: Writer, campaign_id: RecordId, body: CampaignPatch):
    return _update(request, who, "campaigns", campaign_id, body)


@router.put(
    "/campaigns/{campaign_id}/cost",
    summary="Set a campaign's budget and actual cost (marketing only); null clears one",
    response_model=CampaignOut,
)
def set_campaign_cost(
    request: Request,
    who: Annotated[Caller, Depends(allowed("edit_campaign_cost"))],
    campaign_id: RecordId,
    body: CampaignCostIn,
):
    given = body.model_dump(exclude_unset=True)
    return records.set_campaign_cost(store(request), campaign_id, given, actor=who.who.email)


# ---- opportunities --------------------------------------------------------------------------------


@router.get("/opportunities", summary="Deals, filtered", response_model=Page[OpportunityOut])
def list_opportunities(
    request: Request,
    who: Reader,
    limit: Limit = 50,
    cursor: Cursor = None,
    offset: Offset = None,
    status: Annotated[Literal["open", "won", "lost"] | None, Query()] = None,
    stage: Annotated[str | None, *TextQuery("Only deals at this deal stage", 64)] = None,
    owner: Owner = None,
    account_id: IdQuery = None,
    updated_since: UpdatedSince = None,
):
    return _page(
        request,
        "opportunities",
        limit,
        cursor,
        offset,
        status=status,
        stage=stage,
        owner=owner,
        account_id=account_id,
        updated_since=updated_since,
    )


@router.get("/opportunities/{opportunity_id}", summary="One deal", response_model=OpportunityOut)
def get_opportunity(request: Request, who: Reader, opportunity_id: RecordId):
    from truce.services.discounts import deal_record

    # With its discount against the policy and any approval: a deal beyond policy without one is flagged.
    return deal_record(store(request), settings(request), opportunity_id)


@router.post("/opportunities", summary="Create a deal", response_model=OpportunityOut, status_code=201)
def create_opportunity(request: Request, who: Writer, body: OpportunityIn):
    return _create(request, who, "opportunities", body)


@router.patch(
    "/opportunities/{opportunity_id}",
    summary="Change a deal's fields; a new stage goes into the ledger",
    response_model=OpportunityOut,
)
def update_opportunity(request: Request, who: Writer, opportunity_id: RecordId, body: OpportunityPatch):
    return _update(request, who, "opportunities", opportunity_id, body)


# ---- touchpoints, users, the ledger ---------------------------------------------------------------


@router.get(
    "/touchpoints",
    summary="Touches of both teams, filtered (write them with POST /ingest/touchpoints)",
    response_model=Page[TouchpointOut],
)
def list_touchpoints(
    request: Request,
    who: Reader,
    limit: Limit = 50,
    cursor: Cursor = None,
    offset: Offset = None,
    contact_id: IdQuery = None,
    campaign_id: IdQuery = None,
    channel: Annotated[str | None, *TextQuery("Only this channel", 64)] = None,
    kind: Annotated[Literal["marketing", "sales"] | None, Query()] = None,
    since: Since = None,
    until: Until = None,
):
    return _page(
        request,
        "touchpoints",
        limit,
        cursor,
        offset,
        contact_id=contact_id,
        campaign_id=campaign_id,
        channel=channel,
        kind=kind,
        since=since,
        until=until,
    )


@router.get("/touchpoints/{touchpoint_id}", summary="One touch", response_model=TouchpointOut)
def get_touchpoint(request: Request, who: Reader, touchpoint_id: BigId):
    return records.get_record(store(request), "touchpoints", touchpoint_id)


@router.get("/users", summary="The people of both teams (never a password hash)", response_model=Page[UserOut])
def list_users(
    request: Request,
    who: Reader,
    limit: Limit = 50,
    cursor: Cursor = None,
    offset: Offset = None,
    team: Annotated[Team | None, Query()] = None,
    active: Annotated[bool | None, Query()] = None,
):
    return _page(request, "users", limit, cursor, offset, team=team, active=active)


@router.get("/users/{user_id}", summary="One user", response_model=UserOut)
def get_user(request: Request, who: Reader, user_id: RecordId):
    return records.get_record(store(request), "users", user_id)


@router.post(
    "/users",
    summary="Add a user, or change an existing one's team, role or password (a new password ends their sessions)",
    response_model=UserOut,
)
def add_user(request: Request, who: Annotated[Caller, Depends(allowed("manage_users"))], body: UserIn):
    from truce.services.logins import add_user as add

    user_id = add(
        store(request),
        email=body.email,
        team=body.team,
        role=body.role,
        name=body.name,
        password=body.password,
        actor=who.who.email,
        revoke_tokens=body.revoke_tokens,
        origin="api",
        checks=login_guard(request).checks,
    )
    return records.get_record(store(request), "users", user_id)


@router.get(
    "/stage-changes",
    summary="The stage ledger, oldest first: append-only, so there is no way to change it here",
    response_model=Page[StageChangeOut],
)
def list_stage_changes(
    request: Request,
    who: Reader,
    limit: Limit = 50,
    cursor: Cursor = None,
    offset: Offset = None,
    entity_type: Annotated[Literal["contact", "opportunity"] | None, Query()] = None,
    entity_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    to_stage: Annotated[str | None, *TextQuery("Only moves into this stage", 64, "to_stage")] = None,
    since: Since = None,
    until: Until = None,
):
    return _page(
        request,
        "stage_changes",
        limit,
        cursor,
        offset,
        entity_type=entity_type,
        entity_id=entity_id,
        to_stage=to_stage,
        since=since,
        until=until,
    )


@router.get(
    "/audit",
    summary="The audit trail, newest first: every write by any face (revops only)",
    response_model=Page[AuditOut],
)
def audit_trail(
    request: Request,
    who: Annotated[Caller, Depends(allowed("read_audit"))],
    limit: Limit = 50,
    cursor: Cursor = None,
    offset: Offset = None,
    actor: Annotated[str | None, *TextQuery("Only what this user (email) or process did")] = None,
    action: Annotated[str | None, *TextQuery("Only this action, e.g. update, stage_move, ingest", 32)] = None,
    entity_type: Annotated[str | None, *TextQuery("Only this kind of record, e.g. contact", 32, "entity_type")] = None,
    entity_id: Annotated[int | None, Query(ge=1, le=MAX_BIG_ID)] = None,
    since: Since = None,
    until: Until = None,
):
    return trail.entries(
        store(request),
        limit=limit,
        cursor=cursor,
        offset=offset,
        actor=actor,
        action=action,
        entity_type=entity_type,
        entity_id=entity_id,
        since=since,
        until=until,
    )
