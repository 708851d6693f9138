"""The credit ledger: each won deal's revenue split among the people and teams that touched it.

The basis of shared rewards. The attribution model (truce.services.attribution.journey_credit)
says what share of a deal each person or team earned; here each deal's amount is split in
those shares to the cent (largest remainder, truce.domain.credit), so for every model

    credited revenue + unattributed revenue == won revenue, exactly, in Decimal,

where unattributed revenue is the won deals with no touch in the lookback window (no model
can credit them).

By person, touches that no person made (an ad click, a webinar, a newsletter open: most of
marketing's work) would all land on "(none)", and no marketer could ever earn a share of a
shared reward. So a deal's "(none)" share goes to the owners of the campaigns that touched the
deal, in proportion to those campaigns' credit for the deal under the same model (the model run
by campaign); a deal no owned campaign touched keeps its "(none)" share. The team ledger is
unchanged by this: a touch's team is its kind (marketing or sales), whoever owns the campaign.
`bonus_pool` pays people only — "(none)" is never paid.

The ledger (plain data; money is Decimal):

    {"model", "level", "lookback_days", "from", "to", "won_revenue", "deals",
     "credited_revenue", "unattributed": {"deals", "revenue"},
     "people": [{"user", "name", "team", "revenue_credit", "deals_touched", "share"}],
     "teams":  [{"team", "revenue_credit", "deals_touched", "share"}],
     "rows":   [{"deal_id", "deal", "close_date", "amount", "by", "key", "weight", "revenue_credit"}],
                                         # by user also "weight_from_campaigns": the part passed on as owner
     "notes":  [...]}

share is of won revenue, so the shares and the unattributed share add up to 1.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Mapping
from decimal import Decimal
from fractions import Fraction

from sqlalchemy import Engine, func, select

from truce.config import TruceConfig
from truce.domain.credit import SplitError, clamped_shares, split_cents, to_cents
from truce.domain.forecast import end_of
from truce.store.models import Campaign, Opportunity, User
from truce.store.present import present

NOBODY = "(none)"
SPLITS = ("credit", "team_then_credit")
DEFAULT_TEAM_SPLIT = {"marketing": Fraction(1, 2), "sales": Fraction(1, 2)}


class CreditError(ValueError):
    """A ledger or a bonus pool that cannot be made as asked; the message says why."""


def credit_ledger(
    engine: Engine,
    config: TruceConfig,
    *,
    model: str | None = None,
    start: dt.date | None = None,
    end: dt.date | None = None,
    by: tuple[str, ...] = ("user", "team"),
) -> dict:
    """Won deals with a close date in [start, end] (inclusive, UTC), split by person and by team."""
    unknown = set(by) - {"user", "team"}
    if unknown or not by:
        raise CreditError(f"credit by user and/or team, not {', '.join(sorted(unknown)) or 'nothing'}")
    from truce.services.attribution import one_reading

    deals = _deals(engine, "won", start, end)
    won = sum((d["amount"] for d in deals.values()), Decimal("0.00"))
    rows, uncredited = [], None
    with one_reading():  # person, team and campaign credit split the same journeys
        for key in by:
            split, left_out = _split(engine, config, model, key, "won", start, end, deals)
            if uncredited is not None and left_out != uncredited:
                raise RuntimeError("the user and team journeys credit different deals")  # a bug, not a user error
            uncredited = left_out
            rows += split
    assert uncredited is not None  # `by` is not empty: the loop ran
    left = sum((deals[d]["amount"] for d in uncredited or ()), Decimal("0.00"))
    people = _totals([r for r in rows if r["by"] == "user"], won) if "user" in by else []
    _name_people(engine, people)
    return {
        "model": model or config.attribution.model,
        "level": config.attribution.level,
        "lookback_days": config.attribution.lookback_days,
        "from": start,
        "to": end,
        "won_revenue": won,
        "deals": len(deals),
        "credited_revenue": won - left,
        "unattributed": {"deals": len(uncredited), "revenue": left},
        "people": people,
        "teams": _totals([r for r in rows if r["by"] == "team"], won) if "team" in by else [],
        "rows": rows,
        "notes": _notes(engine, config, model, by),
    }


def _notes(engine: Engine, config: TruceConfig, model: str | None, by: tuple[str, ...]) -> list[str]:
    if "user" not in by or (model or config.attribution.model) != "shapley":
        return []
    if _campaign_model(engine, config, model) == "shapley":
        return []
    return [
        "Shapley cannot credit this many campaigns at once, so the credit of touches without a person "
        "is passed to campaign owners in the linear model's proportions"
    ]


def team_credit(
    engine: Engine,
    config: TruceConfig,
    team: str,
    *,
    conversion: str = "won",
    start: dt.date | None = None,
    end: dt.date | None = None,
    model: str | None = None,
) -> Decimal:
    """One team's exact credit for deals won (close date) or created (pipeline) in [start, end]."""
    deals = _deals(engine, conversion, start, end)
    rows, _ = _split(engine, config, model, "team", conversion, start, end, deals)
    return sum((r["revenue_credit"] for r in rows if r["key"] == team), Decimal("0.00"))


