"""truce.toml: the funnel both teams signed, validated so a typo fails loudly and by name."""

from __future__ import annotations

import datetime as dt
import os
import re
import tomllib
from importlib import resources
from pathlib import Path
from typing import Annotated, Literal, get_args
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_core import ErrorDetails

from truce.vocabulary import AttributionModelName, Conversion, JourneyLevel, Team

CONFIG_FILE = "truce.toml"


class ConfigError(ValueError):
    """truce.toml is unreadable or wrong; the message names the file and the key."""


def value_key(value: str) -> str:
    """How other systems' values are compared: case, spaces and punctuation do not matter."""
    return re.sub(r"[^0-9a-z]", "", value.casefold())


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Company(_Strict):
    name: str = "Your company"
    timezone: str = "UTC"
    currency: str = Field(default="USD", pattern=r"^[A-Z]{3}$")

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, zone: str) -> str:
        try:
            ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {zone!r}; use an IANA name such as Europe/Berlin") from None
        return zone


class Stage(_Strict):
    key: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    label: str
    team: Team
    description: str = ""


class RejectionReason(_Strict):
    code: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    label: str
    exit: str


class Funnel(_Strict):
    handoff_stage: str = "mql"
    accepted_stage: str = "sal"
    stages: list[Stage] = Field(min_length=2)
    exits: list[Stage] = Field(default_factory=list)
    rejection_reasons: list[RejectionReason] = Field(default_factory=list)
    # stage → the stages it may move to, plus "entry_stages"; derived when left out.
    transitions: dict[str, list[str]] | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Funnel:
        keys = [s.key for s in self.stages] + [s.key for s in self.exits]
        twice = sorted({k for k in keys if keys.count(k) > 1})
        if twice:
            raise ValueError(f"stage keys must be unique; listed more than once: {', '.join(twice)}")
        ordered = [s.key for s in self.stages]
        for name in ("handoff_stage", "accepted_stage"):
            if getattr(self, name) not in ordered:
                raise ValueError(f"{name} {getattr(self, name)!r} is not one of the stages {ordered}")
        if ordered.index(self.accepted_stage) <= ordered.index(self.handoff_stage):
            raise ValueError("accepted_stage must come after handoff_stage")
        exits = [s.key for s in self.exits]
        for source, targets in (self.transitions or {}).items():
            unknown = [t for t in [source, *targets] if t not in keys and t != "entry_stages"]
            if unknown:
                raise ValueError(f"transitions.{source}: unknown stage {unknown[0]!r}; known stages: {', '.join(keys)}")
        for reason in self.rejection_reasons:
            if reason.exit not in exits:
                raise ValueError(f"rejection reason {reason.code!r} exits to {reason.exit!r}, not one of {exits}")
        return self

    @property
    def stage_keys(self) -> list[str]:
        return [s.key for s in self.stages] + [s.key for s in self.exits]

    def moves(self) -> dict[str | None, tuple[str, ...]]:
        """Allowed moves: stage → stages it may go to; None → where a new contact may enter.

        Without [funnel.transitions]: any later stage or any exit from each stage but the
        last; an exit may go back to the first stage or the handoff stage. A new contact
        enters at the first stage or the handoff stage unless `entry_stages` says otherwise.
        """
        ordered, exits = [s.key for s in self.stages], [s.key for s in self.exits]
        entry = tuple(dict.fromkeys([ordered[0], self.handoff_stage]))
        if self.transitions is not None:
            given: dict[str | None, tuple[str, ...]] = {
                stage: tuple(self.transitions.get(stage, ())) for stage in ordered + exits
            }
            given[None] = tuple(self.transitions.get("entry_stages", entry))
            return given
        table: dict[str | None, tuple[str, ...]] = {None: entry}
        for index, stage in enumerate(ordered):
            later = ordered[index + 1 :]
            table[stage] = tuple(later + exits) if later else ()
        for stage in exits:
            table[stage] = tuple(dict.fromkeys([ordered[0], self.handoff_stage]))
        return table

    def team_of(self, stage: str) -> str:
        for s in self.stages + self.exits:
            if s.key == stage:
                return s.team
        raise KeyError(stage)


class DealStages(_Strict):
    values: list[str] = Field(default_factory=list)


