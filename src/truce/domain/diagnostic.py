"""The alignment diagnostic: the 20 statements, scoring, bands, perception gaps, target and playbook.

Pure rules, no I/O. docs/diagnostic.md says the same to users.

- Each statement is rated 1 (strongly disagree) to 5 (strongly agree); a respondent's score is
  the sum of their 20 ratings, 20 to 100.
- Bands (the four states of the sales–marketing relationship): 20–39 undefined, 40–59
  defined, 60–79 aligned, 80–100 integrated. A mean is banded as shown, rounded to one
  decimal, so a figure and its band never disagree.
- A group's spread is the population standard deviation of its scores (the group is the
  whole of who answered, not a sample of it), with the lowest and highest score beside it.
- The perception gap of a statement is the mean rating of sales respondents minus the mean
  of marketing respondents: positive when sales agrees more. Largest |gap| first, then by
  statement number.
- The target state comes from the company's context by the rule table in `recommend_target`;
  it is never below the current state. The playbook lists the moves that lead from the
  current state to the next one, none once the target is reached.
"""

from __future__ import annotations

import calendar
import datetime as dt
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction

from truce.domain import calendar_range

RATINGS = range(1, 6)
STATES = ("undefined", "defined", "aligned", "integrated")
LOWEST, HIGHEST = 20, 100
# The lowest score of each state: 20–39 undefined, 40–59 defined, 60–79 aligned, 80–100 integrated.
BAND_FLOORS = {"undefined": 20, "defined": 40, "aligned": 60, "integrated": 80}
SMALL_COMPANY = 50  # fewer employees than this is a small enterprise (the EU's definition)


class BadRatings(ValueError):
    """A set of ratings that is not 20 whole numbers from 1 to 5; the message names the statement."""


@dataclass(frozen=True)
class Statement:
    number: int
    theme: str
    text: str

    @property
    def key(self) -> str:
        return f"s{self.number}"


_STATEMENTS = (
    ("forecast", "What sales forecasts for a quarter is close to what it actually closes."),
    ("no_blame", "When results disappoint, neither team points the finger at the other."),
    ("marketers_meet_customers", "Marketers meet our key customers while a sale is still being made."),
    ("sales_in_marketing_planning", "Salespeople take part in planning marketing's programmes."),
    ("useful_material", "Sellers find the material marketing gives them useful in front of customers."),
    ("feedback_given", "Sellers give marketing the feedback it asks for."),
    ("shared_vocabulary", "Both teams use the same words for leads, stages and customers, and mean the same by them."),
    (
        "upstream_dialogue",
        "The heads of sales and of marketing talk regularly about what lies ahead: where the market is going and ideas for new products.",
    ),
    ("buying_behaviour", "Sales and marketing work out together how each customer segment buys."),
    ("meetings_not_disputes", "Our joint meetings spend little time settling disputes between the two teams."),
    ("long_range_offerings", "Sales and marketing plan together what we will offer two or more years from now."),
    ("common_metrics", "Both teams are judged by the same measures."),
    ("key_account_strategy", "Marketing helps shape the strategy for our key accounts."),
    ("shared_funnel", "Our work runs on a funnel that both teams defined together."),
    ("funnel_analysis", "Marketing studies the funnel data to make our results more predictable."),
    ("rise_or_fall_together", "The two teams win or lose together: neither counts a success while the other fails."),
    ("one_revenue_executive", "Sales and marketing answer to one executive who owns revenue."),
    ("people_move", "People move between the sales and marketing teams in the course of their careers here."),
    ("joint_training", "Sales and marketing train together and go to events together."),
    ("present_each_other", "Each team helps present the other's plans to leadership."),
)
STATEMENTS = tuple(Statement(n, theme, text) for n, (theme, text) in enumerate(_STATEMENTS, 1))
KEYS = tuple(s.key for s in STATEMENTS)


def check_rating(value) -> int:
    """One rating as an int, or BadRatings saying what is wrong with it."""
    if isinstance(value, bool) or not isinstance(value, int) or value not in RATINGS:
        raise BadRatings(f"{value!r} is not a rating from 1 to 5")
    return value


