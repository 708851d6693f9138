"""The joint meeting in the REST API: meetings, their decisions tracked to done, and initiatives.

Each route checks one permission and calls the service function the CLI calls, acting as the
caller; the service checks the record (who holds a meeting, who closes a decision). A refused
field answers 422 naming it (`body.owner`, `body.due`, …); a closed decision, 409.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path, Query, Request
from fastapi.responses import Response
from pydantic import AfterValidator, Field

from truce.reports import typed
from truce.reports.models import Decision, Initiative, Meeting
from truce.vocabulary import DecisionFilter
from truce.web.api_common import api_router, as_json, settings, store
from truce.web.app import Caller, allowed
from truce.web.schemas import MAX_ID, Day, Email, Strict, Text, brief_period, printable

router = api_router(tags=["meetings"])
Reader = Annotated[Caller, Depends(allowed("read_reports"))]
Holder = Annotated[Caller, Depends(allowed("hold_meetings"))]
Closer = Annotated[Caller, Depends(allowed("close_decisions"))]
PeriodPath = Annotated[
    str,
    Path(max_length=16, description="The brief period: an ISO week (2026-W49), month, quarter or year"),
    AfterValidator(lambda text: brief_period(printable(text))),
]
DecisionId = Annotated[int, Path(ge=1, le=MAX_ID)]


class MeetingIn(Strict):
    period: Annotated[str, *Text(16, 1)] = Field(
        description="The brief period: an ISO week (2026-W49), month, quarter or year"
    )
    attendees: list[Email] = Field(default_factory=list, max_length=200, description="Emails of who is there")


class DecisionIn(Strict):
    period: Annotated[str, *Text(16)] | None = Field(None, description="The meeting's brief period. Default: this week")
    item: int | None = Field(
        None, ge=1, le=1000, description="The agenda item's number, or none for a decision of its own"
    )
    text: Annotated[str, *Text(2000)] | None = Field(
        None, description="What was decided. Default: the agenda item's text"
    )
    owner: Email = Field(description="Who does it: an active user of marketing, sales or RevOps")
    due: Day = Field(description="When it is due, YYYY-MM-DD, today or later")
    indicator: Annotated[str, *Text(64, 1)] = Field(
        description="The indicator it should move, e.g. mql_acceptance_rate"
    )


class CloseIn(Strict):
    note: Annotated[str, *Text(2000)] | None = Field(
        None, description="What was done, or why it is dropped (required to drop)"
    )


class InitiativeIn(Strict):
    move: Annotated[str, *Text(40, 1)] = Field(description="The playbook move's key, e.g. key_account_liaison")
    owner: Email = Field(description="Who carries it out")
    start: Day = Field(description="When it starts, YYYY-MM-DD")
    indicators: list[Annotated[str, *Text(64, 1)]] = Field(
        default_factory=list, max_length=12, description="Default: the move's own"
    )
    note: Annotated[str, *Text(2000)] | None = None


@router.post(
    "/meetings",
    summary="Start the joint meeting of a brief period from the brief (again: the same meeting)",
    response_model=Meeting,
)
def start_meeting(request: Request, who: Holder, body: MeetingIn) -> Response:
    from truce.services.meetings import start_meeting as start

    meeting = start(store(request), settings(request), period=body.period, attendees=body.attendees,
                    actor=who.who.email, origin="api")  # fmt: skip
    return as_json(typed(Meeting, meeting))


@router.get(
    "/meetings/{period}",
    summary="A meeting: attendees, agenda and decisions (as `truce meeting show --json`)",
    response_model=Meeting,
)
def show_meeting(request: Request, who: Reader, period: PeriodPath) -> Response:
    from truce.services.meetings import show_meeting as show

    return as_json(typed(Meeting, show(store(request), settings(request), period=period)))


@router.get(
    "/decisions",
    summary="The meetings' decisions, soonest due first (as `truce decisions --json`)",
    response_model=list[Decision],
)
def list_decisions(
    request: Request,
    who: Reader,
    state: Annotated[DecisionFilter, Query()] = "open",
    owner: Annotated[str | None, Query(max_length=254, description="Only this owner's (email)")] = None,
) -> Response:
    from truce.services.meetings import list_decisions as listed

    return as_json(
        typed(Decision, listed(store(request), settings(request), state=state, owner=owner and printable(owner)))
    )


@router.post(
    "/decisions",
    summary="Record a decision of a meeting (as `truce meeting decide`)",
    status_code=201,
    response_model=Decision,
)
def record_decision(request: Request, who: Holder, body: DecisionIn) -> Response:
    from truce.services.meetings import record_decision as record

    decided = record(store(request), settings(request), period=body.period, item=body.item, text_=body.text,
                     owner=body.owner, due=body.due, indicator=body.indicator, actor=who.who.email, origin="api")  # fmt: skip
    return as_json(typed(Decision, decided), status_code=201)


def _close(request: Request, who: Caller, decision_id: int, state: str, note: str | None) -> Response:
    from truce.services.meetings import close_decision

    closed = close_decision(store(request), settings(request), decision_id, state=state, note=note,
                            actor=who.who.email, origin="api")  # fmt: skip
    return as_json(typed(Decision, closed))


@router.post(
    "/decisions/{decision_id}/done",
    summary="Mark a decision done (its owner, a leader of their team, RevOps)",
    response_model=Decision,
)
def decision_done(request: Request, who: Closer, decision_id: DecisionId, body: CloseIn) -> Response:
    return _close(request, who, decision_id, "done", body.note)


@router.post("/decisions/{decision_id}/drop", summary="Drop a decision with a note saying why", response_model=Decision)
def decision_drop(request: Request, who: Closer, decision_id: DecisionId, body: CloseIn) -> Response:
    return _close(request, who, decision_id, "dropped", body.note)


@router.get(
    "/initiatives",
    summary="Initiatives with their indicators at the start and now (as `truce initiatives --json`)",
    response_model=list[Initiative],
)
def list_initiatives(request: Request, who: Reader) -> Response:
    from truce.services.meetings import list_initiatives as listed

    return as_json(typed(Initiative, listed(store(request), settings(request))))


@router.post(
    "/initiatives",
    summary="RevOps adopts a move of the playbook as an initiative",
    status_code=201,
    response_model=Initiative,
)
def adopt_initiative(
    request: Request, who: Annotated[Caller, Depends(allowed("adopt_initiatives"))], body: InitiativeIn
) -> Response:
    from truce.services.meetings import adopt_initiative as adopt

    adopted = adopt(store(request), settings(request), move=body.move, owner=body.owner, start=body.start,
                    indicators=body.indicators, note=body.note, actor=who.who.email, origin="api")  # fmt: skip
    return as_json(typed(Initiative, adopted), status_code=201)
