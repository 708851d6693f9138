"""The pipeline pages: the funnel, and RevOps' editor of it (the handoff queue and the SLA are in pages_desk)."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, Response

from truce import palette
from truce.domain import calendar_range
from truce.domain.access import can
from truce.web import charts
from truce.web.app import Caller, allowed
from truce.web.funnel_slices import slice_view
from truce.web.pages_base import PageRoute, back, engine_and_config, render, shared

router = APIRouter(include_in_schema=False, route_class=PageRoute)
SLICES = ("channel", "segment", "team", "month")


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
    entered: defaultdict[str, dict[str | None, int]] = defaultdict(dict)
    for row in report["volume"]["total"]:
        entered[row["stage"]][row["slice"]] = row["entered"]
    now: defaultdict[str, dict[str | None, int]] = defaultdict(dict)
    for row in report["volume"]["snapshot"]:
        now[row["stage"]][row["slice"]] = row["count"]
    cohort: defaultdict[tuple[str, str], dict[str | None, dict]] = defaultdict(dict)
    for row in report["conversion"]["cohort"]["total"]:
        cohort[(row["from_stage"], row["to_stage"])][row["slice"]] = row
    steps = list(zip(report["stages"], report["stages"][1:], strict=False))
    totals = [{"label": labels[s], "team": teams.get(s), "entered": sum(entered[s].values())} for s in report["stages"]]
    monthly: defaultdict[str, dict[str, int]] = defaultdict(dict)
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
