"""The seller's desk and the handoff: the queue, what each decision on a lead answers, a lead's
record, its score explained, and the SLA sweep's counts.

What `truce handoff …`, `truce lead …`, `truce score …` and `truce sla sweep|rebuild` print with
--json, and what the API's /handoffs routes answer.
"""

from __future__ import annotations

from truce.reports.base import Detail, Moment, Number, Report, Row

# ---- the queue ------------------------------------------------------------------------------------


class QueuedLead(Row):
    """A lead waiting for sales, with the business hours left on its two clocks (negative: overdue)."""

    handoff_id: int
    email: str
    owner: str | None
    routing_rule: str | None
    score: Number | None
    mql_at: Moment
    first_touch_due_at: Moment | None
    decision_due_at: Moment | None
    hours_to_first_touch: Number | None
    hours_to_decision: Number | None


class SlaClock(Row):
    """One clock of a handoff card: due when, business hours left (negative: overdue), in words and tone."""

    due_at: Moment | None
    hours_left: Number | None
    words: str
    tone: str  # ok, soon (under a quarter of the clock left: amber), overdue (red)
    label: str


class HandoffCard(Row):
    """A waiting lead as the seller's desk shows it: who, from where, its score and its two clocks."""

    handoff_id: int
    contact_id: int
    email: str
    name: str | None
    title: str | None
    company: str | None
    account_id: int | None
    segment: str | None
    source_channel: str | None
    campaign: Detail | None
    score: Number | None
    owner: str | None
    owner_name: str | None
    routing_rule: str | None
    mql_at: Moment
    first_touch_at: Moment | None
    first_touch: SlaClock | None  # None once the first touch is logged
    decision: SlaClock


class HandoffQueue(Report):
    """The queue as of a moment (the library's answer; the CLI and the API print the `leads` list)."""

    as_of: Moment
    leads: list[QueuedLead]


# ---- what a decision on a lead answers --------------------------------------------------------------


class HandoffDecided(Report):
    """Accept or reject: where the lead went, and whether the decision came after its deadline."""

    email: str
    stage: str
    status: str
    late: bool
    warnings: list[str]


class TouchLogged(Report):
    """A call, email or meeting logged; the first one stops the first-touch clock."""

    email: str
    kind: str
    occurred_at: Moment
    first_touch: bool
    late: bool


class LeadAssigned(Report):
    email: str
    owner: str
    previous_owner: str | None


class LeadClaimed(Report):
    email: str
    owner: str
    handoff_id: int


class DecisionUndone(Report):
    """An accept or reject taken back: the lead waits in the queue again."""

    email: str
    undone: str
    stage: str
    handoff_id: int


# ---- a lead ---------------------------------------------------------------------------------------


class LeadMove(Row):
    changed_at: Moment
    from_stage: str | None
    to_stage: str
    team_after: str | None
    reason: str | None
    note: str | None
    origin: str | None
    by: str | None


class LeadHandoff(Row):
    id: int
    mql_at: Moment
    status: str
    routing_rule: str | None
    first_touch_due_at: Moment | None
    decision_due_at: Moment | None
    decided_at: Moment | None
    rejection_reason: str | None
    owner: str | None


class LeadBreach(Row):
    handoff_id: int | None
    kind: str
    due_at: Moment | None
    detail: str | Detail | None


class LeadTouch(Row):
    occurred_at: Moment
    kind: str
    touch_type: str | None
    channel: str | None


class LeadHistory(Report):
    """`truce lead show`: every move, handoff, breach and touch of one lead, oldest first."""

    email: str
    stage: str | None
    score: Number | None
    moves: list[LeadMove]
    handoffs: list[LeadHandoff]
    sla_breaches: list[LeadBreach]
    touchpoints: list[LeadTouch]


class LeadMoved(Report):
    email: str
    from_stage: str | None
    to_stage: str
    team_before: str | None
    team_after: str | None
    skipped: list[str]


# ---- the score ------------------------------------------------------------------------------------


class ScoreItem(Row):
    """One rule's part of a score, in a sentence."""

    kind: str
    rule: str
    status: str
    value: str | Number | None
    occurred_at: Moment | None
    age_days: Number | None
    raw_points: Number
    decay: Number
    points: Number
    sentence: str


class ScoreExplained(Report):
    email: str
    contact_id: int
    stage: str | None
    at: Moment
    score: Number
    exact: Number
    threshold: Number
    would_be_mql: bool
    fit_points: Number
    engagement_points: Number
    stored_score: Number | None
    scored_at: Moment | None
    half_life_days: Number
    items: list[ScoreItem]


class ScoresRefreshed(Report):
    at: Moment
    threshold: Number
    scored: int
    changed: int
    crossed: int
    moved_to_mql: int


# ---- the SLA sweep --------------------------------------------------------------------------------


class SlaSwept(Report):
    breaches_recorded: int
    breaches: list[Detail]
    reminders_owed: int
    leaders_told: int
    rerouted: int
    nurtured: int
    escalation_messages: int


class SlaRebuilt(Report):
    handoffs_created: int
    breaches_recorded: int


__all__ = [
    "DecisionUndone",
    "HandoffCard",
    "HandoffDecided",
    "HandoffQueue",
    "LeadAssigned",
    "LeadBreach",
    "LeadClaimed",
    "LeadHandoff",
    "LeadHistory",
    "LeadMove",
    "LeadMoved",
    "LeadTouch",
    "QueuedLead",
    "ScoreExplained",
    "ScoreItem",
    "ScoresRefreshed",
    "SlaClock",
    "SlaRebuilt",
    "SlaSwept",
    "TouchLogged",
]
