"""One-line feedback from the sales floor, and marketing's answers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from truce.demo import names
from truce.demo.clock import DAY, HOUR, Window
from truce.demo.deals import LOST_STATUS, Opportunities
from truce.demo.funnel import DISQUALIFIED, MQL, RECYCLED
from truce.demo.marketing import CH, CHANNELS, Campaigns
from truce.demo.people import MARKETING, Accounts, Contacts, Users

KIND_SHARE = {
    "lead_quality": 0.25,
    "competitor": 0.18,
    "product_gap": 0.17,
    "pricing": 0.15,
    "messaging": 0.10,
    "content_request": 0.10,
    "other": 0.05,
}
TEXTS = {
    "lead_quality": (
        "Leads from '{campaign}' are mostly students and consultants.",
        "Half of this month's {channel} leads had emails that bounce.",
        "'{campaign}' leads downloaded a report but nobody remembers us when I call.",
        "{channel} MQLs are small companies outside my segment; can we score company size higher?",
        "Good batch from '{campaign}': three meetings booked this week. More like these.",
    ),
    "competitor": (
        "{competitor} is offering {account} a free 90-day pilot.",
        "{competitor} cut their mid-market price by about 20 %; two of my deals brought it up.",
        "{competitor} tells prospects {product} takes months to implement.",
        "{account} shortlisted us against {competitor}; they liked {competitor}'s reporting.",
        "{competitor} sponsored the {industry} user group; three of my accounts went.",
    ),
    "product_gap": (
        "{account} needs multi-warehouse forecasting before they sign; {competitor} already has it.",
        "{account} asked for single sign-on on the mid-market plan of {product}.",
        "Enterprise buyers keep asking for audit logs they can export; {product} has none.",
        "{account} needs EU data residency; we failed their security review on it.",
        "Three prospects asked for an offline mobile app for warehouse staff this month.",
    ),
    "pricing": (
        "{product} list price is hard to defend against {competitor} under 200 employees.",
        "{account} wants monthly billing; annual upfront is blocking the deal.",
        "Procurement at {account} wants a multi-year discount we cannot approve fast enough.",
        "The {product} add-on price surprises buyers late in the deal; show it on the pricing page.",
    ),
    "messaging": (
        "{industry} buyers do not know what 'flow orchestration' means; lead with inventory savings.",
        "The ads for '{campaign}' promise one-week setup; the demo says six weeks.",
        "Our case studies are all retail; {industry} buyers want someone like them.",
        "The new homepage headline confuses {industry} prospects: they ask what we actually do.",
    ),
    "content_request": (
        "Need a one-page ROI sheet for {industry} finance teams.",
        "Please make a battle card against {competitor}.",
        "A short security overview for IT reviews would save me two calls per deal.",
        "Need a {product} demo video under three minutes to send after first calls.",
    ),
    "other": (
        "Leads are still routed to {departed}, who left; who picks them up?",
        "Webinar follow-up emails went out before the webinar ended.",
        "Can someone from marketing join the weekly pipeline call?",
    ),
}
REPLIES = {  # (acknowledged, acted on)
    "lead_quality": (
        "Thanks, we are checking the scoring for {channel} and will report at the revenue meeting.",
        "We paused the worst placements in '{campaign}' and added a company-size field to the form.",
    ),
    "competitor": (
        "Shared with product marketing; we are tracking how often {competitor} comes up.",
        "The {competitor} battle card is updated; it is in the sales folder.",
    ),
    "product_gap": (
        "Logged for the roadmap review; please tag other deals that need it.",
        "Product confirmed it for next half; there is a one-pager for prospects now.",
    ),
    "pricing": (
        "Raised with the pricing committee; decision at the end of the quarter.",
        "Monthly billing is now allowed above list price; see the updated price book.",
    ),
    "messaging": (
        "Fair point; new {industry} messaging is being tested.",
        "Headline and ad copy changed; thanks for the catch.",
    ),
    "content_request": (
        "On the content calendar for next month.",
        "Done: it is in the sales folder, feedback welcome.",
    ),
    "other": ("Thanks, RevOps is looking at it.", "Fixed; thanks for flagging."),
}
P_REPLY = {
    "lead_quality": 0.65,
    "content_request": 0.6,
    "messaging": 0.55,
    "competitor": 0.5,
    "product_gap": 0.45,
    "pricing": 0.4,
    "other": 0.3,
}
UPSTREAM_KINDS = ("product_gap", "competitor", "pricing")


@dataclass
class FeedbackItems:
    kind: list[str]
    text: list[str]
    author: np.ndarray
    contact: np.ndarray
    opportunity: np.ndarray
    campaign: np.ndarray
    status: list[str]
    reply: list[str | None]
    replied_by: np.ndarray
    replied_at: np.ndarray
    created: np.ndarray


def account_name(accounts: Accounts, a: int) -> str:
    noun = names.INDUSTRIES[accounts.industry[a]][3][accounts.name_noun[a]]
    legal = names.LEGAL_SUFFIXES[accounts.region[a]][accounts.name_legal[a]]
    return f"{names.COMPANY_WORDS[accounts.name_word[a]]} {noun}{legal}"


class _Writer:
    def __init__(self, rng, window, users, accounts, contacts, campaigns, opportunities, ledger):
        self.rng, self.window, self.users, self.accounts = rng, window, users, accounts
        self.contacts, self.campaigns, self.opps = contacts, campaigns, opportunities
        self.rejections = np.flatnonzero(
            (ledger["from_stage"] == MQL) & np.isin(ledger["to_stage"], (RECYCLED, DISQUALIFIED))
        )
        self.ledger = ledger
        self.lost = np.flatnonzero(opportunities.status == LOST_STATUS)
        self.marketing_campaigns = np.flatnonzero(
            (campaigns.channel != CH["outbound"]) & (campaigns.starts < window.end)
        )
        self.stayers = users.reps[users.reps != users.departed]

    def pick(self, values):
        return values[int(self.rng.integers(0, len(values)))]

    def item(self, kind: str) -> dict:
        r = self.rng
        fill = {
            "competitor": self.pick(names.COMPETITORS),
            "product": self.pick(names.PRODUCTS[:3]),
            "industry": self.pick(names.INDUSTRIES)[0].lower(),
            "departed": self._name(self.users.departed),
        }
        row: dict[str, Any] = {"contact": -1, "opportunity": -1, "campaign": -1, "author": int(self.pick(self.stayers))}
        if kind == "lead_quality" and self.rejections.size:
            event = int(self.pick(self.rejections))
            contact = int(self.ledger["contact"][event])
            row.update(
                contact=contact,
                author=int(self.ledger["actor"][event]),
                campaign=int(self.contacts.source_campaign[contact]),
            )
            start = int(self.ledger["at"][event])
        elif kind in ("competitor", "product_gap", "pricing") and self.opps.count:
            pool = self.lost if kind != "product_gap" and self.lost.size else np.arange(self.opps.count)
            o = int(self.pick(pool))
            row.update(opportunity=o, author=int(self.opps.owner[o]))
            fill["account"] = account_name(self.accounts, int(self.opps.account[o]))
            fill["product"] = names.PRODUCTS[self.opps.product[o]]
            if self.opps.competitor[o] >= 0:
                fill["competitor"] = names.COMPETITORS[self.opps.competitor[o]]
            start = int(self.opps.updated[o])
        elif kind in ("messaging", "content_request") and r.random() < 0.6:
            row["campaign"] = int(self.pick(self.marketing_campaigns))
            c = row["campaign"]
            lo = max(int(self.campaigns.starts[c]), self.window.start)
            start = int(r.integers(lo, max(lo + 1, min(int(self.campaigns.ends[c]) + DAY, self.window.end - 1))))
        else:
            start = int(r.integers(self.window.start, self.window.end - DAY))
        campaign = row["campaign"]
        fill.setdefault("account", account_name(self.accounts, int(r.integers(0, self.accounts.count))))
        fill["campaign"] = self.campaigns.name[campaign] if campaign >= 0 else "the nurture track"
        fill["channel"] = CHANNELS[self.campaigns.channel[campaign]].label if campaign >= 0 else "Paid social"
        created = min(start + int(r.lognormal(np.log(30 * HOUR), 0.8)), self.window.end - 1)
        if row["author"] == self.users.departed and created >= self.users.departed_at:
            row["author"] = self.users.successor
        # Nobody complains about a colleague's leftover leads before the colleague has left.
        texts = [t for t in TEXTS[kind] if "{departed}" not in t or created > self.users.departed_at + 7 * DAY]
        row.update(kind=kind, text=self.pick(texts).format(**fill), created=created)
        row.update(self._answer(kind, created, fill))
        return row

    def _answer(self, kind: str, created: int, fill: dict) -> dict:
        r, u = self.rng, self.users
        replied_at = created + int(r.lognormal(np.log(3 * DAY), 0.8))
        if r.random() >= P_REPLY[kind] or replied_at >= self.window.end:
            return {"status": "new", "reply": None, "replied_by": -1, "replied_at": -1}
        acted = r.random() < 0.35
        team = u.of(MARKETING, focus=0 if kind in UPSTREAM_KINDS else 1)
        who = u.of(MARKETING)[0] if r.random() < 0.1 else self.pick(team)
        return {
            "status": "acted_on" if acted else "acknowledged",
            "replied_by": int(who),
            "reply": REPLIES[kind][int(acted)].format(**fill),
            "replied_at": replied_at,
        }

    def _name(self, user: int) -> str:
        return f"{self.users.first[user]} {self.users.last[user]}"


def make_feedback(
    rng: np.random.Generator,
    window: Window,
    users: Users,
    accounts: Accounts,
    contacts: Contacts,
    campaigns: Campaigns,
    opportunities: Opportunities,
    ledger: dict,
) -> FeedbackItems:
    writer = _Writer(rng, window, users, accounts, contacts, campaigns, opportunities, ledger)
    # About two a month per seller; a tiny demo company gets proportionally fewer.
    count = min(22 * users.reps.size, max(10, contacts.count // 17))
    kinds = rng.choice(list(KIND_SHARE), count, p=list(KIND_SHARE.values()))
    rows = sorted((writer.item(str(kind)) for kind in kinds), key=lambda row: row["created"])
    column = lambda key: [row[key] for row in rows]  # noqa: E731
    return FeedbackItems(
        kind=column("kind"),
        text=column("text"),
        author=np.array(column("author"), np.int64),
        contact=np.array(column("contact"), np.int64),
        opportunity=np.array(column("opportunity"), np.int64),
        campaign=np.array(column("campaign"), np.int64),
        status=column("status"),
        reply=column("reply"),
        replied_by=np.array(column("replied_by"), np.int64),
        replied_at=np.array(column("replied_at"), np.int64),
        created=np.array(column("created"), np.int64),
    )
