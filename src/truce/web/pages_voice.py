"""The pages where people speak: feedback and marketing's answers, the diagnostic survey, the meeting brief, the audit trail."""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, Response

from truce.domain.access import can
from truce.web import charts
from truce.web.app import Caller, allowed
from truce.web.pages_base import PageRoute, back, engine_and_config, render, shared, with_query

router = APIRouter(include_in_schema=False, route_class=PageRoute)
FEEDBACK_SHOWN = 20
FEEDBACK_MOST = 500
SCALE = (
    (1, "Strongly disagree"),
    (2, "Disagree"),
    (3, "Neither"),
    (4, "Agree"),
    (5, "Strongly agree"),
)


# ---- feedback ------------------------------------------------------------------------------------


@router.get("/feedback", response_class=HTMLResponse)
def feedback(
    request: Request,
    status: str = "",
    kind: str = "",
    mine: str = "",
    limit: int = FEEDBACK_SHOWN,
    who: Caller = Depends(allowed("read_reports")),
) -> HTMLResponse:
    from truce.services.feedback import NEXT_STATUSES, FeedbackRefused, feedback_themes, list_feedback
    from truce.store.models import FEEDBACK_KINDS, FEEDBACK_STATUSES

    engine, config = engine_and_config(request)
    limit = min(max(limit, 1), FEEDBACK_MOST)
    asked = {"status": status, "kind": kind, "mine": mine, "limit": limit}
    context: dict[str, Any] = {
        "kinds": FEEDBACK_KINDS,
        "statuses": FEEDBACK_STATUSES,
        "next_statuses": NEXT_STATUSES,
        "asked": asked,
    }
    try:
        items = list_feedback(
            engine, status=status or None, kind=kind or None, author=who.who.email if mine else None, limit=limit + 1
        )
    except FeedbackRefused as exc:
        return render(request, who, "feedback.html", status=400, error=str(exc), items=[], themes=None, **context)
    today = dt.datetime.now(dt.UTC).date()
    start = today - dt.timedelta(days=89)
    themes = shared(
        request,
        "feedback_themes",
        lambda: feedback_themes(engine, config, start=start, end=today),
        start=start,
        end=today,
    )
    kinds_chart = charts.bars(list(themes["counts"]), list(themes["counts"].values()), colour=charts.SALES,
                              label_title="kind", value_title="items")  # fmt: skip
    more = with_query("/feedback", status=status, kind=kind, mine=mine, limit=limit + FEEDBACK_SHOWN) + "#items"
    return render(
        request,
        who,
        "feedback.html",
        items=items[:limit],
        more_url=more if len(items) > limit and limit < FEEDBACK_MOST else None,
        themes=themes,
        kinds_chart=kinds_chart,
        **context,
    )


@router.post("/feedback")
def add(
    request: Request,
    text: str = Form(""),
    kind: str = Form("other"),
    who: Caller = Depends(allowed("add_feedback")),
) -> Response:
    from truce.services.feedback import FeedbackRefused, add_feedback
    from truce.services.lifecycle import NotFound

    engine, _ = engine_and_config(request)
    try:
        item = add_feedback(engine, text=text, kind=kind, author_email=who.who.email, origin="web")
    except (FeedbackRefused, NotFound) as exc:
        return back("/feedback", str(exc), "error")
    return back("/feedback", f"Thank you: feedback #{item['id']} ({item['kind'].replace('_', ' ')}) is with marketing.")


@router.post("/feedback/{item_id}/answer")
def answer(
    request: Request,
    item_id: int,
    status: str = Form(""),
    reply: str = Form(""),
    who: Caller = Depends(allowed("answer_feedback")),
) -> Response:
    from truce.services.feedback import FeedbackRefused, answer_feedback
    from truce.services.lifecycle import NotFound

    engine, _ = engine_and_config(request)
    here = f"/feedback#item-{item_id}"
    try:
        item = answer_feedback(engine, item_id, status=status, reply=reply, by_email=who.who.email, origin="web")
    except (FeedbackRefused, NotFound) as exc:
        return back(here, str(exc), "error")
    return back(here, f"Feedback #{item['id']} is now {item['status'].replace('_', ' ')}.")


# ---- the diagnostic ------------------------------------------------------------------------------


def _current_quarter() -> str:
    today = dt.datetime.now(dt.UTC).date()
    return f"{today.year}-Q{(today.month - 1) // 3 + 1}"


@router.get("/survey", response_class=HTMLResponse)
def survey_page(request: Request, round: str = "", who: Caller = Depends(allowed("read_reports"))) -> HTMLResponse:
    from truce.services import survey

    engine, config = engine_and_config(request)
    latest = survey.latest_round(engine, config)
    open_round = latest or _current_quarter()
    shown_round = round.strip() or latest
    answered = None
    if can(who.who.role, "take_survey"):
        try:
            survey.check_not_answered(engine, open_round, who.who.email)
            answered = False
        except survey.SurveyError:
            answered = True
    report, error = None, None
    if shown_round:
        try:
            report = shared(
                request, "survey", lambda: survey.survey_report(engine, config, shown_round), round=shown_round
            )
        except survey.SurveyError as exc:
            error = str(exc)
    return render(
        request,
        who,
        "survey.html",
        status=400 if error and round else 200,
        error=error,
        open_round=open_round,
        answered=answered,
        statements=survey.statements(),
        scale=SCALE,
        report=report,
        gap_chart=charts.perception_gaps(report["gaps"]) if report else None,
    )


