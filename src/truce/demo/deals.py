"""Opportunities: the deals contacts became, their price, discount, outcome and stage history."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from truce.demo.clock import Window
from truce.demo.funnel import CUSTOMER, LOST, Funnel
from truce.demo.touches import Touches, last_campaign_before

OPEN_STAGES = ("Prospecting", "Qualification", "Needs Analysis", "Proposal/Price Quote", "Negotiation/Review")
DEAL_STAGES = OPEN_STAGES + ("Closed Won", "Closed Lost")
WON_STAGE, LOST_STAGE = len(OPEN_STAGES), len(OPEN_STAGES) + 1
STATUSES = ("open", "won", "lost")
OPEN, WON, LOST_STATUS = range(3)
LOSS_REASONS = ("price", "no_decision", "competitor", "timing", "features")
LOSS_WEIGHT = np.array([0.25, 0.30, 0.25, 0.12, 0.08])
COMPETITOR_WEIGHT = np.array([0.40, 0.30, 0.20, 0.10])
# How many open stages a lost deal got through before it died.
LOST_AT_WEIGHT = np.array([0.15, 0.25, 0.25, 0.20, 0.15])


@dataclass
class Opportunities:
    contact: np.ndarray
    account: np.ndarray
    campaign: np.ndarray
    product: np.ndarray
    list_cents: np.ndarray
    discount_e4: np.ndarray
    amount_cents: np.ndarray
    stage: np.ndarray  # index into DEAL_STAGES
    status: np.ndarray  # index into STATUSES
    created: np.ndarray
    close_at: np.ndarray  # actual close, or the planned one while open
    loss_reason: np.ndarray
    competitor: np.ndarray
    owner: np.ndarray
    updated: np.ndarray

    @property
    def count(self) -> int:
        return self.contact.size


@dataclass
class DealMoves:
    opportunity: np.ndarray
    from_stage: np.ndarray  # -1 for the first entry
    to_stage: np.ndarray
    at: np.ndarray
    actor: np.ndarray


def discounted_cents(list_cents: np.ndarray, discount_e4: np.ndarray) -> np.ndarray:
    """list × (1 − rate), rounded half to even at the cent, in exact integer arithmetic."""
    whole, rest = np.divmod(list_cents * (10_000 - discount_e4), 10_000)
    up = (2 * rest > 10_000) | ((2 * rest == 10_000) & (whole % 2 == 1))
    return whole + up


def make_opportunities(
    rng: np.random.Generator, funnel: Funnel, touches: Touches, window: Window
) -> tuple[Opportunities, DealMoves]:
    contact = np.flatnonzero(funnel.opportunity_at >= 0)
    contact = contact[np.argsort(funnel.opportunity_at[contact], kind="stable")]
    d, n = funnel.deals, contact.size
    final = funnel.stage[contact]
    status = np.select([final == CUSTOMER, final == LOST], [WON, LOST_STATUS], OPEN)
    created = funnel.opportunity_at[contact]
    # An open deal's close date is the plan; a closed one's is when the ledger says it closed.
    close_at = np.where(status == OPEN, np.maximum(d.close_plan[contact], created + 3_600), funnel.at[contact])

    loss_weight = np.tile(LOSS_WEIGHT, (n, 1))
    loss_weight[d.discount_e4[contact] == 0, 0] *= 1.6
    loss_weight[d.discount_e4[contact] >= 2500, 0] *= 0.6
    cumulative = loss_weight.cumsum(axis=1)
    reason = (cumulative < (rng.random(n) * cumulative[:, -1])[:, None]).sum(axis=1)
    reason = np.where(status == LOST_STATUS, reason, -1)
    named = np.select([reason == 2, status == LOST_STATUS, status == WON], [1.0, 0.35, 0.25], 0.0)
    competitor = np.where(rng.random(n) < named, rng.choice(4, n, p=COMPETITOR_WEIGHT), -1)

    moves, stage, updated = _stage_history(rng, funnel, contact, status, created, close_at, window)
    opportunities = Opportunities(
        contact=contact,
        account=funnel.contacts.account[contact],
        campaign=last_campaign_before(touches, contact, created, funnel.contacts.count),
        product=d.product[contact].astype(np.int64),
        list_cents=d.list_cents[contact],
        discount_e4=d.discount_e4[contact],
        amount_cents=discounted_cents(d.list_cents[contact], d.discount_e4[contact]),
        stage=stage,
        status=status,
        created=created,
        close_at=close_at,
        loss_reason=reason,
        competitor=competitor,
        owner=funnel.owner[contact],
        updated=updated,
    )
    return opportunities, moves


def _stage_history(rng, funnel: Funnel, contact, status, created, close_at, window: Window):
    """Deal stages at growing fractions of the deal's life; lost deals die part-way."""
    n = contact.size
    fractions = np.sort(rng.random((n, len(OPEN_STAGES) - 1)), axis=1)
    span = np.maximum(close_at - created - 6, 1)
    at = np.empty((n, len(OPEN_STAGES)), np.int64)
    at[:, 0] = created
    at[:, 1:] = created[:, None] + np.arange(1, len(OPEN_STAGES)) + (fractions * span[:, None]).astype(np.int64)
    reached = np.select(
        [status == WON, status == LOST_STATUS],
        [len(OPEN_STAGES), 1 + rng.choice(len(OPEN_STAGES), n, p=LOST_AT_WEIGHT)],
        (at < window.end).sum(axis=1),
    )
    opp, step = np.nonzero(np.arange(len(OPEN_STAGES))[None, :] < reached[:, None])
    closed = np.flatnonzero(status != OPEN)
    opportunity = np.concatenate([opp, closed])
    when = np.concatenate([at[opp, step], close_at[closed]])
    to_stage = np.concatenate([step, np.where(status[closed] == WON, WON_STAGE, LOST_STAGE)])
    from_stage = np.concatenate([step - 1, reached[closed] - 1])
    who = contact[opportunity]
    actor = np.where(when < funnel.handover_at[who], funnel.first_owner[who], funnel.owner[who])
    stage = np.where(status == OPEN, reached - 1, np.where(status == WON, WON_STAGE, LOST_STAGE))
    updated = np.where(status == OPEN, at[np.arange(n), reached - 1], close_at)
    return DealMoves(opportunity, from_stage, to_stage, when, actor), stage, updated
