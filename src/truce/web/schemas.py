"""What the REST API accepts and returns: strict request models, and the shapes of its answers.

Request models are strict (`{"amount": false}` is refused, not read as 0) and forbid unknown
fields, so a misspelt field is an error instead of silently ignored. JSON has no dates or
decimals, so those few types read ISO text (and money also a JSON number) explicitly.
Text refuses NUL characters, which PostgreSQL cannot store, and is bounded by its column.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    WithJsonSchema,
    field_validator,
)

from truce import config as truce_config
from truce.domain import calendar_range
from truce.domain.calendar_range import FIRST_DAY, LAST_DAY, YEAR_PATTERN
from truce.vocabulary import FeedbackKind, OpportunityStatus, TargetMetric, Team, TouchKind

MAX_ID = 2**31 - 1  # integer primary keys: PostgreSQL's int4
MAX_BIG_ID = 2**63 - 1  # touchpoints, the ledger, the audit log
LARGEST_MONEY = Decimal(10) ** 16  # NUMERIC(18, 2)
MAX_INGEST_ITEMS = 10_000


# ---- value types -----------------------------------------------------------------------------


def printable(text: str) -> str:
    if "\x00" in text:
        raise ValueError("text cannot contain the NUL character (\\u0000)")
    if any("\ud800" <= ch <= "\udfff" for ch in text):
        raise ValueError("text cannot contain lone UTF-16 surrogates")
    return text


def _trimmed(text: str) -> str:
    return printable(text).strip()


def _filled(text: str) -> str:
    if not text:
        raise ValueError("this cannot be blank")
    return text


def Text(longest: int, shortest: int = 0) -> tuple[Any, ...]:  # noqa: N802 - read with its type
    """The rules of a text field, `Annotated[str, *Text(200, 1)]`: at most `longest` characters (as
    sent), kept without surrounding space; blank refused if required. Metadata, not a type, so that
    mypy reads the field as a str."""
    checks = (AfterValidator(_trimmed), *((AfterValidator(_filled),) if shortest else ()))
    return (StringConstraints(min_length=shortest, max_length=longest), *checks)


def _in_range(day: dt.date) -> dt.date:
    return calendar_range.check_day(day)


def _day(value: Any) -> dt.date:
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return value
    if not isinstance(value, str):
        raise ValueError("a date is ISO text, e.g. 2026-01-31")
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise ValueError(f"not a date: {value!r}; write it as YYYY-MM-DD, e.g. 2026-01-31") from None


def _moment(value: Any) -> dt.datetime:
    if isinstance(value, dt.datetime):
        parsed = value
    elif isinstance(value, str):
        try:
            parsed = dt.datetime.fromisoformat(value)
        except ValueError:
            raise ValueError(f"not a date and time: {value!r}; use ISO 8601, e.g. 2026-03-31T14:05:00Z") from None
    else:
        raise ValueError("a date and time is ISO 8601 text, e.g. 2026-03-31T14:05:00Z")
    _in_range(parsed.date())
    if parsed.tzinfo is not None:
        try:
            parsed.astimezone(dt.UTC)
        except OverflowError:
            raise ValueError(f"{value!r} is out of range") from None
    return parsed


def _money(value: Any) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        raise ValueError('an amount is a JSON number or decimal text, e.g. "1234.50"')
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation:
        raise ValueError(f"not an amount: {value!r}") from None
    if not amount.is_finite():
        raise ValueError(f"not an amount: {value!r}")
    # The range first: quantizing a huge number overflows the decimal context.
    if not 0 <= amount < LARGEST_MONEY:
        raise ValueError(f"{value!r} is not between 0 and 9,999,999,999,999,999.99")
    if amount != amount.quantize(Decimal("0.01")):
        raise ValueError(f"{value!r} has more than two decimals (money is kept to the cent)")
    return amount.quantize(Decimal("0.01"))


def _rate(value: Any) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        raise ValueError("a rate is a number from 0 to 1, e.g. 0.125 for 12.5 %")
    try:
        rate = Decimal(str(value).strip())
    except InvalidOperation:
        raise ValueError(f"not a rate: {value!r}") from None
    if not rate.is_finite() or not 0 <= rate <= 1:
        raise ValueError(f"a rate is from 0 to 1 (0.125 is 12.5 %), not {value!r}")
    return rate.quantize(Decimal("0.0001"))


def _target_amount(value: Any) -> str:
    """A whole number, or text the targets service reads to the cent; never a float (or a bool)."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 1:
        return str(value)
    if isinstance(value, str) and len(value) <= 32 and value.strip():
        return printable(value.strip())
    raise ValueError('an amount is a whole number or decimal text, e.g. 2500000 or "2500000.00"')