def _deals(engine: Engine, conversion: str, start: dt.date | None, end: dt.date | None) -> dict[int, dict]:
    """{id: {"amount", "name", "close_date"}}: deals won (by close date) or created (by UTC day) in the period."""
    query = select(Opportunity.id, Opportunity.name, Opportunity.amount, Opportunity.close_date).where(
        present(Opportunity)
    )
    if conversion == "won":
        query = query.where(Opportunity.status == "won", Opportunity.close_date.is_not(None))
        if start:
            query = query.where(Opportunity.close_date >= start)
        if end:
            query = query.where(Opportunity.close_date <= end)
    else:
        if start:
            query = query.where(Opportunity.created_at >= end_of(start - dt.timedelta(days=1)))
        if end:
            query = query.where(Opportunity.created_at < end_of(end))
    with engine.connect() as conn:
        found = conn.execute(query.order_by(Opportunity.id)).all()
    return {d.id: {"amount": d.amount, "name": d.name, "close_date": d.close_date} for d in found}


def _split(engine, config, model, by, conversion, start, end, deals: dict) -> tuple[list[dict], set[int]]:
    """Each credited deal's amount in its keys' shares, to the cent; and the deals nobody touched."""
    shares = _shares(engine, config, model, by, conversion, start, end, deals)
    from_campaigns: dict[int, dict[str, Fraction]] = {}
    if by == "user":
        from_campaigns = _to_campaign_owners(engine, config, model, conversion, start, end, deals, shares)
    rows = []
    for deal_id in sorted(shares):
        deal, keys = deals[deal_id], sorted(shares[deal_id])
        whole = sum(shares[deal_id].values())
        parts = split_cents(deal["amount"], [shares[deal_id][k] for k in keys])
        for key, part in zip(keys, parts, strict=True):
            row = {
                "deal_id": deal_id,
                "deal": deal["name"],
                "close_date": deal["close_date"],
                "amount": deal["amount"],
                "by": by,
                "key": key,
                "weight": float(shares[deal_id][key] / whole) if whole else 1 / len(keys),
                "revenue_credit": part,
            }
            if by == "user":
                passed = from_campaigns.get(deal_id, {}).get(key, Fraction(0))
                row["weight_from_campaigns"] = float(passed / whole) if whole else 0.0
            rows.append(row)
    return rows, set(deals) - set(shares)


def _shares(engine, config, model, by, conversion, start, end, deals: dict) -> dict[int, dict[str, Fraction]]:
    from truce.services.attribution import journey_credit

    shares: dict[int, dict[str, Fraction]] = defaultdict(dict)
    for r in journey_credit(engine, config, model=model, by=by, conversion=conversion, start=start, end=end):
        if r["deal_id"] not in deals:
            raise RuntimeError(f"attribution credited deal {r['deal_id']}, which is not in the period")
        shares[r["deal_id"]][r["key"]] = shares[r["deal_id"]].get(r["key"], Fraction(0)) + Fraction(r["share"])
    return shares