class Mapping(_Strict):
    """Source-system values → our stage keys. Keys are compared with `value_key`."""

    hubspot: dict[str, dict[str, str]] = Field(default_factory=dict)
    salesforce: dict[str, dict[str, str]] = Field(default_factory=dict)
    won_deal_stages: DealStages = DealStages(values=["closedwon", "Closed Won", "won"])
    lost_deal_stages: DealStages = DealStages(values=["closedlost", "Closed Lost", "lost"])


WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class BusinessHoursConfig(_Strict):
    """When the SLA clock runs, in the company's time zone."""

    opens: dt.time = dt.time(9, 0)
    closes: dt.time = dt.time(17, 0)
    workdays: list[Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]] = ["mon", "tue", "wed", "thu", "fri"]
    holidays: list[dt.date] = Field(default_factory=list)

    @model_validator(mode="after")
    def _sensible(self) -> BusinessHoursConfig:
        if self.opens >= self.closes:
            raise ValueError(f"opens {self.opens} must be before closes {self.closes}")
        if not self.workdays:
            raise ValueError("workdays must name at least one day")
        return self

    def clock(self, zone: str):
        from truce.domain.business_hours import BusinessHours

        return BusinessHours(
            ZoneInfo(zone),
            self.opens,
            self.closes,
            frozenset(WEEKDAYS.index(d) for d in self.workdays),
            frozenset(self.holidays),
        )


class SalesSla(_Strict):
    """Sales' side of the handoff, counted in business hours from the moment a lead becomes an MQL."""

    first_touch_hours: float = Field(default=4, gt=0)
    decision_hours: float = Field(default=24, gt=0)
    min_attempts: int = Field(default=6, ge=0)
    attempt_window_days: int = Field(default=10, ge=1)
    # How long the seller who accepted or rejected a lead may take it back (truce handoff undo).
    undo_minutes: int = Field(default=10, ge=0, le=24 * 60)

    @property
    def undo_window(self) -> dt.timedelta:
        return dt.timedelta(minutes=self.undo_minutes)


class MarketingSla(_Strict):
    """Marketing's side: enough leads, and leads sales wants."""

    mqls_per_month: int = Field(default=100, ge=0)
    min_acceptance_rate: float = Field(default=0.7, ge=0, le=1)


class Escalation(_Strict):
    """What happens when a lead waits past its decision deadline: counted in business hours after it.

    After `tell_leader_after_hours` the sales leaders are told; after `reroute_after_hours` the
    lead is taken from its seller: re-routed to the next seller by [routing] ("reroute"), or
    returned to marketing's nurture (`nurture_stage`, reason `sla_expired`) — also what happens
    when it was re-routed `max_reroutes` times already or no other seller is active.
    """

    enabled: bool = True
    tell_leader_after_hours: float = Field(default=8, gt=0)
    reroute_after_hours: float = Field(default=16, gt=0)
    action: Literal["reroute", "nurture"] = "reroute"
    max_reroutes: int = Field(default=1, ge=0)
    nurture_stage: str = "recycled"

    @model_validator(mode="after")
    def _in_order(self) -> Escalation:
        if self.reroute_after_hours <= self.tell_leader_after_hours:
            raise ValueError(
                f"reroute_after_hours ({self.reroute_after_hours:g}) must be more than "
                f"tell_leader_after_hours ({self.tell_leader_after_hours:g}): the leader is told first"
            )
        return self


class Sla(_Strict):
    sales: SalesSla = SalesSla()
    marketing: MarketingSla = MarketingSla()
    # Business hours left on a seller's clock (first touch or decision) at which they are reminded.
    remind_hours_left: list[float] = Field(default_factory=lambda: [4.0, 1.0])
    escalation: Escalation = Escalation()

    @field_validator("remind_hours_left")
    @classmethod
    def _positive_and_distinct(cls, hours: list[float]) -> list[float]:
        if any(h <= 0 for h in hours) or len(set(hours)) < len(hours):
            raise ValueError(f"business hours left must be distinct numbers above 0, e.g. [4, 1]; got {hours}")
        return sorted(hours, reverse=True)


class FeedbackReminders(_Strict):
    """Sales feedback still `new` after `remind_after_days` days: marketing is reminded, once per item."""

    remind_after_days: int = Field(default=7, ge=1, le=365)


