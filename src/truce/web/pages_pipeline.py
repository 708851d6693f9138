"""The pipeline pages: the funnel (and RevOps' editor of it), the handoff queue with sales' decisions,
SLA compliance and custody."""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, Response

from truce import palette
from truce.domain import calendar_range
from truce.domain.access import can
from truce.web import charts
from truce.web.app import Caller, allowed
from truce.web.funnel_slices import slice_view
from truce.web.pages_base import PageRoute, back, engine_and_config, render, shared, with_query

router = APIRouter(include_in_schema=False, route_class=PageRoute)
SLICES = ("channel", "segment", "team", "month")
MONTHS_SHOWN = 12
COLD_SHOWN = 25
QUEUE_SHOWN = 100


def _day(text: str | None, name: str) -> dt.date | None:
    if not text:
        return None
    try:
        day = dt.date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{name}: {text!r} is not a date; write it as YYYY-MM-DD") from None
    try:
        return calendar_range.check_day(day)
    except calendar_range.OutsideCalendar as exc:
        raise ValueError(f"{name}: {exc}") from None


# ---- funnel --------------------------------------------------------------------------------------


@router.get("/funnel", response_class=HTMLResponse)
def funnel(
    request: Request,
    by: str = "",
    start: str = "",
    end: str = "",
    who: Caller = Depends(allowed("read_reports")),
) -> HTMLResponse:
    return _funnel_page(request, who, {"by": by, "start": start, "end": end})


def _funnel_page(request: Request, who: Caller, asked: dict, status: int = 200, edit: dict | None = None):
    from truce.services.funnel import ReportError, funnel_report

    engine, config = engine_and_config(request)
    editor = _editor(request, who, edit)
    try:
        by, start, end = asked["by"] or None, _day(asked["start"], "from"), _day(asked["end"], "to")
        report = shared(
            request,
            "funnel",
            lambda: funnel_report(engine, config, by=by, start=start, end=end),
            by=by,
            start=start,
            end=end,
        )
    except (ReportError, ValueError) as exc:
        return render(
            request,
            who,
            "funnel.html",
            status=400,
            error=str(exc),
            asked=asked,
            slices=SLICES,
            report=None,
            edit=editor,
        )
    return render(
        request,
        who,
        "funnel.html",
        status=status,
        asked=asked,
        slices=SLICES,
        report=report,
        edit=editor,
        **_funnel_view(report, config),
    )


def _editor(request: Request, who: Caller, edit: dict | None) -> dict | None:
    """RevOps' form: the [funnel] and [sla] text (as sent back, after a refusal), and the file it goes to."""
    if not can(who.who.role, "edit_funnel_config"):
        return None
    from truce.services.funnel_config import current_text

    path = request.app.state.config_path
    edit = edit or {}
    text = edit.get("text")
    text = text if text is not None else current_text(request.app.state.config, path)
    errors = edit.get("errors", [])
    return {
        "file": str(path),
        "exists": path.is_file(),
        "text": text,
        "lines": max(1, len(text.splitlines())),
        "errors": errors,
        "bad_lines": {e["line"] for e in errors if e["line"]},
    }


def _as_counted(text: str) -> str:
    """The text sent back into the editor, trimmed as funnel_config trims it, so line numbers agree."""
    return text.replace("\r\n", "\n").strip("\n") + "\n"


def _shown_problem(problem, text: str) -> dict:
    """A refusal as the editor shows it: the message, and the line it is on with that line's text,
    so the eye finds it without counting lines."""
    line = getattr(problem, "line", None)
    lines = text.replace("\r\n", "\n").strip("\n").splitlines()  # as funnel_config counts them
    quoted = lines[line - 1] if line and line <= len(lines) else None
    return {"text": str(problem), "line": line, "quoted": quoted}


