"""Each report as a typed model: the API's `response_model` and what the CLI's --json prints.

The JSON of every report is a contract (other tools read it), so these models describe the
shapes the services already return, key for key, in the same order: a report's own keys are
closed (`extra="forbid"` — a new key must be written here, and documented), its rows are typed
where they are flat, and the deeper parts of the biggest reports stay `dict[str, Any]` until
they get their own models. tests/test_report_shapes.py compares every report's keys and types
with a snapshot taken before these models existed.

This module holds the report routes' models; what the other commands print has its models by
area (desk, meetings, money, operations), imported at the end of this module so that every model
has one address: `truce.reports.models.<Name>`, which `print_json(data, report="<Name>")` uses.
The building blocks (Report, Row, Number, Moment) are in truce.reports.base.

Numbers are `int | float` where a service gives either: Pydantic's smart union keeps an int an
int, so 3 does not turn into 3.0 on the way out. Money is Decimal, written as exact text.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from pydantic import Field

from truce.reports.base import Detail, Moment, Number, Report, Row
from truce.vocabulary import AttributionModelName, JourneyLevel

# ---- funnel ---------------------------------------------------------------------------------------


class FunnelReport(Report):
    level: JourneyLevel
    by: str | None
    start: Moment | None = Field(alias="from")
    end: Moment | None = Field(alias="to")
    window_days: int
    as_of: Moment | None  # None: an empty store has no moment to read as of
    stages: list[str]
    exits: list[str]
    months: list[str]
    volume: Detail
    conversion: Detail
    skips: Detail
    velocity: list[Detail]
    leakage: Detail


# ---- the handoff ----------------------------------------------------------------------------------


class SlaReport(Report):
    as_of: Moment
    sales: Detail
    marketing: Detail
    queue: list[Detail]


class CustodyReport(Report):
    as_of: Moment
    cold_after_days: int
    leads: list[Detail]
    by_team_and_month: list[Detail]


# ---- attribution and money ------------------------------------------------------------------------


class CreditRow(Row):
    key: str | None
    conversions: Number
    revenue: Number
    share: Number | None
    label: str | None = None


class Unattributed(Row):
    conversions: Number
    revenue: Number


class AttributionReport(Report):
    model: AttributionModelName
    conversion: str
    level: JourneyLevel
    by: str
    lookback_days: int
    engine: str
    start: Moment | None = Field(alias="from")
    end: Moment | None = Field(alias="to")
    journeys: int
    total_conversions: Number
    total_revenue: Number
    unattributed: Unattributed
    credits: list[CreditRow]
    notes: list[str]


class RoiRow(Row):
    key: str | None
    label: str | None
    channel: str | None
    spend: Number | None
    pipeline: Number | None
    opportunities: Number | None
    revenue: Number | None
    customers: Number | None
    roi: Number | None
    roas: Number | None
    cac: Number | None


class RoiReport(Report):
    model: AttributionModelName
    by: str
    start: Moment | None = Field(alias="from")
    end: Moment | None = Field(alias="to")
    currency: str
    rows: list[RoiRow]
    totals: RoiRow
    unattributed: Detail
    sourced: Detail
    undated: Detail


class BudgetReport(Report):
    model: AttributionModelName
    conversion: str
    currency: str
    caveat: str
    level: Number
    draws: int
    seed: int
    window: Detail | None
    channels: list[Detail]
    not_fitted: list[Detail]
    notes: list[str]
    what_if: Detail | None
    optimized: Detail | None


class PricingReport(Report):
    start: Moment | None = Field(alias="from")
    end: Moment | None = Field(alias="to")
    currency: str
    policy: Detail
    deals: Detail
    totals: Detail
    by_rep: list[Detail]
    by_segment: list[Detail]
    by_product: list[Detail]
    bands: list[Detail]
    approvals: Detail
    beyond_policy_approval: Detail
    deals_without_approval: list[Detail]


class PersonCredit(Row):
    user: str
    revenue_credit: Decimal | Number
    deals_touched: int
    share: Number | None


class TeamCredit(Row):
    team: str
    revenue_credit: Decimal | Number
    deals_touched: int
    share: Number | None


class CreditReport(Report):
    model: AttributionModelName
    level: JourneyLevel
    lookback_days: int
    start: Moment | None = Field(alias="from")
    end: Moment | None = Field(alias="to")
    won_revenue: Decimal | Number
    deals: int
    credited_revenue: Decimal | Number
    unattributed: Detail
    people: list[PersonCredit]
    teams: list[TeamCredit]
    rows: list[Detail]
    notes: list[str]
    bonus: Detail | None


# ---- targets, metrics, people ---------------------------------------------------------------------


class TargetsReport(Report):
    as_of: Moment
    period: str | None
    model: AttributionModelName
    targets: list[Detail]


class MetricsReport(Report):
    period: Detail
    currency: str
    gross_margin: Number | None
    sellers: list[Detail]
    downstream_marketers: list[Detail]
    upstream_marketers: list[Detail]
    new_segments: list[Detail]
    new_offerings: list[Detail]
    joint_activity: Detail
    notes: list[str]


class DirectoryEntry(Row):
    user: str
    name: str | None
    team: str
    role: str | None
    marketing_focus: str | None
    region: str | None
    segment: str | None
    active: bool
    accounts_owned: list[Any]
    campaigns_owned: list[Any]
    key_accounts_as_liaison: list[Any]
    key_accounts_as_plan_owner: list[Any]


class Directory(Report):
    """Who to call: the API and the CLI print the list `people`; the library gives it a name."""

    people: list[DirectoryEntry]


# ---- the voice of both teams ----------------------------------------------------------------------


class SurveyReport(Report):
    round: str | None
    period: Detail | None
    rounds: list[str]
    anonymity_threshold: int
    company: Detail
    teams: Detail
    gaps: list[Detail]
    respondents_shown: str
    respondents: list[Detail]
    trend: list[Detail]
    indicators: Detail
    target: Detail
    playbook: Detail | list[Detail] | None
    notes: list[str]
    initiatives: list[Detail]


class FeedbackThemes(Report):
    period: Detail
    items_in_period: int
    counts: dict[str, int]
    competitors: list[Detail]
    products: list[Detail]
    terms: list[Detail]
    trend: list[Detail]
    answered_share: Number | None
    open: int
    items: list[Detail]


class SurveyStatement(Row):
    statement: str
    number: int
    theme: str
    text: str


# ---- the joint meeting ----------------------------------------------------------------------------


class Brief(Report):
    title: str
    company: str
    currency: str
    period: Detail
    previous: Detail
    as_of: Moment
    generated_at: Moment
    latest_stage_change: Moment | None
    sections: Detail
    decisions: list[Detail]
    last_meeting: Detail | None
    initiatives: list[Detail]


# ---- what the other commands print: one module per area, all reachable from here ----------------
# (print_json names a model by its name in this module, so each area's models are imported here.)

from truce.reports.connections import *  # noqa: E402, F403
from truce.reports.desk import *  # noqa: E402, F403
from truce.reports.meetings import *  # noqa: E402, F403
from truce.reports.money import *  # noqa: E402, F403
from truce.reports.operations import *  # noqa: E402, F403