class Custody(_Strict):
    """When a lead counts as gone cold, and which stages are final (never cold)."""

    cold_after_days: int = Field(default=14, ge=1)
    final_stages: list[str] = Field(default_factory=lambda: ["customer", "disqualified", "lost"])


class FitRule(_Strict):
    """Points for who the lead is. Exactly one test: equals, one_of, contains or at_least.

    Text compares without regard to case: `equals` and `one_of` match the whole value,
    `contains` matches any of its words inside the value ("head" in "Head of Procurement").
    """

    field: Literal["segment", "industry", "region", "employees", "title", "source_channel"]
    points: int
    equals: str | None = None
    one_of: list[str] | None = None
    contains: list[str] | None = None
    at_least: float | None = None

    @model_validator(mode="after")
    def _one_test(self) -> FitRule:
        tests = [t for t in ("equals", "one_of", "contains", "at_least") if getattr(self, t) is not None]
        if len(tests) != 1:
            raise ValueError(
                f"fit rule on {self.field!r} needs exactly one of equals, one_of, contains, at_least; got {tests or 'none'}"
            )
        if self.at_least is not None and self.field != "employees":
            raise ValueError(f"at_least compares numbers; {self.field!r} is text")
        return self


class Scoring(_Strict):
    """The MQL score both teams read and edit: fit (who) plus engagement (what they did, decaying)."""

    threshold: int = Field(default=60, ge=1)
    half_life_days: float = Field(default=30, gt=0)
    fit: list[FitRule] = Field(default_factory=list)
    engagement: dict[str, float] = Field(default_factory=dict)  # touch_type → points when fresh


RoutingRule = Literal["territory", "segment", "any"]


class Routing(_Strict):
    """Who gets a new MQL: the first rule with an active seller wins, then the strategy picks."""

    rules: list[RoutingRule] = Field(default_factory=lambda: list(get_args(RoutingRule)))  # all, in this order
    strategy: Literal["round_robin", "least_loaded"] = "round_robin"


class Attribution(_Strict):
    """Defaults for `truce attribution`, `truce roi` and `truce budget` (each has an option to override)."""

    model: AttributionModelName = "markov"
    conversion: Conversion = "won"
    level: JourneyLevel = "contact"
    lookback_days: int = Field(default=180, ge=1)
    half_life_days: float = Field(default=7, gt=0)
    markov_order: int = Field(default=1, ge=1, le=4)
    shapley_value: Literal["conversions", "rate"] = "rate"
    shapley_exact_channels: int = Field(default=15, ge=1, le=22)
    shapley_samples: int = Field(default=2000, ge=10)


class DiscountPolicy(_Strict):
    """The most a seller may discount off list without approval; a segment or product rule overrides the default."""

    max_discount: float = Field(default=0.15, ge=0, lt=1)
    by_segment: dict[str, float] = Field(default_factory=dict)
    by_product: dict[str, float] = Field(default_factory=dict)

    @field_validator("by_segment", "by_product")
    @classmethod
    def _rates(cls, rules: dict[str, float]) -> dict[str, float]:
        for key, rate in rules.items():
            if not 0 <= rate < 1:
                raise ValueError(f"{key!r}: a discount is a rate from 0 up to (not including) 1, not {rate}")
        return rules

    def limit_for(self, segment: str | None, product: str | None) -> float:
        """The tightest rule that applies: product first, then segment, then the default."""
        if product is not None and product in self.by_product:
            return self.by_product[product]
        if segment is not None and segment in self.by_segment:
            return self.by_segment[segment]
        return self.max_discount


class DiscountApproval(_Strict):
    """Who answers a request to discount beyond the policy, how fast, and for which reasons.

    `approver` names a kind of user (truce.domain.discounts.APPROVERS): "marketing" — marketing
    leaders; "revops" — RevOps members; "sales_leader" — sales leaders. Viewers and inactive users
    never approve, and nobody approves their own request.
    """

    approver: Literal["marketing", "revops", "sales_leader"] = "revops"
    answer_within_hours: float = Field(default=8, gt=0, le=2000)
    reasons: list[str] = Field(default_factory=lambda: ["competitor", "multi_year", "strategic"], min_length=1)

    @field_validator("reasons")
    @classmethod
    def _codes(cls, reasons: list[str]) -> list[str]:
        for reason in reasons:
            if not re.fullmatch(r"[a-z][a-z0-9_]*", reason):
                raise ValueError(f"{reason!r}: a reason is a code in lower case, e.g. multi_year")
        if len(set(reasons)) != len(reasons):
            raise ValueError("each reason is listed once")
        return reasons


