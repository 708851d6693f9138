"""`truce pricing`: list against realised price, the discounts behind it, and what they cost.

Marketing wants to sell the price, sales wants a lower one to close; this report puts the
argument on one page. The rules (docs/economics.md says the same in prose):

- A deal's **discount** is 1 − amount / list_amount, rounded half-even to 4 decimals (a
  hundredth of a percent, the precision truce stores rates at), so a deal quoted at exactly
  10 % off lands in the 10 % band even when its amount was rounded to the cent. When
  list_amount is missing (or not above zero) the stored discount_rate is used instead, and
  the list amount is implied as amount / (1 − discount_rate), rounded to the cent. A deal
  with neither is *unpriced*: counted apart, left out of every other number.
- A price above list is a negative discount; it counts in the first band.
- **Period**: a deal counts when its close date falls within [start, end] (inclusive); an open
  deal's close date is the planned one. Without a period every deal counts.
- **Realised against list** (per rep, the deal's owner; per segment, its account's; per
  product; and in total) covers won deals: realised = Σ amount, list = Σ list amount, given
  away = list − realised; average and median discount are over the deals, unweighted, and
  the weighted discount is given away / list.
- **Bands** come from `[pricing] discount_bands`: band i holds discounts from bands[i] up to,
  not including, bands[i + 1]; the last band is open-ended. Each band counts every priced
  deal (open, won, lost); its win rate is won / (won + lost), None without a closed deal;
  cycle length is the median number of days from the day a deal was created (UTC) to its
  close date, for won and for lost deals apart.
- **Beyond policy**: for each won deal, limit = `[pricing.discount_policy]` limit for its
  segment and product (product rule, else segment rule, else max_discount), and given away
  beyond policy = max(0, discount − limit) × list amount, rounded to the cent per deal.

- **Approvals** (truce.services.discounts, docs/economics.md "Discount approval"): requests made in
  the period (UTC date of the request) counted by state, overdue, approver SLA breaches and the
  median answer in business hours; won deals beyond policy split by whether an approved request
  asked for at least their discount; and every priced deal beyond its limit without one.

Money is summed as Decimal and returned as a float rounded to the cent; rates are floats.

    {
      "from": "2026-01-01" | None, "to": "2026-06-30" | None, "currency": "USD",
      "policy": {"max_discount": 0.15, "by_segment": {...}, "by_product": {...}},
      "deals": {"priced": int, "unpriced": int, "list_implied": int, "won": int},
      "totals": ROW,                 # won deals, all together
      "by_rep": [ROW + {"name"}],    # key: the owner's email (None: no owner)
      "by_segment": [ROW], "by_product": [ROW],
      "bands": [{"band", "low", "high", "deals", "open", "won", "lost", "win_rate",   # list_total and
                 "list_total", "realised_total",                                   # realised_total:
                 "median_cycle_days_won", "median_cycle_days_lost"}],              # its won deals
      "approvals": {"approver", "answer_within_hours", "requested", "approved", "refused", "withdrawn",
                    "pending", "overdue", "approver_sla_breaches", "median_answer_hours"},
      "beyond_policy_approval": {"with_approval": GIVEN, "without_approval": GIVEN},
      "deals_without_approval": [{"id", "name", "status", "rep", "discount", "limit", "imported",
                                  "beyond_policy"}],
    }
    GIVEN = {"deals", "imported", "list_total", "realised_total", "given_away", "beyond_policy"}
    ROW = {"key", "deals", "list_total", "realised_total", "given_away", "weighted_discount",
           "average_discount", "median_discount", "beyond_policy", "deals_beyond_policy"}

Rows are sorted by given away beyond policy, then given away, largest first, then key.
"""

from __future__ import annotations

import datetime as dt
import statistics
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal

from sqlalchemy import Engine, Row, RowMapping, and_, select

from truce.config import Pricing, TruceConfig
from truce.store.models import Account, Opportunity, User
from truce.store.present import present

CENT = Decimal("0.01")
RATE = Decimal("0.0001")
ZERO = Decimal("0")


