"""The demand waterfall, played forward for every contact at once.

Each round moves every live contact one step: the stage it is in decides where it may go next,
how long that takes and who acts. A move that would land after the window's end does not
happen, so the story stops mid-funnel exactly as a real database would look on `until`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from truce.demo import names
from truce.demo.clock import DAY, HOUR, MINUTE, NEVER, Window, lognormal_seconds, next_working_moment
from truce.demo.marketing import CH, CHANNELS
from truce.demo.people import Accounts, Contacts, Users
from truce.vocabulary import DEFAULT_EXITS, DEFAULT_STAGES

STAGES = DEFAULT_STAGES + DEFAULT_EXITS
INQUIRY, MQL, SAL, SQL, OPPORTUNITY, CUSTOMER, RECYCLED, DISQUALIFIED, LOST = range(9)
MARKETING_STAGES = (INQUIRY, RECYCLED, DISQUALIFIED)
MAX_ROUNDS = 24

# Why sales turns leads away: a base weight per code, raised by what is wrong with the lead.
REJECT_WEIGHT = {
    "not_icp": 2,
    "no_budget": 2,
    "no_authority": 2,
    "no_need": 2,
    "no_timeline": 2,
    "no_response": 3,
    "competitor": 1,
    "duplicate": 0.6,
    "bad_data": 1.2,
}
# Why a lead sales already worked goes back to nurture.
LATER_REJECT_WEIGHT = {
    "no_response": 3,
    "no_timeline": 3,
    "no_budget": 2,
    "no_need": 1.5,
    "competitor": 1.5,
    "no_authority": 0.5,
}

TITLE_MQL = np.array([0.35, 0.85, 1.05, 1.25])
TITLE_ACCEPT = np.array([0.45, 0.92, 1.0, 1.08])
TITLE_SQL = np.array([0.5, 0.85, 1.0, 1.15])
SEGMENT_MQL = np.array([0.9, 1.1, 1.05])
CLOSE_DAYS = np.array([35, 65, 120])
# Marketing tightened its scoring after the last survey round: MQLs since the start of the last two
# complete months are accepted more often, so a recent month keeps both promises and earlier ones do not
# (the demo shows a healthy month beside weak ones).
TIGHTENED_ACCEPT = 1.15
# An unanswered MQL is closed out about this many days after it arrived (see Funnel._close_out).
CLOSE_OUT_DAYS = 6
BASE_WIN = np.array([0.40, 0.35, 0.29])

PRODUCT_SHARE = np.array([[0.72, 0.18, 0.10, 0.0], [0.55, 0.22, 0.18, 0.05], [0.30, 0.15, 0.15, 0.40]])
LIST_PRICE = np.array(
    [  # USD a year; rows smb, mid-market, enterprise; columns follow names.PRODUCTS
        [9_000, 6_000, 4_000, 0],
        [36_000, 18_000, 12_000, 90_000],
        [120_000, 60_000, 40_000, 240_000],
    ]
)
DISCOUNT_STEPS = np.array([250, 500, 750, 1000, 1250, 1500, 2000])  # basis points of 1/100 %: 250 = 2.5 %
DISCOUNT_WEIGHT = np.array([0.14, 0.24, 0.14, 0.20, 0.10, 0.12, 0.06])
HEAVY_STEPS = np.array([2500, 2750, 3000, 3250, 3500, 4000])
HEAVY_WEIGHT = np.array([0.20, 0.15, 0.25, 0.15, 0.15, 0.10])
NO_DISCOUNT_SHARE = np.array([0.45, 0.30, 0.18])


def win_lift(discount_e4: np.ndarray) -> np.ndarray:
    """Moderate discounts help close; deep ones mark deals that were weak to begin with."""
    bands = np.array([0, 1000, 2000, 3000])
    lift = np.array([0.85, 1.10, 1.15, 0.95, 0.70])
    return lift[np.searchsorted(bands, discount_e4, side="left")]


@dataclass
class Reasons:
    codes: tuple[str, ...]
    exit_stage: np.ndarray  # RECYCLED or DISQUALIFIED per code

    @classmethod
    def from_config(cls, funnel) -> Reasons:
        codes = tuple(r.code for r in funnel.rejection_reasons)
        exits = np.array([STAGES.index(r.exit) for r in funnel.rejection_reasons], np.int8)
        return cls(codes, exits)


@dataclass
class Deals:
    """One deal per contact that reached opportunity, indexed by contact."""

    product: np.ndarray
    list_cents: np.ndarray
    discount_e4: np.ndarray
    p_win: np.ndarray
    close_plan: np.ndarray


@dataclass
class Funnel:
    rng: np.random.Generator
    window: Window
    users: Users
    accounts: Accounts
    contacts: Contacts
    reasons: Reasons
    chunks: list[tuple] = field(default_factory=list)

    def __post_init__(self) -> None:
        c, a, n = self.contacts, self.accounts, self.contacts.count
        self.region = a.region[c.account]
        self.segment = a.segment[c.account]
        self.icp = np.array([icp for _, _, icp, _ in names.INDUSTRIES])[a.industry[c.account]]
        self.stage = np.full(n, INQUIRY, np.int8)
        self.at = c.created.copy()
        self.tightened_at = self.window.month_starts[max(len(self.window.month_starts) - 4, 0)]
        self.alive = np.ones(n, bool)
        self.owner = np.full(n, -1, np.int64)
        self.first_owner = np.full(n, -1, np.int64)
        self.handover_at = np.full(n, NEVER, np.int64)
        self.recycles = np.zeros(n, np.int8)
        self.first_mql_at = np.full(n, -1, np.int64)
        self.first_response_at = np.full(n, -1, np.int64)
        self.first_recycled_at = np.full(n, -1, np.int64)
        self.opportunity_at = np.full(n, -1, np.int64)
        self.deals = Deals(
            np.full(n, -1, np.int8),
            np.zeros(n, np.int64),
            np.zeros(n, np.int64),
            np.zeros(n),
            np.full(n, NEVER, np.int64),
        )
        outbound = np.flatnonzero(c.channel == CH["outbound"])
        self._assign_owner(outbound, c.created[outbound])
        inquiry_actor = np.where(c.channel == CH["outbound"], self.owner, -1)
        self._record(
            np.arange(n),
            np.full(n, -1, np.int8),
            np.full(n, INQUIRY, np.int8),
            c.created,
            inquiry_actor,
            np.full(n, -1, np.int8),
        )

    # ---- running -------------------------------------------------------------------------
    def run(self) -> None:
        steps = {
            INQUIRY: self._from_inquiry,
            MQL: self._from_mql,
            RECYCLED: self._from_recycled,
            SAL: self._from_sal,
            SQL: self._from_sql,
            OPPORTUNITY: self._from_opportunity,
        }
        for _ in range(MAX_ROUNDS):
            live = np.flatnonzero(self.alive)
            if live.size == 0:
                break
            stage = self.stage[live]
            for key, step in steps.items():
                sub = live[stage == key]
                if sub.size:
                    step(sub)
            self.alive[live[np.isin(stage, (CUSTOMER, LOST, DISQUALIFIED))]] = False

    def _record(self, sub, from_stage, to_stage, at, actor, reason) -> None:
        self.chunks.append((sub, from_stage, to_stage, at, actor, reason, self.at[sub].copy()))

    def _move(self, sub, to_stage, at, reason=None, by_owner=True) -> np.ndarray:
        """Moves that land inside the window happen; the rest leave the contact where it is."""
        inside = at < self.window.end
        self.alive[sub[~inside]] = False
        to_stage = np.broadcast_to(np.asarray(to_stage, np.int8), sub.shape)[inside]
        sub, at = sub[inside], at[inside]
        reason = np.full(sub.size, -1, np.int8) if reason is None else reason[inside]
        actor = self.owner[sub] if by_owner else np.full(sub.size, -1, np.int64)
        self._record(sub, self.stage[sub].copy(), to_stage, at, actor, reason)
        self.stage[sub] = to_stage
        self.at[sub] = at
        return sub

    def _assign_owner(self, sub, at) -> None:
        """Leads follow their account's owner; the departed seller's book passes to the successor."""
        u = self.users
        owner = self.accounts.owner[self.contacts.account[sub]].copy()
        owner[(owner == u.departed) & (at >= u.departed_at)] = u.successor
        inherited = (self.owner[sub] == u.departed) & (owner == u.successor)
        self.handover_at[sub[inherited]] = u.departed_at
        self.owner[sub] = owner
        fresh = self.first_owner[sub] < 0
        self.first_owner[sub[fresh]] = owner[fresh]

    def _hand_over(self, sub, at) -> np.ndarray:
        """A move the departed seller would have made after leaving waits for the successor."""
        u = self.users
        leaving = (self.owner[sub] == u.departed) & (at > u.departed_at)
        if leaving.any():
            idx = sub[leaving]
            self.owner[idx] = u.successor
            self.handover_at[idx] = u.departed_at
            pickup = u.departed_at + lognormal_seconds(self.rng, 5 * DAY, 0.5, idx.size)
            at = at.copy()
            at[leaving] = np.maximum(at[leaving], self._working(idx, pickup))
        return at

    def _sales_step(self, sub, median_days: float, sigma: float) -> np.ndarray:
        """When the owner makes the next move: after a wait, in working hours, by whoever owns it then."""
        wait = lognormal_seconds(self.rng, median_days * DAY, sigma, sub.size)
        return self._hand_over(sub, self._working(sub, self.at[sub] + wait))

    def _working(self, sub, at) -> np.ndarray:
        return next_working_moment(self.rng, at, self.region[sub])

    def _stop(self, sub) -> None:
        self.alive[sub] = False

    # ---- the stages ----------------------------------------------------------------------
    def _from_inquiry(self, sub) -> None:
        outbound = self.contacts.channel[sub] == CH["outbound"]
        self._inbound(sub[~outbound])
        self._outbound(sub[outbound])

    def _inbound(self, sub) -> None:
        c, r = self.contacts, self.rng
        lift = np.array([ch.mql_lift for ch in CHANNELS])[c.channel[sub]]
        fit = TITLE_MQL[c.title_class[sub]] * np.where(self.icp[sub], 1.15, 0.8) * SEGMENT_MQL[self.segment[sub]]
        p = 0.42 * lift * fit
        becomes = r.random(sub.size) < np.clip(p, 0, 0.92)
        self._stop(sub[~becomes])
        sub = sub[becomes]
        # About a quarter ask for a demo and are scored at once; the rest warm up over weeks.
        hot = r.random(sub.size) < 0.28
        wait = np.where(
            hot, lognormal_seconds(r, 90 * MINUTE, 0.8, sub.size), lognormal_seconds(r, 18 * DAY, 1.0, sub.size)
        )
        self._enter_mql(sub, self.at[sub] + wait)

    def _enter_mql(self, sub, at) -> None:
        inside = at < self.window.end
        self._assign_owner(sub[inside], at[inside])
        moved = self._move(sub, MQL, at, by_owner=False)
        first = moved[self.first_mql_at[moved] < 0]
        self.first_mql_at[first] = self.at[first]

    def _outbound(self, sub) -> None:
        """Sales-sourced leads: reps often qualify them straight away, skipping the handoff."""
        r = self.rng.random(sub.size)
        skip, nurture = sub[r < 0.45], sub[(r >= 0.45) & (r < 0.55)]
        self._stop(sub[r >= 0.55])
        self._move(skip, SQL, self._sales_step(skip, 12, 0.7))
        self._enter_mql(nurture, self.at[nurture] + lognormal_seconds(self.rng, 20 * DAY, 0.8, nurture.size))

    def _from_mql(self, sub) -> None:
        sub, decide = self._respond(sub)
        u, c, r = self.users, self.contacts, self.rng
        quality = np.array([ch.quality for ch in CHANNELS])[c.channel[sub]]
        p = (
            0.76
            * quality
            * TITLE_ACCEPT[c.title_class[sub]]
            * np.where(self.icp[sub], 1.06, 0.8)
            * u.accept_bias[self.owner[sub]]
            * np.where(self.recycles[sub] > 0, 1.15, 1.0)
            * np.where(self.at[sub] >= self.tightened_at, TIGHTENED_ACCEPT, 1.0)
        )
        accept = r.random(sub.size) < np.clip(p, 0.05, 0.97)
        reason = self._reasons(sub[~accept], REJECT_WEIGHT, other=1.0, boost=True)
        to = np.full(sub.size, SAL, np.int8)
        to[~accept] = self.reasons.exit_stage[reason]
        codes = np.full(sub.size, -1, np.int8)
        codes[~accept] = reason
        self._note_recycled(self._move(sub, to, decide, codes))

    def _respond(self, sub) -> tuple[np.ndarray, np.ndarray]:
        """Each seller's pace: a first call, then a decision. Some MQLs are never answered."""
        u, r = self.users, self.rng
        owner = self.owner[sub]
        response = lognormal_seconds(r, u.response_median_s[owner], 0.8, sub.size)
        call_after = (response * r.uniform(0.25, 0.7, sub.size)).astype(np.int64)
        first_touch = self._working(sub, self.at[sub] + call_after)
        decide = np.maximum(self._working(sub, self.at[sub] + response), first_touch + 10 * MINUTE)
        # Leads in the queue of the seller who left: half are never picked up again.
        stranded = (owner == u.departed) & (decide > u.departed_at) & (r.random(sub.size) < 0.5)
        ignored = (r.random(sub.size) < u.p_unanswered[owner]) | stranded
        self._close_out(sub[ignored])
        sub, first_touch, decide = sub[~ignored], first_touch[~ignored], decide[~ignored]
        picked_up = self._hand_over(sub, decide)
        # The successor's first call comes shortly before the decision they finally make.
        first_touch = np.where(picked_up != decide, np.maximum(first_touch, picked_up - HOUR), first_touch)
        fresh = self.first_response_at[sub] < 0
        self.first_response_at[sub[fresh]] = np.minimum(first_touch[fresh], picked_up[fresh])
        return sub, picked_up

    def _close_out(self, sub) -> None:
        """An MQL nobody answered is closed weeks late, as "no response", by whoever holds it then.

        A queue is cleared sooner or later: the escalation both teams signed takes a lead from its
        seller 16 business hours after its decision deadline (about a week after the MQL), so only
        the last days' forgotten leads are still waiting, overdue, on the day the demo is built.
        """
        if sub.size == 0:
            return
        codes = self.reasons.codes
        recycles = np.flatnonzero(self.reasons.exit_stage == RECYCLED)
        code = codes.index("no_response") if "no_response" in codes else int(recycles[0] if recycles.size else 0)
        reason = np.full(sub.size, code, np.int8)
        at = self._sales_step(sub, CLOSE_OUT_DAYS, 0.3)
        self._note_recycled(self._move(sub, self.reasons.exit_stage[reason], at, reason))

    def _reasons(self, sub, base: dict, other: float, boost: bool) -> np.ndarray:
        """A reason code from the config per lead; `other` weighs codes this demo has no story for."""
        codes = self.reasons.codes
        allowed = np.array([base.get(code, other) for code in codes])
        if not allowed.any():
            allowed[:] = 1.0
        weight = np.tile(allowed, (sub.size, 1))
        if boost:
            c = self.contacts
            tc, ch = c.title_class[sub], c.channel[sub]
            for code, rows, extra in (
                ("not_icp", ~self.icp[sub], 6),
                ("no_authority", tc == 0, 3),
                ("bad_data", tc == 0, 3),
                ("no_authority", tc == 1, 2),
                ("no_budget", self.segment[sub] == 0, 2),
                ("bad_data", np.isin(ch, (CH["content_syndication"], CH["display"])), 2),
                ("no_response", np.isin(ch, (CH["content_syndication"], CH["display"])), 2),
            ):
                if code in codes:
                    weight[rows, codes.index(code)] += extra
        cumulative = weight.cumsum(axis=1)
        pick = self.rng.random(sub.size) * cumulative[:, -1]
        return (cumulative < pick[:, None]).sum(axis=1).astype(np.int8)

    def _note_recycled(self, moved) -> None:
        recycled = moved[self.stage[moved] == RECYCLED]
        self.recycles[recycled] += 1
        first = recycled[self.first_recycled_at[recycled] < 0]
        self.first_recycled_at[first] = self.at[first]

    def _from_recycled(self, sub) -> None:
        p_back = np.where(self.recycles[sub] == 1, 0.3, np.where(self.recycles[sub] == 2, 0.06, 0.0))
        back = self.rng.random(sub.size) < p_back
        self._stop(sub[~back])
        sub = sub[back]
        self._enter_mql(sub, self.at[sub] + lognormal_seconds(self.rng, 80 * DAY, 0.5, sub.size))

    def _later_rejection(self, sub, median_days) -> None:
        if sub.size == 0:
            return
        reason = self._reasons(sub, LATER_REJECT_WEIGHT, other=0.0, boost=False)
        at = self._sales_step(sub, median_days, 0.6)
        self._note_recycled(self._move(sub, self.reasons.exit_stage[reason], at, reason))

    def _from_sal(self, sub) -> None:
        c, r = self.contacts, self.rng.random(sub.size)
        p = np.clip(0.62 * TITLE_SQL[c.title_class[sub]] * np.where(self.icp[sub], 1.1, 0.85), 0.1, 0.9)
        qualify, drop = r < p, (r >= p) & (r < p + 0.6 * (1 - p))
        self._stop(sub[~qualify & ~drop])
        up = sub[qualify]
        self._move(up, SQL, self._sales_step(up, 10, 0.8))
        self._later_rejection(sub[drop], 35)

    def _from_sql(self, sub) -> None:
        r = self.rng.random(sub.size)
        up, drop = sub[r < 0.76], sub[(r >= 0.76) & (r < 0.88)]
        self._stop(sub[r >= 0.88])
        opened = self._move(up, OPPORTUNITY, self._sales_step(up, 6, 0.8))
        self.opportunity_at[opened] = self.at[opened]
        self._draw_deals(opened)
        self._later_rejection(drop, 30)

    def _draw_deals(self, sub) -> None:
        r, u, d = self.rng, self.users, self.deals
        seg = self.segment[sub]
        product = (r.random(sub.size)[:, None] > PRODUCT_SHARE[seg].cumsum(axis=1)).sum(axis=1)
        product = np.minimum(product, 3)
        key_lift = np.where(self.accounts.key[self.contacts.account[sub]], 1.5, 1.0)
        dollars = np.round(LIST_PRICE[seg, product] * key_lift * r.lognormal(0, 0.35, sub.size) / 100) * 100
        heavy = u.heavy_discounter[self.owner[sub]]
        normal = np.where(
            r.random(sub.size) < NO_DISCOUNT_SHARE[seg], 0, r.choice(DISCOUNT_STEPS, sub.size, p=DISCOUNT_WEIGHT)
        )
        deep = np.where(
            r.random(sub.size) < 0.7,
            r.choice(HEAVY_STEPS, sub.size, p=HEAVY_WEIGHT),
            r.choice(np.array([1000, 1500, 2000]), sub.size),
        )
        discount = np.where(heavy, deep, normal)
        p_win = (
            BASE_WIN[seg]
            * u.skill[self.owner[sub]]
            * win_lift(discount)
            * np.where(self.contacts.title_class[sub] == 3, 1.1, 1.0)
        )
        d.product[sub] = product
        d.list_cents[sub] = dollars.astype(np.int64) * 100
        d.discount_e4[sub] = discount
        d.p_win[sub] = np.clip(p_win, 0.03, 0.9)

    def _from_opportunity(self, sub) -> None:
        won = self.rng.random(sub.size) < self.deals.p_win[sub]
        days = CLOSE_DAYS[self.segment[sub]] * np.where(won, 0.9, 1.1)
        at = self._working(sub, self.at[sub] + lognormal_seconds(self.rng, days * DAY, 0.55, sub.size))
        self.deals.close_plan[sub] = at
        at = self._hand_over(sub, at)
        self._move(sub, np.where(won, CUSTOMER, LOST).astype(np.int8), at)

    # ---- results -------------------------------------------------------------------------
    def ledger(self) -> dict[str, np.ndarray]:
        """Every contact move, ordered by time (ties keep the order they were made in)."""
        parts = list(zip(*self.chunks, strict=True))
        cols = {
            name: np.concatenate(part)
            for name, part in zip(
                ("contact", "from_stage", "to_stage", "at", "actor", "reason", "prev_at"), parts, strict=True
            )
        }
        order = np.argsort(cols["at"], kind="stable")
        return {name: col[order] for name, col in cols.items()}