@router.post("/survey")
async def take_survey(request: Request, who: Caller = Depends(allowed("take_survey"))) -> Response:
    from truce.services import survey

    engine, config = engine_and_config(request)
    form = await request.form()
    round_name = str(form.get("round") or "").strip() or survey.latest_round(engine, config) or _current_quarter()
    missing = [s["number"] for s in survey.statements() if form.get(s["statement"]) is None]
    if missing:
        shown = ", ".join(str(n) for n in missing)
        return back("/survey", f"rate every statement before sending: statement {shown} has no answer", "error")
    try:
        ratings = [int(str(form.get(s["statement"]))) for s in survey.statements()]
        me = survey.respondent(engine, who.who.email)
        kept = survey.record_response(
            engine,
            round_name=round_name,
            respondent_email=who.who.email,
            team=me["team"] or who.who.team,
            role=me["role"],
            ratings=ratings,
            source="web",
            actor=who.who.email,
        )
    except ValueError as exc:  # SurveyError, or a rating that is not a number
        return back(
            "/survey", str(exc) if isinstance(exc, survey.SurveyError) else "a rating is a number from 1 to 5", "error"
        )
    return back(
        with_query("/survey", round=kept["round"]),
        f"Thank you. Your score in round {kept['round']}: {kept['score']} of 100, {kept['type']}.",
        result={"score": kept["score"], "type": kept["type"], "round": kept["round"], "team": kept["team"]},
    )


# ---- the brief -----------------------------------------------------------------------------------


@router.get("/brief", response_class=HTMLResponse)
def brief(request: Request, period: str = "", who: Caller = Depends(allowed("read_reports"))) -> HTMLResponse:
    """The period form, the brief itself in a frame (it is a page of its own, with its own styles), and a download link."""
    shown = period.strip()
    return render(
        request,
        who,
        "brief.html",
        period=shown,
        view_url=with_query("/brief/view", period=shown),
        download_url=with_query("/brief/download", period=shown),
    )


@router.get("/brief/view", response_class=HTMLResponse)
def brief_view(request: Request, period: str = "", who: Caller = Depends(allowed("read_reports"))) -> Response:
    return _brief(request, who, period, download=False)


@router.get("/brief/download")
def brief_download(request: Request, period: str = "", who: Caller = Depends(allowed("read_reports"))) -> Response:
    return _brief(request, who, period, download=True)


def _brief(request: Request, who: Caller, period: str, download: bool) -> Response:
    from truce.brief import render_html
    from truce.brief.render import policy
    from truce.services.brief import BriefError, build_brief
    from truce.web.security import framed_by_our_pages

    engine, config = engine_and_config(request)
    asked = period.strip() or None

    # Shown here, plotly.js comes from /static (cached by the browser); the downloaded file carries it inline.
    from truce.web.pages import plotly_url

    plotly_src = None if download else plotly_url()

    def page() -> tuple[str, str]:
        data = build_brief(engine, config, period=asked)
        return data["period"]["label"], render_html(data, plotly_src=plotly_src)

    try:
        label, html = shared(request, "brief", page, period=asked, download=download)
    except BriefError as exc:
        return render(request, who, "refused.html", status=400, message=str(exc))
    headers = framed_by_our_pages(policy(served=not download))  # its inline scripts by their hashes; /brief frames it
    if download:
        headers["Content-Disposition"] = f'attachment; filename="truce-brief-{label}.html"'
    return HTMLResponse(html, headers=headers)


# ---- the audit trail -----------------------------------------------------------------------------


@router.get("/audit", response_class=HTMLResponse)
def audit(
    request: Request,
    actor: str = "",
    action: str = "",
    entity_type: str = "",
    limit: int = 100,
    who: Caller = Depends(allowed("read_audit")),
) -> HTMLResponse:
    from truce.services import audit_trail

    engine, _ = engine_and_config(request)
    asked = {"actor": actor, "action": action, "entity_type": entity_type, "limit": limit}
    choices = audit_trail.choices(engine)
    try:
        trail = audit_trail.entries(
            engine, limit=limit, actor=actor or None, action=action or None, entity_type=entity_type or None
        )
    except audit_trail.AuditQueryError as exc:
        return render(request, who, "audit.html", status=400, error=str(exc), asked=asked, trail=None, choices=choices)
    diffs = {e["id"]: audit_trail.config_diff(e) for e in trail["items"]}
    return render(request, who, "audit.html", asked=asked, trail=trail, choices=choices, diffs=diffs)