class PricingError(ValueError):
    """An option the pricing report cannot use; the message says what would work."""


@dataclass(frozen=True)
class Deal:
    """One priced deal, as the report sees it."""

    status: str
    amount: Decimal
    list_amount: Decimal
    discount: Decimal
    created: dt.date
    closed: dt.date | None
    rep: str | None
    rep_name: str | None
    segment: str | None
    product: str | None
    id: int = 0
    name: str | None = None
    imported: bool = False  # carries another system's id: came from a CRM

    @property
    def cycle_days(self) -> int | None:
        return None if self.closed is None else (self.closed - self.created).days


def pricing_report(
    engine: Engine,
    config: TruceConfig,
    *,
    start: dt.date | None = None,
    end: dt.date | None = None,
    now: dt.datetime | None = None,
) -> dict:
    """The pricing report for the store behind `engine` (shape and rules in the module docstring)."""
    _check(start, end)
    rows = _read(engine, start, end)
    deals, unpriced, implied = [], 0, 0
    for row in rows:
        deal, from_rate = _price(row)
        if deal is None:
            unpriced += 1
            continue
        implied += from_rate
        deals.append(deal)
    pricing = config.pricing
    won = [d for d in deals if d.status == "won"]
    names = {d.rep: d.rep_name for d in won}
    by_rep = _rows(won, lambda d: d.rep, pricing)
    for entry in by_rep:
        entry["name"] = names.get(entry["key"])
    return {
        "from": start.isoformat() if start else None,
        "to": end.isoformat() if end else None,
        "currency": config.company.currency,
        "policy": pricing.discount_policy.model_dump(),
        "deals": {"priced": len(deals), "unpriced": unpriced, "list_implied": implied, "won": len(won)},
        "totals": _row(None, won, pricing),
        "by_rep": by_rep,
        "by_segment": _rows(won, lambda d: d.segment, pricing),
        "by_product": _rows(won, lambda d: d.product, pricing),
        "bands": _bands(deals, pricing.discount_bands),
        **_approvals(engine, config, deals, start, end, now or dt.datetime.now(dt.UTC)),
    }


def discount_of(amount: Decimal, list_amount: Decimal | None, discount_rate: Decimal | None) -> Decimal | None:
    """The deal's discount rate by the rule above, or None when it cannot be known."""
    if list_amount is not None and list_amount > 0:
        return (1 - amount / list_amount).quantize(RATE, rounding=ROUND_HALF_EVEN)
    if discount_rate is not None and discount_rate < 1:
        return Decimal(discount_rate).quantize(RATE, rounding=ROUND_HALF_EVEN)
    return None


def band_index(discount: Decimal, bands: list[float]) -> int:
    """Which band a discount falls in; below the first band (a premium) counts in the first."""
    index = 0
    for i, low in enumerate(bands):
        if discount >= Decimal(str(low)):
            index = i
    return index


def band_label(bands: list[float], index: int) -> str:
    low = _percent(bands[index])
    if index + 1 == len(bands):
        return f"{low} % +"
    return f"{low}–{_percent(bands[index + 1])} %"


def _percent(rate: float) -> str:
    return f"{Decimal(str(rate)) * 100:f}".rstrip("0").rstrip(".")


def beyond_policy(deal: Deal, pricing: Pricing) -> Decimal:
    limit = Decimal(str(pricing.discount_policy.limit_for(deal.segment, deal.product)))
    return max(ZERO, (deal.discount - limit) * deal.list_amount).quantize(CENT, rounding=ROUND_HALF_EVEN)


# ---- reading -----------------------------------------------------------------------------------


def _check(start, end) -> None:
    for name, day in (("start", start), ("end", end)):
        if day is not None and (not isinstance(day, dt.date) or isinstance(day, dt.datetime)):
            raise PricingError(f"{name} must be a date, not {day!r}")
    if start and end and start > end:
        raise PricingError(f"the period starts on {start} after it ends on {end}")


