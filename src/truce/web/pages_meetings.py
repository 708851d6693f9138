"""The joint meeting's pages: /meetings (start it from the brief, record decisions per agenda item),
/decisions (mark one done or drop it with a note) and /initiatives (the playbook's moves adopted).

Each form calls the service function the CLI calls, as the user; a refusal comes back as a message.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, Response

from truce.web.app import Caller, allowed
from truce.web.pages_base import PageRoute, back, engine_and_config, render, with_query

router = APIRouter(include_in_schema=False, route_class=PageRoute)


def _refusals():
    from truce.services.lifecycle import NotFound
    from truce.services.meetings import DecisionConflict, MeetingRefused

    return (MeetingRefused, DecisionConflict, NotFound)


def _choices() -> dict:
    from truce.domain.meetings import INDICATORS, MOVES

    return {"indicators": list(INDICATORS.values()), "moves": list(MOVES.values())}


@router.get("/meetings", response_class=HTMLResponse)
def meetings(request: Request, period: str = "", who: Caller = Depends(allowed("read_reports"))) -> HTMLResponse:
    from truce.services.meetings import MeetingRefused, show_meeting
    from truce.services.meetings.meetings import meeting_period, people_to_choose

    engine, config = engine_and_config(request)
    import datetime as dt

    meeting, error = None, None
    try:
        asked = meeting_period(config, period or None, dt.datetime.now(dt.UTC)).label
        meeting = show_meeting(engine, config, period=asked)
    except MeetingRefused as exc:
        asked = period.strip()
        error = str(exc) if period.strip() and "no meeting" not in str(exc) else None
    return render(request, who, "meetings.html", status=400 if error else 200, period=asked, meeting=meeting,
                  error=error, people=people_to_choose(engine), **_choices())  # fmt: skip


@router.post("/meetings/start")
def start(
    request: Request,
    period: str = Form(""),
    attendees: list[str] = Form([]),
    who: Caller = Depends(allowed("hold_meetings")),
) -> Response:
    from truce.services.meetings import start_meeting

    engine, config = engine_and_config(request)
    try:
        meeting = start_meeting(engine, config, period=period or None, attendees=[a for a in attendees if a],
                                actor=who.who.email, origin="web")  # fmt: skip
    except _refusals() as exc:
        return back(with_query("/meetings", period=period), str(exc), "error")
    return back(
        with_query("/meetings", period=meeting["period"]),
        f"The meeting of {meeting['period']} is open: {len(meeting['agenda'])} items from the brief.",
    )


@router.post("/meetings/decide")
def decide(
    request: Request,
    period: str = Form(""),
    item: str = Form(""),
    text: str = Form(""),
    owner: str = Form(""),
    due: str = Form(""),
    indicator: str = Form(""),
    who: Caller = Depends(allowed("hold_meetings")),
) -> Response:
    from truce.services.meetings import record_decision

    engine, config = engine_and_config(request)
    here = with_query("/meetings", period=period)
    try:
        decided = record_decision(engine, config, period=period or None, item=item or None, text_=text, owner=owner,
                                  due=due or None, indicator=indicator, actor=who.who.email, origin="web")  # fmt: skip
    except _refusals() as exc:
        return back(here, str(exc), "error")
    return back(
        here + f"#decision-{decided['id']}",
        f"Decision #{decided['id']} recorded: {decided['owner']}, due {decided['due_on']}.",
    )


@router.get("/decisions", response_class=HTMLResponse)
def decisions(
    request: Request, state: str = "open", owner: str = "", who: Caller = Depends(allowed("read_reports"))
) -> HTMLResponse:
    from truce.services.meetings import MeetingRefused, list_decisions
    from truce.services.meetings.meetings import people_to_choose

    engine, config = engine_and_config(request)
    try:
        rows, error = list_decisions(engine, config, state=state, owner=owner or None), None
    except MeetingRefused as exc:
        rows, error = [], str(exc)
    return render(request, who, "decisions.html", status=400 if error else 200, decisions=rows, error=error,
                  asked={"state": state, "owner": owner}, people=people_to_choose(engine))  # fmt: skip


def _close(request: Request, who: Caller, decision_id: int, state: str, note: str) -> Response:
    from truce.services.meetings import close_decision

    engine, config = engine_and_config(request)
    here = f"/decisions#decision-{decision_id}"
    try:
        closed = close_decision(engine, config, decision_id, state=state, note=note, actor=who.who.email, origin="web")
    except _refusals() as exc:
        return back(here, str(exc), "error")
    return back(here, f"Decision #{closed['id']} is {closed['state']}.")


@router.post("/decisions/{decision_id}/done")
def done(
    request: Request, decision_id: int, note: str = Form(""), who: Caller = Depends(allowed("close_decisions"))
) -> Response:
    return _close(request, who, decision_id, "done", note)


@router.post("/decisions/{decision_id}/drop")
def drop(
    request: Request, decision_id: int, note: str = Form(""), who: Caller = Depends(allowed("close_decisions"))
) -> Response:
    return _close(request, who, decision_id, "dropped", note)


@router.get("/initiatives", response_class=HTMLResponse)
def initiatives(request: Request, who: Caller = Depends(allowed("read_reports"))) -> HTMLResponse:
    from truce.services.meetings import list_initiatives
    from truce.services.meetings.meetings import people_to_choose

    engine, config = engine_and_config(request)
    return render(request, who, "initiatives.html", initiatives=list_initiatives(engine, config),
                  people=people_to_choose(engine), **_choices())  # fmt: skip


@router.post("/initiatives")
def adopt(
    request: Request,
    move: str = Form(""),
    owner: str = Form(""),
    start: str = Form(""),
    indicators: list[str] = Form([]),
    note: str = Form(""),
    who: Caller = Depends(allowed("adopt_initiatives")),
) -> Response:
    from truce.services.meetings import adopt_initiative

    engine, config = engine_and_config(request)
    try:
        adopted = adopt_initiative(engine, config, move=move, owner=owner, start=start or None,
                                   indicators=[i for i in indicators if i], note=note, actor=who.who.email, origin="web")  # fmt: skip
    except _refusals() as exc:
        return back("/initiatives", str(exc), "error")
    return back(
        f"/initiatives#initiative-{adopted['id']}", f"Initiative #{adopted['id']} adopted: {adopted['move_text']}."
    )
