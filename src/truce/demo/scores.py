"""Scores from the rules in truce.toml: every MQL had reached the threshold when it became one.

The funnel decides *when* a lead becomes an MQL; here the lead's touches are made to agree
with the config both teams signed. Where a lead's fit and touches fall short of the threshold
at that moment, it gets what such leads really do just before they are handed over: a demo
request, then forms and webinars, until the score reaches the line. Leads still waiting as
inquiries are kept below it, or the next score refresh would turn them into MQLs at once.
"""

from __future__ import annotations

import numpy as np

from truce.config import Scoring
from truce.demo import names
from truce.demo.clock import DAY, MINUTE, REGIONS, Window
from truce.demo.funnel import INQUIRY, MQL, Funnel
from truce.demo.marketing import CH, CHANNEL_KEYS, Campaigns
from truce.demo.people import SEGMENTS
from truce.demo.touches import MARKETING_TOUCH, TOUCH_TYPES, TT, Touches
from truce.domain.scoring import Scorer, touch_key

# What a lead does on the way to the handoff, most telling first, and the channel it comes through.
TOP_UP = ("demo_request", "form", "webinar", "content_download", "form", "email_click")
TOP_UP_CHANNEL = {
    "demo_request": "direct",
    "form": "paid_search",
    "webinar": "webinar",
    "content_download": "content_syndication",
    "email_click": "email",
}
# Aim half a point over the line, so the rounded score is at or above it whatever the float noise.
MARGIN = 0.5
MAX_TOP_UPS = 12
MAX_TRIMS = 40


def fit_points(rules: Scoring, funnel: Funnel) -> np.ndarray:
    """Each contact's fit points: every rule of [scoring.fit], tested once per distinct value."""
    c, a = funnel.contacts, funnel.accounts
    titles = [t for group in names.TITLES for t in group]
    offsets = np.cumsum([0] + [len(g) for g in names.TITLES])[:-1]
    fields = {
        "segment": (SEGMENTS, a.segment[c.account]),
        "industry": (tuple(i[0] for i in names.INDUSTRIES), a.industry[c.account]),
        "region": (REGIONS, a.region[c.account]),
        "title": (titles, offsets[c.title_class] + c.title),
        "source_channel": (CHANNEL_KEYS, c.channel),
    }
    points = np.zeros(c.count)
    for test in Scorer(rules).fit:
        if test.field == "employees":
            values, inverse = np.unique(a.employees[c.account], return_inverse=True)
            met = np.array([bool(test.met(int(v))) for v in values])
        else:
            labels, codes = fields[test.field]
            values, inverse = np.unique(codes, return_inverse=True)
            met = np.array([bool(test.met(labels[int(v)])) for v in values])
        points += np.where(met[inverse], test.points, 0.0)
    return points


def raw_points(rules: Scoring) -> np.ndarray:
    """Points per fresh touch, indexed like TOUCH_TYPES (0 where the config gives none)."""
    engagement = {touch_key(kind): float(points) for kind, points in rules.engagement.items()}
    return np.array([engagement.get(kind, 0.0) for kind in TOUCH_TYPES])


def engagement_at(touches: Touches, raw: np.ndarray, half_life_s: float, contact, moment, n_contacts: int):
    """Engagement points of each (contact, moment): its touches up to then, halving every half-life."""
    order = np.lexsort((touches.at, touches.contact))
    counts = np.bincount(touches.contact, minlength=n_contacts)
    first = np.r_[0, np.cumsum(counts)[:-1]]
    per_query = counts[contact]
    rows = np.repeat(np.arange(contact.size), per_query)
    offset = np.arange(rows.size) - np.repeat(np.r_[0, np.cumsum(per_query)[:-1]], per_query)
    touch = order[first[contact][rows] + offset]
    age = moment[rows] - touches.at[touch]
    points = np.where(age >= 0, raw[touches.touch_type[touch]] * 0.5 ** (np.maximum(age, 0) / half_life_s), 0.0)
    return np.bincount(rows, weights=points, minlength=contact.size)


def _sequence(raw: np.ndarray) -> list[int]:
    kinds = [TT[k] for k in TOP_UP if raw[TT[k]] > 0]
    if not kinds:  # a config that scores none of them: the marketing touch it values most
        marketing = [TT[k] for k in TOUCH_TYPES if k not in ("call", "email", "meeting", "demo")]
        kinds = [max(marketing, key=lambda k: raw[k])]
    return kinds