def _read(engine: Engine, start, end) -> Sequence[Row]:
    query = (
        select(
            Opportunity.id,
            Opportunity.name.label("deal_name"),  # not `name`: that is the rep's
            Opportunity.external_id,
            Opportunity.salesforce_id,
            Opportunity.hubspot_id,
            Opportunity.status,
            Opportunity.amount,
            Opportunity.list_amount,
            Opportunity.discount_rate,
            Opportunity.created_at,
            Opportunity.close_date,
            Opportunity.product,
            Account.segment,
            User.email,
            User.name,
        )
        .select_from(Opportunity)
        .outerjoin(Account, Opportunity.account_id == Account.id)
        .outerjoin(User, Opportunity.owner_id == User.id)
        .where(present(Opportunity))
        .order_by(Opportunity.id)
    )
    period = []
    if start is not None:
        period.append(Opportunity.close_date >= start)
    if end is not None:
        period.append(Opportunity.close_date <= end)
    if period:
        query = query.where(and_(*period))
    with engine.connect() as conn:
        return conn.execute(query).all()


def _price(row) -> tuple[Deal | None, int]:
    discount = discount_of(row.amount, row.list_amount, row.discount_rate)
    if discount is None:
        return None, 0
    from_rate = not (row.list_amount is not None and row.list_amount > 0)
    list_amount = (
        (row.amount / (1 - discount)).quantize(CENT, rounding=ROUND_HALF_EVEN) if from_rate else row.list_amount
    )
    deal = Deal(
        status=row.status,
        amount=row.amount,
        list_amount=list_amount,
        discount=discount,
        created=row.created_at.astimezone(dt.UTC).date(),
        closed=row.close_date,
        rep=row.email,
        rep_name=row.name,
        segment=row.segment,
        product=row.product,
        id=row.id,
        name=row.deal_name,
        imported=bool(row.external_id or row.salesforce_id or row.hubspot_id),
    )
    return deal, int(from_rate)


# ---- shaping -----------------------------------------------------------------------------------


def _money(value: Decimal) -> float:
    return float(value.quantize(CENT, rounding=ROUND_HALF_EVEN))


def _row(key, deals: list[Deal], pricing: Pricing) -> dict:
    listed = sum((d.list_amount for d in deals), ZERO)
    realised = sum((d.amount for d in deals), ZERO)
    beyond = [beyond_policy(d, pricing) for d in deals]
    discounts = [d.discount for d in deals]
    return {
        "key": key,
        "deals": len(deals),
        "list_total": _money(listed),
        "realised_total": _money(realised),
        "given_away": _money(listed - realised),
        "weighted_discount": float((listed - realised) / listed) if listed else None,
        "average_discount": float(sum(discounts, ZERO) / len(discounts)) if discounts else None,
        "median_discount": float(statistics.median(discounts)) if discounts else None,
        "beyond_policy": _money(sum(beyond, ZERO)),
        "deals_beyond_policy": sum(1 for amount in beyond if amount > 0),
    }


def _rows(deals: list[Deal], key, pricing: Pricing) -> list[dict]:
    groups: dict = defaultdict(list)
    for deal in deals:
        groups[key(deal)].append(deal)
    rows = [_row(k, group, pricing) for k, group in groups.items()]
    rows.sort(key=lambda r: (-r["beyond_policy"], -r["given_away"], r["key"] is None, r["key"] or ""))
    return rows


def _median(values: list[int]) -> float | None:
    return float(statistics.median(values)) if values else None


def _bands(deals: list[Deal], bands: list[float]) -> list[dict]:
    members: list[list[Deal]] = [[] for _ in bands]
    for deal in deals:
        members[band_index(deal.discount, bands)].append(deal)
    rows = []
    for i, group in enumerate(members):
        count = {status: sum(1 for d in group if d.status == status) for status in ("open", "won", "lost")}
        won = [d for d in group if d.status == "won"]
        closed = count["won"] + count["lost"]
        rows.append(
            {
                "band": band_label(bands, i),
                "low": bands[i],
                "high": bands[i + 1] if i + 1 < len(bands) else None,
                "deals": len(group),
                **count,
                "win_rate": count["won"] / closed if closed else None,
                "list_total": _money(sum((d.list_amount for d in won), ZERO)),
                "realised_total": _money(sum((d.amount for d in won), ZERO)),
                "median_cycle_days_won": _median(_cycles(group, "won")),
                "median_cycle_days_lost": _median(_cycles(group, "lost")),
            }
        )
    return rows


