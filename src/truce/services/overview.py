"""The leaders' overview: what a CMO and a sales VP need to read in ten seconds.

`overview(engine, config, now)` gathers, over one window (the first day of the month three
months back to today, company time; docs/web.md says the same to users):

- **scorecards**, the two teams side by side: promises kept (sales: SLA deadlines met of those
  passed, for handoffs MQL'd in the window; marketing: complete months in the window in which
  both its MQL volume and its acceptance promise held), conversion through the stages the team
  holds (cohort step rates multiplied: of 100 leads entering its first stage, how many leave
  its last one forward), revenue credited to the team (the credit ledger, deals won in the
  window), and the leads that went cold while the team held them (custody);
- **the shared revenue target(s)** running today with their pace: the share of the period
  elapsed, what the target expects by now at an even pace, and how far ahead or behind;
- **the funnel as conversion** between consecutive stages (cohorts that entered in the window,
  followed for the funnel's conversion window) and the worst leak: the step with the lowest rate;
- **the decisions due**: open decisions overdue or due in the next DUE_SOON_DAYS days.

Every number comes from the service the page of its own uses (sla_report, credit, custody,
funnel, targets, meetings), so the overview and the page it links to agree.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from fractions import Fraction
from zoneinfo import ZoneInfo

from sqlalchemy import Engine

from truce.config import TruceConfig

TEAMS = ("marketing", "sales")
WINDOW_MONTHS = 3  # complete months before this one, so marketing's monthly promise is judged on whole months
DUE_SOON_DAYS = 14
DECISIONS_SHOWN = 6


def window(config: TruceConfig, now: dt.datetime) -> tuple[dt.date, dt.date]:
    """(first day, today): from the first day of the month WINDOW_MONTHS back, company time."""
    today = now.astimezone(ZoneInfo(config.company.timezone)).date()
    year, month = today.year, today.month - WINDOW_MONTHS
    while month < 1:
        year, month = year - 1, month + 12
    return dt.date(year, month, 1), today


def overview(engine: Engine, config: TruceConfig, now: dt.datetime | None = None) -> dict:
    now = now or dt.datetime.now(dt.UTC)
    start, end = window(config, now)
    steps = funnel_steps(engine, config, start, end)
    return {
        "as_of": now.isoformat(),
        "from": start,
        "to": end,
        "targets": shared_revenue_targets(engine, config, end),
        "scorecards": scorecards(engine, config, now, start, end, steps),
        "funnel": {"steps": steps, "worst": worst_leak(steps), "window_days": FUNNEL_WINDOW_DAYS},
        "decisions": decisions_due(engine, config, now),
    }


# ---- the shared target and its pace --------------------------------------------------------------


def pace(amount: Decimal, actual: Decimal, days_elapsed: int, days_total: int) -> dict:
    """Where an even pace through the period would stand today, and the actual against it."""
    cent = Decimal("0.01")
    elapsed = Fraction(days_elapsed, days_total) if days_total else Fraction(0)
    expected = (Decimal(amount) * days_elapsed / days_total).quantize(cent) if days_total else Decimal("0.00")
    return {
        "elapsed_share": float(elapsed),
        "expected_by_now": expected,
        "ahead_by": (Decimal(actual) - expected).quantize(cent),
    }


def shared_revenue_targets(engine: Engine, config: TruceConfig, today: dt.date) -> list[dict]:
    """The shared revenue targets running today (never a team's, never an MQL target), shortest period first."""
    from truce.services.targets import targets_report

    rows = targets_report(engine, config, as_of=today)["targets"]
    found = [r for r in rows if r["metric"] == "revenue" and r["team"] == "shared"]
    found.sort(key=lambda r: (r["days_total"], r["period_start"]))
    return [
        {
            **{k: r[k] for k in ("period", "period_start", "period_end", "amount", "actual", "attainment")},
            **{k: r[k] for k in ("forecast", "forecast_attainment", "days_elapsed", "days_total")},
            **pace(r["amount"], r["actual"], r["days_elapsed"], r["days_total"]),
        }
        for r in found
    ]


# ---- the funnel as conversion --------------------------------------------------------------------

FUNNEL_WINDOW_DAYS = 90


def funnel_steps(engine: Engine, config: TruceConfig, start: dt.date, end: dt.date) -> list[dict]:
    """Each consecutive pair of stages: of the contacts that first entered the first in the window,
    how many reached the next within FUNNEL_WINDOW_DAYS (the funnel page's cohort conversion)."""
    from truce.services.funnel import funnel_report

    report = funnel_report(engine, config, start=start, end=end, window_days=FUNNEL_WINDOW_DAYS)
    cohort = {(r["from_stage"], r["to_stage"]): r for r in report["conversion"]["cohort"]["total"]}
    stages = config.funnel.stages
    steps = []
    for here, after in zip(stages, stages[1:], strict=False):
        row = cohort.get((here.key, after.key), {})
        steps.append(
            {
                "from_stage": here.key,
                "from_label": here.label,
                "to_stage": after.key,
                "to_label": after.label,
                "team": here.team,
                "entered": row.get("entered", 0),
                "converted": row.get("converted", 0),
                "rate": row.get("rate"),
                "window_open": row.get("window_open", 0),
            }
        )
    return steps


def worst_leak(steps: list[dict]) -> dict | None:
    """The step that loses the largest share of what enters it (ties: the earlier step)."""
    judged = [s for s in steps if s["rate"] is not None]
    return min(judged, key=lambda s: s["rate"]) if judged else None


# ---- the two teams side by side ------------------------------------------------------------------


def scorecards(engine, config, now: dt.datetime, start: dt.date, end: dt.date, steps: list[dict]) -> dict:
    from truce.services import sla_report
    from truce.services.credit import credit_ledger
    from truce.services.custody import cold_leads

    sla = sla_report.report(engine, config, now, start, end, with_queue=False)
    ledger = credit_ledger(engine, config, start=start, end=end, by=("team",))
    credited = {t["team"]: t for t in ledger["teams"]}
    cold = cold_leads(engine, config, now)
    since = dt.datetime.combine(start, dt.time(), ZoneInfo(config.company.timezone))
    went_cold = [lead for lead in cold["leads"] if dt.datetime.fromisoformat(lead["went_cold_at"]) >= since]
    cards = {}
    for team in TEAMS:
        cards[team] = {
            "team": team,
            "promises": _sales_promises(sla["sales"]) if team == "sales" else _marketing_promises(sla["marketing"]),
            "conversion": team_conversion(steps, team),
            "revenue_credited": credited.get(team, {}).get("revenue_credit", Decimal("0.00")),
            "revenue_share": credited.get(team, {}).get("share"),
            "cold_leads": sum(1 for lead in went_cold if lead["team"] == team),
        }
    return {"won_revenue": ledger["won_revenue"], "cold_after_days": cold["cold_after_days"], **cards}


def _sales_promises(sales: dict) -> dict:
    due = sales["first_touch"]["due"] + sales["decision"]["due"]
    met = sales["first_touch"]["met"] + sales["decision"]["met"]
    return {"kept": met, "of": due, "share": met / due if due else None, "unit": "deadlines"}


def _marketing_promises(marketing: dict) -> dict:
    judged, kept = marketing["months_judged"], marketing["months_kept"]
    return {"kept": kept, "of": judged, "share": kept / judged if judged else None, "unit": "months"}


def team_conversion(steps: list[dict], team: str) -> dict:
    """The team's steps' rates multiplied: of every lead entering its first stage, the share that
    leaves its last one forward. None when a step of it has no cohort."""
    own = [s for s in steps if s["team"] == team]
    if not own:
        return {"rate": None, "from_label": None, "to_label": None}
    rate: float | None = 1.0
    for step in own:
        if step["rate"] is None:
            rate = None
            break
        rate *= step["rate"]
    return {"rate": rate, "from_label": own[0]["from_label"], "to_label": own[-1]["to_label"]}


# ---- the decisions due ---------------------------------------------------------------------------


def decisions_due(engine: Engine, config: TruceConfig, now: dt.datetime) -> dict:
    """Open decisions overdue or due within DUE_SOON_DAYS, soonest first (at most DECISIONS_SHOWN)."""
    from truce.services.meetings import list_decisions
    from truce.services.meetings.common import today_in

    today = today_in(config, now)
    soon = today + dt.timedelta(days=DUE_SOON_DAYS)
    due = [d for d in list_decisions(engine, config, state="open", now=now) if d["due_on"] <= soon]
    return {"days": DUE_SOON_DAYS, "count": len(due), "overdue": sum(d["overdue"] for d in due),
            "shown": due[:DECISIONS_SHOWN]}  # fmt: skip
