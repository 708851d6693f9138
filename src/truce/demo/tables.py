"""The demo's records as Arrow tables, one per store table, ids 1..n in creation order."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from truce.demo import arrow as A
from truce.demo import names
from truce.demo.cast import CONTACT_FIRST_NAMES
from truce.demo.clock import REGIONS
from truce.demo.deals import DEAL_STAGES, LOSS_REASONS, STATUSES, DealMoves, Opportunities
from truce.demo.feedback import FeedbackItems
from truce.demo.funnel import STAGES, Funnel, Reasons
from truce.demo.marketing import CH, CHANNEL_KEYS, Campaigns, owning_team
from truce.demo.people import FOCUS, SEGMENTS, TEAMS, Accounts, Contacts, Users
from truce.demo.plans import Targets
from truce.demo.touches import KINDS, TOUCH_CHANNELS, TOUCH_TYPES, Touches

USER_DOMAIN = "truce-demo.example"
REJECTION_NOTES = {
    "not_icp": "Outside our target industries.",
    "no_budget": "No budget until next fiscal year.",
    "no_authority": "Not the buyer; asked for an intro to their manager.",
    "no_need": "Happy with spreadsheets for now.",
    "no_timeline": "Revisit next quarter.",
    "no_response": "Three calls and two emails, no reply.",
    "competitor": "Signed with a competitor last year.",
    "duplicate": "Already in the CRM under another address.",
    "bad_data": "Email bounces, phone disconnected.",
}


def slug(text: str, joiner: str = "") -> str:
    return joiner.join(text.lower().replace("'", "").replace(".", "").split())


def users_table(users: Users) -> pa.Table:
    n = users.count
    full = [f"{f} {last}" for f, last in zip(users.first, users.last, strict=True)]
    email = [f"{slug(f)}.{slug(last)}@{USER_DOMAIN}" for f, last in zip(users.first, users.last, strict=True)]
    return A.store_table(
        "users",
        {
            "id": A.ids(n),
            "email": A.texts(email),
            "name": A.texts(full),
            "team": A.labels(TEAMS, users.team),
            "marketing_focus": A.labels(FOCUS, users.focus),
            "is_leader": A.flags(users.leader),
            "region": A.labels(REGIONS, users.region),
            "segment": A.labels(SEGMENTS, users.segment),
            "active": A.flags(users.active),
            "external_id": A.numbered("u-", np.arange(1, n + 1), 4),
            "created_at": A.timestamps(users.created),
            "access": pa.array(["member"] * n, pa.string()),
        },
    )


def account_names(accounts: Accounts) -> tuple[pa.Array, pa.Array]:
    """Display names like 'Cedar Freight Inc.' and unique domains like 'cedar-freight-42.example'."""
    nouns = [noun for _, _, _, words in names.INDUSTRIES for noun in words]
    noun_code = accounts.industry.astype(np.int64) * 4 + accounts.name_noun
    legal = [suffix for region in names.LEGAL_SUFFIXES for suffix in region]
    words = A.labels(names.COMPANY_WORDS, accounts.name_word)
    noun = A.labels(nouns, noun_code)
    name = A.joined(words, " ", noun, A.labels(legal, accounts.region.astype(np.int64) * 4 + accounts.name_legal))
    number = A.ints(np.arange(1, accounts.count + 1)).cast(pa.string())
    domain = A.joined(
        A.labels([slug(w, "-") for w in names.COMPANY_WORDS], accounts.name_word),
        "-",
        A.labels([slug(w, "-") for w in nouns], noun_code),
        "-",
        number,
        ".example",
    )
    return name, domain


def renamed(values: pa.Array, index: int, name: str) -> pa.Array:
    """The same names with one replaced: the cast's account keeps its place but not its made-up name."""
    listed = values.to_pylist()
    listed[index] = name
    return pa.array(listed, pa.string())


def accounts_table(
    accounts: Accounts, name: pa.Array, domain: pa.Array, owner: np.ndarray, updated: np.ndarray
) -> pa.Table:
    n = accounts.count
    return A.store_table(
        "accounts",
        {
            "id": A.ids(n),
            "name": name,
            "domain": domain,
            "industry": A.labels([i[0] for i in names.INDUSTRIES], accounts.industry),
            "employees": A.ints(accounts.employees),
            "region": A.labels(REGIONS, accounts.region),
            "segment": A.labels(SEGMENTS, accounts.segment),
            "owner_id": A.refs(owner),
            "is_key_account": A.flags(accounts.key),
            "created_at": A.timestamps(accounts.created),
            "updated_at": A.timestamps(updated),
            "external_id": A.numbered("a-", np.arange(1, n + 1), A.width_for(n, 6)),
        },
    )


