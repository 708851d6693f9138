"""The joint meeting's rules: the indicators a decision may aim at, whether one moved, when a decision
is due, who may close it, and the playbook's moves a company can adopt as initiatives.

Pure rules, no I/O. docs/meetings.md says the same to users.

- An indicator is one number of `truce.services.indicators` (a key with a dot reaches inside it).
  Each has a direction: most are shares where higher is better; cold leads are counts where
  lower is better.
- Moved: the value now against the value then. Unknown when either is missing (nothing to count).
- A decision owes its owner a reminder the day before it is due and a notice once it is overdue
  (due before today), both in calendar days in the company's time zone: a decision due on Monday
  is reminded of on Sunday, because the date the meeting wrote is the promise.
- An open decision is closed (done or dropped, with a note) by its owner, a leader of the owner's
  team, or RevOps.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from truce.domain import diagnostic

HIGHER, LOWER = "higher", "lower"


@dataclass(frozen=True)
class Indicator:
    key: str
    label: str
    better: str  # HIGHER or LOWER


INDICATORS: dict[str, Indicator] = {
    i.key: i
    for i in (
        Indicator("sla_compliance.sales", "Sales SLA promises kept", HIGHER),
        Indicator("sla_compliance.marketing", "Marketing months delivered", HIGHER),
        Indicator("mql_acceptance_rate", "MQL acceptance rate", HIGHER),
        Indicator("reasons.rejections_with_reason", "Rejections with a reason", HIGHER),
        Indicator("reasons.losses_with_reason", "Lost deals with a reason", HIGHER),
        Indicator("feedback.per_seller_per_month", "Feedback per seller per month", HIGHER),
        Indicator("feedback.answered_share", "Feedback answered by marketing", HIGHER),
        Indicator("shared_target.exists", "A shared revenue target", HIGHER),
        Indicator("shared_target.attainment", "Shared target attainment", HIGHER),
        Indicator("both_teams_revenue_share", "Revenue both teams touched", HIGHER),
        Indicator("cold_leads.marketing", "Leads gone cold with marketing", LOWER),
        Indicator("cold_leads.sales", "Leads gone cold with sales", LOWER),
    )
}


class UnknownIndicator(ValueError):
    pass


def check_indicator(key: str) -> str:
    key = (key or "").strip()
    if key not in INDICATORS:
        raise UnknownIndicator(f"unknown indicator {key!r}; choose one of: {', '.join(INDICATORS)}")
    return key


def _number(value) -> float | None:
    if value is None:
        return None
    return float(value)  # True/False count as 1/0: a shared target that now exists moved up


def moved(key: str, then, now) -> dict:
    """{"then", "now", "change", "direction": up|down|same|unknown, "better": True|False|None}."""
    before, after = _number(then), _number(now)
    if before is None or after is None:
        return {"then": then, "now": now, "change": None, "direction": "unknown", "better": None}
    change = round(after - before, 4)
    direction = "up" if change > 0 else ("down" if change < 0 else "same")
    better = None if direction == "same" else (direction == "up") == (INDICATORS[key].better == HIGHER)
    return {"then": then, "now": now, "change": change, "direction": direction, "better": better}


# ---- decisions -------------------------------------------------------------------------------------

DUE_TOMORROW, OVERDUE = "due_tomorrow", "overdue"


def due_notice(due_on: dt.date, today: dt.date) -> str | None:
    """What an open decision's owner is owed today: a reminder the day before, a notice once overdue."""
    if due_on == today + dt.timedelta(days=1):
        return DUE_TOMORROW
    if due_on < today:
        return OVERDUE
    return None


def may_close(*, actor_id: int, actor_team: str, actor_is_leader: bool, owner_id: int, owner_team: str) -> bool:
    """The owner, a leader of the owner's team, or RevOps."""
    return actor_id == owner_id or actor_team == "revops" or (actor_is_leader and actor_team == owner_team)


# ---- the playbook's moves, as initiatives a company adopts --------------------------------------------


@dataclass(frozen=True)
class PlaybookMove:
    key: str
    move: str
    indicators: tuple[str, ...]  # what it should change, by default


# The diagnostic's playbook (truce.domain.diagnostic.MOVES), each given a key, in its order; then
# moves the research names that the playbook leaves to the company (joint training, rotation,
# co-location): they have no feature of truce behind them, but their effect shows in the same numbers.
_PLAYBOOK_KEYS = (
    ("rules_of_engagement", ("sla_compliance.sales", "sla_compliance.marketing")),
    ("joint_meeting", ("reasons.rejections_with_reason", "reasons.losses_with_reason")),
    ("joint_assignments", ("both_teams_revenue_share",)),
    ("key_account_liaison", ("cold_leads.marketing", "cold_leads.sales")),
    ("cheap_feedback", ("feedback.per_seller_per_month", "feedback.answered_share")),
    ("one_revenue_executive", ("shared_target.attainment",)),
    ("one_funnel", ("mql_acceptance_rate",)),
    ("upstream_downstream", ("feedback.answered_share",)),
    ("shared_targets", ("shared_target.exists", "shared_target.attainment")),
    ("integrated_metrics", ("both_teams_revenue_share",)),
)
_OTHER_MOVES = (
    PlaybookMove(
        "joint_training",
        "Train sales and marketing together and send them to events together",
        ("feedback.per_seller_per_month", "mql_acceptance_rate"),
    ),
    PlaybookMove(
        "job_rotation",
        "Move people between the sales and marketing teams (job rotation)",
        ("mql_acceptance_rate", "feedback.answered_share"),
    ),
    PlaybookMove(
        "co_location",
        "Seat sales and marketing together",
        ("sla_compliance.sales", "feedback.per_seller_per_month"),
    ),
)
assert len(_PLAYBOOK_KEYS) == len(diagnostic.MOVES), "every playbook move needs a key here"
MOVES: dict[str, PlaybookMove] = {
    move.key: move
    for move in (
        *(PlaybookMove(key, m.move, shown) for (key, shown), m in zip(_PLAYBOOK_KEYS, diagnostic.MOVES, strict=True)),
        *_OTHER_MOVES,
    )
}


class UnknownMove(ValueError):
    pass


def check_move(key: str) -> PlaybookMove:
    key = (key or "").strip()
    if key not in MOVES:
        raise UnknownMove(f"unknown playbook move {key!r}; choose one of: {', '.join(MOVES)}")
    return MOVES[key]


def move_key(text: str) -> str | None:
    """The key of a playbook move as the survey report words it (for an "adopt" button beside it)."""
    return next((m.key for m in MOVES.values() if m.move == text), None)
