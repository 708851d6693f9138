"""Channels and campaigns: where leads come from and what each one cost."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from truce.demo import names
from truce.demo.clock import DAY, HOUR, REGIONS, Window, lognormal_seconds, to_datetime
from truce.demo.people import MARKETING, SALES, Contacts, Users


@dataclass(frozen=True)
class Channel:
    key: str
    label: str
    share: float  # of new contacts
    mql_lift: float  # how much likelier its leads become MQLs
    quality: float  # how much likelier sales accepts them
    cost_per_lead: float  # USD
    source_touch: str  # the touch that created the contact
    touch: str  # any later touch through this channel
    per_quarter: int
    themes: tuple[str, ...]
    team: str = "marketing"


CHANNELS = (
    Channel(
        "paid_search",
        "Paid search",
        0.17,
        1.10,
        1.00,
        160,
        "form",
        "ad_click",
        3,
        ("Brand terms", "Competitor terms", "Category terms"),
    ),
    Channel(
        "paid_social",
        "Paid social",
        0.10,
        0.75,
        0.90,
        120,
        "form",
        "ad_click",
        3,
        ("LinkedIn lead gen", "LinkedIn account targeting", "Video awareness"),
    ),
    Channel(
        "display",
        "Display",
        0.03,
        0.55,
        0.85,
        210,
        "form",
        "ad_click",
        2,
        ("Programmatic retargeting", "Industry publishers"),
    ),
    Channel(
        "content_syndication",
        "Content syndication",
        0.09,
        0.55,
        0.80,
        85,
        "content_download",
        "content_download",
        2,
        ("Operations benchmark report", "Buyer's guide"),
    ),
    Channel(
        "webinar",
        "Webinar",
        0.08,
        1.00,
        1.00,
        230,
        "webinar",
        "webinar",
        2,
        ("Monthly product webinar", "Customer panel series"),
    ),
    Channel("event", "Event", 0.04, 0.95, 1.00, 650, "event", "event", 3, names.EVENTS),
    Channel(
        "email",
        "Email",
        0.04,
        0.80,
        0.95,
        18,
        "form",
        "email_click",
        3,
        ("Newsletter", "Nurture track", "Product updates"),
    ),
    Channel("organic_search", "Organic search", 0.20, 0.95, 1.00, 28, "form", "organic_visit", 1, ("SEO and blog",)),
    Channel("referral", "Referral", 0.04, 1.60, 1.15, 90, "referral", "referral", 1, ("Customer referral program",)),
    Channel(
        "partner",
        "Partner",
        0.04,
        1.30,
        1.05,
        190,
        "partner_referral",
        "partner_referral",
        2,
        ("Reseller program", "Integration partners"),
    ),
    Channel(
        "review_sites", "Review sites", 0.03, 1.45, 1.10, 150, "form", "review_visit", 1, ("Review site profiles",)
    ),
    Channel("direct", "Direct", 0.08, 1.20, 1.05, 0, "form", "page_visit", 1, ("Website",)),
    Channel("outbound", "Outbound", 0.06, 1.00, 1.00, 45, "email", "email", 3, REGIONS, team="sales"),
)
CHANNEL_KEYS = tuple(c.key for c in CHANNELS)
CH = {c.key: i for i, c in enumerate(CHANNELS)}
# Brand and analyst-facing channels belong to the strategic (upstream) marketers.
UPSTREAM_CHANNELS = ("display", "review_sites", "content_syndication")
# Enterprises are met at events, by reps and through partners; small firms search.
SEGMENT_LIFT = {
    0: {"paid_search": 1.2, "organic_search": 1.2, "event": 0.5, "outbound": 0.5},
    1: {},
    2: {"event": 2.5, "outbound": 2.5, "partner": 1.5, "paid_search": 0.6, "organic_search": 0.7},
}


def channel_share_by_segment() -> np.ndarray:
    share = np.tile([c.share for c in CHANNELS], (3, 1))
    for segment, lifts in SEGMENT_LIFT.items():
        for key, lift in lifts.items():
            share[segment, CH[key]] *= lift
    return share / share.sum(axis=1, keepdims=True)


@dataclass
class Campaigns:
    channel: np.ndarray
    quarter: np.ndarray
    starts: np.ndarray  # epoch seconds, at midnight
    ends: np.ndarray  # inclusive last day, at midnight
    owner: np.ndarray
    name: list[str]
    slot_first: np.ndarray  # [channel, quarter] → first campaign index in that slot
    slot_count: np.ndarray
    # Filled once the funnel has run: a campaign's cost follows the leads it brought.
    budget_cents: np.ndarray = field(init=False)
    cost_cents: np.ndarray = field(init=False)

    @property
    def count(self) -> int:
        return self.channel.size

    def pick(self, rng: np.random.Generator, channel: np.ndarray, at: np.ndarray, window: Window) -> np.ndarray:
        """A campaign of the channel running in the quarter of `at`."""
        quarter = np.clip(window.quarter_of(at), 0, window.n_quarters - 1)
        first = self.slot_first[channel, quarter]
        return first + (rng.random(channel.size) * self.slot_count[channel, quarter]).astype(np.int64)


def make_campaigns(rng: np.random.Generator, users: Users, window: Window, scale: float) -> Campaigns:
    per_slot = max(1, round(scale**0.3))
    upstream = users.of(MARKETING, focus=0, leaders=False)
    downstream = users.of(MARKETING, focus=1)
    rows: list[tuple[int, int, int, int, int, str]] = []
    slot_first = np.zeros((len(CHANNELS), window.n_quarters), np.int64)
    slot_count = np.zeros_like(slot_first)
    for quarter in range(window.n_quarters):
        q_start = max(int(window.quarter_starts[quarter]), window.start)
        q_last = int(window.quarter_starts[quarter + 1]) - DAY
        year, number = window.quarter_label(quarter)
        for c, channel in enumerate(CHANNELS):
            slot_first[c, quarter], slot_count[c, quarter] = len(rows), channel.per_quarter * per_slot
            for k in range(channel.per_quarter * per_slot):
                theme = channel.themes[k % len(channel.themes)]
                wave = f" #{k // len(channel.themes) + 1}" if k >= len(channel.themes) else ""
                if channel.key == "event":
                    rows.append(_event(rng, c, quarter, q_start, q_last, k, marketers=downstream))
                    continue
                if channel.key == "outbound":
                    region = k % 3
                    reps = users.reps[(users.region[users.reps] == region) & (users.reps != users.departed)]
                    owner = int(reps[(quarter * 7 + k) % reps.size])
                elif channel.key in UPSTREAM_CHANNELS:
                    owner = int(upstream[(quarter + k) % upstream.size])
                else:
                    owner = int(downstream[(c + k) % downstream.size])
                name = f"{channel.label} — {theme}{wave} {year} Q{number}"
                rows.append((c, quarter, q_start, q_last, owner, name))
    columns = list(zip(*rows, strict=True))
    return Campaigns(
        channel=np.array(columns[0], np.int8),
        quarter=np.array(columns[1], np.int64),
        starts=np.array(columns[2], np.int64) // DAY * DAY,
        ends=np.array(columns[3], np.int64),
        owner=np.array(columns[4], np.int64),
        name=list(columns[5]),
        slot_first=slot_first,
        slot_count=slot_count,
    )


def _event(rng, channel, quarter, q_start, q_last, k, marketers):
    region = int(rng.integers(0, 3))
    first_day = q_start // DAY + int(rng.integers(0, max(1, (q_last - q_start) // DAY - 3)))
    while (first_day + 3) % 7 >= 5:
        first_day += 1
    length = int(rng.integers(0, 3))
    event = names.EVENTS[int(rng.integers(0, len(names.EVENTS)))]
    city = names.EVENT_CITIES[region][int(rng.integers(0, 4))]
    year = to_datetime(first_day * DAY).year
    owner = int(marketers[(quarter + k) % marketers.size])
    return channel, quarter, first_day * DAY, (first_day + length) * DAY, owner, f"Event — {event} {city} {year}"


def snap_event_leads(rng: np.random.Generator, contacts: Contacts, campaigns: Campaigns, window: Window) -> np.ndarray:
    """Event leads arrive in a batch a day or three after the event; returns their campaign (-1 elsewhere)."""
    campaign = np.full(contacts.count, -1, np.int64)
    events = np.flatnonzero(
        (campaigns.channel == CH["event"])
        & (campaigns.ends + 4 * DAY < window.end)
        & (campaigns.starts >= window.start)
    )
    events = events[np.argsort(campaigns.starts[events], kind="stable")]
    leads = np.flatnonzero(contacts.channel == CH["event"])
    if events.size == 0 or leads.size == 0:
        return campaign
    before = np.searchsorted(campaigns.starts[events], contacts.created[leads], side="right") - 1
    choice = np.clip(before - rng.integers(0, 2, leads.size), 0, events.size - 1)
    picked = events[choice]
    upload = campaigns.ends[picked] + DAY + lognormal_seconds(rng, 20 * HOUR, 0.5, leads.size)
    contacts.created[leads] = np.minimum(upload, window.end - HOUR)
    campaign[leads] = picked
    return campaign


def cost_campaigns(rng: np.random.Generator, campaigns: Campaigns, sourced: np.ndarray, window: Window) -> None:
    """Spend follows the leads each campaign bought, plus a fixed floor; running ones are part-spent."""
    cpl = np.array([c.cost_per_lead for c in CHANNELS])[campaigns.channel]
    span = np.maximum(campaigns.ends + DAY - campaigns.starts, DAY)
    elapsed = np.clip((window.end - campaigns.starts) / span, 0.0, 1.0)
    floor = 4 * elapsed
    cost = cpl * (sourced + floor) * rng.lognormal(0, 0.25, campaigns.count)
    planned = cost / np.maximum(elapsed, 0.05) * rng.uniform(0.88, 1.25, campaigns.count)
    campaigns.cost_cents = np.round(cost * 100).astype(np.int64)
    campaigns.budget_cents = (np.round(planned / 500) * 500 * 100).astype(np.int64)


def owning_team(campaigns: Campaigns) -> np.ndarray:
    return np.where(campaigns.channel == CH["outbound"], SALES, MARKETING)


def source_campaigns(
    rng: np.random.Generator,
    contacts: Contacts,
    campaigns: Campaigns,
    window: Window,
    event_campaign: np.ndarray,
    region: np.ndarray,
) -> np.ndarray:
    """The campaign that brought each contact in; outbound ones come from their region's sequence."""
    campaign = campaigns.pick(rng, contacts.channel, contacts.created, window)
    outbound = np.flatnonzero(contacts.channel == CH["outbound"])
    quarter = np.clip(window.quarter_of(contacts.created[outbound]), 0, window.n_quarters - 1)
    waves = campaigns.slot_count[CH["outbound"], quarter] // 3
    wave = (rng.random(outbound.size) * waves).astype(np.int64)
    campaign[outbound] = campaigns.slot_first[CH["outbound"], quarter] + region[outbound] + 3 * wave
    return np.where(event_campaign >= 0, event_campaign, campaign)