# ---- days, moments and periods: within truce.domain.calendar_range -------------------------------
# The OpenAPI document shows the range as examples (a date format has no minimum) and, for
# periods, as a pattern; the validators refuse, with a message, everything the pattern does.

DAY_EXAMPLES = [FIRST_DAY.isoformat(), LAST_DAY.isoformat()]
MOMENT_EXAMPLES = [f"{FIRST_DAY.isoformat()}T00:00:00Z", f"{LAST_DAY.isoformat()}T23:59:59Z"]
_QUARTER_OR_MONTH = r"-[Qq][1-4]|-(0[1-9]|1[0-2])"
PERIOD_PATTERN = rf"^{YEAR_PATTERN}({_QUARTER_OR_MONTH})?$"
BRIEF_PERIOD_PATTERN = rf"^{YEAR_PATTERN}({_QUARTER_OR_MONTH}|-[Ww](0?[1-9]|[1-4][0-9]|5[0-3]))?$"
PERIOD_EXAMPLES = ["2026-Q4", str(FIRST_DAY.year), f"{LAST_DAY.year}-12"]
BRIEF_PERIOD_EXAMPLES = ["2026-W47", f"{FIRST_DAY.year}-W01", f"{LAST_DAY.year}-W52"]


def _as_written(text: str, pattern: str) -> str:
    """Refuse what the parsers forgive but the documented pattern does not (surrounding spaces)."""
    if not re.fullmatch(pattern, text):
        raise ValueError(f"write the period without spaces or other characters around it, e.g. 2026-Q4, not {text!r}")
    return text


def target_period(text: str) -> str:
    """A year, quarter or month from 1900 to 2999 (truce.domain.forecast.parse_period)."""
    from truce.domain.forecast import parse_period

    parse_period(text)
    return _as_written(text, PERIOD_PATTERN)


def brief_period(text: str) -> str:
    """An ISO week, month, quarter or year from 1900 to 2999 (truce.services.brief.parse_period)."""
    from truce.services.brief import parse_period

    parse_period(text)
    return _as_written(text, BRIEF_PERIOD_PATTERN)


def round_name(text: str) -> str:
    """A survey round's name; one that spells a period (2026-Q4, 2026-H1, 2026-11, 2026) spells one from 1900 to 2999."""
    from truce.domain.diagnostic import period_of

    try:
        period_of(text)
    except calendar_range.OutsideCalendar as exc:
        raise ValueError(f"round {exc}") from None
    return text


Day = Annotated[
    dt.date,
    BeforeValidator(_day),
    AfterValidator(_in_range),
    WithJsonSchema({"type": "string", "format": "date", "examples": DAY_EXAMPLES}),
]
Moment = Annotated[
    dt.datetime,
    BeforeValidator(_moment),
    WithJsonSchema({"type": "string", "format": "date-time", "examples": MOMENT_EXAMPLES}),
]
TargetPeriod = Annotated[
    str,
    StringConstraints(min_length=1, max_length=16),
    AfterValidator(printable),
    AfterValidator(target_period),
    WithJsonSchema(
        {"type": "string", "minLength": 1, "maxLength": 16, "pattern": PERIOD_PATTERN, "examples": PERIOD_EXAMPLES}
    ),
]
RoundName = Annotated[str, *Text(32, 1), AfterValidator(round_name)]
Money = Annotated[Decimal, BeforeValidator(_money)]
Rate = Annotated[Decimal, BeforeValidator(_rate)]
Id = Annotated[int, Field(ge=1, le=MAX_ID)]
Email = Annotated[str, *Text(254, 3)]
ExternalId = Annotated[str, *Text(64, 1)]


