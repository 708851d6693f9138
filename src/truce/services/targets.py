"""Shared targets: set one (RevOps only), and see attainment and the forecast against each.

A target is a revenue, pipeline or MQL number for a period, shared by both teams (team NULL in
the store) or set for marketing or sales. One target per (metric, period, team): setting it
again changes the amount, and the audit log keeps both. What counts as actual, per metric and
team (docs/targets.md says the same to users):

- revenue: won deals' amounts with a close date in the period. A team's revenue is its credit
  in the credit ledger (truce.services.credit: the [attribution] model, deals split exactly to
  the cent, credit by the team of the touch); a deal without touches is credited to no team.
- pipeline: the amount of opportunities created in the period (UTC days), whatever became of
  them. A team's pipeline is its credit for those deals, the same way.
- mqls: contacts whose first entry into the handoff stage (truce.toml, default mql) fell in the
  period; a lead recycled and handed over again is not a new MQL. Shared and per-team MQL
  targets count the same leads.

The forecast: revenue by truce.domain.forecast (won so far + weighted open pipeline + new
business); a team's revenue forecast is the shared forecast times the team's share of the won
revenue credited so far in the period. Pipeline and MQLs: the run-rate.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from decimal import Decimal, InvalidOperation
from fractions import Fraction

from sqlalchemy import Engine, RowMapping, func, insert, select, text, update

from truce.config import TruceConfig
from truce.domain import forecast as f
from truce.store.models import TARGET_METRICS, Opportunity, StageChange, Target, User
from truce.store.present import present
from truce.store.work import unit_of_work
from truce.vocabulary import TARGET_TEAMS as VOCABULARY_TARGET_TEAMS

TARGET_TEAMS = VOCABULARY_TARGET_TEAMS
LARGEST_AMOUNT = Decimal(10) ** 13  # what the money column keeps exactly on every backend


class TargetError(ValueError):
    """A target that cannot be set as asked; the message names the field and what would work."""


class TargetRefused(TargetError):
    """The person setting the target may not: only active RevOps users set targets."""


class TargetMoved(TargetError):
    """The target someone confirmed replacing is no longer the one in place: another person changed it."""


def set_target(
    engine: Engine,
    *,
    metric: str,
    amount: Decimal | int | str,
    actor: str | None,
    period: str | None = None,
    start: dt.date | None = None,
    end: dt.date | None = None,
    team: str = "shared",
    origin: str = "cli",
    replaces: Decimal | str | None = None,
) -> dict:
    """Create or update the target for (metric, period, team); audited. Returns the target and whether it was new.

    `replaces` is the amount the person confirmed replacing (the page's "Replace the target"): when
    the target in place no longer holds it, nothing is written, so a confirmation never overwrites a
    change it did not show."""
    wanted = _checked(metric, amount, period, start, end, team)
    with unit_of_work(engine, actor or "unknown", origin) as work:
        conn = work.conn
        user = _revops(conn, actor)
        if conn.dialect.name == "postgresql":
            # Two people setting the same target at once: the second waits, then updates.
            conn.execute(text("SELECT pg_advisory_xact_lock(hashtext('truce.targets'))"))
        key = (
            (Target.metric == wanted["metric"])
            & (Target.period_start == wanted["period_start"])
            & (Target.period_end == wanted["period_end"])
            & (Target.team.is_(None) if wanted["team"] is None else Target.team == wanted["team"])
        )
        existing = conn.execute(select(Target).where(key).order_by(Target.id)).mappings().first()
        _still_in_place(existing, replaces)
        now = dt.datetime.now(dt.UTC)
        if existing is None:
            target_id = conn.execute(insert(Target).returning(Target.id), {**wanted, "created_at": now}).scalar_one()
            before = None
        else:
            target_id = existing["id"]
            conn.execute(update(Target).where(Target.id == target_id).values(amount=wanted["amount"]))
            before = _audit_form(existing)
        after = _audit_form({**wanted, "id": target_id})
        work.record("target_set", "target", target_id, before, after, actor=user["email"], at=now)
    return {**after, "created": before is None, "previous_amount": before["amount"] if before else None}


def _still_in_place(existing, replaces: Decimal | str | None) -> None:
    if replaces is None:
        return
    try:
        confirmed = Decimal(str(replaces))
    except ArithmeticError:
        raise TargetError(f"replaces: not an amount: {replaces!r}") from None
    now = None if existing is None else existing["amount"]
    if now is None or Decimal(str(now)) != confirmed:
        held = "no target" if now is None else f"{now}"
        raise TargetMoved(
            f"the target changed while you were deciding: it holds {held} now, not the {replaces} you confirmed "
            "replacing; nothing was written — look at it again"
        )


def target_in_place(
    engine: Engine, *, metric: str, amount: Decimal | int | str, period: str | None, team: str = "shared"
) -> dict | None:
    """The target that setting (metric, period, team) to `amount` would replace, or None when there is
    none or it already holds that amount. Checks the values as `set_target` does (TargetError), so a
    form can ask "replace it?" before anything is written."""
    wanted = _checked(metric, amount, period, None, None, team)
    key = (
        (Target.metric == wanted["metric"])
        & (Target.period_start == wanted["period_start"])
        & (Target.period_end == wanted["period_end"])
        & (Target.team.is_(None) if wanted["team"] is None else Target.team == wanted["team"])
    )
    with engine.connect() as conn:
        existing = conn.execute(select(Target).where(key).order_by(Target.id)).mappings().first()
    if existing is None or existing["amount"] == wanted["amount"]:
        return None
    return {**_audit_form(existing), "new_amount": str(wanted["amount"])}


def _checked(metric, amount, period, start, end, team) -> dict:
    if metric not in TARGET_METRICS:
        raise TargetError(f"unknown metric {metric!r}; choose one of {', '.join(TARGET_METRICS)}")
    if team not in TARGET_TEAMS:
        raise TargetError(f"unknown team {team!r}; choose one of {', '.join(TARGET_TEAMS)} (shared: both teams)")
    try:
        span = f.parse_period(period, start=start, end=end)
    except f.PeriodError as exc:
        raise TargetError(str(exc)) from None
    return {
        "metric": metric,
        "team": None if team == "shared" else team,
        "period_start": span.start,
        "period_end": span.end,
        "amount": _amount(metric, amount),
    }


def _amount(metric: str, amount) -> Decimal:
    if isinstance(amount, float):
        raise TargetError("amount: give a Decimal, int or text, not a float")
    try:
        value = Decimal(str(amount).strip().replace(",", "").replace("_", ""))
    except InvalidOperation:
        raise TargetError(f"amount: not a number: {amount!r}") from None
    if not value.is_finite() or value <= 0:
        raise TargetError(f"amount must be more than 0, not {amount!r}")
    if value >= LARGEST_AMOUNT:
        raise TargetError(f"amount {amount!r} is too large (at most 9,999,999,999,999.99)")
    if metric == "mqls" and value != value.to_integral_value():
        raise TargetError(f"an MQL target is a whole number of leads, not {amount!r}")
    if value != value.quantize(f.CENT):
        raise TargetError(f"amount {amount!r} has more than two decimals (money is kept to the cent)")
    return value.quantize(f.CENT)


def _revops(conn, actor: str | None):
    if not actor:
        raise TargetRefused("say who sets the target: --as EMAIL or TRUCE_USER (a revops user)")
    user = conn.execute(select(User).where(User.email == actor.strip().lower())).mappings().one_or_none()
    if user is None:
        raise TargetRefused(f"no user with email {actor.strip()!r}; add them first")
    if user["team"] != "revops":
        raise TargetRefused(f"only revops users may set targets; {user['email']} is on the {user['team']} team")
    if not user["active"]:
        raise TargetRefused(f"{user['email']} is not an active user")
    return user


def _audit_form(target) -> dict:
    return {
        "id": target["id"],
        "metric": target["metric"],
        "team": target["team"] or "shared",
        "period": f.Period(target["period_start"], target["period_end"]).label,
        "period_start": target["period_start"].isoformat(),
        "period_end": target["period_end"].isoformat(),
        "amount": str(target["amount"]),
    }


# ---- the report ----------------------------------------------------------------------------------


def targets_report(
    engine: Engine,
    config: TruceConfig,
    *,
    period: str | None = None,
    as_of: dt.date | None = None,
) -> dict:
    """{"as_of", "period", "model", "targets": [...]} — attainment and forecast for each target.

    Without a period: the targets whose period contains the as-of day (default today, UTC).
    With one: the targets whose period lies within it (a quarter shows its months' targets too).
    """
    from truce.services.forecast import load_deals

    as_of = as_of or dt.datetime.now(dt.UTC).date()
    span = f.parse_period(period) if period else None
    targets = _targets(engine, span, as_of)
    deals = load_deals(engine) if targets else []
    rows = [_measure(engine, config, deals, t, as_of) for t in targets]
    return {
        "as_of": as_of,
        "period": span.label if span else None,
        "model": config.attribution.model,
        "targets": rows,
    }


def _targets(engine: Engine, span: f.Period | None, as_of: dt.date) -> Sequence[RowMapping]:
    query = select(Target)
    if span is None:
        query = query.where(Target.period_start <= as_of, Target.period_end >= as_of)
    else:
        query = query.where(Target.period_start >= span.start, Target.period_end <= span.end)
    order = (Target.period_start, Target.period_end.desc(), Target.metric, func.coalesce(Target.team, ""))
    with engine.connect() as conn:
        return conn.execute(query.order_by(*order)).mappings().all()


def _measure(engine, config, deals, target, as_of: dt.date) -> dict:
    from truce.services.forecast import revenue_forecast

    span = f.Period(target["period_start"], target["period_end"])
    team, metric = target["team"], target["metric"]
    elapsed = span.elapsed(as_of)
    seen = (span.start, min(as_of, span.end))
    started = as_of >= span.start
    detail = None
    if metric == "mqls":
        actual = Decimal(_first_mqls(engine, config, *seen)) if started else Decimal(0)
        forecast = f.run_rate(actual, elapsed, span.days)
    elif metric == "pipeline":
        actual = _pipeline(engine, config, team, *seen) if started else Decimal("0.00")
        forecast = f.run_rate(actual, elapsed, span.days)
    else:
        detail = revenue_forecast(engine, config, span, as_of, deals=deals)
        actual, forecast = detail["won_to_date"], detail["forecast"]
        if team is not None:
            actual, forecast = _team_revenue(engine, config, team, seen, detail) if started else (actual, None)
    if not started:
        forecast = forecast if metric == "revenue" and team is None else None
    return {
        "metric": metric,
        "team": team or "shared",
        "period": span.label,
        "period_start": span.start,
        "period_end": span.end,
        "amount": target["amount"],
        "actual": actual,
        "attainment": f.share(actual, target["amount"]),
        "forecast": forecast,
        "forecast_attainment": None if forecast is None else f.share(forecast, target["amount"]),
        "days_elapsed": elapsed,
        "days_total": span.days,
        "forecast_detail": detail,
    }


def _first_mqls(engine: Engine, config: TruceConfig, first: dt.date, last: dt.date) -> int:
    entered = (
        select(StageChange.entity_id, func.min(StageChange.changed_at).label("at"))
        .where(StageChange.entity_type == "contact", StageChange.to_stage == config.funnel.handoff_stage)
        .group_by(StageChange.entity_id)
        .subquery()
    )
    query = select(func.count()).where(
        entered.c.at >= f.end_of(first - dt.timedelta(days=1)), entered.c.at < f.end_of(last)
    )
    with engine.connect() as conn:
        return conn.execute(query).scalar_one()


def _pipeline(engine: Engine, config: TruceConfig, team: str | None, first: dt.date, last: dt.date) -> Decimal:
    if team is not None:
        from truce.services.credit import team_credit

        return team_credit(engine, config, team, conversion="opportunity", start=first, end=last)
    created = (Opportunity.created_at >= f.end_of(first - dt.timedelta(days=1))) & (
        Opportunity.created_at < f.end_of(last)
    )
    with engine.connect() as conn:
        amounts = conn.execute(select(Opportunity.amount).where(created, present(Opportunity))).scalars().all()
    return sum(amounts, Decimal("0.00"))  # in Python: SQLite would sum money as floating point


def _team_revenue(engine, config, team: str, seen: tuple, shared: dict):
    from truce.services.credit import team_credit

    credit = team_credit(engine, config, team, conversion="won", start=seen[0], end=seen[1])
    if not shared["won_to_date"]:
        return credit, None
    return credit, f.cents(Fraction(shared["forecast"]) * Fraction(credit) / Fraction(shared["won_to_date"]))