def _cycles(deals: list[Deal], status: str) -> list[int]:
    return [d.cycle_days for d in deals if d.status == status and d.cycle_days is not None]


# ---- approvals ---------------------------------------------------------------------------------


def _approvals(engine: Engine, config: TruceConfig, deals: list[Deal], start, end, now: dt.datetime) -> dict:
    """The discount approval sections: requests and answers, and beyond-policy give-away by approval."""
    from truce.services import discounts

    with engine.connect() as conn:
        approved = discounts.approved_discounts(conn)
        requests = discounts.requests_in(conn, start, end)
    clock = config.business_hours.clock(config.company.timezone)
    beyond = [(d, _limit(d, config.pricing)) for d in deals if d.discount > _limit(d, config.pricing)]
    unapproved = [(d, limit) for d, limit in beyond if not (d.id in approved and approved[d.id] >= d.discount)]
    unapproved_ids = {d.id for d, _ in unapproved}
    won_beyond = [d for d, _ in beyond if d.status == "won"]
    return {
        "approvals": _answers(requests, clock, now, config),
        "beyond_policy_approval": {
            "with_approval": _give_away([d for d in won_beyond if d.id not in unapproved_ids], config.pricing),
            "without_approval": _give_away([d for d in won_beyond if d.id in unapproved_ids], config.pricing),
        },
        "deals_without_approval": [_flagged(d, limit, config.pricing) for d, limit in unapproved],
    }


def _limit(deal: Deal, pricing: Pricing) -> Decimal:
    return Decimal(str(pricing.discount_policy.limit_for(deal.segment, deal.product))).quantize(RATE)


def _answers(requests: Sequence[RowMapping], clock, now: dt.datetime, config: TruceConfig) -> dict:
    from truce.domain import discounts as rules

    states = [r["state"] for r in requests]
    answered = [r for r in requests if r["state"] in rules.ANSWERS]
    hours = [clock.between(r["requested_at"], r["decided_at"]).total_seconds() / 3600 for r in answered]
    return {
        "approver": config.pricing.approval.approver,
        "answer_within_hours": config.pricing.approval.answer_within_hours,
        "requested": len(requests),
        "approved": states.count("approved"),
        "refused": states.count("refused"),
        "withdrawn": states.count("withdrawn"),
        "pending": states.count(rules.OPEN),
        "overdue": sum(1 for r in requests if r["state"] == rules.OPEN and now > r["due_at"]),
        "approver_sla_breaches": sum(1 for r in requests if rules.late(r["state"], r["due_at"], r["decided_at"], now)),
        "median_answer_hours": round(statistics.median(hours), 2) if hours else None,
    }


def _give_away(deals: list[Deal], pricing: Pricing) -> dict:
    listed = sum((d.list_amount for d in deals), ZERO)
    realised = sum((d.amount for d in deals), ZERO)
    return {
        "deals": len(deals),
        "imported": sum(1 for d in deals if d.imported),
        "list_total": _money(listed),
        "realised_total": _money(realised),
        "given_away": _money(listed - realised),
        "beyond_policy": _money(sum((beyond_policy(d, pricing) for d in deals), ZERO)),
    }


def _flagged(deal: Deal, limit: Decimal, pricing: Pricing) -> dict:
    return {
        "id": deal.id,
        "name": deal.name,
        "status": deal.status,
        "rep": deal.rep,
        "discount": float(deal.discount),
        "limit": float(limit),
        "imported": deal.imported,
        "beyond_policy": _money(beyond_policy(deal, pricing)),
    }