class Strict(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")


# ---- errors ---------------------------------------------------------------------------------------


class FieldError(BaseModel):
    path: str = Field(description="Where the bad value is, e.g. body.items.3.occurred_at or query.limit")
    message: str
    type: str


class ErrorOut(BaseModel):
    error: str
    errors: list[FieldError] = Field(description="One entry per bad field; empty when the error is not about a field")


ERRORS: dict[int | str, dict] = {
    400: {"model": ErrorOut, "description": "The request cannot be carried out as asked; `error` says why"},
    401: {"model": ErrorOut, "description": "No valid API token or session"},
    403: {"model": ErrorOut, "description": "The caller's role may not do this (docs/permissions.md)"},
    404: {"model": ErrorOut, "description": "No such record"},
    409: {"model": ErrorOut, "description": "The record's current state or another record refuses the change"},
    413: {"model": ErrorOut, "description": "The request body is larger than the server takes (16 MiB)"},
    422: {"model": ErrorOut, "description": "A field is not valid: `errors` gives the path of each"},
}


# ---- pages of records -----------------------------------------------------------------------------

T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    items: list[T]
    next: str | None = Field(description="Pass as `cursor` for the next page; null on the last page")


class UserOut(BaseModel):
    id: int
    email: str
    name: str
    team: str
    role: str
    access: str
    marketing_focus: str | None
    is_leader: bool
    region: str | None
    segment: str | None
    active: bool
    external_id: str | None
    created_at: dt.datetime


class AccountOut(BaseModel):
    id: int
    name: str
    domain: str | None
    industry: str | None
    employees: int | None
    region: str | None
    segment: str | None
    owner_id: int | None
    owner: str | None
    is_key_account: bool
    external_id: str | None
    salesforce_id: str | None
    hubspot_id: str | None
    created_at: dt.datetime
    updated_at: dt.datetime


class ContactOut(BaseModel):
    id: int
    email: str
    first_name: str | None
    last_name: str | None
    title: str | None
    phone: str | None
    account_id: int | None
    source_channel: str | None
    stage: str
    lead_status: str | None
    owner_id: int | None
    owner: str | None
    score: int | None
    scored_at: dt.datetime | None
    external_id: str | None
    salesforce_id: str | None
    hubspot_id: str | None
    created_at: dt.datetime
    updated_at: dt.datetime


class CampaignOut(BaseModel):
    id: int
    name: str
    channel: str
    owning_team: str
    budget: Decimal | None
    actual_cost: Decimal | None
    starts_on: dt.date | None
    ends_on: dt.date | None
    owner_id: int | None
    owner: str | None
    external_id: str | None
    salesforce_id: str | None


class DiscountFlagOut(BaseModel):
    discount: float | None
    limit: float
    beyond_policy: bool
    approved_discount: float | None
    open_request_id: int | None
    imported: bool = Field(description="The deal carries another system's id: it came from a CRM")
    flagged: bool = Field(description="Beyond policy with no approval for at least its discount")


class OpportunityOut(BaseModel):
    id: int
    name: str | None
    account_id: int | None
    primary_contact_id: int | None
    campaign_id: int | None
    amount: Decimal
    list_amount: Decimal | None
    discount_rate: Decimal | None
    currency: str
    stage: str
    status: str
    created_at: dt.datetime
    close_date: dt.date | None
    loss_reason: str | None
    competitor: str | None
    product: str | None
    owner_id: int | None
    owner: str | None
    external_id: str | None
    salesforce_id: str | None
    hubspot_id: str | None
    updated_at: dt.datetime
    # Only on the single deal (GET /opportunities/{id}): its discount against policy and approvals.
    discount_approval: DiscountFlagOut | None = None


class TouchpointOut(BaseModel):
    id: int
    external_id: str | None
    contact_id: int
    account_id: int | None
    campaign_id: int | None
    channel: str
    kind: str
    touch_type: str
    occurred_at: dt.datetime
    user_id: int | None


class StageChangeOut(BaseModel):
    id: int
    external_id: str | None
    entity_type: str
    entity_id: int
    from_stage: str | None
    to_stage: str
    changed_at: dt.datetime
    changed_by_id: int | None
    team_before: str | None
    team_after: str | None
    reason: str | None
    note: str | None
    origin: str
    recorded_at: dt.datetime


class AuditOut(BaseModel):
    id: int
    at: dt.datetime
    actor: str
    action: str
    entity_type: str
    entity_id: int | None
    before: dict[str, Any] | None
    after: dict[str, Any] | None


# ---- writes to records ----------------------------------------------------------------------------
# On PATCH a field left out keeps its value and null clears it; fields a record cannot be
# without (a name, an amount) refuse null.


class AccountIn(Strict):
    name: Annotated[str, *Text(200, 1)]
    domain: Annotated[str, *Text(253)] | None = None
    industry: Annotated[str, *Text(100)] | None = None
    employees: Annotated[int, Field(ge=0, le=MAX_ID)] | None = None
    region: Annotated[str, *Text(64)] | None = None
    segment: Annotated[str, *Text(64)] | None = None
    owner: Email | None = Field(None, description="The owner's email")
    is_key_account: bool = False
    external_id: ExternalId | None = None


class AccountPatch(Strict):
    name: Annotated[str, *Text(200, 1)] = None  # type: ignore[assignment]  # None: not sent (a partial update); a null sent is still refused
    domain: Annotated[str, *Text(253)] | None = None
    industry: Annotated[str, *Text(100)] | None = None
    employees: Annotated[int, Field(ge=0, le=MAX_ID)] | None = None
    region: Annotated[str, *Text(64)] | None = None
    segment: Annotated[str, *Text(64)] | None = None
    owner: Email | None = Field(None, description="The owner's email")
    is_key_account: bool = None  # type: ignore[assignment]  # None: not sent (a partial update); a null sent is still refused
    external_id: ExternalId | None = None


class ContactIn(Strict):
    email: Email
    first_name: Annotated[str, *Text(100)] | None = None
    last_name: Annotated[str, *Text(100)] | None = None
    title: Annotated[str, *Text(200)] | None = None
    phone: Annotated[str, *Text(50)] | None = None
    account_id: Id | None = None
    source_channel: Annotated[str, *Text(64)] | None = None
    stage: Annotated[str, *Text(32, 1)] | None = Field(
        None, description="Where the contact enters the funnel. Default: the first stage"
    )
    lead_status: Annotated[str, *Text(64)] | None = None
    owner: Email | None = Field(None, description="The owner's email")
    external_id: ExternalId | None = None


class ContactPatch(Strict):
    """A contact's stage moves only through the handoff actions and stage-change ingestion."""

    email: Email = None  # type: ignore[assignment]  # None: not sent (a partial update); a null sent is still refused
    first_name: Annotated[str, *Text(100)] | None = None
    last_name: Annotated[str, *Text(100)] | None = None
    title: Annotated[str, *Text(200)] | None = None
    phone: Annotated[str, *Text(50)] | None = None
    account_id: Id | None = None
    source_channel: Annotated[str, *Text(64)] | None = None
    lead_status: Annotated[str, *Text(64)] | None = None
    owner: Email | None = Field(None, description="The owner's email")
    external_id: ExternalId | None = None


class CampaignIn(Strict):
    """A campaign's budget and cost are set with PUT /campaigns/{id}/cost (marketing only)."""

    name: Annotated[str, *Text(200, 1)]
    channel: Annotated[str, *Text(64, 1)]
    owning_team: Team = "marketing"
    starts_on: Day | None = None
    ends_on: Day | None = None
    owner: Email | None = Field(None, description="The owner's email")
    external_id: ExternalId | None = None


class CampaignPatch(Strict):
    name: Annotated[str, *Text(200, 1)] = None  # type: ignore[assignment]  # None: not sent (a partial update); a null sent is still refused
    channel: Annotated[str, *Text(64, 1)] = None  # type: ignore[assignment]  # None: not sent (a partial update); a null sent is still refused
    owning_team: Team = None  # type: ignore[assignment]  # None: not sent (a partial update); a null sent is still refused
    starts_on: Day | None = None
    ends_on: Day | None = None
    owner: Email | None = Field(None, description="The owner's email")
    external_id: ExternalId | None = None


class CampaignCostIn(Strict):
    budget: Money | None = None
    actual_cost: Money | None = None


class OpportunityIn(Strict):
    name: Annotated[str, *Text(200)] | None = None
    account_id: Id | None = None
    primary_contact_id: Id | None = None
    campaign_id: Id | None = None
    amount: Money
    list_amount: Money | None = None
    discount_rate: Rate | None = None
    currency: Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")] | None = Field(
        None, description="ISO 4217 code. Default: the company's currency"
    )
    stage: Annotated[str, *Text(64, 1)]
    status: OpportunityStatus | None = Field(
        None, description="Default: from the stage, by truce.toml's won and lost deal stages"
    )
    close_date: Day | None = None
    loss_reason: Annotated[str, *Text(100)] | None = None
    competitor: Annotated[str, *Text(100)] | None = None
    product: Annotated[str, *Text(100)] | None = None
    owner: Email | None = Field(None, description="The owner's email")
    external_id: ExternalId | None = None