def score(ratings: Sequence[int]) -> int:
    """The sum of 20 ratings, each 1 to 5: a score from 20 to 100."""
    if len(ratings) != len(STATEMENTS):
        raise BadRatings(f"expected {len(STATEMENTS)} ratings, one per statement, got {len(ratings)}")
    for key, value in zip(KEYS, ratings, strict=True):
        try:
            check_rating(value)
        except BadRatings as exc:
            raise BadRatings(f"{key}: {exc}") from None
    return sum(ratings)


def state(value: float) -> str:
    """The band a score (or a mean, as shown to one decimal) falls in."""
    if not LOWEST <= value <= HIGHEST:
        raise ValueError(f"a score runs from {LOWEST} to {HIGHEST}, not {value}")
    found = STATES[0]
    for name in STATES:
        if value >= BAND_FLOORS[name]:
            found = name
    return found


def _mean(values: Sequence[int]) -> Fraction:
    return Fraction(sum(values), len(values))


def group_stats(scores: Sequence[int]) -> dict:
    """Mean, spread (population standard deviation), lowest and highest score, and the band of the mean."""
    if not scores:
        raise ValueError("no scores to summarise")
    mean = _mean(scores)
    variance = sum((Fraction(s) - mean) ** 2 for s in scores) / len(scores)
    shown = round(float(mean), 1)
    return {
        "respondents": len(scores),
        "mean": shown,
        "spread": round(math.sqrt(variance), 2),
        "min": min(scores),
        "max": max(scores),
        "type": state(shown),
    }


def gaps(sales: Sequence[Sequence[int]], marketing: Sequence[Sequence[int]]) -> list[dict]:
    """Per statement: sales' mean rating, marketing's, and sales minus marketing; largest |gap| first."""
    if not sales or not marketing:
        raise ValueError("a perception gap needs respondents from both teams")
    found = []
    for index, statement in enumerate(STATEMENTS):
        sales_mean = _mean([r[index] for r in sales])
        marketing_mean = _mean([r[index] for r in marketing])
        found.append((abs(sales_mean - marketing_mean), statement.number, statement, sales_mean, marketing_mean))
    found.sort(key=lambda row: (-row[0], row[1]))
    return [
        {
            "statement": statement.key,
            "theme": statement.theme,
            "text": statement.text,
            "sales": round(float(s), 2),
            "marketing": round(float(m), 2),
            "gap": round(float(s - m), 2),
        }
        for _, _, statement, s, m in found
    ]


@dataclass(frozen=True)
class Context:
    """The company's context from truce.toml [diagnostic]."""

    employees: int
    market_change: str  # slow, moderate, fast
    offering_complexity: str  # simple, moderate, complex
    informal_relationship: str  # good, strained


def _rule_target(context: Context) -> tuple[str | None, str]:
    """(state, reason) from the first rule that matches; None means "where it is now"."""
    small = context.employees < SMALL_COMPANY
    good = context.informal_relationship == "good"
    if context.offering_complexity == "complex" or context.market_change == "fast":
        why = "a complex offering" if context.offering_complexity == "complex" else "a fast-changing market"
        return "integrated", f"{why} needs both teams to share strategy as well as the daily work"
    if small and good and context.market_change == "slow" and context.offering_complexity == "simple":
        return None, (
            "a small company in a slow market with a simple offering and a good informal relationship "
            "may rightly stay where it is; closer ties would cost more than they return"
        )
    if small and good:
        return "defined", "a small company with a good informal relationship needs clear rules, not one structure"
    return "aligned", "a company of this size and pace needs the teams to plan and work side by side"


def recommend_target(context: Context, current: str | None = None) -> dict:
    """{"state", "reason", "stay"}: the state worth aiming for; never below the current one."""
    target, reason = _rule_target(context)
    if target is None:
        chosen = current or STATES[0]
        return {"state": chosen, "reason": reason, "stay": True}
    if current is not None and STATES.index(current) >= STATES.index(target):
        return {
            "state": current,
            "reason": f"{reason}; the company is already {current}, and truce never recommends moving down",
            "stay": True,
        }
    return {"state": target, "reason": reason, "stay": False}


@dataclass(frozen=True)
class Move:
    from_state: str
    move: str
    why: str
    feature: str
    indicator: str  # a key of the indicators report; a dot reaches inside it

    def as_dict(self) -> dict:
        to_state = STATES[STATES.index(self.from_state) + 1]
        return {
            "from": self.from_state,
            "to": to_state,
            "move": self.move,
            "why": self.why,
            "feature": self.feature,
            "indicator": self.indicator,
        }


