"""Campaign costs, for the page where marketing keeps them and RevOps checks them.

`campaigns_with_cost` lists campaigns with budget, actual cost and owner, searchable by name or
channel; `set_cost` takes the amounts as people type them ("12,500", "12500.50", blank = leave it)
and hands them to `records.set_campaign_cost`, the write the API's PUT /campaigns/{id}/cost makes
(audited as `campaign_cost`). Reports spend actual cost, else budget (truce.services.economics).
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from sqlalchemy import Engine, func, or_, select

from truce.services.records import InvalidField, set_campaign_cost
from truce.store.models import Campaign, User

LARGEST_MONEY = Decimal(10) ** 16  # NUMERIC(18, 2), as the API's Money
SHOWN = 200


def campaigns_with_cost(engine: Engine, *, search: str = "", limit: int = SHOWN) -> dict:
    """{"items", "total", "matching"}: the newest campaigns matching `search` (name or channel, any case)."""
    shown = (Campaign.id, Campaign.name, Campaign.channel, Campaign.owning_team, Campaign.starts_on, Campaign.ends_on,
             Campaign.budget, Campaign.actual_cost)  # fmt: skip
    query = select(*shown, User.email.label("owner")).outerjoin(User, User.id == Campaign.owner_id)
    words = search.strip().lower()
    if words:
        like = f"%{words.replace('%', '').replace('_', '')}%"
        query = query.where(or_(func.lower(Campaign.name).like(like), func.lower(Campaign.channel).like(like)))
    with engine.connect() as conn:
        total = conn.execute(select(func.count()).select_from(Campaign)).scalar_one()
        matching = conn.execute(select(func.count()).select_from(query.subquery())).scalar_one()
        rows = conn.execute(query.order_by(Campaign.starts_on.desc().nulls_last(), Campaign.id.desc()).limit(limit))
        items = [dict(r._mapping) for r in rows]
    return {"items": items, "total": total, "matching": matching}


def amount(text: str | None, field: str) -> Decimal | None:
    """Money as typed: blank → None (leave it); thousands separators allowed; 0 or more, to the cent."""
    cleaned = (text or "").strip().replace(",", "").replace("_", "").replace(" ", "")
    if not cleaned:
        return None
    try:
        value = Decimal(cleaned)
    except InvalidOperation:
        raise InvalidField(field, f"{field}: {text!r} is not an amount; write it like 12500 or 12,500.50") from None
    if not value.is_finite() or not 0 <= value < LARGEST_MONEY:
        raise InvalidField(field, f"{field}: {text!r} is not between 0 and 9,999,999,999,999,999.99")
    if value != value.quantize(Decimal("0.01")):
        raise InvalidField(field, f"{field}: {text!r} has more than two decimals (money is kept to the cent)")
    return value.quantize(Decimal("0.01"))


def set_cost(
    engine: Engine, campaign_id: int, *, budget: str, actual_cost: str, actor: str, origin: str = "web"
) -> dict:
    """Set what was typed (a blank field keeps its value); the campaign as it is afterwards."""
    given = {k: v for k, v in (("budget", amount(budget, "budget")), ("actual_cost", amount(actual_cost, "actual_cost")))
             if v is not None}  # fmt: skip
    if not given:
        raise InvalidField("actual_cost", "actual_cost: type a budget or an actual cost to save")
    return set_campaign_cost(engine, campaign_id, given, actor=actor, origin=origin)