class OpportunityPatch(Strict):
    name: Annotated[str, *Text(200)] | None = None
    account_id: Id | None = None
    primary_contact_id: Id | None = None
    campaign_id: Id | None = None
    amount: Money = None  # type: ignore[assignment]  # None: not sent (a partial update); a null sent is still refused
    list_amount: Money | None = None
    discount_rate: Rate | None = None
    currency: Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")] = None  # type: ignore[assignment]  # None: not sent (a partial update); a null sent is still refused
    stage: Annotated[str, *Text(64, 1)] = None  # type: ignore[assignment]  # None: not sent (a partial update); a null sent is still refused
    status: OpportunityStatus = None  # type: ignore[assignment]  # None: not sent (a partial update); a null sent is still refused
    close_date: Day | None = None
    loss_reason: Annotated[str, *Text(100)] | None = None
    competitor: Annotated[str, *Text(100)] | None = None
    product: Annotated[str, *Text(100)] | None = None
    owner: Email | None = Field(None, description="The owner's email")
    external_id: ExternalId | None = None


class UserIn(Strict):
    email: Email
    team: Team
    role: Literal["member", "viewer"] = "member"
    name: Annotated[str, *Text(200, 1)] | None = None
    password: Annotated[str, StringConstraints(min_length=10, max_length=200), AfterValidator(printable)] | None = None
    revoke_tokens: bool = Field(False, description="With a new password for an existing user: revoke their API tokens")


