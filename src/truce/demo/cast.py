"""The demo's fixed cast: the people and the account the README, the docs and the tests name.

- Eva Lind, a seller who owns the key account Acme Analytics (acme.example) and has two leads
  waiting in her queue: Ann Fischer, whose first-touch clock runs out within the next few
  business hours, and Bob Novak, whom she has called and must still accept or reject;
- Cara Silva, a third Acme MQL that arrived while routing was paused for a territory reshuffle:
  nobody owns her, her decision deadline has just passed, and a seller of her territory may claim
  her (the example of `truce handoff claim`); the queue always shows an overdue lead;
- Mia Ross, a downstream marketer, Acme's marketing liaison;
- Owen Price, RevOps.

Everyone else keeps the name the seeded generator gave them: the cast is chosen among the
generated people and renamed, and Ann, Bob and Cara are added to Acme's buying group.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np

from truce.demo import names
from truce.demo.clock import DAY, HOUR, NEVER, to_datetime
from truce.demo.funnel import CUSTOMER, INQUIRY, LOST, MQL, Funnel
from truce.demo.marketing import CH, Campaigns
from truce.demo.people import MARKETING, REVOPS, Users

DOMAIN = "acme.example"
ACCOUNT_NAME = "Acme Analytics"
SELLER = ("Eva", "Lind")
MARKETER = ("Mia", "Ross")
REVOPS_LEAD = ("Owen", "Price")
# Ann, Bob and Cara: first names the word lists lack, given codes past their end (drawing is unchanged).
LEAD_FIRST_NAMES = ("Ann", "Bob", "Cara")
CONTACT_FIRST_NAMES = names.FIRST_NAMES + LEAD_FIRST_NAMES
# (first name, last name, title class and index in names.TITLES, channel, days known, business hours as
# MQL, whether Eva owns the lead). Cara has waited 3 business hours past the 24-hour decision deadline
# of the default SLA: overdue, yet short of the escalation's first step (8 hours after it).
LEADS = (
    ("Ann", "Fischer", 3, 1, "webinar", 24, None, True),
    ("Bob", "Novak", 3, 3, "organic_search", 41, 10.0, True),
    ("Cara", "Silva", 2, 0, "event", 30, 27.0, False),
)
# Ann's first touch is due this many business hours after the demo is built.
ANN_DUE_IN_HOURS = 1.5


@dataclass(frozen=True)
class Cast:
    seller: int  # user index
    marketer: int
    revops: int
    account: int  # account index of Acme
    leads: tuple[int, ...] = ()  # contact indexes of Ann, Bob and Cara


# Eva's open deals the demo needs: one at the id the help names, and one per discount request.
EVA_OPEN_DEALS = 4


def choose(users: Users, key: np.ndarray, owner_now: np.ndarray, funnel: Funnel) -> Cast:
    """Eva owns the first key account held by a steady seller with enough open deals for the help's
    examples (else the steadiest seller with the most); Mia and Owen are the first of their kind."""
    steady = users.active & ~users.slow
    steady[users.successor] = False
    found = np.flatnonzero(key & steady[owner_now])
    if found.size == 0:
        found = np.flatnonzero(key & users.active[owner_now])
    deals = _open_deals_per_seller(funnel, users.count)[owner_now[found]]
    enough = found[deals >= EVA_OPEN_DEALS]
    account = int(enough[0]) if enough.size else int(found[np.argmax(deals)])
    _take_over_open_deals(funnel, users, int(owner_now[account]))
    downstream = users.of(MARKETING, focus=1, leaders=False)
    cast = Cast(
        seller=int(owner_now[account]),
        marketer=int(downstream[0]),
        revops=int(users.of(REVOPS, leaders=False)[0]),
        account=account,
    )
    for index, (first, last) in ((cast.seller, SELLER), (cast.marketer, MARKETER), (cast.revops, REVOPS_LEAD)):
        users.first[index], users.last[index] = first, last
    return cast


def _open_deals(funnel: Funnel) -> np.ndarray:
    return (funnel.opportunity_at >= 0) & ~np.isin(funnel.stage, (CUSTOMER, LOST)) & (funnel.owner >= 0)


def _open_deals_per_seller(funnel: Funnel, sellers: int) -> np.ndarray:
    return np.bincount(funnel.owner[_open_deals(funnel)], minlength=sellers)


def _take_over_open_deals(funnel: Funnel, users: Users, seller: int) -> None:
    """In a small company Eva may hold too few open deals for the help's examples: when territories
    were reshuffled she took over the newest open deals of active colleagues (with their contacts)."""
    short = EVA_OPEN_DEALS - int((_open_deals(funnel) & (funnel.owner == seller)).sum())
    if short <= 0:
        return
    others = np.flatnonzero(_open_deals(funnel) & (funnel.owner != seller) & users.active[np.maximum(funnel.owner, 0)])
    newest = others[np.argsort(-funnel.opportunity_at[others], kind="stable")][:short]
    funnel.owner[newest] = seller


def _before(clock, now: dt.datetime, hours: float) -> dt.datetime:
    """The latest moment that is `hours` business hours before `now` (bisected to the minute)."""
    wanted = dt.timedelta(hours=hours)
    low, high = now - dt.timedelta(days=30), now
    while high - low > dt.timedelta(minutes=1):
        middle = low + (high - low) / 2
        if clock.between(middle, now) >= wanted:
            low = middle
        else:
            high = middle
    return low


def add_leads(rng, funnel: Funnel, campaigns: Campaigns, cast: Cast, config, window) -> Cast:
    """Ann, Bob and Cara join Acme's buying group as waiting MQLs, timed by the SLA clock."""
    clock = config.business_hours.clock(config.company.timezone)
    now = to_datetime(window.end)
    first_touch = config.sla.sales.first_touch_hours
    added = []
    for first, last, title_class, title, channel, days_known, hours_waiting, owned in LEADS:
        hours = max(first_touch - ANN_DUE_IN_HOURS, 0.25) if hours_waiting is None else hours_waiting
        mql_at = int(_before(clock, now, hours).timestamp())
        created = min(window.end - days_known * DAY + 14 * HOUR, mql_at - 2 * DAY)
        touched = (
            -1 if hours_waiting is None else int(clock.add(to_datetime(mql_at), dt.timedelta(hours=1.5)).timestamp())
        )
        index = _append_contact(
            funnel,
            campaigns,
            rng,
            window,
            account=cast.account,
            first=CONTACT_FIRST_NAMES.index(first),
            last=names.LAST_NAMES.index(last),
            title_class=title_class,
            title=title,
            channel=CH[channel],
            created=max(created, window.start),
        )
        _make_mql(funnel, index, mql_at, cast.seller if owned else -1, touched if owned else -1)
        added.append(index)
    return Cast(cast.seller, cast.marketer, cast.revops, cast.account, tuple(added))