def _to_campaign_owners(engine, config, model, conversion, start, end, deals, shares) -> dict:
    """Move each deal's "(none)" share (touches no person made) to the owners of the campaigns
    that touched it, in proportion to those campaigns' credit for the deal under the same model
    (equally when none has any). Changes `shares` in place; returns {deal: {owner: share
    passed}}. A deal that no owned campaign touched keeps its "(none)" share."""
    if not any(NOBODY in split for split in shares.values()):
        return {}
    owners = _campaign_owners(engine)
    by_campaign = _shares(
        engine, config, _campaign_model(engine, config, model), "campaign", conversion, start, end, deals
    )
    passed: dict[int, dict[str, Fraction]] = {}
    for deal_id, split in shares.items():
        owned = {c: w for c, w in by_campaign.get(deal_id, {}).items() if c in owners}
        if NOBODY not in split or not owned:
            continue
        nobody = split.pop(NOBODY)
        whole = sum(owned.values())
        gave = passed.setdefault(deal_id, {})
        for campaign, weight in owned.items():
            owner = owners[campaign]
            part = nobody * weight / whole if whole else nobody / len(owned)
            split[owner] = split.get(owner, Fraction(0)) + part
            gave[owner] = gave.get(owner, Fraction(0)) + part
    return passed


def _campaign_model(engine: Engine, config: TruceConfig, model: str | None) -> str:
    """The model to credit campaigns by: the ledger's own, except Shapley beyond the keys it can
    take at once (one per campaign), where the linear split stands in."""
    from truce.services.attribution_runner import MAX_SHAPLEY_KEYS

    chosen = model or config.attribution.model
    if chosen != "shapley":
        return chosen
    with engine.connect() as conn:
        campaigns = conn.execute(select(func.count()).select_from(Campaign)).scalar_one()
    return "linear" if campaigns + 1 > MAX_SHAPLEY_KEYS else chosen


def _campaign_owners(engine: Engine) -> dict[str, str]:
    """{campaign key (its id, as attribution spells it): its owner's email}."""
    query = select(Campaign.id, User.email).join(User, Campaign.owner_id == User.id)
    with engine.connect() as conn:
        return {str(campaign_id): email for campaign_id, email in conn.execute(query).all()}


def _totals(rows: list[dict], won: Decimal) -> list[dict]:
    credit: dict[str, Decimal] = defaultdict(lambda: Decimal("0.00"))
    touched: dict[str, int] = defaultdict(int)
    for r in rows:
        credit[r["key"]] += r["revenue_credit"]
        touched[r["key"]] += 1
    label = "user" if rows and rows[0]["by"] == "user" else "team"
    found = [
        {
            label: key,
            "revenue_credit": credit[key],
            "deals_touched": touched[key],
            "share": float(Fraction(credit[key]) / Fraction(won)) if won else None,
        }
        for key in credit
    ]
    return sorted(found, key=lambda r: (-r["revenue_credit"], r[label]))


def _name_people(engine: Engine, people: list[dict]) -> None:
    with engine.connect() as conn:
        users = {u.email: u for u in conn.execute(select(User.email, User.name, User.team)).all()}
    for person in people:
        user = users.get(person["user"])
        person["name"] = user.name if user else "touches without a person"
        person["team"] = user.team if user else None


# ---- a shared bonus pool -------------------------------------------------------------------------