# ---- actions --------------------------------------------------------------------------------------


class RejectIn(Strict):
    reason: Annotated[str, *Text(64, 1)] = Field(description="A rejection reason code from truce.toml, e.g. no_budget")
    note: Annotated[str, *Text(500)] | None = Field(None, description="Free text for marketing, at most 500 characters")


class AssignIn(Strict):
    owner: Email = Field(description="The seller who gets the lead (an active sales user's email)")


class FeedbackIn(Strict):
    text: Annotated[str, *Text(2000, 1)] = Field(description="What you heard, in one line")
    kind: FeedbackKind
    contact: Email | None = Field(None, description="The contact it concerns (email)")
    deal_id: Id | None = None
    campaign_id: Id | None = None


class FeedbackAnswerIn(Strict):
    status: Literal["acknowledged", "acted_on"]
    reply: Annotated[str, *Text(2000)] | None = Field(
        None, description="What marketing says back; required for acted_on"
    )


class TargetIn(Strict):
    metric: TargetMetric
    amount: Annotated[
        str,
        BeforeValidator(_target_amount),
        WithJsonSchema(
            {"anyOf": [{"type": "integer", "minimum": 1}, {"type": "string", "minLength": 1, "maxLength": 32}]}
        ),
    ] = Field(description='Money to the cent as text (e.g. "2500000.00") or a whole number; MQLs are whole numbers')
    period: TargetPeriod | None = Field(
        None, description="A year (2026), quarter (2026-Q4) or month (2026-11), from 1900 to 2999"
    )
    start: Day | None = Field(None, description="First day, instead of period (1900-01-01 to 2999-12-31)")
    end: Day | None = Field(None, description="Last day, with start (1900-01-01 to 2999-12-31)")
    team: Literal["shared", "marketing", "sales"] = "shared"


class SurveyResponseIn(Strict):
    ratings: Annotated[list[Annotated[int, Field(ge=1, le=5)]], Field(min_length=20, max_length=20)] = Field(
        description="The 20 statements' ratings in order, each 1 (strongly disagree) to 5 (strongly agree)"
    )
    round: RoundName | None = Field(
        None,
        description="e.g. 2026-Q4; a name that spells a period spells one from 1900 to 2999. "
        "Default: the latest round, else this quarter",
    )
    team: Literal["sales", "marketing"] | None = Field(None, description="The team you answer for. Default: yours")
    role: Literal["leader", "staff"] | None = Field(None, description="Default: from your user record")


class AccountPlanIn(Strict):
    liaison: Email = Field(description="The marketing liaison's email")
    owner: Email = Field(description="The sales owner's email")
    objectives: Annotated[str, *Text(2000)] | None = None
    next_action: Annotated[str, *Text(2000)] | None = None
    next_action_due: Day | None = None


# ---- ingestion ------------------------------------------------------------------------------------
# The columns of `truce import touchpoints` and `truce import stage-changes`, under the same rules.