def campaigns_table(campaigns: Campaigns) -> pa.Table:
    n = campaigns.count
    free = campaigns.channel == CH["direct"]
    return A.store_table(
        "campaigns",
        {
            "id": A.ids(n),
            "external_id": A.numbered("cmp-", np.arange(1, n + 1), A.width_for(n, 4)),
            "name": A.texts(campaigns.name),
            "channel": A.labels(CHANNEL_KEYS, campaigns.channel),
            "owning_team": A.labels(TEAMS, owning_team(campaigns)),
            "budget": A.decimals(campaigns.budget_cents, mask=free),
            "actual_cost": A.decimals(campaigns.cost_cents),
            "starts_on": A.dates(campaigns.starts),
            "ends_on": A.dates(campaigns.ends),
            "owner_id": A.refs(campaigns.owner),
        },
    )


def _email_suffix(contacts: Contacts) -> pa.Array:
    """'2', '3', … for the second and later person with the same name at the same company."""
    key = (contacts.account * len(CONTACT_FIRST_NAMES) + contacts.first) * len(names.LAST_NAMES) + contacts.last
    order = np.argsort(key, kind="stable")
    ranked = key[order]
    starts = np.r_[True, ranked[1:] != ranked[:-1]]
    group_start = np.maximum.accumulate(np.where(starts, np.arange(key.size), 0))
    rank = np.empty(key.size, np.int64)
    rank[order] = np.arange(key.size) - group_start
    return pc.if_else(pa.array(rank > 0), A.ints(rank + 1).cast(pa.string()), A.constant("", key.size))


def contacts_table(
    rng: np.random.Generator,
    contacts: Contacts,
    region: np.ndarray,
    domain: pa.Array,
    funnel: Funnel,
    lead_status: list[str | None],
    score: np.ndarray,
    scored_at: int,
) -> pa.Table:
    n = contacts.count
    # Numbers from the ranges set aside for fiction: 555-01xx, 020 7946 0xxx, 0491 570 1xx.
    low, high = np.array([100, 0, 100])[region], np.array([200, 1000, 160])[region]
    phone_digits = low + (rng.random(n) * (high - low)).astype(np.int64)
    first_slug = A.labels([slug(f) for f in CONTACT_FIRST_NAMES], contacts.first)
    last_slug = A.labels([slug(x) for x in names.LAST_NAMES], contacts.last)
    at_domain = domain.take(pa.array(contacts.account))
    email = A.joined(first_slug, ".", last_slug, _email_suffix(contacts), "@", at_domain)
    title = A.labels(
        [t for group in names.TITLES for t in group],
        np.cumsum([0] + [len(g) for g in names.TITLES])[:-1][contacts.title_class] + contacts.title,
    )
    prefix = A.labels(("+1 555-0", "+44 20 7946 0", "+61 491 570 "), region)
    phone = pc.if_else(pa.array(contacts.has_phone), A.joined(prefix, _pad3(phone_digits)), pa.nulls(n, pa.string()))
    return A.store_table(
        "contacts",
        {
            "id": A.ids(n),
            "email": email,
            "first_name": A.labels(CONTACT_FIRST_NAMES, contacts.first),
            "last_name": A.labels(names.LAST_NAMES, contacts.last),
            "title": title,
            "phone": phone,
            "account_id": A.refs(contacts.account),
            "source_channel": A.labels(CHANNEL_KEYS, contacts.channel),
            "stage": A.labels(STAGES, funnel.stage),
            "lead_status": A.labels(lead_status, funnel.stage),
            "owner_id": A.refs(funnel.owner),
            "created_at": A.timestamps(contacts.created),
            "updated_at": A.timestamps(funnel.at),
            "external_id": A.numbered("c-", np.arange(1, n + 1), A.width_for(n, 7)),
            "score": A.ints(score),
            "scored_at": A.timestamps(np.full(n, scored_at, np.int64)),
        },
    )


def _pad3(digits: np.ndarray) -> pa.Array:
    return pc.utf8_lpad(A.ints(digits).cast(pa.string()), width=3, padding="0")


def touchpoints_table(touches: Touches, contacts: Contacts) -> pa.Table:
    n = touches.count
    return A.store_table(
        "touchpoints",
        {
            "id": A.ids(n),
            "external_id": A.numbered("tp-", np.arange(1, n + 1), A.width_for(n, 9)),
            "contact_id": A.refs(touches.contact),
            "account_id": A.refs(contacts.account[touches.contact]),
            "campaign_id": A.refs(touches.campaign),
            "channel": A.labels(TOUCH_CHANNELS, touches.channel),
            "kind": A.labels(KINDS, touches.kind),
            "touch_type": A.labels(TOUCH_TYPES, touches.touch_type),
            "occurred_at": A.timestamps(touches.at),
            "user_id": A.refs(touches.user),
        },
    )


