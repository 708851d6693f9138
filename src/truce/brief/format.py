"""How the brief writes numbers, money, rates and days: one set of filters for HTML and Markdown."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from zoneinfo import ZoneInfo

NOTHING = "–"


def money(value, currency: str = "USD", places: int = 0) -> str:
    if value is None:
        return NOTHING
    return f"{currency} {Decimal(str(value)):,.{places}f}"


def pct(value, places: int = 0) -> str:
    return NOTHING if value is None else f"{float(value):.{places}%}"


def num(value, places: int = 0) -> str:
    return NOTHING if value is None else f"{Decimal(str(value)):,.{places}f}"


def signed(value) -> str:
    """A change with its sign: +4, −3, 0."""
    if value is None:
        return NOTHING
    number = Decimal(str(value))
    if number > 0:
        return f"+{number:,}"
    return f"−{-number:,}" if number < 0 else "0"


def day(text: str | None) -> str:
    """2026-11-16 → Mon 16 Nov 2026."""
    if not text:
        return NOTHING
    d = dt.date.fromisoformat(str(text)[:10])
    return f"{d:%a} {d.day} {d:%b %Y}"


def moment(text: str | None, zone: str = "UTC") -> str:
    """An ISO timestamp in the company's zone, to the minute."""
    if not text:
        return NOTHING
    at = dt.datetime.fromisoformat(str(text)).astimezone(ZoneInfo(zone))
    return f"{at:%Y-%m-%d %H:%M} {zone}"


def words(key: str | None) -> str:
    """A code as words: lead_quality → lead quality."""
    return NOTHING if key is None else str(key).replace("_", " ")


def cell(value) -> str:
    """Text safe inside a Markdown table cell: no pipes, no line breaks."""
    return NOTHING if value is None else str(value).replace("|", "\\|").replace("\r", " ").replace("\n", " ")


def short(text: str | None, length: int = 40) -> str:
    if text is None:
        return NOTHING
    text = str(text)
    return text if len(text) <= length else text[: length - 1].rstrip() + "…"


def indicator(value, key: str) -> str:
    """An indicator as people read it: shares as percentages, counts as counts, a yes or no."""
    if value is None:
        return NOTHING
    if isinstance(value, bool):
        return "yes" if value else "no"
    if str(key).startswith("cold_leads."):
        return num(value)
    if key == "feedback.per_seller_per_month":
        return num(value, 2)
    return pct(value, 1)


def moved(change: dict | None) -> str:
    """Whether an indicator moved, and which way is better: "up, better", "down, worse", "unchanged"."""
    if not change or change.get("direction") in (None, "unknown"):
        return "not measurable"
    if change["direction"] == "same":
        return "unchanged"
    return f"{change['direction']}, {'better' if change['better'] else 'worse'}"


FILTERS = {
    "money": money,
    "pct": pct,
    "num": num,
    "signed": signed,
    "day": day,
    "moment": moment,
    "words": words,
    "cell": cell,
    "short": short,
    "indicator": indicator,
    "moved": moved,
}