def _append(touches: Touches, parts: list[tuple]) -> Touches:
    if not parts:
        return touches
    cols = [np.concatenate([getattr(touches, f), *(p[i] for p in parts)]) for i, f in enumerate(Touches.FIELDS)]
    order = np.argsort(cols[5], kind="stable")
    return Touches(*(col[order] for col in cols))


def reach_threshold(
    rng: np.random.Generator,
    rules: Scoring,
    funnel: Funnel,
    touches: Touches,
    campaigns: Campaigns,
    window: Window,
    ledger: dict[str, np.ndarray],
) -> Touches:
    """Touches added so that every move to MQL in the ledger scores at least the threshold then."""
    raw, fit, half_life = raw_points(rules), fit_points(rules, funnel), rules.half_life_days * DAY
    rows = np.flatnonzero(ledger["to_stage"] == MQL)
    contact, moment = ledger["contact"][rows].astype(np.int64), ledger["at"][rows]
    engaged = engagement_at(touches, raw, half_life, contact, moment, funnel.contacts.count)
    short = rules.threshold + MARGIN - fit[contact] - engaged
    parts, sequence = [], _sequence(raw)
    for step in range(MAX_TOP_UPS):
        lacking = np.flatnonzero(short > 0)
        if lacking.size == 0:
            break
        kind = sequence[step % len(sequence)]
        who, when = contact[lacking], moment[lacking]
        # The demo request comes minutes before the handoff; earlier steps, days before it.
        before = (
            rng.integers(2 * MINUTE, 40 * MINUTE, lacking.size)
            if step == 0
            else rng.integers(2 * 3_600, 6 * DAY, lacking.size)
        )
        at = np.maximum(when - before, window.start)
        short[lacking] -= raw[kind] * 0.5 ** ((when - at) / half_life)
        channel = np.full(lacking.size, CH[TOP_UP_CHANNEL.get(TOUCH_TYPES[kind], "direct")], np.int64)
        campaign = campaigns.pick(rng, channel, at, window)
        n = lacking.size
        parts.append((who, campaign, channel, np.full(n, MARKETING_TOUCH), np.full(n, kind), at, np.full(n, -1)))
    return _append(touches, parts)


def quiet_inquiries(rules: Scoring, funnel: Funnel, touches: Touches, window: Window) -> Touches:
    """Drop the freshest engagement of inquiries at or over the line now, until they are under it.

    They never became MQLs in the story, so their touches must not say they should have.
    """
    raw, fit, half_life = raw_points(rules), fit_points(rules, funnel), rules.half_life_days * DAY
    n = funnel.contacts.count
    inquiries = np.flatnonzero(funnel.stage == INQUIRY)
    keep = np.ones(touches.count, bool)
    for _ in range(MAX_TRIMS):
        kept = _subset(touches, keep)
        now = np.full(inquiries.size, window.end)
        over = inquiries[fit[inquiries] + engagement_at(kept, raw, half_life, inquiries, now, n) > rules.threshold - 1]
        if over.size == 0:
            break
        # The kept touch of each such inquiry that gives most points now goes.
        candidate = np.flatnonzero(keep & np.isin(touches.contact, over))
        value = raw[touches.touch_type[candidate]] * 0.5 ** ((window.end - touches.at[candidate]) / half_life)
        order = np.lexsort((-value, touches.contact[candidate]))
        ranked = candidate[order]
        who = touches.contact[ranked]
        first = np.r_[True, who[1:] != who[:-1]]
        keep[ranked[first]] = False
    return _subset(touches, keep)


def _subset(touches: Touches, keep: np.ndarray) -> Touches:
    return Touches(*(getattr(touches, f)[keep] for f in Touches.FIELDS))


def current_points(rules: Scoring, funnel: Funnel, touches: Touches, window: Window) -> np.ndarray:
    """Every contact's score at the window's end, rounded half up as truce shows it."""
    raw, fit, half_life = raw_points(rules), fit_points(rules, funnel), rules.half_life_days * DAY
    age = window.end - touches.at
    fresh = raw[touches.touch_type] * 0.5 ** (np.maximum(age, 0) / half_life)
    exact = fit + np.bincount(touches.contact, weights=np.where(age >= 0, fresh, 0.0), minlength=funnel.contacts.count)
    return np.floor(np.round(exact, 9) + 0.5).astype(np.int64)
