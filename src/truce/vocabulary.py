"""One meaning per word: the names truce's teams, stages, kinds, statuses and models go by.

Every list of these names is written here once; the store, the config, the CLI's choices, the
API's enums and the pages read them from here (tests/test_vocabulary.py fails on a second copy).
A closed set is a `Literal` type, so mypy and the API's OpenAPI document both see the values;
the tuple beside it is the same set for code that loops or checks membership.

This module imports nothing heavy: `truce --help` reads it.
"""

from __future__ import annotations

from typing import Literal, get_args

# ---- teams and people -----------------------------------------------------------------------------

Team = Literal["marketing", "sales", "revops"]
TEAMS: tuple[Team, ...] = get_args(Team)
# The two sides of the handoff, and of the survey's perception gap.
SurveyTeam = Literal["sales", "marketing"]
SURVEY_TEAMS: tuple[SurveyTeam, ...] = get_args(SurveyTeam)
# Upstream marketers shape strategy; downstream ones work beside the sellers.
MarketingFocus = Literal["upstream", "downstream"]
MARKETING_FOCUS: tuple[MarketingFocus, ...] = get_args(MarketingFocus)
Access = Literal["member", "viewer"]
ACCESS: tuple[Access, ...] = get_args(Access)
SurveyRole = Literal["leader", "staff"]
SURVEY_ROLES: tuple[SurveyRole, ...] = get_args(SurveyRole)
# A shared target is both teams'; a team target is one team's own.
TargetTeam = Literal["shared", "marketing", "sales"]
TARGET_TEAMS: tuple[TargetTeam, ...] = get_args(TargetTeam)

# ---- the default funnel (truce.toml may define its own) ---------------------------------------------

DEFAULT_STAGES = ("inquiry", "mql", "sal", "sql", "opportunity", "customer")
DEFAULT_EXITS = ("recycled", "disqualified", "lost")

# ---- touches, deals, feedback, targets ------------------------------------------------------------

TouchKind = Literal["marketing", "sales"]
TOUCH_KINDS: tuple[TouchKind, ...] = get_args(TouchKind)
OpportunityStatus = Literal["open", "won", "lost"]
OPPORTUNITY_STATUSES: tuple[OpportunityStatus, ...] = get_args(OpportunityStatus)
FeedbackKind = Literal["product_gap", "competitor", "pricing", "lead_quality", "messaging", "content_request", "other"]
FEEDBACK_KINDS: tuple[FeedbackKind, ...] = get_args(FeedbackKind)
FeedbackStatus = Literal["new", "acknowledged", "acted_on"]
FEEDBACK_STATUSES: tuple[FeedbackStatus, ...] = get_args(FeedbackStatus)
TargetMetric = Literal["revenue", "pipeline", "mqls"]
TARGET_METRICS: tuple[TargetMetric, ...] = get_args(TargetMetric)

# ---- the handoff and its SLA ------------------------------------------------------------------------

# "expired": sales let the decision deadline pass so long that escalation took the lead away
# (re-routed to another seller, or returned to marketing's nurture); see truce.services.sla_rules.
HandoffStatus = Literal["open", "accepted", "rejected", "expired"]
HANDOFF_STATUSES: tuple[HandoffStatus, ...] = get_args(HandoffStatus)
SlaKind = Literal["first_touch_late", "decision_late", "too_few_attempts", "decision_expired"]
SLA_KINDS: tuple[SlaKind, ...] = get_args(SlaKind)
# How far escalation went with a handoff: its leader was told; it was re-routed; it went to nurture.
Escalation = Literal["leader_told", "rerouted", "nurtured"]
ESCALATIONS: tuple[Escalation, ...] = get_args(Escalation)

# ---- meetings, decisions, discounts -----------------------------------------------------------------

DecisionState = Literal["open", "done", "dropped"]
DECISION_STATES: tuple[DecisionState, ...] = get_args(DecisionState)
# What a list of decisions can be narrowed to: one state, or all of them.
DecisionFilter = Literal["open", "all", "done", "dropped"]
DECISION_FILTERS: tuple[DecisionFilter, ...] = get_args(DecisionFilter)
InitiativeState = Literal["active", "ended"]
INITIATIVE_STATES: tuple[InitiativeState, ...] = get_args(InitiativeState)
DiscountApprovalState = Literal["requested", "approved", "refused", "withdrawn"]
DISCOUNT_APPROVAL_STATES: tuple[DiscountApprovalState, ...] = get_args(DiscountApprovalState)

# ---- attribution --------------------------------------------------------------------------------

# The models by name, in the order the CLI's help, the API's enum and the pages list them.
# What each does, which engines run it and its weights: truce.domain.attribution.registry.
AttributionModelName = Literal[
    "first_touch", "last_touch", "linear", "time_decay", "position_based", "w_shaped", "full_path", "markov", "shapley"
]
ATTRIBUTION_MODELS: tuple[AttributionModelName, ...] = get_args(AttributionModelName)
AttributionBy = Literal["channel", "campaign", "team", "user"]
ATTRIBUTION_BY: tuple[AttributionBy, ...] = get_args(AttributionBy)
Conversion = Literal["won", "opportunity", "sql", "mql"]
CONVERSIONS: tuple[Conversion, ...] = get_args(Conversion)
JourneyLevel = Literal["contact", "account"]
JOURNEY_LEVELS: tuple[JourneyLevel, ...] = get_args(JourneyLevel)
