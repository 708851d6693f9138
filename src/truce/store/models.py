"""The shared revenue database: one set of records both teams read and write.

Every table here is created by an Alembic migration (store/migrations); change a
model, then add a migration. Money is `Money` (Decimal), time is `UTCDateTime`.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import TYPE_CHECKING, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from truce.store.types import Money, Rate, UTCDateTime
from truce.vocabulary import (
    ACCESS,
    DECISION_STATES,
    DISCOUNT_APPROVAL_STATES,
    ESCALATIONS,
    FEEDBACK_KINDS,
    FEEDBACK_STATUSES,
    HANDOFF_STATUSES,
    INITIATIVE_STATES,
    MARKETING_FOCUS,
    OPPORTUNITY_STATUSES,
    SLA_KINDS,
    SURVEY_ROLES,
    SURVEY_TEAMS,
    TARGET_METRICS,
    TEAMS,
    TOUCH_KINDS,
)

# Constraint names are spelled out so migrations can refer to them on every backend.
NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# The names of teams, kinds and statuses: one list each, in truce.vocabulary (imported above,
# re-exported here where the check constraints and the older imports find them).

SURVEY_STATEMENTS = 20
SURVEY_SOURCES = ("cli", "import", "web")


def _one_of(column: str, values: tuple[str, ...]) -> str:
    quoted = ", ".join(f"'{v}'" for v in values)
    return f"{column} IN ({quoted})"


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    if TYPE_CHECKING:
        # SQLAlchemy types it as any FromClause; every model here has a __tablename__, so a Table.
        __table__: ClassVar[Table]


class ExternalIds:
    """Ids the record carries in other systems, so a re-import updates instead of duplicating."""

    external_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    salesforce_id: Mapped[str | None] = mapped_column(String(32), unique=True)
    hubspot_id: Mapped[str | None] = mapped_column(String(32), unique=True)


class RemovedInCrm:
    """A record deleted or merged away in the CRM it came from (truce.services.connectors.removals).

    Kept, not deleted: its stage ledger, touches and audit entries stay readable. A merged-away
    record points at the one that survived (same table); reports leave removed records out.
    """

    deleted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    merged_into_id: Mapped[int | None] = mapped_column(Integer)


class User(Base):
    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint(_one_of("team", TEAMS), name="team"),
        CheckConstraint(_one_of("access", ACCESS), name="access"),
        CheckConstraint(
            f"marketing_focus IS NULL OR ({_one_of('marketing_focus', MARKETING_FOCUS)})",
            name="marketing_focus",
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    team: Mapped[str] = mapped_column(String(16))
    # Upstream marketers shape strategy and products; downstream ones run campaigns.
    marketing_focus: Mapped[str | None] = mapped_column(String(16))
    is_leader: Mapped[bool] = mapped_column(Boolean, default=False)
    region: Mapped[str | None] = mapped_column(String(64))
    segment: Mapped[str | None] = mapped_column(String(64))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    external_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    # What they may do in the web app and API: a member acts for their team, a viewer only reads.
    access: Mapped[str] = mapped_column(String(16), default="member", server_default="member")
    # Argon2id; None until a password is set (CRM imports create users who never log in).
    password_hash: Mapped[str | None] = mapped_column(String(200))


class Account(ExternalIds, RemovedInCrm, Base):
    __tablename__ = "accounts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), index=True)
    domain: Mapped[str | None] = mapped_column(String(253), unique=True)
    industry: Mapped[str | None] = mapped_column(String(100))
    employees: Mapped[int | None] = mapped_column(Integer)
    region: Mapped[str | None] = mapped_column(String(64))
    segment: Mapped[str | None] = mapped_column(String(64))
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    is_key_account: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class Contact(ExternalIds, RemovedInCrm, Base):
    """A person at an account. A lead is simply a contact in an early funnel stage."""

    __tablename__ = "contacts"
    __table_args__ = (Index("ix_contacts_stage", "stage"), Index("ix_contacts_account", "account_id"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # Lower-cased and trimmed, so two spellings of one address are one person.
    email: Mapped[str] = mapped_column(String(254), unique=True)
    first_name: Mapped[str | None] = mapped_column(String(100))
    last_name: Mapped[str | None] = mapped_column(String(100))
    title: Mapped[str | None] = mapped_column(String(200))
    phone: Mapped[str | None] = mapped_column(String(50))
    account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"))
    source_channel: Mapped[str | None] = mapped_column(String(64))
    stage: Mapped[str] = mapped_column(String(32))
    lead_status: Mapped[str | None] = mapped_column(String(64))
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    # The MQL score both teams signed in truce.toml, and when it last changed (see `truce score explain`).
    score: Mapped[int | None] = mapped_column(Integer)
    scored_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class Campaign(Base):
    __tablename__ = "campaigns"
    __table_args__ = (CheckConstraint(_one_of("owning_team", TEAMS), name="owning_team"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    external_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    salesforce_id: Mapped[str | None] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    channel: Mapped[str] = mapped_column(String(64), index=True)
    owning_team: Mapped[str] = mapped_column(String(16), default="marketing")
    budget: Mapped[Decimal | None] = mapped_column(Money)
    actual_cost: Mapped[Decimal | None] = mapped_column(Money)
    starts_on: Mapped[dt.date | None] = mapped_column(Date)
    ends_on: Mapped[dt.date | None] = mapped_column(Date)
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))


class Touchpoint(Base):
    """One interaction with a contact: marketing's (ad click, form, webinar) or sales' (call, demo)."""

    __tablename__ = "touchpoints"
    __table_args__ = (
        CheckConstraint(_one_of("kind", TOUCH_KINDS), name="kind"),
        Index("ix_touchpoints_contact_at", "contact_id", "occurred_at"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    external_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id"))
    account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"))
    campaign_id: Mapped[int | None] = mapped_column(ForeignKey("campaigns.id"))
    channel: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))
    touch_type: Mapped[str] = mapped_column(String(32))
    occurred_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))


class Opportunity(ExternalIds, RemovedInCrm, Base):
    __tablename__ = "opportunities"
    __table_args__ = (
        CheckConstraint(_one_of("status", OPPORTUNITY_STATUSES), name="status"),
        Index("ix_opportunities_account", "account_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str | None] = mapped_column(String(200))
    account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"))
    primary_contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id"))
    campaign_id: Mapped[int | None] = mapped_column(ForeignKey("campaigns.id"))
    amount: Mapped[Decimal] = mapped_column(Money)
    list_amount: Mapped[Decimal | None] = mapped_column(Money)
    # Share of the list amount given away: 1 - amount / list_amount.
    discount_rate: Mapped[Decimal | None] = mapped_column(Rate)
    currency: Mapped[str] = mapped_column(String(3), default="USD")
    stage: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(8), default="open")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    close_date: Mapped[dt.date | None] = mapped_column(Date)
    loss_reason: Mapped[str | None] = mapped_column(String(100))
    competitor: Mapped[str | None] = mapped_column(String(100))
    product: Mapped[str | None] = mapped_column(String(100))
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class StageChange(Base):
    """The append-only ledger of every stage move: who, when, from, to, why.

    Database triggers refuse UPDATE and DELETE on this table (see the first migration),
    so history survives recycling, re-imports and mistakes in any face.
    """

    __tablename__ = "stage_changes"
    __table_args__ = (
        CheckConstraint(_one_of("entity_type", ("contact", "opportunity")), name="entity_type"),
        Index("ix_stage_changes_entity", "entity_type", "entity_id", "changed_at"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    external_id: Mapped[str | None] = mapped_column(String(128), unique=True)
    entity_type: Mapped[str] = mapped_column(String(16))
    entity_id: Mapped[int] = mapped_column(Integer)
    from_stage: Mapped[str | None] = mapped_column(String(64))
    to_stage: Mapped[str] = mapped_column(String(64))
    changed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    changed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    team_before: Mapped[str | None] = mapped_column(String(16))
    team_after: Mapped[str | None] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(String(64))
    note: Mapped[str | None] = mapped_column(Text)
    # Where the move came from: "import", "demo", "cli", "api", "web", "rule".
    origin: Mapped[str] = mapped_column(String(16))
    recorded_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


# HANDOFF_STATUSES, SLA_KINDS and ESCALATIONS (what "expired" and each escalation mean): truce.vocabulary.


class Handoff(Base):
    """One MQL handed from marketing to sales: who got it, the deadlines, and what sales decided.

    `sla_due_at` is the next deadline still to be checked; a sweep finds rows whose deadline
    has passed and claims each with a conditional update before it records a breach.
    """

    __tablename__ = "handoffs"
    __table_args__ = (
        CheckConstraint(_one_of("status", HANDOFF_STATUSES), name="status"),
        CheckConstraint(f"escalation IS NULL OR ({_one_of('escalation', ESCALATIONS)})", name="escalation"),
        Index("ix_handoffs_sla_due_at", "sla_due_at"),
        Index("ix_handoffs_escalation_due_at", "escalation_due_at"),
        Index("ix_handoffs_contact", "contact_id"),
        Index("ix_handoffs_status", "status"),
        # Round robin asks, for every new MQL, when each seller last got one.
        Index("ix_handoffs_owner_created", "owner_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id"))
    mql_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    routing_rule: Mapped[str | None] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16), default="open")
    first_touch_due_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    first_touch_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    decision_due_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    decided_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    rejection_reason: Mapped[str | None] = mapped_column(String(64))
    note: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    sla_due_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    # The next escalation step's moment while the lead waits (the decision deadline at first: the
    # escalation scan works out which step is due); None once decided or taken away.
    escalation_due_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    escalation: Mapped[str | None] = mapped_column(String(16))
    # A re-routed lead's new handoff names the one that expired; the MQL moment stays the same.
    previous_handoff_id: Mapped[int | None] = mapped_column(ForeignKey("handoffs.id"))


class SlaEvent(Base):
    """A broken promise, recorded once: which side, which person, which commitment, how late.

    Append-only like the ledger; a unique (handoff, kind) pair means a breach can never be
    counted twice, whatever two sweeps do at the same moment.
    """

    __tablename__ = "sla_events"
    __table_args__ = (
        CheckConstraint(_one_of("kind", SLA_KINDS), name="kind"),
        CheckConstraint(_one_of("side", ("sales", "marketing")), name="side"),
        UniqueConstraint("handoff_id", "kind", name="uq_sla_events_handoff_kind"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    handoff_id: Mapped[int | None] = mapped_column(ForeignKey("handoffs.id"))
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id"))
    side: Mapped[str] = mapped_column(String(16))
    kind: Mapped[str] = mapped_column(String(32))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    due_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    detected_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    detail: Mapped[str | None] = mapped_column(Text)


class FeedbackItem(Base):
    """One line of sales-force feedback, and marketing's answer to it."""

    __tablename__ = "feedback_items"
    __table_args__ = (
        CheckConstraint(_one_of("kind", FEEDBACK_KINDS), name="kind"),
        CheckConstraint(_one_of("status", FEEDBACK_STATUSES), name="status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    text: Mapped[str] = mapped_column(Text)
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id"))
    opportunity_id: Mapped[int | None] = mapped_column(ForeignKey("opportunities.id"))
    campaign_id: Mapped[int | None] = mapped_column(ForeignKey("campaigns.id"))
    status: Mapped[str] = mapped_column(String(16), default="new")
    reply: Mapped[str | None] = mapped_column(Text)
    replied_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    replied_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class Target(Base):
    """A revenue, pipeline or MQL target for a period; team NULL means shared by both."""

    __tablename__ = "targets"
    __table_args__ = (
        CheckConstraint(_one_of("metric", TARGET_METRICS), name="metric"),
        CheckConstraint(f"team IS NULL OR ({_one_of('team', TEAMS)})", name="team"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    metric: Mapped[str] = mapped_column(String(16))
    period_start: Mapped[dt.date] = mapped_column(Date)
    period_end: Mapped[dt.date] = mapped_column(Date)
    team: Mapped[str | None] = mapped_column(String(16))
    amount: Mapped[Decimal] = mapped_column(Money)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class ImportRun(Base):
    """One run of `truce import`: what was loaded, by whom, and what it changed."""

    __tablename__ = "import_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    target_table: Mapped[str] = mapped_column(String(32))
    file_name: Mapped[str] = mapped_column(String(500))
    file_sha256: Mapped[str] = mapped_column(String(64))
    dialect: Mapped[str] = mapped_column(String(16))
    actor: Mapped[str] = mapped_column(String(254))
    started_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    finished_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    rows_read: Mapped[int] = mapped_column(Integer)
    inserted: Mapped[int] = mapped_column(Integer)
    updated: Mapped[int] = mapped_column(Integer)
    unchanged: Mapped[int] = mapped_column(Integer)
    rejected: Mapped[int] = mapped_column(Integer)


class AuditEntry(Base):
    """Every write, by any face: who, when, what, before and after. Append-only, like the ledger."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_entity", "entity_type", "entity_id"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    actor: Mapped[str] = mapped_column(String(254))
    action: Mapped[str] = mapped_column(String(32))
    entity_type: Mapped[str] = mapped_column(String(32))
    entity_id: Mapped[int | None] = mapped_column(BigInteger().with_variant(Integer, "sqlite"))
    before: Mapped[dict | None] = mapped_column(JSON)
    after: Mapped[dict | None] = mapped_column(JSON)


class SurveyRound(Base):
    """A round of the alignment diagnostic, e.g. "2026-Q4": both teams answer the same statements."""

    __tablename__ = "survey_rounds"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(32), unique=True)
    opened_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    closed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class SurveyResponse(Base):
    """One respondent's answers in one round: 20 ratings, 1 (strongly disagree) to 5 (strongly agree)."""

    __tablename__ = "survey_responses"
    __table_args__ = (
        UniqueConstraint("round_id", "respondent_id", name="uq_survey_responses_round_respondent"),
        CheckConstraint(_one_of("team", SURVEY_TEAMS), name="team"),
        CheckConstraint(_one_of("role", SURVEY_ROLES), name="role"),
        CheckConstraint(_one_of("source", SURVEY_SOURCES), name="source"),
        *(CheckConstraint(f"s{i} BETWEEN 1 AND 5", name=f"s{i}") for i in range(1, SURVEY_STATEMENTS + 1)),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    round_id: Mapped[int] = mapped_column(ForeignKey("survey_rounds.id"))
    respondent_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    team: Mapped[str] = mapped_column(String(16))
    role: Mapped[str] = mapped_column(String(16))
    source: Mapped[str] = mapped_column(String(16))
    submitted_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    s1: Mapped[int] = mapped_column(Integer)
    s2: Mapped[int] = mapped_column(Integer)
    s3: Mapped[int] = mapped_column(Integer)
    s4: Mapped[int] = mapped_column(Integer)
    s5: Mapped[int] = mapped_column(Integer)
    s6: Mapped[int] = mapped_column(Integer)
    s7: Mapped[int] = mapped_column(Integer)
    s8: Mapped[int] = mapped_column(Integer)
    s9: Mapped[int] = mapped_column(Integer)
    s10: Mapped[int] = mapped_column(Integer)
    s11: Mapped[int] = mapped_column(Integer)
    s12: Mapped[int] = mapped_column(Integer)
    s13: Mapped[int] = mapped_column(Integer)
    s14: Mapped[int] = mapped_column(Integer)
    s15: Mapped[int] = mapped_column(Integer)
    s16: Mapped[int] = mapped_column(Integer)
    s17: Mapped[int] = mapped_column(Integer)
    s18: Mapped[int] = mapped_column(Integer)
    s19: Mapped[int] = mapped_column(Integer)
    s20: Mapped[int] = mapped_column(Integer)

    def ratings(self) -> list[int]:
        return [getattr(self, f"s{i}") for i in range(1, SURVEY_STATEMENTS + 1)]


class AccountPlan(Base):
    """A key account's joint plan: the marketing liaison, the sales owner, objectives, the next joint action."""

    __tablename__ = "account_plans"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), unique=True)
    liaison_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    objectives: Mapped[str | None] = mapped_column(Text)
    next_action: Mapped[str | None] = mapped_column(Text)
    next_action_due: Mapped[dt.date | None] = mapped_column(Date)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class ApiToken(Base):
    """A token for the REST API. Only its SHA-256 is kept: the token itself is shown once."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    name: Mapped[str] = mapped_column(String(100))
    prefix: Mapped[str] = mapped_column(String(16))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    last_used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class WebSession(Base):
    """A logged-in browser. The cookie holds a random secret; only its SHA-256 is kept."""

    __tablename__ = "web_sessions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    session_hash: Mapped[str] = mapped_column(String(64), unique=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class LoginThrottle(Base):
    """Failed log-ins in a row for one key: an email typed at the log-in form, or a client address.

    Only the SHA-256 of the key is kept (`kind` says which sort it is): the table holds no email a
    stranger typed. Access bookkeeping like sessions: writing it does not move the data revision.
    """

    __tablename__ = "login_throttles"

    key_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    failures: Mapped[int] = mapped_column(Integer)
    last_failed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, index=True)
    blocked_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class StoreRevision(Base):
    """The data revision: one row whose number every unit of work that changes data moves by one.

    Computed reports and columnar copies key on it (truce.store.revision). Log-ins, sessions and
    token use leave it alone, so they never throw a computed report away.
    """

    __tablename__ = "store_revision"
    __table_args__ = (CheckConstraint("id = 1", name="one_row"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    revision: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"))
    changed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class FunnelConfigVersion(Base):
    """A version of the funnel and its SLA (truce.toml's [funnel] and [sla]) as RevOps saved it.

    Append-only; the highest version is in force for every process on the store (truce.services.
    funnel_config.in_force), so several servers agree on one funnel whatever their files say.
    """

    __tablename__ = "funnel_config_versions"

    version: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    sections: Mapped[dict] = mapped_column(JSON)  # {"funnel": {...}, "sla": {...}} as the API's JSON has them
    toml_text: Mapped[str] = mapped_column(Text)  # the two tables as written to truce.toml, comments included
    saved_by: Mapped[str] = mapped_column(String(254))
    saved_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


URGENCIES = ("now", "digest")


class OutboxMessage(Base):
    """A notification owed to someone, written in the same unit of work as the change that caused it.

    Append-only: what was owed is evidence, like a breach. Whether and how it reached its
    recipient is kept per channel elsewhere (deliveries), so a crash between the change and the
    send never loses the message, and a retry never invents a second one. `key` names the event
    so that a rule that runs twice (two sweeps, a re-run job) owes the message once.
    """

    __tablename__ = "outbox"
    __table_args__ = (CheckConstraint(_one_of("urgency", URGENCIES), name="urgency"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(40), index=True)
    # None: the company's channels only (Slack, Teams, webhooks), no person's inbox.
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    urgency: Mapped[str] = mapped_column(String(8))
    subject: Mapped[str] = mapped_column(String(200))
    text: Mapped[str] = mapped_column(Text)
    link: Mapped[str | None] = mapped_column(String(500))  # a path inside truce, e.g. /handoffs
    facts: Mapped[dict | None] = mapped_column(JSON)
    key: Mapped[str | None] = mapped_column(String(200), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, index=True)
    created_by: Mapped[str] = mapped_column(String(200))


APPEND_ONLY_TABLES = ("stage_changes", "audit_log", "sla_events", "outbox")


JOB_RUN_STATUSES = ("running", "ok", "failed")
JOB_RUN_CAUSES = ("schedule", "manual")


class JobRun(Base):
    """One run of a scheduled job for one slot: the row is the claim, the lease and the record.

    The unique (job, slot) key is what makes a slot run once however many workers share the store:
    a worker claims a slot by inserting its row, and a second insert finds the key taken. While the
    job runs its holder renews `lease_until`; a row still `running` past its lease was left by a
    worker that died, and the next worker takes it over (truce.services.jobs.scheduler).
    """

    __tablename__ = "job_runs"
    __table_args__ = (
        UniqueConstraint("job", "slot", name="uq_job_runs_job_slot"),
        CheckConstraint(_one_of("status", JOB_RUN_STATUSES), name="status"),
        CheckConstraint(_one_of("cause", JOB_RUN_CAUSES), name="cause"),
        Index("ix_job_runs_job_status", "job", "status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    job: Mapped[str] = mapped_column(String(64))
    slot: Mapped[dt.datetime] = mapped_column(UTCDateTime)  # the moment the schedule was due; a manual run's start
    cause: Mapped[str] = mapped_column(String(16))  # schedule, or manual (truce jobs run)
    holder: Mapped[str] = mapped_column(String(200))  # host:pid:random of the process running it
    lease_until: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(Integer)  # 1, plus one per takeover after a holder died
    started_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(16))
    counts: Mapped[dict | None] = mapped_column(JSON)
    error: Mapped[str | None] = mapped_column(Text)


# ---- the joint meeting, its decisions, and the playbook's moves as initiatives (truce.services.meetings)

# DECISION_STATES and INITIATIVE_STATES: truce.vocabulary.


class Meeting(Base):
    """One joint revenue meeting, held on the brief of one period (an ISO week, month, quarter or year)."""

    __tablename__ = "meetings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # One meeting per brief period: starting it again finds this one.
    period: Mapped[str] = mapped_column(String(16), unique=True)
    period_first_day: Mapped[dt.date] = mapped_column(Date, index=True)
    period_last_day: Mapped[dt.date] = mapped_column(Date)
    held_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    opened_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))


class MeetingAttendee(Base):
    """Who sat in the meeting: users of either team (and RevOps)."""

    __tablename__ = "meeting_attendees"
    __table_args__ = (UniqueConstraint("meeting_id", "user_id", name="uq_meeting_attendees_meeting_user"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    meeting_id: Mapped[int] = mapped_column(ForeignKey("meetings.id"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))


class AgendaItem(Base):
    """One of the brief's "decisions needed", as the meeting took it: its rule, the team asked, the sentence."""

    __tablename__ = "meeting_agenda_items"
    __table_args__ = (UniqueConstraint("meeting_id", "position", name="uq_meeting_agenda_items_meeting_position"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    meeting_id: Mapped[int] = mapped_column(ForeignKey("meetings.id"))
    position: Mapped[int] = mapped_column(Integer)  # 1, 2, … in the brief's order
    rule: Mapped[str | None] = mapped_column(String(40))
    owner_team: Mapped[str | None] = mapped_column(String(16))  # sales, marketing or both
    text: Mapped[str] = mapped_column(Text)


class Decision(Base):
    """What the meeting decided: who does it by when, and which indicator it should move; tracked to done."""

    __tablename__ = "decisions"
    __table_args__ = (CheckConstraint(_one_of("state", DECISION_STATES), name="state"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    meeting_id: Mapped[int] = mapped_column(ForeignKey("meetings.id"), index=True)
    agenda_item_id: Mapped[int | None] = mapped_column(ForeignKey("meeting_agenda_items.id"))
    text: Mapped[str] = mapped_column(Text)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    due_on: Mapped[dt.date] = mapped_column(Date, index=True)
    indicator: Mapped[str] = mapped_column(String(64))  # a key of truce.domain.meetings.INDICATORS
    # The indicator over the window ending the day before the decision (JSON: a number, true/false or null).
    indicator_value: Mapped[dict | None] = mapped_column(JSON)
    state: Mapped[str] = mapped_column(String(16), default="open")
    closing_note: Mapped[str | None] = mapped_column(Text)
    decided_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    decided_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    closed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    closed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))


class Initiative(Base):
    """A move of the diagnostic's playbook that RevOps adopted: an owner, a start, the indicators it should change."""

    __tablename__ = "initiatives"
    __table_args__ = (CheckConstraint(_one_of("state", INITIATIVE_STATES), name="state"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    move: Mapped[str] = mapped_column(String(40))  # a key of truce.domain.meetings.MOVES
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    started_on: Mapped[dt.date] = mapped_column(Date)
    indicators: Mapped[list] = mapped_column(JSON)  # indicator keys
    baseline: Mapped[dict] = mapped_column(JSON)  # indicator key → value over the window before the start
    state: Mapped[str] = mapped_column(String(16), default="active")
    note: Mapped[str | None] = mapped_column(Text)
    adopted_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    adopted_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))


# DISCOUNT_APPROVAL_STATES: truce.vocabulary.


class DiscountApproval(Base):
    """A seller's request to discount a deal beyond the policy, and the pricing owner's answer.

    The policy limit is kept as it was when the request was made, so a later change of policy
    does not rewrite what was asked. `due_at` is the approver's deadline (business hours from the
    request); `overdue_at` is set once, by the sweep that claims the overdue request, so the
    reminder is owed once however many sweeps run. One open request per deal: a partial unique
    index on the deal where the state is `requested`.
    """

    __tablename__ = "discount_approvals"
    __table_args__ = (
        CheckConstraint(_one_of("state", DISCOUNT_APPROVAL_STATES), name="state"),
        CheckConstraint("requested_discount > 0 AND requested_discount < 1", name="requested_discount"),
        Index("ix_discount_approvals_opportunity", "opportunity_id"),
        Index("ix_discount_approvals_state_due", "state", "due_at"),
        Index(
            "uq_discount_approvals_one_open",
            "opportunity_id",
            unique=True,
            sqlite_where=text("state = 'requested'"),
            postgresql_where=text("state = 'requested'"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    opportunity_id: Mapped[int] = mapped_column(ForeignKey("opportunities.id"))
    requested_discount: Mapped[Decimal] = mapped_column(Rate)
    policy_limit: Mapped[Decimal] = mapped_column(Rate)
    reason: Mapped[str] = mapped_column(String(64))
    request_note: Mapped[str | None] = mapped_column(Text)
    requested_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    requested_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    due_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    state: Mapped[str] = mapped_column(String(16), default="requested")
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    decided_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    note: Mapped[str | None] = mapped_column(Text)
    overdue_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


DELIVERY_CHANNELS = ("inbox", "email", "webhook", "none")
DELIVERY_STATUSES = ("pending", "sending", "sent", "failed", "dead", "skipped")


class Delivery(Base):
    """One outbox message on its way through one channel to one target (a person, or a webhook).

    The worker claims a row with a conditional update (status and claim expiry in the WHERE) before
    it sends, and records the outcome in a second short unit of work after; `attempts` counts the
    claims, so a send whose outcome was never recorded (the process died) shows as a second attempt.
    Inbox rows are sent at once; `read_at` is the person reading them. Operations bookkeeping: it
    does not move the data revision.
    """

    __tablename__ = "deliveries"
    __table_args__ = (
        UniqueConstraint("outbox_id", "channel", "target"),
        CheckConstraint(_one_of("channel", DELIVERY_CHANNELS), name="channel"),
        CheckConstraint(_one_of("status", DELIVERY_STATUSES), name="status"),
        # The bell: one indexed count of a person's unread inbox rows on every page.
        Index("ix_deliveries_inbox", "user_id", "channel", "read_at"),
        # The worker's question every minute: what is due?
        Index("ix_deliveries_due", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    outbox_id: Mapped[int] = mapped_column(ForeignKey("outbox.id"))
    channel: Mapped[str] = mapped_column(String(16))
    target: Mapped[str] = mapped_column(String(100))  # "user:17" or the webhook's name
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    digest: Mapped[bool] = mapped_column(Boolean, default=False)  # batched into the next digest e-mail
    status: Mapped[str] = mapped_column(String(8))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    claimed_by: Mapped[str | None] = mapped_column(String(100))
    claimed_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    sent_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(String(500))
    read_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class NotifyChannel(Base):
    """A channel found broken (SMTP refused the password, a webhook's server is down): one row, one
    clear error for RevOps, and no sending through it until `broken_until`."""

    __tablename__ = "notify_channels"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)  # "email" or "webhook:<name>"
    broken_since: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    broken_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    error: Mapped[str | None] = mapped_column(String(500))
    failures: Mapped[int] = mapped_column(Integer, default=0)


class NotificationPreference(Base):
    """Which channels a person gets one kind of event through; no row: the company's default."""

    __tablename__ = "notification_preferences"
    __table_args__ = (UniqueConstraint("user_id", "kind"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    kind: Mapped[str] = mapped_column(String(40))
    channels: Mapped[str] = mapped_column(String(100))  # "inbox,email"; "" for none
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


# ---- live connectors to HubSpot and Salesforce (truce.services.connectors)

CRM_SYSTEMS = ("hubspot", "salesforce")
CRM_AUTH = ("private_app_token", "jwt_bearer", "client_credentials")
CRM_SYNC_STATUSES = ("running", "ok", "failed", "stopped")
CRM_WRITE_STATUSES = ("pending", "sending", "sent", "conflict", "failed", "dead", "skipped")


class CrmConnection(Base):
    """A CRM truce reads from and writes back to. Secrets are never stored in clear: either the name
    of the environment variable that holds one, or the secret sealed with the key outside the store
    (truce.services.connectors.secrets). Revoking keeps the row (its syncs stay on record)."""

    __tablename__ = "crm_connections"
    __table_args__ = (
        CheckConstraint(_one_of("system", CRM_SYSTEMS), name="system"),
        CheckConstraint(_one_of("auth", CRM_AUTH), name="auth"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    system: Mapped[str] = mapped_column(String(16))
    auth: Mapped[str] = mapped_column(String(32))
    # HubSpot's API base, or Salesforce's instance URL (the token answer may update it).
    base_url: Mapped[str] = mapped_column(String(500))
    # Not secret: client id, user name, token URL, objects chosen, portal or org id.
    settings: Mapped[dict] = mapped_column(JSON, default=dict)
    secret_env: Mapped[str | None] = mapped_column(String(100))
    secret_sealed: Mapped[str | None] = mapped_column(Text)
    webhook_secret_env: Mapped[str | None] = mapped_column(String(100))
    webhook_secret_sealed: Mapped[str | None] = mapped_column(Text)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    created_by: Mapped[str] = mapped_column(String(254))
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    last_sync_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    last_error_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class CrmSyncCursor(Base):
    """How far one object of one connection has been read: moved in the same unit of work as the page
    it follows, so a sync that dies resumes after the last page that is in, never before or after."""

    __tablename__ = "crm_sync_cursors"
    __table_args__ = (UniqueConstraint("connection_id", "object"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    connection_id: Mapped[int] = mapped_column(ForeignKey("crm_connections.id"))
    object: Mapped[str] = mapped_column(String(64))
    # The last modified time read (ISO text), plus the vendor's id as a tie-breaker: "2026-12-01T10:00:00Z|123".
    cursor: Mapped[str | None] = mapped_column(String(200))
    # A full sync's place inside a paged listing (a Bulk API locator, an `after` token), cleared when it ends.
    position: Mapped[str | None] = mapped_column(String(500))
    records: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class CrmSyncRun(Base):
    """One `truce sync` (or scheduled sync) of one connection."""

    __tablename__ = "crm_sync_runs"
    __table_args__ = (CheckConstraint(_one_of("status", CRM_SYNC_STATUSES), name="status"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    connection_id: Mapped[int] = mapped_column(ForeignKey("crm_connections.id"), index=True)
    full: Mapped[bool] = mapped_column(Boolean, default=False)
    actor: Mapped[str] = mapped_column(String(254))
    started_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(16))
    counts: Mapped[dict | None] = mapped_column(JSON)
    # A full sync's reconciliation: records truce holds that the CRM no longer lists, and such.
    differences: Mapped[dict | None] = mapped_column(JSON)
    error: Mapped[str | None] = mapped_column(Text)


class CrmSyncReject(Base):
    """A CRM record a sync could not take in, with the CRM's id and the reason; pulled again by
    the next sync until it goes in (`resolved_at`)."""

    __tablename__ = "crm_sync_rejects"
    __table_args__ = (Index("ix_crm_sync_rejects_open", "connection_id", "object", "resolved_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    connection_id: Mapped[int] = mapped_column(ForeignKey("crm_connections.id"))
    run_id: Mapped[int | None] = mapped_column(ForeignKey("crm_sync_runs.id"))
    object: Mapped[str] = mapped_column(String(64))
    crm_id: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(Text)
    seen_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    resolved_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class CrmWrite(Base):
    """One write-back owed to a CRM (an outbox row of kind crm_write_back) and how it went.

    Claimed with a conditional update before it is sent, like a delivery; `conflict` means the CRM
    record changed after truce read it, so truce's value was not written (the CRM's newer edit wins).
    """

    __tablename__ = "crm_writes"
    __table_args__ = (
        CheckConstraint(_one_of("status", CRM_WRITE_STATUSES), name="status"),
        Index("ix_crm_writes_due", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    outbox_id: Mapped[int] = mapped_column(ForeignKey("outbox.id"), unique=True)
    connection_id: Mapped[int] = mapped_column(ForeignKey("crm_connections.id"))
    object: Mapped[str] = mapped_column(String(64))
    crm_id: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    claimed_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    sent_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class WebhookReceipt(Base):
    """A webhook delivery already taken: the same signed delivery arriving again is a replay."""

    __tablename__ = "webhook_receipts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    connection_id: Mapped[int] = mapped_column(ForeignKey("crm_connections.id"))
    delivery_key: Mapped[str] = mapped_column(String(200), unique=True)
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, index=True)
