"""The money pages: attribution with a model switcher, economics (ROI, budget what-if, pricing), targets and credit."""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, Response

from truce import palette
from truce.domain.date_ranges import DayRange, RangeError, parse_range, quick_picks
from truce.web import charts
from truce.web.app import Caller, allowed
from truce.web.labels import key_label
from truce.web.pages_base import PageRoute, back, engine_and_config, render, shared, with_query

router = APIRouter(include_in_schema=False, route_class=PageRoute)
from truce.vocabulary import ATTRIBUTION_BY, CONVERSIONS  # noqa: E402
from truce.vocabulary import JOURNEY_LEVELS as LEVELS  # noqa: E402

CHART_ROWS = 15
PEOPLE_SHOWN = 25


def _models() -> tuple[str, ...]:
    from truce.domain.attribution import MODELS

    return MODELS


# ---- attribution ---------------------------------------------------------------------------------


@router.get("/attribution", response_class=HTMLResponse)
def attribution(
    request: Request,
    model: str = "",
    by: str = "channel",
    conversion: str = "",
    level: str = "",
    start: str = Query("", alias="from"),
    end: str = Query("", alias="to"),
    who: Caller = Depends(allowed("read_reports")),
) -> HTMLResponse:
    from truce.services.attribution import ReportError, attribution_report

    engine, config = engine_and_config(request)
    asked = {"model": model or config.attribution.model, "by": by, "conversion": conversion or config.attribution.conversion,
             "level": level or config.attribution.level, "from": start.strip(), "to": end.strip()}  # fmt: skip
    choices: dict[str, Any] = {"models": _models(), "bys": ATTRIBUTION_BY, "conversions": CONVERSIONS, "levels": LEVELS}
    keep = {"model": model, "by": by, "conversion": conversion, "level": level}
    picks = _picks("/attribution", keep)
    try:
        span = parse_range(start, end)
        report = shared(
            request,
            "attribution",
            lambda: attribution_report(
                engine, config, model=asked["model"], by=by, conversion=asked["conversion"], level=asked["level"],
                start=span.start, end=span.end,
            ),  # fmt: skip
            **asked,
        )
    except (ReportError, RangeError) as exc:
        return render(request, who, "attribution.html", status=400, error=str(exc), asked=asked, report=None,
                      picks=picks, **choices)  # fmt: skip
    rows = credit_rows(report)
    top = rows[:CHART_ROWS]
    chart = charts.bars(
        [c["name"] for c in top],
        [c["revenue"] for c in top],
        colours=palette.for_keys(by, [c["key"] for c in top]),
        label_title=by,
        value_title=f"revenue credited ({config.company.currency})",
    )
    links = {m: with_query("/attribution", **{**keep, "model": m, "from": start, "to": end}) for m in _models()}
    return render(
        request, who, "attribution.html", asked=asked, report=report, rows=rows, chart=chart, model_links=links,
        picks=picks, **choices,
    )  # fmt: skip


def credit_rows(report: dict) -> list[dict]:
    """The credits as the page shows them: named in words, with revenue share and conversion share apart.

    The report's `share` is each row's share of the credited conversions; a row's share of the
    credited revenue differs whenever deal sizes do, so both are shown and labelled.
    """
    revenue = report["total_revenue"]
    return [
        {
            "key": c["key"],
            "name": key_label(report["by"], c["key"], c.get("label")),
            "conversions": c["conversions"],
            "conversion_share": c["share"],
            "revenue": c["revenue"],
            "revenue_share": c["revenue"] / revenue if revenue else None,
        }
        for c in report["credits"]
    ]


def _picks(path: str, keep: dict) -> list[dict]:
    """The quick picks (this quarter, last quarter, last 12 months) as links that keep the page's other choices."""
    today = dt.datetime.now(dt.UTC).date()
    picks = [(label, _range_query(span)) for label, span in quick_picks(today)]
    picks.append(("All time", {"from": "", "to": ""}))
    return [{"label": label, "href": with_query(path, **keep, **days), **days} for label, days in picks]


def _range_query(span: DayRange) -> dict:
    return {"from": span.start.isoformat() if span.start else "", "to": span.end.isoformat() if span.end else ""}


# ---- economics -----------------------------------------------------------------------------------