def _append_contact(funnel: Funnel, campaigns: Campaigns, rng, window, *, account, created, **person) -> int:
    c = funnel.contacts
    index = c.count
    values = dict(person, account=account, created=created, has_phone=True)
    values["source_campaign"] = int(campaigns.pick(rng, np.array([person["channel"]]), np.array([created]), window)[0])
    for field, value in values.items():
        setattr(c, field, np.append(getattr(c, field), np.asarray(value, getattr(c, field).dtype)))
    a = funnel.accounts
    starts = dict(
        region=a.region[account],
        segment=a.segment[account],
        icp=_icp(a, account),
        stage=INQUIRY,
        at=created,
        alive=False,
        owner=-1,
        first_owner=-1,
        handover_at=NEVER,
        recycles=0,
        first_mql_at=-1,
        first_response_at=-1,
        first_recycled_at=-1,
        opportunity_at=-1,
    )
    for field, value in starts.items():
        setattr(funnel, field, np.append(getattr(funnel, field), np.asarray(value, getattr(funnel, field).dtype)))
    d = funnel.deals
    for field, value in dict(product=-1, list_cents=0, discount_e4=0, p_win=0.0, close_plan=NEVER).items():
        setattr(d, field, np.append(getattr(d, field), np.asarray(value, getattr(d, field).dtype)))
    one = np.array([index])
    funnel.chunks.append((one, np.array([-1], np.int8), np.array([INQUIRY], np.int8), np.array([created]),
                          np.array([-1]), np.array([-1], np.int8), np.array([created])))  # fmt: skip
    return index


def _icp(accounts, account: int) -> bool:
    return bool(names.INDUSTRIES[int(accounts.industry[account])][2])


def _make_mql(funnel: Funnel, index: int, mql_at: int, seller: int, touched: int) -> None:
    one = np.array([index])
    funnel.chunks.append((one, np.array([INQUIRY], np.int8), np.array([MQL], np.int8), np.array([mql_at]),
                          np.array([-1]), np.array([-1], np.int8), np.array([funnel.at[index]])))  # fmt: skip
    funnel.stage[index], funnel.at[index] = MQL, mql_at
    funnel.owner[index] = funnel.first_owner[index] = seller
    funnel.first_mql_at[index] = mql_at
    funnel.first_response_at[index] = touched


# The id the help's `truce discount request 42` names: one of Eva's open deals always has it.
EVA_DEAL_ID = 42


def eva_deal_at_known_id(opps, moves, cast: Cast) -> None:
    """Give Eva's newest open deal (at Acme, if she has one open there) the id EVA_DEAL_ID.

    The deal already at that place takes the other's; only which row holds which id changes, so
    every number the demo reports stays the same. With too few deals, or none of Eva's open,
    nothing moves.
    """
    from truce.demo.deals import OPEN

    place = EVA_DEAL_ID - 1  # ids are 1-based row positions
    hers = np.flatnonzero((opps.owner == cast.seller) & (opps.status == OPEN))
    if hers.size == 0 or opps.count <= place:
        return
    chosen = int(max(hers, key=lambda i: (opps.account[i] == cast.account, opps.created[i], i)))
    for name in opps.__dataclass_fields__:
        column = getattr(opps, name)
        column[[chosen, place]] = column[[place, chosen]]
    which = moves.opportunity
    at_chosen, at_place = which == chosen, which == place
    which[at_chosen], which[at_place] = place, chosen