def bonus_pool(
    ledger: dict,
    pool: Decimal | int | str,
    *,
    split: str = "credit",
    team_split: Mapping[str, Fraction | Decimal | int] | None = None,
    floor: Decimal | int | str | None = None,
    cap: Decimal | int | str | None = None,
) -> dict:
    """What each person would get from a shared bonus pool; the payouts add up to the pool, to the cent.

    split "credit": the whole pool in proportion to each person's revenue credit. split
    "team_then_credit": first among the teams by `team_split` (default marketing and sales
    half each), then within each team by credit. A team without anyone credited drops out and
    its share goes to the other teams; people on teams not in the split are not paid. `floor`
    and `cap` bound each person's payout (whatever a capped person cannot take goes to the
    others in proportion). Everyone named in the ledger is eligible — "(none)" is not a person.
    """
    if split not in SPLITS:
        raise CreditError(f"unknown split {split!r}; choose one of {', '.join(SPLITS)}")
    if not ledger["people"]:
        raise CreditError("a bonus pool needs the ledger by user")
    amount, floor, cap = _money("pool", pool), _money("floor", floor), _money("cap", cap)
    if amount is None:
        raise CreditError("a bonus pool needs its amount")
    pool = amount
    if floor is not None and cap is not None and floor > cap:
        raise CreditError(f"the floor {floor} is above the cap {cap}")
    people = [p for p in ledger["people"] if p["user"] != NOBODY]
    if not people:
        raise CreditError("nobody in the ledger can be paid: no touch in the period was made by a person")
    groups = _groups(people, pool, split, team_split)
    payouts, teams = [], []
    for team, (amount, members) in groups.items():
        try:
            exact = clamped_shares(
                Fraction(amount),
                [Fraction(max(p["revenue_credit"], 0)) for p in members],
                None if floor is None else Fraction(floor),
                None if cap is None else Fraction(cap),
            )
        except SplitError as exc:
            raise CreditError(f"{team}: {exc}" if split == "team_then_credit" else str(exc)) from None
        for person, paid in zip(
            members, split_cents(amount, exact) if amount else [Decimal("0.00")] * len(members), strict=True
        ):
            payouts.append(
                {
                    "user": person["user"],
                    "name": person["name"],
                    "team": person["team"],
                    "revenue_credit": person["revenue_credit"],
                    "payout": paid,
                }
            )
        teams.append({"team": team, "pool": amount, "people": len(members)})
    paid_users = {p["user"] for p in payouts}
    return {
        "pool": pool,
        "split": split,
        "team_split": {t: float(w) for t, w in _weights(team_split).items()} if split == "team_then_credit" else None,
        "floor": floor,
        "cap": cap,
        "teams": teams,
        "payouts": sorted(payouts, key=lambda p: (-p["payout"], p["user"])),
        "not_paid": sorted(p["user"] for p in people if p["user"] not in paid_users),
        "total_paid": sum((p["payout"] for p in payouts), Decimal("0.00")),
    }


def _money(name: str, value) -> Decimal | None:
    if value is None:
        return None
    if isinstance(value, float):
        raise CreditError(f"{name}: give a Decimal, int or text, not a float")
    try:
        amount = Decimal(str(value).replace(",", "").replace("_", ""))
        to_cents(amount)
    except (ArithmeticError, ValueError):
        raise CreditError(f"{name}: not an amount of money to the cent: {value!r}") from None
    if amount < 0 or (name == "pool" and amount == 0):
        raise CreditError(f"{name} must be more than 0, not {value!r}")
    return amount.quantize(Decimal("0.01"))


def _weights(team_split) -> dict[str, Fraction]:
    weights = {t: Fraction(w) for t, w in (team_split or DEFAULT_TEAM_SPLIT).items()}
    if any(w < 0 for w in weights.values()) or not sum(weights.values()):
        raise CreditError("a team split needs positive weights, e.g. marketing:50,sales:50")
    return weights


def _groups(people: list[dict], pool: Decimal, split: str, team_split) -> dict[str, tuple[Decimal, list[dict]]]:
    if split == "credit":
        return {"everyone": (pool, people)}
    weights = _weights(team_split)
    members = {t: [p for p in people if p["team"] == t] for t in weights}
    paying = [t for t in weights if members[t] and weights[t] > 0]
    if not paying:
        raise CreditError(f"nobody in the ledger is on {', '.join(weights)}")
    amounts = split_cents(pool, [weights[t] for t in paying])
    return {t: (amount, members[t]) for t, amount in zip(paying, amounts, strict=True)}