@router.post("/funnel/config")
def edit_funnel(
    request: Request, toml: str = Form(""), who: Caller = Depends(allowed("edit_funnel_config"))
) -> Response:
    from truce.services import funnel_config

    engine, config = engine_and_config(request)
    path = request.app.state.config_path
    try:
        new = funnel_config.edit_from_toml(engine, config, toml, actor=who.who.email, path=path)
    except funnel_config.FunnelConfigInvalid as exc:
        problems = [_shown_problem(p, toml) for p in exc.problems]
        return _funnel_page(request, who, _NO_FILTER, 400, {"text": _as_counted(toml), "errors": problems})
    except funnel_config.FunnelConfigRefused as exc:
        kept = {"text": _as_counted(toml), "errors": [_shown_problem(exc, toml)]}
        return _funnel_page(request, who, _NO_FILTER, 409, kept)
    # A new object, never a changed one: reports are cached per config object.
    request.app.state.config = new
    return back("/funnel", f"Saved [funnel] and [sla] to {path}: every page and the API use them now.")


_NO_FILTER = {"by": "", "start": "", "end": ""}


def _funnel_view(report: dict, config) -> dict:
    labels = {s.key: s.label for s in config.funnel.stages} | {e.key: e.label for e in config.funnel.exits}
    teams = {s.key: s.team for s in config.funnel.stages}
    slices = sorted({r["slice"] for r in report["volume"]["total"]}, key=lambda s: (s is None, str(s)))
    entered = defaultdict(dict)
    for row in report["volume"]["total"]:
        entered[row["stage"]][row["slice"]] = row["entered"]
    now = defaultdict(dict)
    for row in report["volume"]["snapshot"]:
        now[row["stage"]][row["slice"]] = row["count"]
    cohort = defaultdict(dict)
    for row in report["conversion"]["cohort"]["total"]:
        cohort[(row["from_stage"], row["to_stage"])][row["slice"]] = row
    steps = list(zip(report["stages"], report["stages"][1:], strict=False))
    totals = [{"label": labels[s], "team": teams.get(s), "entered": sum(entered[s].values())} for s in report["stages"]]
    monthly = defaultdict(dict)
    for row in report["volume"]["monthly"]:
        monthly[row["stage"]][row["month"]] = monthly[row["stage"]].get(row["month"], 0) + row["entered"]
    months = report["months"][-24:]
    lines = {labels[s]: [monthly[s].get(m, 0) for m in months] for s in report["stages"][1:4]}
    return {
        "labels": labels,
        "slice_values": slices,
        "entered": entered,
        "now": now,
        "cohort": cohort,
        "steps": steps,
        "chart": charts.funnel_volume(totals) if report["by"] is None else None,
        "monthly_chart": charts.monthly_lines(
            months,
            lines,
            colours=palette.stage_colours([(labels[s], teams.get(s, "shared")) for s in report["stages"][1:4]]),
            value_title="contacts that entered the stage",
        )
        if report["by"] is None
        else None,
        "by_slice": slice_view(report, labels),
    }


# ---- handoffs ------------------------------------------------------------------------------------


@router.get("/handoffs", response_class=HTMLResponse)
def handoffs(request: Request, who: Caller = Depends(allowed("read_reports"))) -> HTMLResponse:
    from truce.services.handoff import queue

    engine, config = engine_and_config(request)
    # Shared like a report: a seller's own decisions show at once (truce.web.report_cache), and
    # deciding a lead a colleague decided a moment ago is refused with a message that says so.
    waiting = shared(request, "handoff_queue", lambda: queue(engine, config))
    mine = [h for h in waiting if h["owner"] == who.who.email]
    others = [h for h in waiting if h["owner"] != who.who.email]
    return render(
        request,
        who,
        "handoffs.html",
        waiting=waiting,
        mine=mine,
        others=others[:QUEUE_SHOWN],
        hidden=max(0, len(others) - QUEUE_SHOWN),
        per_owner=Counter(h["owner"] or "(unassigned)" for h in waiting).most_common(),
        reasons=config.funnel.rejection_reasons,
        accepted=next(s.label for s in config.funnel.stages if s.key == config.funnel.accepted_stage),
        sellers=_sellers(engine) if who.who.role == "revops" else [],
    )


def _sellers(engine) -> list[str]:
    from sqlalchemy import select

    from truce.store.models import User

    with engine.connect() as conn:
        return list(conn.scalars(select(User.email).where(User.team == "sales", User.active).order_by(User.email)))


