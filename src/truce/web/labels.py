"""How the pages write the codes and counts the store keeps: channel names as people write them,
and counts as whole numbers.

The store keeps channels as codes (`organic_search`, made by truce.imports.values.channel from
whatever a file said); people read "Organic search". One function says how, so every page and
chart writes a channel the same way. (The vocabulary module, truce.vocabulary, is meant to take
this over.)
"""

from __future__ import annotations

import math

NOTHING = "–"
NO_CHANNEL = "No channel"

# Words kept as people write them, not as a capitalised code would read.
SPELLED = {
    "abm": "ABM",
    "api": "API",
    "b2b": "B2B",
    "crm": "CRM",
    "ppc": "PPC",
    "sem": "SEM",
    "seo": "SEO",
    "sms": "SMS",
    "utm": "UTM",
    "linkedin": "LinkedIn",
    "youtube": "YouTube",
    "tiktok": "TikTok",
    "g2": "G2",
}
TEAMS = {"marketing": "Marketing", "sales": "Sales", "revops": "RevOps"}


def channel_label(key: str | None) -> str:
    """organic_search → Organic search; paid_social → Paid social; linkedin_ads → LinkedIn ads."""
    if key is None or key in ("", "(none)"):
        return NO_CHANNEL
    words = [SPELLED.get(word, word) for word in str(key).replace("-", "_").split("_") if word]
    if not words:
        return NO_CHANNEL
    first = words[0]
    words[0] = first if first in SPELLED.values() else first[:1].upper() + first[1:]
    return " ".join(words)


def team_label(key: str | None) -> str:
    if key is None or key in ("", "(none)"):
        return "No team"
    return TEAMS.get(key, channel_label(key))


def key_label(by: str, key: str | None, label: str | None = None) -> str:
    """A report row's name for what it is keyed by: a channel or team in words, a campaign or person as named."""
    if by == "channel":
        return channel_label(key)
    if by == "team":
        return team_label(key)
    if key in (None, "(none)"):
        return {"campaign": "No campaign", "user": "No person"}.get(by, NOTHING)
    return label or str(key)


def count(value, places: int = 1) -> str:
    """A count as a whole number (196, not 196.0); credit split by a multi-touch model keeps its fraction (12.5)."""
    if value is None:
        return NOTHING
    number = float(value)
    if math.isnan(number):
        return NOTHING
    if abs(number - round(number)) < 0.5 * 10**-places:
        return f"{round(number):,}"
    return f"{number:,.{places}f}"


FILTERS = {"channel": channel_label, "team_name": team_label, "count": count}
