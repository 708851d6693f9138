"""The revenue forecast on the store, and its back-test on the store's own history.

The rules are in truce.domain.forecast; docs/targets.md says them to users and records the
back-test's error on the demo company.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Engine, select

from truce.config import TruceConfig
from truce.domain import forecast as f
from truce.store.models import Opportunity, StageChange
from truce.store.present import present

# The forecast, and what it is compared with in the back-test (docs/targets.md explains each).
VARIANTS = ("forecast", "forecast_reached_odds", "forecast_learned_timing", "run_rate")


def load_deals(engine: Engine) -> list[f.Deal]:
    """Every opportunity with its stage history from the ledger (entity_type 'opportunity')."""
    with engine.connect() as conn:
        opportunities = conn.execute(
            select(
                Opportunity.id,
                Opportunity.amount,
                Opportunity.status,
                Opportunity.created_at,
                Opportunity.close_date,
                Opportunity.stage,
            )
            .where(present(Opportunity))
            .order_by(Opportunity.id)
        ).all()
        ledger = conn.execute(
            select(StageChange.entity_id, StageChange.changed_at, StageChange.to_stage)
            .where(StageChange.entity_type == "opportunity")
            .order_by(StageChange.entity_id, StageChange.changed_at, StageChange.id)
        ).all()
    moves: dict[int, list] = {}
    for deal_id, changed_at, to_stage in ledger:
        moves.setdefault(deal_id, []).append((changed_at, to_stage))
    return [
        f.Deal(
            id=o.id,
            amount=o.amount,
            status=o.status,
            created_at=o.created_at,
            close_date=o.close_date,
            stage=o.stage,
            moves=tuple(moves.get(o.id, ())),
        )
        for o in opportunities
    ]


def closing_stages(config: TruceConfig, deals: list[f.Deal]) -> frozenset[str]:
    """Stage names that close a deal (truce.toml's won and lost deal stages), as the store spells them."""
    names = {d.stage for d in deals} | {stage for d in deals for _, stage in d.moves}
    return frozenset(name for name in names if config.deal_status(name) != "open")


def revenue_forecast(
    engine: Engine,
    config: TruceConfig,
    period: f.Period,
    as_of: dt.date,
    *,
    timing: str = "close_date",
    deals: list[f.Deal] | None = None,
) -> dict:
    """The forecast's parts and the stage odds it used: {"period", "as_of", ..., "stage_probabilities"}."""
    deals = load_deals(engine) if deals is None else deals
    closing = closing_stages(config, deals)
    learn = f.learn_stage_odds if timing == "close_date" else f.learn_win_within
    odds = learn(deals, as_of, closing, max((period.end - as_of).days, 1))
    found = f.forecast_revenue(deals, period, as_of, closing, timing=timing, odds=odds)
    return {
        "period": period.label,
        "as_of": as_of,
        **found.as_dict(),
        "horizon_days": odds.horizon_days,
        "stage_probabilities": odds.rows(),
    }


def data_end(deals: list[f.Deal]) -> dt.date | None:
    """The last day the store has deal activity on: a creation, a stage move or a close."""
    days = [d.created_at.date() for d in deals]
    days += [at.date() for d in deals for at, _ in d.moves]
    days += [d.close_date for d in deals if d.status != "open" and d.close_date]
    return max(days, default=None)


def backtest(
    engine: Engine,
    config: TruceConfig,
    *,
    start: dt.date | None = None,
    end: dt.date | None = None,
) -> dict:
    """Forecast each complete month and quarter in [start, end] from its middle, and compare.

    Default span: the 365 days up to the last day with deal activity. As of the middle day of
    each period (the 15th of a 30-day month, day 45 of a 90-day quarter), only what was known
    by then is used: deals closed by then teach the stage odds, a deal's stage is its stage in
    the ledger then. The actual is the won revenue of the whole period, known today.
    """
    deals = load_deals(engine)
    last = data_end(deals)
    if last is None:
        return {"from": None, "to": None, "periods": [], "summary": {}, "notes": ["the store holds no deals"]}
    end = end or last
    start = start or end - dt.timedelta(days=364)
    closing = closing_stages(config, deals)
    rows = [_one_period(deals, closing, period) for period in f.months_and_quarters(start, end)]
    summary = {}
    for size in ("month", "quarter"):
        mine = [r for r in rows if r["granularity"] == size]
        summary[size] = {variant: f.errors((r[variant], r["actual"]) for r in mine) for variant in VARIANTS}
    return {"from": start, "to": end, "periods": rows, "summary": summary, "notes": _notes(deals, rows)}


def _one_period(deals: list[f.Deal], closing: frozenset[str], period: f.Period) -> dict:
    as_of = period.start + dt.timedelta(days=period.days // 2 - 1)
    dated = f.forecast_revenue(deals, period, as_of, closing)
    reached = f.forecast_revenue(deals, period, as_of, closing, odds=f.learn_reached_odds(deals, as_of, closing))
    learned = f.forecast_revenue(deals, period, as_of, closing, timing="learned")
    actual = f.won_between(deals, period.start, period.end)
    return {
        "period": period.label,
        "granularity": "month" if period.days <= 31 else "quarter",
        "as_of": as_of,
        "actual": actual,
        "forecast": dated.forecast,
        "error": dated.forecast - actual,
        "won_to_date": dated.won_to_date,
        "weighted_pipeline": dated.weighted_pipeline,
        "new_business": dated.new_business,
        "forecast_reached_odds": reached.forecast,
        "forecast_learned_timing": learned.forecast,
        "run_rate": dated.run_rate,
        "open_deals": dated.open_deals,
        "unknown_stage": dated.unknown_stage,
    }


def _notes(deals: list[f.Deal], rows: list[dict]) -> list[str]:
    notes = [
        "close dates: the store keeps each deal's latest close date only, so the 'forecast' column "
        "knows when deals then open would close (for a deal closed since, its actual close day); "
        "'forecast_learned_timing' ignores close dates and learns the timing from history instead: "
        "no peeking at all."
    ]
    without = sum(1 for d in deals if not d.moves)
    if without:
        notes.append(
            f"{without} of {len(deals)} deals have no stage history in the ledger; their stage then is "
            "taken as today's while open, and as unknown (overall win rate) once closed."
        )
    unknown = sum(r["unknown_stage"] for r in rows)
    if unknown:
        notes.append(f"{unknown} open deals across the periods had no known stage on the as-of day.")
    return notes