# From Kotler, Rackham and Krishnaswamy (HBR, 2006): the moves that take the relationship up one state.
MOVES = (
    Move(
        "undefined",
        "Set rules of engagement: who hands over which lead, when, and how fast the other side answers",
        "disputes shrink once both sides' promises are written down and kept on the record",
        "truce handoff queue / truce sla",
        "sla_compliance",
    ),
    Move(
        "undefined",
        "Hold a regular joint revenue meeting that works from one brief",
        "disciplined communication turns arguments about anecdotes into decisions about the same facts",
        "truce brief",
        "reasons",
    ),
    Move(
        "defined",
        "Give marketers and sellers joint assignments on the same accounts and campaigns",
        "working the same deals shows each side what the other contributes",
        "truce attribution --by team",
        "both_teams_revenue_share",
    ),
    Move(
        "defined",
        "Name a marketing liaison for each key account, with a joint account plan",
        "a liaison keeps marketing close to the sale and keeps key-account leads from going cold between teams",
        "account plans",
        "cold_leads",
    ),
    Move(
        "defined",
        "Make sales-force feedback cheap: one line per observation, answered by marketing",
        "marketing learns what customers say; sellers see their feedback acted on",
        "truce feedback add",
        "feedback.per_seller_per_month",
    ),
    Move(
        "aligned",
        "Put sales and marketing under one revenue executive",
        "one owner of revenue settles trade-offs between the teams instead of escalating them",
        "truce brief",
        "shared_target.attainment",
    ),
    Move(
        "aligned",
        "Run all the work on one jointly defined funnel, each stage owned by one team",
        "a lead's stage and owner are never in dispute, so the handoff stops leaking",
        "truce funnel",
        "mql_acceptance_rate",
    ),
    Move(
        "aligned",
        "Split marketing into upstream (strategy, products) and downstream (campaigns, sales support)",
        "upstream marketers act on what the field reports; downstream ones work beside sellers",
        "truce import users (marketing_focus) / truce roi",
        "feedback.answered_share",
    ),
    Move(
        "aligned",
        "Set one shared revenue target and reward both teams on it",
        "when both teams rise or fall on the same number, credit and blame stop being zero-sum",
        "truce target set / truce attribution --by user",
        "shared_target.exists",
    ),
    Move(
        "aligned",
        "Judge both teams on integrated metrics: revenue, funnel conversion and credit by team",
        "common measures make the teams' contributions comparable and their results joint",
        "truce funnel / truce attribution --by team / truce roi",
        "both_teams_revenue_share",
    ),
)


def playbook(current: str, target: str) -> list[dict]:
    """The moves from the current state to the next one, in order; none once the target is reached."""
    for name in (current, target):
        if name not in STATES:
            raise ValueError(f"unknown state {name!r}; the states are {', '.join(STATES)}")
    if STATES.index(current) >= STATES.index(target):
        return []
    return [m.as_dict() for m in MOVES if m.from_state == current]


def indicator_value(indicators: Mapping, key: str):
    """The value an indicator key (e.g. "feedback.answered_share") names in an indicators report."""
    value = indicators
    for part in key.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    return value


def period_of(round_name: str):
    """(first day, last day) a round's name spells ("2026-Q4", "2026-H1", "2026-11", "2026"), else None.

    A name that spells a period outside the calendar truce accepts (1900 to 2999,
    truce.domain.calendar_range) raises calendar_range.OutsideCalendar.
    """
    name = round_name.strip().upper()
    if match := re.fullmatch(r"(\d{4})-?Q([1-4])", name):
        year, quarter = int(match[1]), int(match[2])
        first_month, last_month = 3 * quarter - 2, 3 * quarter
    elif match := re.fullmatch(r"(\d{4})-?H([12])", name):
        year, half = int(match[1]), int(match[2])
        first_month, last_month = 6 * half - 5, 6 * half
    elif match := re.fullmatch(r"(\d{4})-(\d{2})", name):
        year, first_month = int(match[1]), int(match[2])
        if not 1 <= first_month <= 12:
            return None
        last_month = first_month
    elif match := re.fullmatch(r"(\d{4})", name):
        year, first_month, last_month = int(match[1]), 1, 12
    else:
        return None
    calendar_range.check_year(year, round_name.strip())
    last_day = calendar.monthrange(year, last_month)[1]
    return dt.date(year, first_month, 1), dt.date(year, last_month, last_day)