@router.get("/economics", response_class=HTMLResponse)
def economics(
    request: Request,
    start: str = Query("", alias="from"),
    end: str = Query("", alias="to"),
    who: Caller = Depends(allowed("read_reports")),
) -> HTMLResponse:
    """ROI per channel and pricing over the range asked (default: all time), and — when the form asks —
    a what-if on next month's budget (fitted on every month, whatever the range)."""
    from truce.services.economics import EconomicsError, budget_report, parse_what_if, roi_report
    from truce.services.pricing import PricingError, pricing_report

    engine, config = engine_and_config(request)
    period = {"from": start.strip(), "to": end.strip()}
    picks = _picks("/economics", {})
    try:
        span = parse_range(start, end)
        roi = shared(request, "roi", lambda: roi_report(engine, config, start=span.start, end=span.end), **period)
        pricing = shared(
            request, "pricing", lambda: pricing_report(engine, config, start=span.start, end=span.end), **period
        )
    except (RangeError, EconomicsError, PricingError) as exc:
        return render(request, who, "economics.html", status=400, error=str(exc), period=period, picks=picks,
                      roi=None, pricing=None, channels=[], asked={}, what_if=None)  # fmt: skip
    channels = [r["key"] for r in roi["rows"] if r["spend"] > 0 and r["key"] not in (None, "(none)")]
    asked = {c: request.query_params.get(f"change_{c}", "").strip() for c in channels}
    what_if, error = None, None
    changes = ",".join(f"{c}:{_percent(v)}" for c, v in asked.items() if v not in ("", "0"))
    if changes:
        try:
            what_if = shared(
                request, "budget", lambda: budget_report(engine, config, what_if=parse_what_if(changes)), what_if=changes
            )
        except EconomicsError as exc:
            error = str(exc)
    elif request.query_params.get("what_if"):
        error = "change at least one channel's monthly spend, e.g. -20 or +15 (percent)"
    rows = roi["rows"][:CHART_ROWS]
    return render(
        request,
        who,
        "economics.html",
        status=400 if error else 200,
        roi=roi,
        pricing=pricing,
        channels=channels,
        asked=asked,
        what_if=what_if,
        what_if_error=error,
        period=period,
        picks=picks,
        roi_chart=charts.grouped(
            [key_label("channel", r["key"]) for r in rows],
            {"spend": [r["spend"] for r in rows], "revenue": [r["revenue"] for r in rows]},
            colours={"spend": palette.SERIES["spend"], "revenue": palette.NOW},
            label_title="channel",
            value_title=config.company.currency,
        ),
        bands_chart=charts.bars(
            [b["band"] for b in pricing["bands"]],
            [b["win_rate"] or 0 for b in pricing["bands"]],
            horizontal=False,
            percent=True,
            colour=charts.SALES,
            label_title="discount band",
            value_title="win rate, %",
        ),
    )


def _percent(text: str) -> str:
    """What a person types (-20, +15, 10 %) as the CLI's what-if syntax (-20%, +15%)."""
    number = text.replace("%", "").replace(" ", "")
    return f"{number}%" if number.startswith(("+", "-")) else f"+{number}%"


# ---- targets and credit --------------------------------------------------------------------------


@router.get("/targets", response_class=HTMLResponse)
def targets(request: Request, period: str = "", who: Caller = Depends(allowed("read_reports"))) -> HTMLResponse:
    return _targets_page(request, who, period)


