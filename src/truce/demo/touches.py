"""Touchpoints: marketing's clicks, forms and webinars, and sales' calls, emails, meetings and demos."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from truce.demo.clock import DAY, HOUR, MINUTE, Window
from truce.demo.funnel import CUSTOMER, DISQUALIFIED, INQUIRY, LOST, MQL, RECYCLED, Funnel
from truce.demo.marketing import CH, CHANNEL_KEYS, CHANNELS, Campaigns
from truce.demo.people import ENTERPRISE

SALES_CHANNELS = ("sales_call", "sales_email", "sales_meeting", "sales_demo")
TOUCH_CHANNELS = CHANNEL_KEYS + SALES_CHANNELS
TOUCH_TYPES = (
    "form",
    "ad_click",
    "content_download",
    "webinar",
    "event",
    "email_click",
    "organic_visit",
    "referral",
    "partner_referral",
    "review_visit",
    "page_visit",
    "call",
    "email",
    "meeting",
    "demo",
    "demo_request",  # last, so the older types keep their codes
)
TT = {t: i for i, t in enumerate(TOUCH_TYPES)}
MARKETING_TOUCH, SALES_TOUCH = 0, 1
KINDS = ("marketing", "sales")

# Anonymous visits before someone fills in a form; nurture after; what finally tips them to MQL.
BEFORE_MIX = {
    "paid_search": 0.26,
    "organic_search": 0.26,
    "paid_social": 0.15,
    "display": 0.12,
    "direct": 0.14,
    "review_sites": 0.07,
}
NURTURE_MIX = {
    "email": 0.50,
    "webinar": 0.12,
    "paid_social": 0.10,
    "organic_search": 0.10,
    "direct": 0.10,
    "display": 0.04,
    "content_syndication": 0.04,
}
TRIGGER_MIX = {
    "direct": 0.30,
    "paid_search": 0.20,
    "organic_search": 0.20,
    "webinar": 0.15,
    "email": 0.10,
    "review_sites": 0.05,
}
# How far a lead got (1 = MQL … 5 = closed) → a sales cadence of calls, emails, meetings, demos.
FURTHEST_RANK = np.array([0, 1, 2, 3, 4, 5, -1, -1, 5])
SALES_MIX = np.array(
    [  # rows: early, middle, late in the cadence; columns: call, email, meeting, demo
        [0.55, 0.45, 0.00, 0.00],
        [0.30, 0.35, 0.25, 0.10],
        [0.15, 0.15, 0.35, 0.35],
    ]
)


@dataclass
class Touches:
    FIELDS: ClassVar[tuple[str, ...]] = ("contact", "campaign", "channel", "kind", "touch_type", "at", "user")

    contact: np.ndarray
    campaign: np.ndarray
    channel: np.ndarray  # index into TOUCH_CHANNELS
    kind: np.ndarray
    touch_type: np.ndarray
    at: np.ndarray
    user: np.ndarray

    @property
    def count(self) -> int:
        return self.at.size


class _Builder:
    def __init__(
        self,
        rng: np.random.Generator,
        funnel: Funnel,
        campaigns: Campaigns,
        window: Window,
        ledger: dict[str, np.ndarray],
    ):
        self.rng, self.funnel, self.campaigns, self.window, self.ledger = rng, funnel, campaigns, window, ledger
        self.contacts = funnel.contacts
        self.parts: list[tuple] = []

    def add(self, contact, campaign, channel, kind, touch_type, at, user) -> None:
        n = contact.size
        self.parts.append(
            tuple(
                np.broadcast_to(np.asarray(v, np.int64), (n,))
                for v in (contact, campaign, channel, kind, touch_type, at, user)
            )
        )

    def marketing(self, contact, at, mix: dict[str, float], forms: tuple[str, ...] = ()) -> None:
        keys = list(mix)
        channel = np.array([CH[k] for k in keys])[self.rng.choice(len(keys), contact.size, p=list(mix.values()))]
        touch_type = np.array([TT[c.touch] for c in CHANNELS])[channel]
        touch_type = np.where(np.isin(channel, [CH[k] for k in forms]), TT["form"], touch_type)
        campaign = self.campaigns.pick(self.rng, channel, at, self.window)
        self.add(contact, campaign, channel, MARKETING_TOUCH, touch_type, at, -1)

    def spread(self, contact, lo, hi, mean) -> tuple[np.ndarray, np.ndarray]:
        """Poisson(mean) moments per contact, uniform in [lo, hi]; empty windows get none."""
        count = np.where(hi > lo, self.rng.poisson(mean, contact.size), 0)
        rows = np.repeat(np.arange(contact.size), count)
        at = lo[rows] + (self.rng.random(rows.size) * (hi[rows] - lo[rows])).astype(np.int64)
        return contact[rows], at

    def build(self) -> Touches:
        self._source()
        self._before()
        self._nurture()
        self._triggers()
        self._sales()
        cols = [np.concatenate(part) for part in zip(*self.parts, strict=True)]
        contact, campaign, channel, kind, touch_type, at, user = cols
        keep = (at >= self.window.start) & (at < self.window.end)
        departed = self.funnel.users.departed
        keep &= ~((user == departed) & (at >= self.funnel.users.departed_at))
        order = np.flatnonzero(keep)[np.argsort(at[keep], kind="stable")]
        return Touches(*(col[order] for col in cols))

    def _source(self) -> None:
        """The touch that created the contact; badge scans date from the event, not the upload."""
        c, f, cmp = self.contacts, self.funnel, self.campaigns
        everyone = np.arange(c.count)
        outbound = c.channel == CH["outbound"]
        source_type = np.array([TT[ch.source_touch] for ch in CHANNELS])[c.channel]
        source_type = np.where(outbound & (self.rng.random(c.count) < 0.4), TT["call"], source_type)
        at = c.created.copy()
        event = np.flatnonzero(c.channel == CH["event"])
        campaign = c.source_campaign[event]
        open_hours = cmp.ends[campaign] - cmp.starts[campaign] + 9 * HOUR
        on_site = cmp.starts[campaign] + 8 * HOUR + (self.rng.random(event.size) * open_hours).astype(np.int64)
        at[event] = np.minimum(on_site, c.created[event] - HOUR)
        self.add(
            everyone,
            c.source_campaign,
            c.channel,
            np.where(outbound, SALES_TOUCH, MARKETING_TOUCH),
            source_type,
            at,
            np.where(outbound, f.first_owner, -1),
        )

    def _before(self) -> None:
        c = self.contacts
        inbound = np.flatnonzero(c.channel != CH["outbound"])
        created = c.created[inbound]
        contact, at = self.spread(inbound, np.maximum(created - 60 * DAY, self.window.start), created - MINUTE, 0.9)
        self.marketing(contact, at, BEFORE_MIX)

    def _nurture(self) -> None:
        c, f, end = self.contacts, self.funnel, self.window.end - 1
        everyone = np.arange(c.count)
        scored = f.first_mql_at >= 0
        hi = np.where(scored, f.first_mql_at - MINUTE, np.minimum(c.created + 180 * DAY, end))
        contact, at = self.spread(everyone, c.created + MINUTE, hi, np.where(scored, 1.6, 1.1))
        self.marketing(contact, at, NURTURE_MIX)
        back = np.flatnonzero(f.first_recycled_at >= 0)
        start = f.first_recycled_at[back] + MINUTE
        contact, at = self.spread(back, start, np.minimum(start + 150 * DAY, end), 1.3)
        self.marketing(contact, at, NURTURE_MIX)

    def _triggers(self) -> None:
        """The touch that tips a lead to MQL: mostly a form, such as a demo request."""
        led = self.ledger
        rows = np.flatnonzero((led["to_stage"] == MQL) & np.isin(led["from_stage"], (INQUIRY, RECYCLED)))
        gap = led["at"][rows] - led["prev_at"][rows]
        at = led["at"][rows] - np.maximum(1, (gap * self.rng.uniform(0.001, 0.15, rows.size)).astype(np.int64))
        self.marketing(
            led["contact"][rows], at, TRIGGER_MIX, forms=("direct", "paid_search", "organic_search", "review_sites")
        )

    def _sales(self) -> None:
        c, f, led = self.contacts, self.funnel, self.ledger
        furthest = np.zeros(c.count, np.int64)
        np.maximum.at(furthest, led["contact"], FURTHEST_RANK[led["to_stage"]])
        outbound = c.channel == CH["outbound"]
        worked = np.flatnonzero((f.first_response_at >= 0) | outbound)
        lo = np.where(outbound[worked], c.created[worked] + 30 * MINUTE, f.first_response_at[worked])
        closed = np.isin(f.stage[worked], (CUSTOMER, LOST, RECYCLED, DISQUALIFIED))
        hi = np.where(closed, f.at[worked], np.minimum(np.maximum(f.at[worked], lo) + 30 * DAY, self.window.end - 1))
        reach = furthest[worked]
        extra = np.select([reach >= 4, reach == 3, reach == 2], [5, 3, 2], 0)
        extra = extra + 2 * ((reach >= 4) & (f.segment[worked] == ENTERPRISE))
        mean = np.select([reach >= 4, reach == 3, reach == 2], [3.0, 2.0, 1.5], 0.8)
        count = np.where(hi >= lo, extra + self.rng.poisson(mean), 0)
        count = np.where(outbound[worked], count, np.maximum(count, 1))
        rows = np.repeat(np.arange(worked.size), count)
        first = np.r_[0, np.cumsum(count)[:-1]]
        position = np.arange(rows.size) - np.repeat(first, count)
        span = hi[rows] - lo[rows]
        at = lo[rows] + np.where(position == 0, 0, (self.rng.random(rows.size) * span).astype(np.int64))
        phase = np.minimum((3 * (at - lo[rows]) / np.maximum(span, 1)).astype(np.int64), 2)
        mix = SALES_MIX[phase].cumsum(axis=1)
        kind = (self.rng.random(rows.size)[:, None] > mix).sum(axis=1)
        kind = np.minimum(kind, np.where(reach[rows] >= 3, 3, np.where(reach[rows] == 2, 2, 1)))
        contact = worked[rows]
        user = np.where(at < f.handover_at[contact], f.first_owner[contact], f.owner[contact])
        channel = len(CHANNEL_KEYS) + kind
        touch_type = np.array([TT["call"], TT["email"], TT["meeting"], TT["demo"]])[kind]
        self.add(contact, -1, channel, SALES_TOUCH, touch_type, at, user)


def make_touches(
    rng: np.random.Generator, funnel: Funnel, campaigns: Campaigns, window: Window, ledger: dict[str, np.ndarray]
) -> Touches:
    return _Builder(rng, funnel, campaigns, window, ledger).build()


def last_campaign_before(touches: Touches, contact: np.ndarray, before: np.ndarray, n_contacts: int) -> np.ndarray:
    """Per contact given, the campaign of its last marketing touch before `before` (-1 if none)."""
    limit = np.full(n_contacts, -1, np.int64)
    limit[contact] = before
    eligible = (touches.kind == MARKETING_TOUCH) & (touches.campaign >= 0) & (touches.at < limit[touches.contact])
    rows = np.flatnonzero(eligible)  # already in time order
    by_contact = rows[np.argsort(touches.contact[rows], kind="stable")]
    who = touches.contact[by_contact]
    last = np.r_[who[1:] != who[:-1], True] if who.size else np.zeros(0, bool)
    campaign = np.full(n_contacts, -1, np.int64)
    campaign[who[last]] = touches.campaign[by_contact[last]]
    return campaign[contact]
