"""The one place where a colour means something: each team, and each kind of series, everywhere.

Every chart builder (truce.web.charts, truce.brief.charts, truce.figures) and the page styles
(--marketing, --sales, --both in truce.css) take their colours from here, so marketing is blue and
sales is orange on every page and in the brief, and no colour that means a team is used for
anything else. A channel is drawn in the colour of the team whose touches it carries (an outbound
sequence or a sales call in sales' colour), not in one colour for all.
"""

from __future__ import annotations

MARKETING = "#2b6cb0"
SALES = "#c05621"
SHARED = "#553c9a"  # both teams together: a shared target, the whole funnel
REVOPS = "#2c7a7b"

TEAMS = {"marketing": MARKETING, "sales": SALES, "shared": SHARED, "both": SHARED, "revops": REVOPS}
# Lighter tints of each team, for a second series of the same team (a forecast beside the actual,
# a second stage of one team in a line chart) so it reads as the same team, not a new one.
TINTS = {
    MARKETING: ("#2b6cb0", "#63b3ed", "#1a4971", "#90cdf4"),
    SALES: ("#c05621", "#ed8936", "#7b341e", "#fbd38d"),
    SHARED: ("#553c9a", "#9f7aea", "#322659", "#d6bcfa"),
    REVOPS: ("#2c7a7b", "#4fd1c5", "#234e52", "#b2f5ea"),
}

# Series that are no team's: what was before, the line to reach, good and bad, nothing to show.
BEFORE = "#a0aec0"  # the previous period, spend, a forecast: grey beside the figure that matters
NOW = "#2d3748"  # this period, when the series is no team's own (dark slate, never a team's hue)
PROMISE = "#2f855a"  # the target or promise line
GOOD = "#2f855a"
BAD = "#c53030"
WARN = "#b7791f"
NO_DATA = "#edf2f7"  # the band behind a period without data
NEUTRAL = "#718096"  # a key that is no team's (a channel nobody owns, "(none)")

SERIES = {
    "previous": BEFORE,
    "current": NOW,
    "spend": BEFORE,
    "forecast": BEFORE,
    "target": PROMISE,
    "pace": NOW,
    "good": GOOD,
    "bad": BAD,
    "warn": WARN,
    "no data": NO_DATA,
}

# Channels carried by sales' own touches (calls, meetings, demos, sales e-mail, outbound sequences).
SALES_CHANNEL_PREFIXES = ("sales", "outbound", "call", "meeting", "demo")


def team(name: str | None) -> str:
    """The colour of a team ("marketing", "sales", "shared"/"both", "revops"); neutral for anything else."""
    return TEAMS.get(str(name).lower(), NEUTRAL) if name is not None else NEUTRAL


def channel_team(key: str | None) -> str | None:
    """The team whose touches a channel carries: sales for its own channels, marketing for the rest."""
    if key is None:
        return None
    return "sales" if str(key).lower().startswith(SALES_CHANNEL_PREFIXES) else "marketing"


def channel(key: str | None) -> str:
    return team(channel_team(key))


def for_keys(by: str | None, keys: list) -> list[str] | None:
    """Bar colours for an attribution or credit chart by `by`: by team and by channel a team's
    colour; by anything else (campaign, person) None, and the chart draws in the shared colour."""
    if by == "team":
        return [team(k) for k in keys]
    if by == "channel":
        return [channel(k) for k in keys]
    return None


def shades(colour: str, count: int) -> list[str]:
    """`count` distinguishable shades of one team's colour, the team's own first."""
    found = TINTS.get(colour, (colour,))
    return [found[i % len(found)] for i in range(count)]


def stage_colours(stages: list[tuple[str, str]]) -> dict[str, str]:
    """{stage: colour} for stages given as (name, team) in funnel order: each in a shade of its team."""
    used: dict[str, int] = {}
    found = {}
    for name, owner in stages:
        n = used.get(owner, 0)
        found[name] = shades(team(owner), n + 1)[n]
        used[owner] = n + 1
    return found