def _targets_page(request: Request, who: Caller, period: str, status: int = 200, **form) -> HTMLResponse:
    """The targets of a period and its credit ledger; `form` carries the set-a-target form's state
    after a POST (its values as typed, its error, or the question whether to replace a target)."""
    from truce.domain.forecast import PeriodError, parse_period
    from truce.services.credit import CreditError, credit_ledger
    from truce.services.targets import TARGET_TEAMS, TargetError, targets_report

    engine, config = engine_and_config(request)
    today = dt.datetime.now(dt.UTC).date()
    label = period.strip() or f"{today.year}-Q{(today.month - 1) // 3 + 1}"
    typed = form.pop("typed", None) or {"metric": "", "team": "shared", "period": label, "amount": ""}
    context = {"period": label, "teams": TARGET_TEAMS, "metrics": _target_metrics(), "report": None, "ledger": None,
               "typed": typed, **form}  # fmt: skip
    try:
        span = parse_period(label)
        report = shared(
            request, "targets", lambda: targets_report(engine, config, period=label, as_of=today), period=label, day=today
        )
        # A period that has not started has no won deal to credit yet.
        ledger = (
            shared(
                request,
                "credit",
                lambda: credit_ledger(engine, config, start=span.start, end=min(span.end, today)),
                start=span.start,
                end=min(span.end, today),
            )
            if span.start <= today
            else None
        )
    except (PeriodError, TargetError, CreditError) as exc:
        return render(request, who, "targets.html", status=400, error=str(exc), **context)
    context["mql_counts"] = _mql_counts(request, report, today)
    if ledger is None:
        return render(request, who, "targets.html", status=status, **{**context, "report": report},
                      attainment_chart=charts.attainment(report["targets"]))  # fmt: skip
    people = ledger["people"][:PEOPLE_SHOWN]
    return render(
        request,
        who,
        "targets.html",
        status=status,
        **{**context, "report": report, "ledger": ledger},
        people=people,
        attainment_chart=charts.attainment(report["targets"]),
        teams_chart=charts.bars(
            [t["team"] for t in ledger["teams"]],
            [float(t["revenue_credit"]) for t in ledger["teams"]],
            colours=[palette.team(t["team"]) for t in ledger["teams"]],
            label_title="team",
            value_title=f"revenue credited ({request.app.state.config.company.currency})",
        ),
    )


def _mql_counts(request: Request, report: dict, today: dt.date) -> list[dict]:
    """For each MQL target under way, the SLA page's count of the same days and why it differs."""
    from truce.services.mql_counts import mql_counts

    engine, config = engine_and_config(request)
    found: list[dict] = []
    for t in report["targets"]:
        if t["metric"] != "mqls" or t["period_start"] > today:
            continue
        first, last = t["period_start"], min(t["period_end"], today)
        counts = shared(request, "mql_counts", lambda a=first, b=last: mql_counts(engine, config, a, b), start=first, end=last)
        if all(c["from"] != counts["from"] or c["to"] != counts["to"] for c in found):
            found.append(counts)
    return found


def _target_metrics() -> tuple[str, ...]:
    from truce.store.models import TARGET_METRICS

    return TARGET_METRICS


@router.post("/targets")
def set_target(
    request: Request,
    metric: str = Form(""),
    team: str = Form("shared"),
    period: str = Form(""),
    amount: str = Form(""),
    confirm: str = Form(""),
    replaces: str = Form(""),
    who: Caller = Depends(allowed("edit_targets")),
) -> Response:
    """Set a target. One that would replace another's amount is asked about first (confirm=replace);
    a refusal shows once, beside the form, with the values as typed."""
    from truce.domain.forecast import PeriodError, parse_period
    from truce.services.targets import TargetError, TargetMoved, target_in_place
    from truce.services.targets import set_target as save

    engine, _ = engine_and_config(request)
    typed = {"metric": metric, "team": team, "period": period.strip(), "amount": amount.strip()}
    try:
        parse_period(typed["period"])
        shown = typed["period"]
    except PeriodError:
        shown = ""  # the page shows this quarter; the form keeps what was typed, with the error
    try:
        if confirm != "replace":
            replaced = target_in_place(engine, metric=metric, amount=typed["amount"], period=typed["period"], team=team)
            if replaced is not None:
                return _targets_page(request, who, shown, typed=typed, replacing=replaced)
        saved = save(
            engine, metric=metric, amount=typed["amount"], actor=who.who.email, period=typed["period"], team=team,
            origin="web", replaces=(replaces or None) if confirm == "replace" else None,
        )  # fmt: skip
    except (TargetError, PeriodError) as exc:
        status = 409 if isinstance(exc, TargetMoved) else 400
        return _targets_page(request, who, shown, status=status, typed=typed, form_error=str(exc))
    verb = "set" if saved["created"] else f"changed from {saved['previous_amount']}"
    here = with_query("/targets", period=typed["period"])
    return back(here, f"Target {metric} for {team} in {typed['period']}: {saved['amount']} ({verb})")