def opportunities_table(opps: Opportunities, account_name: pa.Array) -> pa.Table:
    n = opps.count
    product = A.labels(names.PRODUCTS, opps.product)
    return A.store_table(
        "opportunities",
        {
            "id": A.ids(n),
            "name": A.joined(account_name.take(pa.array(opps.account)), " — ", product),
            "account_id": A.refs(opps.account),
            "primary_contact_id": A.refs(opps.contact),
            "campaign_id": A.refs(opps.campaign),
            "amount": A.decimals(opps.amount_cents),
            "list_amount": A.decimals(opps.list_cents),
            "discount_rate": A.decimals(opps.discount_e4, A.RATE),
            "currency": A.constant("USD", n),
            "stage": A.labels(DEAL_STAGES, opps.stage),
            "status": A.labels(STATUSES, opps.status),
            "created_at": A.timestamps(opps.created),
            "close_date": A.dates(opps.close_at),
            "loss_reason": A.labels(LOSS_REASONS, opps.loss_reason),
            "competitor": A.labels(names.COMPETITORS, opps.competitor),
            "product": product,
            "owner_id": A.refs(opps.owner),
            "updated_at": A.timestamps(opps.updated),
            "external_id": A.numbered("o-", np.arange(1, n + 1), A.width_for(n, 6)),
        },
    )


def stage_changes_table(
    rng: np.random.Generator, ledger: dict, moves: DealMoves, reasons: Reasons, team_of: dict[str, str]
) -> pa.Table:
    """The contact ledger and the deal-stage moves, interleaved in time order."""
    deal_code = len(STAGES) + np.asarray(moves.to_stage)
    deal_from = np.where(moves.from_stage < 0, -1, len(STAGES) + moves.from_stage)
    is_deal = np.r_[np.zeros(ledger["at"].size, bool), np.ones(moves.at.size, bool)]
    at = np.r_[ledger["at"], moves.at]
    order = np.argsort(at, kind="stable")
    pick = lambda contact_part, deal_part: np.r_[contact_part, deal_part][order]  # noqa: E731
    n = at.size
    entity = pick(ledger["contact"], moves.opportunity)
    from_code = pick(ledger["from_stage"].astype(np.int64), deal_from)
    to_code = pick(ledger["to_stage"].astype(np.int64), deal_code)
    reason = pick(ledger["reason"].astype(np.int64), np.full(moves.at.size, -1))
    noted = (reason >= 0) & (rng.random(n) < 0.35)
    stage_names = STAGES + DEAL_STAGES
    team_code = {"marketing": 0, "sales": 1, "revops": 2}
    teams = np.array([team_code[team_of[s]] for s in STAGES] + [1] * len(DEAL_STAGES))
    when = A.timestamps(at[order])
    return A.store_table(
        "stage_changes",
        {
            "id": A.ids(n),
            "external_id": A.numbered("sc-", np.arange(1, n + 1), A.width_for(n, 8)),
            "entity_type": A.labels(("contact", "opportunity"), is_deal[order].astype(np.int64)),
            "entity_id": A.ints(entity + 1),
            "from_stage": A.labels(stage_names, from_code),
            "to_stage": A.labels(stage_names, to_code),
            "changed_at": when,
            "changed_by_id": A.refs(pick(ledger["actor"], moves.actor)),
            "team_before": A.labels(TEAMS, np.where(from_code < 0, -1, teams[np.maximum(from_code, 0)])),
            "team_after": A.labels(TEAMS, teams[to_code]),
            "reason": A.labels(reasons.codes, reason),
            "note": A.labels([REJECTION_NOTES.get(c) for c in reasons.codes], np.where(noted, reason, -1)),
            "origin": A.constant("demo", n),
            "recorded_at": when,
        },
    )


def feedback_table(items: FeedbackItems) -> pa.Table:
    n = len(items.kind)
    return A.store_table(
        "feedback_items",
        {
            "id": A.ids(n),
            "kind": A.texts(items.kind),
            "text": A.texts(items.text),
            "author_id": A.refs(items.author),
            "contact_id": A.refs(items.contact),
            "opportunity_id": A.refs(items.opportunity),
            "campaign_id": A.refs(items.campaign),
            "status": A.texts(items.status),
            "reply": A.texts(items.reply),
            "replied_by_id": A.refs(items.replied_by),
            "replied_at": A.timestamps(items.replied_at, mask=items.replied_at < 0),
            "created_at": A.timestamps(items.created),
        },
    )


def targets_table(targets: Targets) -> pa.Table:
    n = targets.amount_cents.size
    return A.store_table(
        "targets",
        {
            "id": A.ids(n),
            "metric": A.texts(targets.metric),
            "period_start": A.dates(targets.period_start),
            "period_end": A.dates(targets.period_end),
            "team": A.texts(targets.team),
            "amount": A.decimals(targets.amount_cents),
            "created_at": A.timestamps(targets.created),
        },
    )
