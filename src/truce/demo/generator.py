"""A seeded, realistic B2B software company: two years of both teams' records, ready to load.

    company = generate(contacts=5000, seed=7, until=datetime.date(2026, 11, 20))
    company.tables["contacts"]  # a pyarrow.Table with exactly the store's columns

The story it tells is the one truce exists to settle: marketing buys leads through a dozen
channels, sales accepts some and rejects others with a reason, a few sellers answer late, one
left and their queue went cold, some discount far more than the rest, and deals are won and
lost against named competitors. Everything is vectorised with numpy (a million contacts take
about ten seconds and 2 GiB), and the same (contacts, seed, until) always gives the same bytes.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from truce import config as truce_config
from truce.demo import cast as demo_cast
from truce.demo import names, scores, tables
from truce.demo.clock import DAY, NEVER, Window, to_datetime
from truce.demo.deals import WON, make_opportunities
from truce.demo.feedback import make_feedback
from truce.demo.funnel import MQL, STAGES, Funnel, Reasons
from truce.demo.marketing import (
    channel_share_by_segment,
    cost_campaigns,
    make_campaigns,
    snap_event_leads,
    source_campaigns,
)
from truce.demo.people import assign_owners, make_accounts, make_contacts, make_users, size_factor
from truce.demo.plans import make_targets
from truce.demo.touches import make_touches

DEFAULT_UNTIL = dt.date(2026, 11, 20)
MIN_CONTACTS = 20
TABLES = (
    "users",
    "accounts",
    "campaigns",
    "contacts",
    "touchpoints",
    "opportunities",
    "stage_changes",
    "feedback_items",
    "targets",
)
STEPS = ("staff", "accounts and contacts", "funnel", "touchpoints", "opportunities", "feedback and targets") + tuple(
    f"{name} table" for name in TABLES
)
Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class DemoStory:
    """What the demo planted on purpose, so tests, docs and talks can point at it."""

    window_start: dt.datetime
    window_end: dt.datetime  # exclusive: 00:00 UTC on `until`
    departed_seller_id: int
    departed_at: dt.datetime
    successor_id: int
    heavy_discounter_ids: tuple[int, ...]
    slow_seller_ids: tuple[int, ...]
    products: tuple[str, ...]
    competitors: tuple[str, ...]
    # The fixed cast (truce.demo.cast): ids of Eva, Mia, Owen, Acme, and Ann and Bob.
    seller_id: int
    marketer_id: int
    revops_id: int
    key_account_id: int
    lead_ids: tuple[int, ...]


@dataclass(frozen=True)
class DemoCompany:
    tables: dict[str, pa.Table]
    story: DemoStory


def generate(
    contacts: int = 5_000,
    seed: int = 7,
    until: dt.date | dt.datetime = DEFAULT_UNTIL,
    progress: Progress | None = None,
    rules: truce_config.TruceConfig | None = None,
) -> DemoCompany:
    """Two years of a B2B seller's records ending at `until` (every timestamp is before it).

    `until` is a day (the history ends at 00:00 UTC on it) or a moment, such as now: the demo
    is then alive on the day it is built, with leads due soon and a few overdue. `rules` is the
    truce.toml whose scoring makes the MQLs and whose business hours time the cast's clocks
    (default: the built-in one). progress(step, done, total) is called as each step in STEPS finishes.
    """
    if contacts < MIN_CONTACTS:
        raise ValueError(f"contacts must be at least {MIN_CONTACTS}, not {contacts}")
    tick = _ticker(progress)
    config = truce_config.parse(truce_config.default_text(), source="(built-in default truce.toml)")
    rules = rules or config
    rng = dict(
        zip(
            ("staff", "accounts", "campaigns", "funnel", "touches", "deals", "feedback", "details", "cast"),
            np.random.default_rng(seed).spawn(9),
            strict=True,
        )
    )
    window = Window.ending(until)

    users = make_users(rng["staff"], contacts, window)
    campaigns = make_campaigns(rng["campaigns"], users, window, size_factor(contacts))
    tick("staff")
    # The cast's leads are among the contacts asked for, so the count is the one given.
    accounts, people = _accounts_and_contacts(rng, contacts, users, campaigns, window, len(demo_cast.LEADS))
    tick("accounts and contacts")
    funnel = Funnel(rng["funnel"], window, users, accounts, people, Reasons.from_config(config.funnel))
    funnel.run()
    cast = demo_cast.choose(users, accounts.key, _accounts_now(accounts, people, funnel, users)[0], funnel)
    cast = demo_cast.add_leads(rng["cast"], funnel, campaigns, cast, rules, window)
    ledger = funnel.ledger()
    tick("funnel")
    touches = make_touches(rng["touches"], funnel, campaigns, window, ledger)
    touches = scores.reach_threshold(rng["cast"], rules.scoring, funnel, touches, campaigns, window, ledger)
    touches = scores.quiet_inquiries(rules.scoring, funnel, touches, window)
    points = scores.current_points(rules.scoring, funnel, touches, window)
    tick("touchpoints")
    opportunities, moves = make_opportunities(rng["deals"], funnel, touches, window)
    demo_cast.eva_deal_at_known_id(opportunities, moves, cast)
    sourced = np.bincount(people.source_campaign, minlength=campaigns.count)
    cost_campaigns(rng["campaigns"], campaigns, sourced, window)
    tick("opportunities")
    feedback = make_feedback(rng["feedback"], window, users, accounts, people, campaigns, opportunities, ledger)
    won = opportunities.status == WON
    targets = make_targets(
        rng["feedback"],
        window,
        opportunities.close_at[won],
        opportunities.amount_cents[won],
        ledger["at"][ledger["to_stage"] == MQL],
    )
    tick("feedback and targets")

    builders = _table_builders(
        rng["details"],
        config,
        cast,
        (points, window.end),
        users,
        accounts,
        people,
        campaigns,
        funnel,
        ledger,
        touches,
        opportunities,
        moves,
        feedback,
        targets,
    )
    built = {}
    for name in TABLES:
        built[name] = builders[name]()
        tick(f"{name} table")
    return DemoCompany(tables=built, story=_story(users, window, cast))


def _table_builders(
    rng,
    config,
    cast,
    points,
    users,
    accounts,
    people,
    campaigns,
    funnel,
    ledger,
    touches,
    opportunities,
    moves,
    feedback,
    targets,
) -> dict[str, Callable[[], pa.Table]]:
    account_name, domain = tables.account_names(accounts)
    account_name = tables.renamed(account_name, cast.account, demo_cast.ACCOUNT_NAME)
    domain = tables.renamed(domain, cast.account, demo_cast.DOMAIN)
    team_of = {stage: config.funnel.team_of(stage) for stage in STAGES}
    return {
        "users": lambda: tables.users_table(users),
        "accounts": lambda: tables.accounts_table(
            accounts, account_name, domain, *_accounts_now(accounts, people, funnel, users)
        ),
        "campaigns": lambda: tables.campaigns_table(campaigns),
        "contacts": lambda: tables.contacts_table(
            rng, people, accounts.region[people.account], domain, funnel, _lead_statuses(config), *points
        ),
        "touchpoints": lambda: tables.touchpoints_table(touches, people),
        "opportunities": lambda: tables.opportunities_table(opportunities, account_name),
        "stage_changes": lambda: tables.stage_changes_table(rng, ledger, moves, funnel.reasons, team_of),
        "feedback_items": lambda: tables.feedback_table(feedback),
        "targets": lambda: tables.targets_table(targets),
    }


def _ticker(progress: Progress | None) -> Callable[[str], None]:
    done = 0

    def tick(step: str) -> None:
        nonlocal done
        done += 1
        if progress is not None:
            progress(step, done, len(STEPS))

    return tick


def _accounts_and_contacts(rng, contacts: int, users, campaigns, window: Window, set_aside: int):
    accounts = make_accounts(rng["accounts"], max(1, round(contacts / 4)))
    people = make_contacts(rng["accounts"], contacts - set_aside, accounts, channel_share_by_segment(), window)
    event_campaign = snap_event_leads(rng["campaigns"], people, campaigns, window)
    # Ids follow creation order, as they would in a CRM.
    order = np.argsort(people.created, kind="stable")
    people.reorder(order)
    event_campaign = event_campaign[order]
    first_seen = np.full(accounts.count, NEVER, np.int64)
    np.minimum.at(first_seen, people.account, people.created)
    lead_time = rng["accounts"].integers(0, 2 * DAY, accounts.count)
    accounts.created = np.maximum(window.start, first_seen - lead_time)
    by_age = np.argsort(accounts.created, kind="stable")
    accounts.reorder(by_age)
    renumber = np.empty_like(by_age)
    renumber[by_age] = np.arange(by_age.size)
    people.account = renumber[people.account]
    assign_owners(rng["accounts"], accounts, users)
    people.source_campaign = source_campaigns(
        rng["campaigns"], people, campaigns, window, event_campaign, accounts.region[people.account]
    )
    return accounts, people


def _accounts_now(accounts, people, funnel: Funnel, users):
    """Today's owner (the leaver's book went to the successor) and the last time anything changed."""
    left = accounts.owner == users.departed
    owner = np.where(left, users.successor, accounts.owner)
    updated = accounts.created.copy()
    np.maximum.at(updated, people.account, funnel.at)
    updated[left] = np.maximum(updated[left], users.departed_at)
    return owner, updated


def _lead_statuses(config) -> list[str | None]:
    """A Salesforce lead status per stage, taken from the config's mapping so imports agree."""
    mapping = config.mapping.salesforce.get("lead_status", {})
    status: dict[str, str] = {}
    for value, stage in mapping.items():
        status.setdefault(stage, value)
    return [status.get(stage) for stage in STAGES]


def _story(users, window: Window, cast: demo_cast.Cast) -> DemoStory:
    return DemoStory(
        seller_id=cast.seller + 1,
        marketer_id=cast.marketer + 1,
        revops_id=cast.revops + 1,
        key_account_id=cast.account + 1,
        lead_ids=tuple(i + 1 for i in cast.leads),
        window_start=to_datetime(window.start),
        window_end=to_datetime(window.end),
        departed_seller_id=users.departed + 1,
        departed_at=to_datetime(users.departed_at),
        successor_id=users.successor + 1,
        heavy_discounter_ids=tuple(int(u) + 1 for u in np.flatnonzero(users.heavy_discounter)),
        slow_seller_ids=tuple(int(u) + 1 for u in np.flatnonzero(users.slow)),
        products=names.PRODUCTS,
        competitors=names.COMPETITORS,
    )