@router.post("/handoffs/assign")
def assign(
    request: Request,
    email: str = Form(""),
    owner: str = Form(""),
    who: Caller = Depends(allowed("assign_handoffs")),
) -> Response:
    from truce.services import handoff
    from truce.services.lifecycle import NotFound

    engine, config = engine_and_config(request)
    try:
        done = handoff.assign(engine, config, email, owner, who.who.email, origin="web")
    except (handoff.HandoffRefused, NotFound) as exc:
        return back("/handoffs", str(exc), "error")
    return back("/handoffs", f"{done['email']} is now with {done['owner']}")


@router.post("/handoffs/accept")
def accept(request: Request, email: str = Form(""), who: Caller = Depends(allowed("decide_handoffs"))) -> Response:
    from truce.services import handoff

    engine, config = engine_and_config(request)
    return _decided(lambda: handoff.accept(engine, config, email, who.who.email, origin="web"))


@router.post("/handoffs/reject")
def reject(
    request: Request,
    email: str = Form(""),
    reason: str = Form(""),
    note: str = Form(""),
    who: Caller = Depends(allowed("decide_handoffs")),
) -> Response:
    from truce.services import handoff

    engine, config = engine_and_config(request)
    return _decided(
        lambda: handoff.reject(engine, config, email, who.who.email, reason or None, note.strip() or None, origin="web")
    )


def _decided(decide) -> Response:
    from truce.domain.lifecycle import IllegalMove
    from truce.services.handoff import HandoffRefused
    from truce.services.lifecycle import NotFound

    try:
        decided = decide()
    except (HandoffRefused, NotFound, IllegalMove) as exc:
        return back("/handoffs", str(exc), "error")
    text = f"{decided.email}: {decided.status}, now at stage {decided.stage}" + (
        " (after the deadline)" if decided.late else ""
    )
    return back("/handoffs", " ".join([text, *decided.warnings]))


# ---- SLA and custody -----------------------------------------------------------------------------


@router.get("/sla", response_class=HTMLResponse)
def sla(request: Request, who: Caller = Depends(allowed("read_reports"))) -> HTMLResponse:
    from truce.services.custody import cold_leads
    from truce.services.sla_report import report

    engine, config = engine_and_config(request)
    now = dt.datetime.now(dt.UTC)
    data = shared(request, "sla", lambda: report(engine, config, now))
    cold = shared(request, "cold_leads", lambda: cold_leads(engine, config, now))
    sales_months = data["sales"]["by_month"][-MONTHS_SHOWN:]
    marketing_months = data["marketing"]["by_month"][-MONTHS_SHOWN:]
    queue = data["queue"]
    acceptance = {m["month"]: m["acceptance_rate"] for m in data["marketing"]["by_month"]}
    recent_cold = cold["by_team_and_month"]
    recent_months = sorted({r["month"] for r in recent_cold})[-MONTHS_SHOWN:]
    return render(
        request,
        who,
        "sla.html",
        data=data,
        sales_months=sales_months,
        marketing_months=marketing_months,
        queue=queue,
        overdue=sum(1 for h in queue if h["hours_to_first_touch"] < 0 or h["hours_to_decision"] < 0),
        waiting_per_owner=dict(Counter(h["owner"] or "(unassigned)" for h in queue)),
        compliance_chart=charts.monthly_lines(
            [m["month"] for m in sales_months],
            {
                "first touch in time": [m["first_touch"]["compliance"] for m in sales_months],
                "decision in time": [m["decision"]["compliance"] for m in sales_months],
                "marketing acceptance": [acceptance.get(m["month"]) for m in sales_months],
            },
            percent=True,
            colours={
                "first touch in time": palette.SALES,
                "decision in time": palette.shades(palette.SALES, 3)[2],
                "marketing acceptance": palette.MARKETING,
            },
            value_title="kept in time or accepted, %",
        ),
        cold=cold,
        cold_chart=charts.stacked_by_team(
            [r for r in recent_cold if r["month"] in recent_months],
            x="month",
            team="team",
            value="cold_leads",
            title=None,
            value_title="leads gone cold",
        ),
        cold_rows=list(reversed(cold["leads"]))[:COLD_SHOWN],
        mine_url=with_query("/handoffs"),
    )