class Pricing(_Strict):
    discount_policy: DiscountPolicy = DiscountPolicy()
    approval: DiscountApproval = DiscountApproval()
    discount_bands: list[float] = Field(default_factory=lambda: [0.0, 0.05, 0.10, 0.20, 0.30])

    @field_validator("discount_bands")
    @classmethod
    def _ascending(cls, bands: list[float]) -> list[float]:
        if not bands or bands != sorted(set(bands)) or bands[0] != 0 or bands[-1] >= 1:
            raise ValueError("discount_bands: ascending rates starting at 0, each below 1, e.g. [0, 0.05, 0.1, 0.2]")
        return bands


class Diagnostic(_Strict):
    """The company's context, from which `truce survey report` recommends a target state."""

    employees: int = Field(default=250, ge=1)
    market_change: Literal["slow", "moderate", "fast"] = "moderate"
    offering_complexity: Literal["simple", "moderate", "complex"] = "complex"
    informal_relationship: Literal["good", "strained"] = "strained"
    anonymity_threshold: int = Field(default=3, ge=1)


class Brief(_Strict):
    """The joint revenue-meeting brief."""

    stalled_after_days: int = Field(default=30, ge=1)
    gross_margin: float = Field(default=0.75, ge=0, le=1)
    # Where the weekly_brief job writes each week's brief: relative to truce.toml's folder, or absolute.
    folder: str = Field(default="briefs", min_length=1)


class Serve(_Strict):
    """`truce serve`: the web app and REST API."""

    # A report is computed once per change of the data and shared by every reader; reports "as of
    # now" (SLA clocks, cold leads) are refreshed after this many seconds. 0 turns the cache off.
    report_cache_seconds: int = Field(default=120, ge=0, le=86_400)
    # While a fresh computation runs after a change, readers may be shown the previous answer if it
    # is younger than this (the page says so); people always see their own writes. 0: everyone waits.
    report_stale_seconds: int = Field(default=600, ge=0, le=86_400)
    report_cache_megabytes: int = Field(default=256, ge=1, le=65_536)
    # Bodies larger than this are refused (413) before they are parsed; a full ingest batch of
    # 10,000 touchpoints is about 4 MB of JSON.
    max_request_megabytes: int = Field(default=16, ge=1, le=1024)
    # A connection whose request line and headers are not all in within this many seconds, or run
    # past this many bytes, is closed (408 / 431) before the app sees it (truce.web.server).
    header_seconds: float = Field(default=10, gt=0, le=600)
    header_kilobytes: int = Field(default=16, ge=1, le=1024)
    # A body that stops arriving for this long, or is not all there after the second limit, is
    # answered 408 and its connection closed (a 16 MB batch at 1 Mbit/s takes about 130 s).
    body_idle_seconds: float = Field(default=30, gt=0, le=3600)
    body_seconds: float = Field(default=300, gt=0, le=86_400)
    # `Cache-Control: no-cache` recomputes a report for its reader at most once per this many
    # seconds per report and person; within it they get the kept report (0: no limit).
    fresh_seconds: int = Field(default=60, ge=0, le=86_400)


def _schedule_text(text: str) -> str:
    """A [schedule] value truce.domain.schedule can read, kept as written."""
    from truce.domain.schedule import ScheduleError, parse

    try:
        parse(text)
    except ScheduleError as exc:
        raise ValueError(str(exc)) from None
    return text


NOTIFY_CHANNELS = ("inbox", "email")  # what a person chooses per event kind; webhooks are the company's