class TouchpointItem(Strict):
    external_id: ExternalId = Field(description="The touch's id in the system sending it: re-sending it updates")
    contact_email: Email | None = Field(None, description="The contact (or contact_external_id)")
    contact_external_id: ExternalId | None = None
    campaign_external_id: ExternalId | None = None
    channel: Annotated[str, *Text(64)] | None = Field(None, description="Default: the campaign's channel")
    kind: TouchKind | None = Field(None, description="Default: sales when user_email is a sales user, else marketing")
    touch_type: Annotated[str, *Text(32)] | None = Field(
        None, description="e.g. form, webinar, call, demo. Default: campaign_response"
    )
    occurred_at: Moment = Field(description="ISO 8601; without a zone it is read in the company's time zone")
    user_email: Email | None = Field(None, description="Who made the touch, for sales touches")


class StageChangeItem(Strict):
    external_id: Annotated[str, *Text(128, 1)] = Field(
        description="The move's id in the system sending it; the ledger is append-only"
    )
    entity_type: Literal["contact", "opportunity"] | None = Field(
        None, description="Default: opportunity when opportunity_external_id is given, else contact"
    )
    contact_email: Email | None = None
    contact_external_id: ExternalId | None = None
    opportunity_external_id: ExternalId | None = None
    from_stage: Annotated[str, *Text(64)] | None = Field(
        None, description="Default: where the lead was just before this move"
    )
    to_stage: Annotated[str, *Text(64, 1)]
    changed_at: Moment = Field(description="ISO 8601; without a zone it is read in the company's time zone")
    changed_by_email: Email | None = None
    reason: Annotated[str, *Text(64)] | None = None
    note: Annotated[str, *Text(10_000)] | None = None


class TouchpointBatch(Strict):
    items: Annotated[list[TouchpointItem], Field(max_length=MAX_INGEST_ITEMS)]


class StageChangeBatch(Strict):
    items: Annotated[list[StageChangeItem], Field(max_length=MAX_INGEST_ITEMS)]


class IngestOut(BaseModel):
    items: int
    inserted: int
    updated: int
    unchanged: int
    contacts_rescored: int
    became_mql: int
    warnings: dict[str, int]


# ---- the funnel config ----------------------------------------------------------------------------
# truce.toml's own models (truce.config) with the same rules, made strict for JSON: `"4"` or `true`
# is not a number of hours. Nested models each need it, since strictness does not pass down.


def _printable_within(value):
    if isinstance(value, str):
        return printable(value)
    for item in value.values() if isinstance(value, dict) else value if isinstance(value, list) else ():
        _printable_within(item)
    return value


class _StrictConfig(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)

    @field_validator("*")
    @classmethod
    def _printable(cls, value):
        return _printable_within(value)


class StageIn(_StrictConfig, truce_config.Stage):
    pass


class RejectionReasonIn(_StrictConfig, truce_config.RejectionReason):
    pass


class FunnelIn(_StrictConfig, truce_config.Funnel):
    stages: list[StageIn] = Field(min_length=2)  # type: ignore[assignment]  # StageIn is a Stage: pydantic validates the field anew
    exits: list[StageIn] = Field(default_factory=list)  # type: ignore[assignment]  # StageIn is a Stage: pydantic validates the field anew
    rejection_reasons: list[RejectionReasonIn] = Field(default_factory=list)  # type: ignore[assignment]  # RejectionReasonIn is a RejectionReason: pydantic validates the field anew


class SalesSlaIn(_StrictConfig, truce_config.SalesSla):
    pass


class MarketingSlaIn(_StrictConfig, truce_config.MarketingSla):
    pass


class SlaIn(_StrictConfig, truce_config.Sla):
    sales: SalesSlaIn = SalesSlaIn()
    marketing: MarketingSlaIn = MarketingSlaIn()


class FunnelConfigIn(Strict):
    """truce.toml's [funnel] and [sla], whole: what is left out of either takes truce's default."""

    funnel: FunnelIn = Field(description="Stages, exits, handoff and accepted stage, moves, rejection reasons")
    sla: SlaIn = Field(description="Both sides' promises: sales (hours, attempts) and marketing (volume, acceptance)")


class FunnelConfigOut(BaseModel):
    file: str = Field(description="The truce.toml written")
    funnel: dict
    sla: dict


class TouchIn(Strict):
    """A seller's touch on their lead (POST /handoffs/{contact}/touch)."""

    kind: Literal["call", "email", "meeting"] = Field(description="What the seller did: call, email or meeting")
    at: Moment | None = Field(None, description="When it happened (ISO 8601; without a zone, UTC); default: now")
