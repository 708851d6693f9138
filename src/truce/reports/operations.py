"""Running truce: the store's state, people and tokens, notifications, jobs, account plans,
feedback items, and what an import, an export or a survey import did.

What `truce status`, `truce demo`, `truce config check`, `truce db current`, `truce user …`, `truce token …`, `truce notifications …`,
`truce jobs`, `truce worker`, `truce accounts …`, `truce feedback add|list|answer`,
`truce import`, `truce export` and `truce survey import` print with --json, and what the API's
/account-plans and /feedback routes answer.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from pydantic import Field

from truce.reports.base import Detail, Moment, Number, Report, Row

# ---- the store ------------------------------------------------------------------------------------


class StoreStatus(Report):
    database: str  # its URL without the password
    schema_version: str | None
    schema_head: str | None
    tables: dict[str, int]  # table → rows


class SchemaVersion(Report):
    database: str
    current: str | None
    head: str | None


# ---- people and tokens ----------------------------------------------------------------------------


class UserAccess(Report):
    """A user deactivated, activated or logged out everywhere: what changed for them."""

    id: int
    email: str
    active: bool | None = None
    sessions_ended: int | None = None
    tokens_revoked: list[int] | None = None


class Token(Report):
    """An API token as anyone may see it: its first characters, never the token."""

    id: int
    user: str
    name: str
    prefix: str
    created_at: Moment
    last_used_at: Moment | None
    revoked_at: Moment | None


# ---- notifications --------------------------------------------------------------------------------


class Notification(Row):
    id: int
    outbox_id: int
    kind: str
    subject: str
    channel: str
    target: str | None
    user: str | None
    status: str
    attempts: int
    next_attempt_at: Moment | None
    sent_at: Moment | None
    last_error: str | None
    read_at: Moment | None


class KindChoice(Row):
    kind: str
    label: str
    urgency: str
    channels: list[str]
    chosen: bool


class NotificationPreferences(Report):
    user: str
    kinds: list[KindChoice]


class FailedDeliveries(Report):
    broken_channels: list[Detail]
    deliveries: list[Detail]


class DeliveriesRetried(Report):
    delivery: int | None
    retried: int
    channels_cleared: int


class DeliveryRound(Report):
    fanned_out: int
    sent: int
    failed: int
    dead: int
    channel_errors: int


# ---- jobs -----------------------------------------------------------------------------------------


class JobState(Row):
    name: str
    help: str
    schedule: str
    default_schedule: str
    last_run: Detail | None
    next_run: Moment | None
    due_now: bool
    last_error: Detail | None


class Jobs(Report):
    jobs: list[JobState]


class JobRun(Row):
    run_id: int | None
    job: str
    slot: Moment
    status: str
    counts: dict[str, Number] | None
    error: str | None
    recorded: bool


class JobRuns(Report):
    """`truce jobs run` and `truce worker --once`: each run and its counts."""

    runs: list[JobRun]


# ---- key accounts ---------------------------------------------------------------------------------


class AccountPlan(Report):
    account_id: int
    account: str
    domain: str | None
    liaison: str | None
    liaison_name: str | None
    owner: str | None
    owner_name: str | None
    objectives: str | None
    next_action: str | None
    next_action_due: Moment | None
    overdue: bool
    updated_at: Moment | None


class KeyAccountWithoutPlan(Row):
    account_id: int
    account: str
    domain: str | None
    owner: str | None


class AccountPlans(Report):
    plans: list[AccountPlan]
    key_accounts_without_plan: list[KeyAccountWithoutPlan]


# ---- feedback -------------------------------------------------------------------------------------


class FeedbackItem(Report):
    """One line of feedback from sales and marketing's answer to it."""

    id: int
    created_at: Moment
    kind: str
    status: str
    text: str
    author: str | None
    contact: str | None
    deal_id: int | None
    deal: str | None
    campaign_id: int | None
    campaign: str | None
    reply: str | None
    replied_by: str | None
    replied_at: Moment | None


# ---- files in and out -----------------------------------------------------------------------------


class SurveyAnswered(Report):
    """One person's answers kept: their score and the state it reads as."""

    round: str
    respondent: str
    team: str
    role: str | None
    score: Number
    type: str


class SurveyImported(Report):
    file: str
    responses: int
    rounds: list[str]
    users_created: list[str]


class ImportReport(Report):
    """What `truce import` did with a file; `ok` is false when it refused the file."""

    table: str
    file: str
    dialect: str | None
    dry_run: bool
    rows_read: int
    inserted: int
    updated: int
    unchanged: int
    rejected: int
    stage_changes_recorded: int
    accounts_created: int
    contacts_rescored: int
    became_mql: int
    written: bool
    unknown_columns: list[str]
    managed_columns: dict[str, str] = {}  # truce's own columns in its export: name → why import leaves it
    error_count: int
    rejects_file: str | None
    warnings: dict[str, Any]
    errors: list[Detail]
    ok: bool


class Exported(Report):
    table: str
    format: str
    file: str
    rows: int


class ChannelWon(Row):
    channel: str
    contacts: int
    revenue_won: Decimal


class DemoLogin(Row):
    role: str
    email: str
    password: str
    name: str | None


class DemoBuilt(Report):
    """`truce demo --json`: where the demo went, its row counts, funnel and revenue by channel."""

    database: str
    tables: dict[str, int]
    contacts_per_stage: dict[str, int]
    revenue_won: Decimal
    deals_won: int
    touchpoints_by_team: dict[str, int]
    top_channels: list[ChannelWon]
    logins: list[DemoLogin] | None = Field(default=None, description="only with --serve")


class ConfigChecked(Report):
    """`truce config check --json`: the file read and every section of the configuration it gives,
    with defaults filled in (docs/cli.md and the comments of the default truce.toml say what each holds)."""

    source: str | None
    valid: bool
    company: Detail
    funnel: Detail
    mapping: Detail
    business_hours: Detail
    sla: Detail
    custody: Detail
    scoring: Detail
    routing: Detail
    attribution: Detail
    pricing: Detail
    diagnostic: Detail
    brief: Detail
    serve: Detail
    schedule: Detail
    feedback: Detail
    notify: Detail
    connectors: Detail


__all__ = [
    "AccountPlan",
    "AccountPlans",
    "ChannelWon",
    "ConfigChecked",
    "DemoBuilt",
    "DemoLogin",
    "DeliveriesRetried",
    "DeliveryRound",
    "Exported",
    "FailedDeliveries",
    "FeedbackItem",
    "ImportReport",
    "JobRun",
    "JobRuns",
    "JobState",
    "Jobs",
    "KeyAccountWithoutPlan",
    "KindChoice",
    "Notification",
    "NotificationPreferences",
    "SchemaVersion",
    "StoreStatus",
    "SurveyAnswered",
    "SurveyImported",
    "Token",
    "UserAccess",
]