class NotifyEmail(_Strict):
    """The SMTP server notifications go out through. The password is never in this file: it is
    read from the environment variable `password_env` names, when a message is sent."""

    host: str = Field(min_length=1)
    port: int = Field(default=587, ge=1, le=65535)
    security: Literal["starttls", "ssl", "none"] = "starttls"
    username: str | None = None
    password_env: str | None = Field(default=None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    from_address: str = Field(pattern=r"^[^@\s]+@[^@\s]+$")
    timeout_seconds: float = Field(default=20, gt=0, le=300)

    @model_validator(mode="after")
    def _password_with_user(self) -> NotifyEmail:
        if self.password_env and not self.username:
            raise ValueError("password_env is set but username is not: SMTP logs in with both")
        return self


class NotifyWebhook(_Strict):
    """A company channel: Slack or Teams incoming webhook, or a signed JSON webhook for other tools.
    A Slack or Teams webhook URL is itself a secret: give it in `url_env` to keep it out of this file."""

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,40}$")
    shape: Literal["slack", "teams", "signed"]
    url: str | None = Field(default=None, pattern=r"^https?://")
    url_env: str | None = Field(default=None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    secret_env: str | None = Field(default=None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    kinds: list[str] = Field(default_factory=list)  # empty: every kind
    # Also the messages owed to one person (one POST each), not only those owed to the company.
    people: bool = False
    timeout_seconds: float = Field(default=10, gt=0, le=120)

    @model_validator(mode="after")
    def _complete(self) -> NotifyWebhook:
        if (self.url is None) == (self.url_env is None):
            raise ValueError(f"webhook {self.name!r}: give exactly one of url and url_env")
        if self.shape == "signed" and not self.secret_env:
            raise ValueError(
                f"webhook {self.name!r}: a signed webhook needs secret_env (the variable holding its secret)"
            )
        _known_kinds(self.kinds, f"webhook {self.name!r} kinds")
        return self


class NotifyRetries(_Strict):
    """A failed send waits backoff_seconds × 2^(attempt − 1) (at most max_backoff_seconds), up to max_attempts."""

    max_attempts: int = Field(default=6, ge=1, le=50)
    backoff_seconds: float = Field(default=60, gt=0)
    max_backoff_seconds: float = Field(default=6 * 3600, gt=0)
    # A channel that refused as a whole (a bad SMTP password, connection refused) rests this long.
    broken_channel_minutes: float = Field(default=15, gt=0)
    # A worker that claimed a message and vanished: after this, another may send it again.
    claim_seconds: float = Field(default=300, gt=0)


class NotifyDigest(_Strict):
    """When the low-urgency ("digest") e-mails go out: one per person per slot, company time."""

    at: dt.time = dt.time(8, 0)
    days: list[Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]] = ["mon", "tue", "wed", "thu", "fri"]


class Notify(_Strict):
    """[notify]: where messages link back to, and the channels they go through."""

    base_url: str = Field(default="http://127.0.0.1:8000", pattern=r"^https?://[^\s]+$")
    email: NotifyEmail | None = None
    webhooks: list[NotifyWebhook] = Field(default_factory=list)
    retries: NotifyRetries = NotifyRetries()
    digest: NotifyDigest = NotifyDigest()
    # Event kind → channels a person gets it through unless they chose otherwise; a kind left out
    # goes to the inbox and by e-mail ("digest" kinds by the digest e-mail).
    default_channels: dict[str, list[Literal["inbox", "email"]]] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _known(self) -> Notify:
        _known_kinds(list(self.default_channels), "default_channels")
        names = [w.name for w in self.webhooks]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"webhook names must be unique; listed more than once: {', '.join(twice)}")
        return self

    def channels_by_default(self, kind: str) -> list[str]:
        return list(self.default_channels.get(kind, NOTIFY_CHANNELS))


def _known_kinds(kinds: list[str], where: str) -> None:
    if not kinds:
        return
    from truce.services.notify.outbox import EVENT_KINDS, MACHINE_KINDS

    unknown = [k for k in kinds if k not in EVENT_KINDS or k in MACHINE_KINDS]
    if unknown:
        raise ValueError(f"{where}: unknown event kind {unknown[0]!r}; known: {', '.join(EVENT_KINDS)}")


WRITE_BACK_FIELDS = ("handoff_status", "rejection_reason", "lifecycle_stage", "owner", "mql_score", "score_link", "sla_breach")


