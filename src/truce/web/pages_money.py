"""The money pages: attribution with a model switcher, economics (ROI, budget what-if, pricing), targets and credit."""

from __future__ import annotations

import datetime as dt

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, Response

from truce.web import charts
from truce.web.app import Caller, allowed
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
    who: Caller = Depends(allowed("read_reports")),
) -> HTMLResponse:
    from truce.services.attribution import ReportError, attribution_report

    engine, config = engine_and_config(request)
    asked = {"model": model or config.attribution.model, "by": by, "conversion": conversion or config.attribution.conversion,
             "level": level or config.attribution.level}  # fmt: skip
    choices = {"models": _models(), "bys": ATTRIBUTION_BY, "conversions": CONVERSIONS, "levels": LEVELS}
    try:
        report = shared(
            request,
            "attribution",
            lambda: attribution_report(
                engine, config, model=asked["model"], by=by, conversion=asked["conversion"], level=asked["level"]
            ),
            **asked,
        )
    except ReportError as exc:
        return render(request, who, "attribution.html", status=400, error=str(exc), asked=asked, report=None, **choices)
    top = report["credits"][:CHART_ROWS]
    chart = charts.bars(
        [c["label"] for c in top],
        [c["revenue"] for c in top],
        colours=[charts.TEAM_COLOURS.get(c["key"], charts.BOTH) for c in top] if by == "team" else None,
    )
    links = {m: with_query("/attribution", model=m, by=by, conversion=conversion, level=level) for m in _models()}
    return render(
        request, who, "attribution.html", asked=asked, report=report, chart=chart, model_links=links, **choices
    )


# ---- economics -----------------------------------------------------------------------------------


@router.get("/economics", response_class=HTMLResponse)
def economics(request: Request, who: Caller = Depends(allowed("read_reports"))) -> HTMLResponse:
    """ROI per channel, pricing, and — when the form asks — a what-if on next month's budget."""
    from truce.services.economics import EconomicsError, budget_report, parse_what_if, roi_report
    from truce.services.pricing import pricing_report

    engine, config = engine_and_config(request)
    roi = shared(request, "roi", lambda: roi_report(engine, config))
    pricing = shared(request, "pricing", lambda: pricing_report(engine, config))
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
        error=error,
        roi_chart=charts.grouped(
            [r["label"] or r["key"] for r in rows],
            {"spend": [r["spend"] for r in rows], "revenue": [r["revenue"] for r in rows]},
            colours={"spend": charts.MUTED, "revenue": charts.MARKETING},
        ),
        bands_chart=charts.bars(
            [b["band"] for b in pricing["bands"]],
            [b["win_rate"] or 0 for b in pricing["bands"]],
            horizontal=False,
            percent=True,
            colour=charts.SALES,
        ),
    )


def _percent(text: str) -> str:
    """What a person types (-20, +15, 10 %) as the CLI's what-if syntax (-20%, +15%)."""
    number = text.replace("%", "").replace(" ", "")
    return f"{number}%" if number.startswith(("+", "-")) else f"+{number}%"


# ---- targets and credit --------------------------------------------------------------------------


@router.get("/targets", response_class=HTMLResponse)
def targets(request: Request, period: str = "", who: Caller = Depends(allowed("read_reports"))) -> HTMLResponse:
    from truce.domain.forecast import PeriodError, parse_period
    from truce.services.credit import CreditError, credit_ledger
    from truce.services.targets import TARGET_TEAMS, TargetError, targets_report

    engine, config = engine_and_config(request)
    today = dt.datetime.now(dt.UTC).date()
    label = period.strip() or f"{today.year}-Q{(today.month - 1) // 3 + 1}"
    context = {"period": label, "teams": TARGET_TEAMS, "metrics": _target_metrics(), "report": None, "ledger": None}
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
    if ledger is None:
        return render(request, who, "targets.html", **{**context, "report": report},
                      attainment_chart=charts.attainment(report["targets"]))  # fmt: skip
    people = ledger["people"][:PEOPLE_SHOWN]
    return render(
        request,
        who,
        "targets.html",
        **{**context, "report": report, "ledger": ledger},
        people=people,
        attainment_chart=charts.attainment(report["targets"]),
        teams_chart=charts.bars(
            [t["team"] for t in ledger["teams"]],
            [float(t["revenue_credit"]) for t in ledger["teams"]],
            colours=[charts.TEAM_COLOURS.get(t["team"], charts.MUTED) for t in ledger["teams"]],
        ),
    )


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
    who: Caller = Depends(allowed("edit_targets")),
) -> Response:
    from truce.domain.forecast import PeriodError
    from truce.services.targets import TargetError
    from truce.services.targets import set_target as save

    engine, _ = engine_and_config(request)
    here = with_query("/targets", period=period.strip())
    try:
        saved = save(
            engine,
            metric=metric,
            amount=amount.strip(),
            actor=who.who.email,
            period=period.strip(),
            team=team,
            origin="web",
        )
    except (TargetError, PeriodError) as exc:
        return back(here, str(exc), "error")
    verb = "set" if saved["created"] else f"changed from {saved['previous_amount']}"
    return back(here, f"Target {metric} for {team} in {period.strip()}: {saved['amount']} ({verb})")
