"""Indicators of alignment measured from the shared data, beside the survey's opinions.

`indicators(engine, config, start, end)` measures one period, first to last day inclusive,
in the company's time zone. Every share is a fraction from 0 to 1, None when nothing was
there to count. docs/diagnostic.md gives each definition to users:

- sla_compliance.sales: of the sales promises (first touch, decision) on handoffs whose MQL
  fell in the period and whose deadline has passed, the share kept (from `truce sla`).
- sla_compliance.marketing: of the calendar months wholly inside the period and over, the
  share in which marketing delivered its MQL volume and its acceptance rate (from `truce sla`).
  A month cut by either edge of the period is not judged.
- mql_acceptance_rate: of the handoffs with an MQL in the period that sales decided, the
  share accepted.
- reasons.rejections_with_reason: of the handoffs rejected in the period, the share with a
  reason code; reasons.losses_with_reason: of the deals lost (close date) in the period, the
  share with a loss reason.
- feedback.per_seller_per_month: feedback items written by sales users in the period, per
  active sales user, per month of 30.4375 days (365.25 / 12); feedback.answered_share: of
  those items, the share marketing answered (a reply, or a status past "new").
- shared_target: the revenue targets with no team (shared by both) whose period overlaps
  this one; attainment is the won revenue closed inside those targets' periods over the sum
  of their amounts (to date, for a target still running).
- both_teams_revenue_share: of the revenue won (close date) in the period, the share from
  deals whose attributed journey holds touches from both marketing and sales (linear
  journey credit by team; a won deal without touches counts for neither).
- cold_leads: leads that went cold in the period and are still cold, per team holding them
  (from `truce custody`).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from decimal import Decimal
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, func, select

from truce.config import TruceConfig
from truce.store.models import FeedbackItem, Handoff, Opportunity, Target, User
from truce.store.present import present

DAYS_PER_MONTH = 365.25 / 12


def _share(part, whole) -> float | None:
    return round(float(part) / float(whole), 4) if whole else None


def _utc_bounds(config: TruceConfig, start: dt.date, end: dt.date) -> tuple[dt.datetime, dt.datetime]:
    """The period as [from, until) in UTC: local midnight of the first day to local midnight after the last."""
    zone = ZoneInfo(config.company.timezone)
    since = dt.datetime.combine(start, dt.time(), zone).astimezone(dt.UTC)
    until = dt.datetime.combine(end + dt.timedelta(days=1), dt.time(), zone).astimezone(dt.UTC)
    return since, until


def indicators(
    engine: Engine, config: TruceConfig, start: dt.date, end: dt.date, now: dt.datetime | None = None
) -> dict:
    if start > end:
        raise ValueError(f"the period starts on {start} after it ends on {end}")
    now = now or dt.datetime.now(dt.UTC)
    sla = _sla(engine, config, start, end, now)
    return {
        "from": start.isoformat(),
        "to": end.isoformat(),
        "sla_compliance": sla["compliance"],
        "mql_acceptance_rate": sla["acceptance_rate"],
        "reasons": _reasons(engine, config, start, end),
        "feedback": _feedback(engine, config, start, end),
        "shared_target": _shared_target(engine, start, end),
        "both_teams_revenue_share": _both_teams_share(engine, config, start, end),
        "cold_leads": _cold_leads(engine, config, start, end, now),
    }


def _whole_months(start: dt.date, end: dt.date) -> set[str]:
    months, day = set(), start.replace(day=1)
    while day <= end:
        following = (day + dt.timedelta(days=32)).replace(day=1)
        if day >= start and following - dt.timedelta(days=1) <= end:
            months.add(day.strftime("%Y-%m"))
        day = following
    return months


def _sla(engine: Engine, config: TruceConfig, start: dt.date, end: dt.date, now: dt.datetime) -> dict:
    from truce.services.sla_report import report

    data = report(engine, config, now, start, end, with_queue=False)
    sales = data["sales"]
    due = sales["first_touch"]["due"] + sales["decision"]["due"]
    met = sales["first_touch"]["met"] + sales["decision"]["met"]
    whole = _whole_months(start, end)
    months = data["marketing"]["by_month"]
    judged = [m for m in months if m["complete"] and m["month"] in whole]
    kept = [m for m in judged if m["volume_met"] and m["acceptance_met"]]
    accepted = sum(m["accepted"] for m in months)
    decided = accepted + sum(m["rejected"] for m in months)
    return {
        "compliance": {
            "sales": _share(met, due),
            "marketing": _share(len(kept), len(judged)),
            "sales_promises_due": due,
            "marketing_months_judged": len(judged),
        },
        "acceptance_rate": _share(accepted, decided),
    }


def _blank(column):
    return column.is_(None) | (func.trim(column) == "")


def _reasons(engine: Engine, config: TruceConfig, start: dt.date, end: dt.date) -> dict:
    since, until = _utc_bounds(config, start, end)
    rejected = (Handoff.status == "rejected") & (Handoff.decided_at >= since) & (Handoff.decided_at < until)
    lost = (Opportunity.status == "lost") & Opportunity.close_date.between(start, end) & present(Opportunity)
    with engine.connect() as conn:
        rejections = conn.execute(select(func.count()).where(rejected)).scalar_one()
        without = conn.execute(select(func.count()).where(rejected, _blank(Handoff.rejection_reason))).scalar_one()
        losses = conn.execute(select(func.count()).where(lost)).scalar_one()
        unexplained = conn.execute(select(func.count()).where(lost, _blank(Opportunity.loss_reason))).scalar_one()
    return {
        "rejections": rejections,
        "rejections_with_reason": _share(rejections - without, rejections),
        "losses": losses,
        "losses_with_reason": _share(losses - unexplained, losses),
    }


def _feedback(engine: Engine, config: TruceConfig, start: dt.date, end: dt.date) -> dict:
    since, until = _utc_bounds(config, start, end)
    written = (
        select(FeedbackItem.status, FeedbackItem.replied_at)
        .join(User, User.id == FeedbackItem.author_id)
        .where(User.team == "sales", FeedbackItem.created_at >= since, FeedbackItem.created_at < until)
    )
    with engine.connect() as conn:
        sellers = conn.execute(select(func.count()).where(User.team == "sales", User.active)).scalar_one()
        items = conn.execute(written).all()
    answered = sum(1 for status, replied_at in items if replied_at is not None or status != "new")
    months = ((end - start).days + 1) / DAYS_PER_MONTH
    return {
        "items": len(items),
        "sellers": sellers,
        "per_seller_per_month": round(len(items) / sellers / months, 4) if sellers else None,
        "answered_share": _share(answered, len(items)),
    }


def _won_revenue(conn, start: dt.date, end: dt.date) -> Decimal:
    total = conn.execute(
        select(func.coalesce(func.sum(Opportunity.amount), 0)).where(
            Opportunity.status == "won", Opportunity.close_date.between(start, end), present(Opportunity)
        )
    ).scalar_one()
    return Decimal(str(total))


def _shared_target(engine: Engine, start: dt.date, end: dt.date) -> dict:
    with engine.connect() as conn:
        targets = conn.execute(
            select(Target.period_start, Target.period_end, Target.amount)
            .where(
                Target.metric == "revenue",
                Target.team.is_(None),
                Target.period_start <= end,
                Target.period_end >= start,
            )
            .order_by(Target.period_start)
        ).all()
        found = [
            {
                "period_start": first.isoformat(),
                "period_end": last.isoformat(),
                "amount": Decimal(str(amount)),
                "won": _won_revenue(conn, first, last),
            }
            for first, last, amount in targets
        ]
    for target in found:
        target["attainment"] = _share(target["won"], target["amount"])
    return {
        "exists": bool(found),
        "attainment": _share(sum(t["won"] for t in found), sum(t["amount"] for t in found)) if found else None,
        "targets": found,
    }


def _both_teams_share(engine: Engine, config: TruceConfig, start: dt.date, end: dt.date) -> float | None:
    from truce.services.attribution import journey_credit

    with engine.connect() as conn:
        won = _won_revenue(conn, start, end)
    if not won:
        return None
    teams: dict[int, set[str]] = defaultdict(set)
    revenue: dict[int, float] = defaultdict(float)
    for row in journey_credit(engine, config, model="linear", by="team", conversion="won", start=start, end=end):
        teams[row["deal_id"]].add(row["key"])
        revenue[row["deal_id"]] += row["revenue"]
    both = sum(revenue[deal] for deal, keys in teams.items() if {"marketing", "sales"} <= keys)
    return _share(both, won)


def _cold_leads(engine: Engine, config: TruceConfig, start: dt.date, end: dt.date, now: dt.datetime) -> dict:
    from truce.services.custody import cold_leads

    since, until = _utc_bounds(config, start, end)
    counts = {"marketing": 0, "sales": 0}
    for lead in cold_leads(engine, config, now)["leads"]:
        if since <= dt.datetime.fromisoformat(lead["went_cold_at"]) < until:
            counts[lead["team"]] = counts.get(lead["team"], 0) + 1
    return counts


# The part of the report each indicator key needs, so that one key costs one part (the joint meeting
# measures a decision's one indicator; attribution, behind both_teams_revenue_share, is the dearest).
_PARTS = {
    "sla_compliance": lambda engine, config, start, end, now: {
        "sla_compliance": (sla := _sla(engine, config, start, end, now))["compliance"],
        "mql_acceptance_rate": sla["acceptance_rate"],
    },
    "reasons": lambda engine, config, start, end, now: {"reasons": _reasons(engine, config, start, end)},
    "feedback": lambda engine, config, start, end, now: {"feedback": _feedback(engine, config, start, end)},
    "shared_target": lambda engine, config, start, end, now: {"shared_target": _shared_target(engine, start, end)},
    "both_teams_revenue_share": lambda engine, config, start, end, now: {
        "both_teams_revenue_share": _both_teams_share(engine, config, start, end)
    },
    "cold_leads": lambda engine, config, start, end, now: {"cold_leads": _cold_leads(engine, config, start, end, now)},
}
_PARTS["mql_acceptance_rate"] = _PARTS["sla_compliance"]


def measure(
    engine: Engine, config: TruceConfig, keys, start: dt.date, end: dt.date, now: dt.datetime | None = None
) -> dict:
    """The indicators `keys` name ("feedback.answered_share", …) over first to last day: {key: value}."""
    from truce.domain.diagnostic import indicator_value

    if start > end:
        raise ValueError(f"the period starts on {start} after it ends on {end}")
    now = now or dt.datetime.now(dt.UTC)
    found: dict = {}
    for part in dict.fromkeys(key.split(".")[0] for key in keys):
        if part not in found:
            found.update(_PARTS[part](engine, config, start, end, now))
    return {key: indicator_value(found, key) for key in keys}