class WriteBack(_Strict):
    """Which of truce's decisions are written back into the CRM; all off unless switched on.

    handoff_status: accepted / rejected as the CRM's lead status; rejection_reason: the reason given;
    lifecycle_stage: the stage truce moved the lead to; owner: the seller truce's routing chose;
    mql_score and score_link: the score and a link to its explanation; sla_breach: a breach flag.
    """

    handoff_status: bool = False
    rejection_reason: bool = False
    lifecycle_stage: bool = False
    owner: bool = False
    mql_score: bool = False
    score_link: bool = False
    sla_breach: bool = False
    # The CRM property (HubSpot) or field API name (Salesforce) each truce value goes to, where the
    # connector's default is not what this CRM uses (custom properties such as truce_mql_score).
    fields: dict[str, str] = Field(default_factory=dict)

    @field_validator("fields")
    @classmethod
    def _known_fields(cls, fields: dict[str, str]) -> dict[str, str]:
        unknown = [f for f in fields if f not in WRITE_BACK_FIELDS]
        if unknown:
            raise ValueError(f"unknown write-back field {unknown[0]!r}; known: {', '.join(WRITE_BACK_FIELDS)}")
        return fields

    def enabled(self) -> list[str]:
        return [f for f in WRITE_BACK_FIELDS if getattr(self, f)]


class CrmConnector(_Strict):
    """One CRM's connector settings; `truce connect` stores the connection, these tune it."""

    # HubSpot's API base, or for Salesforce the instance URL; `truce connect --base-url` overrides.
    base_url: str | None = Field(default=None, pattern=r"^https?://[^\s]+$")
    instance_url: str | None = Field(default=None, pattern=r"^https?://[^\s]+$")
    # Salesforce's OAuth token endpoint host (login.salesforce.com, test.salesforce.com, a My Domain).
    login_url: str | None = Field(default=None, pattern=r"^https?://[^\s]+$")
    # Records per page asked for (HubSpot caps search pages at 100; Salesforce SOQL at 2,000).
    page_size: int = Field(default=100, ge=1, le=2000)
    # Attempts per request on 429/503 before the sync stops with the CRM's message.
    max_attempts: int = Field(default=6, ge=1, le=20)
    # The team of CRM users truce has not met yet (HubSpot owners, Salesforce users): by e-mail, else this.
    default_team: Team = "sales"
    teams: dict[str, Team] = Field(default_factory=dict)
    # Seconds a webhook's timestamp may be old (HubSpot's v3 signatures: 5 minutes).
    webhook_window_seconds: int = Field(default=300, ge=10, le=3600)
    write_back: WriteBack = WriteBack()


class Connectors(_Strict):
    """[connectors.hubspot] and [connectors.salesforce] (docs/connectors.md)."""

    hubspot: CrmConnector = CrmConnector()
    salesforce: CrmConnector = CrmConnector()


class TruceConfig(_Strict):
    company: Company = Company()
    funnel: Funnel
    mapping: Mapping = Mapping()
    business_hours: BusinessHoursConfig = BusinessHoursConfig()
    sla: Sla = Sla()
    custody: Custody = Custody()
    scoring: Scoring = Scoring()
    routing: Routing = Routing()
    attribution: Attribution = Attribution()
    pricing: Pricing = Pricing()
    diagnostic: Diagnostic = Diagnostic()
    brief: Brief = Brief()
    serve: Serve = Serve()
    # job name → "5m", "1h", "1d", a cron expression in the company's time zone, or "off" (truce.domain.schedule)
    schedule: dict[str, Annotated[str, AfterValidator(_schedule_text)]] = Field(default_factory=dict)
    feedback: FeedbackReminders = FeedbackReminders()
    notify: Notify = Notify()
    connectors: Connectors = Connectors()
    source_path: str | None = Field(default=None, exclude=True)
    # The store's funnel config version in force ([funnel] and [sla] come from it, not the file); None: the file's.
    funnel_version: int | None = Field(default=None, exclude=True)

    @model_validator(mode="after")
    def _mappings_name_stages(self) -> TruceConfig:
        known = set(self.funnel.stage_keys)
        for stage in self.custody.final_stages:
            if stage not in known:
                raise ValueError(
                    f"custody.final_stages: unknown stage {stage!r}; known stages: {', '.join(sorted(known))}"
                )
        self._nurture_stage_is_an_exit()
        for system in ("hubspot", "salesforce"):
            for field, table in getattr(self.mapping, system).items():
                for source_value, stage in table.items():
                    if stage not in known:
                        raise ValueError(
                            f"mapping.{system}.{field}: {source_value!r} maps to unknown stage "
                            f"{stage!r}; known stages: {', '.join(sorted(known))}"
                        )
        return self

    @field_validator("schedule")
    @classmethod
    def _schedule_names_jobs(cls, schedule: dict[str, str]) -> dict[str, str]:
        if not schedule:
            return schedule
        # Imported here: the jobs are declared by services, which themselves read this config.
        from truce.services.jobs.registry import jobs

        known = jobs()
        for name in schedule:
            if name not in known:
                raise ValueError(f"no job is called {name!r}; the jobs are: {', '.join(known)}")
        return schedule

    def _nurture_stage_is_an_exit(self) -> None:
        stage = self.sla.escalation.nurture_stage
        exits = [e.key for e in self.funnel.exits]
        if stage not in exits:
            raise ValueError(f"sla.escalation.nurture_stage: {stage!r} is not one of the funnel's exits {exits}")
        allowed = self.funnel.moves().get(self.funnel.handoff_stage, ())
        if stage not in allowed:
            raise ValueError(
                f"sla.escalation.nurture_stage: the funnel does not allow {self.funnel.handoff_stage} → {stage}"
            )

    def stage_for(self, system: str, field: str, source_value: str) -> str | None:
        """Our stage for a CRM value (a HubSpot lifecycle stage, a Salesforce lead status)."""
        table = getattr(self.mapping, system).get(field, {})
        wanted = value_key(source_value)
        for value, stage in table.items():
            if value_key(value) == wanted:
                return stage
        return None

    def deal_status(self, deal_stage: str) -> str:
        key = value_key(deal_stage)
        if key in {value_key(v) for v in self.mapping.won_deal_stages.values}:
            return "won"
        if key in {value_key(v) for v in self.mapping.lost_deal_stages.values}:
            return "lost"
        return "open"


def default_text() -> str:
    return resources.files("truce").joinpath("default_truce.toml").read_text(encoding="utf-8")


def _where(error: ErrorDetails) -> str:
    return ".".join(str(part) for part in error["loc"] if part not in ("function-after",)) or "(top level)"


def parse(text: str, source: str = CONFIG_FILE) -> TruceConfig:
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: not valid TOML: {exc}") from None
    try:
        config = TruceConfig.model_validate(raw)
    except ValidationError as exc:
        problems = [f"{source}: {_where(e)}: {e['msg'].removeprefix('Value error, ')}" for e in exc.errors()]
        raise ConfigError("\n".join(problems)) from None
    return config.model_copy(update={"source_path": source})


def with_funnel(config: TruceConfig, sections: dict, version: int) -> TruceConfig:
    """`config` with [funnel] and [sla] from a version saved in the store (truce.services.funnel_config):
    the store's newest version overrides those two sections of every process's file."""
    replaced = {"funnel", "sla", "source_path", "funnel_version"}
    kept = {name: getattr(config, name) for name in TruceConfig.model_fields if name not in replaced}
    where = f"the store's funnel config version {version} with {config.source_path or CONFIG_FILE}"
    try:
        merged = TruceConfig.model_validate(kept | sections)
    except ValidationError as exc:
        problems = [f"{where}: {_where(e)}: {e['msg'].removeprefix('Value error, ')}" for e in exc.errors()]
        raise ConfigError("\n".join(problems)) from None
    return merged.model_copy(update={"source_path": config.source_path, "funnel_version": version})


def find(path: str | os.PathLike | None = None) -> Path | None:
    """The config in use: the one named, else $TRUCE_CONFIG, else ./truce.toml if present."""
    named = path or os.environ.get("TRUCE_CONFIG")
    if named:
        if not Path(named).is_file():
            raise ConfigError(f"{named}: no such config file")
        return Path(named)
    here = Path(CONFIG_FILE)
    return here if here.is_file() else None


def load(path: str | os.PathLike | None = None) -> TruceConfig:
    """Load and validate the config; without a file, the built-in demand waterfall."""
    found = find(path)
    if found is None:
        return parse(default_text(), source="(built-in default truce.toml)")
    return parse(found.read_text(encoding="utf-8"), source=str(found))
