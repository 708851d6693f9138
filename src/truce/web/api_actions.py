"""The actions both teams take: handoff decisions, feedback and its answer, targets, the survey, account plans,
and RevOps' edits to the funnel and its SLA.

Each route calls the service function the CLI command calls, acting as the caller.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import Depends, HTTPException, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from pydantic import AfterValidator

from truce.reports import typed
from truce.reports.models import (
    AccountPlan,
    AccountPlans,
    DecisionUndone,
    FeedbackItem,
    HandoffCard,
    HandoffDecided,
    LeadAssigned,
    LeadClaimed,
    QueuedLead,
    SurveyAnswered,
    TargetSet,
    TouchLogged,
)
from truce.services.records import contact_email
from truce.vocabulary import FeedbackKind, FeedbackStatus
from truce.web.api_common import At, api_router, as_json, bad_field, clock_limits, settings, store
from truce.web.app import Caller, allowed
from truce.web.schemas import (
    MAX_ID,
    AccountPlanIn,
    AssignIn,
    FeedbackAnswerIn,
    FeedbackIn,
    FunnelConfigIn,
    FunnelConfigOut,
    RejectIn,
    SurveyResponseIn,
    TargetIn,
    TouchIn,
    printable,
)

router = api_router(tags=["actions"])
Reader = Annotated[Caller, Depends(allowed("read_records"))]
Seller = Annotated[Caller, Depends(allowed("decide_handoffs"))]
ContactKey = Annotated[
    str, Path(min_length=1, max_length=254, description="The lead's email or id"), AfterValidator(printable)
]
AccountKey = Annotated[
    str, Path(min_length=1, max_length=253, description="The account's domain or id"), AfterValidator(printable)
]


# ---- the handoff ----------------------------------------------------------------------------------


@router.get(
    "/handoffs",
    summary="Leads waiting for sales, oldest first (as `truce handoff queue --json`)",
    response_model=list[QueuedLead],
)
def handoff_queue(request: Request, who: Reader, at: At = None) -> Response:
    from truce.services.handoff import queue

    with clock_limits():
        return as_json(typed(QueuedLead, queue(store(request), settings(request), at)))


@router.get(
    "/handoffs/cards",
    summary="Leads waiting for sales as the seller's desk shows them: name, company, score, clocks in words",
    response_model=list[HandoffCard],
)
def handoff_cards(
    request: Request,
    who: Reader,
    at: At = None,
    owner: Annotated[
        str | None,
        Query(max_length=254, description="Only this seller's leads (an email), or `none` for the leads nobody owns"),
    ] = None,
) -> Response:
    from truce.services.desk import cards, held_by

    with clock_limits():
        found = cards(store(request), settings(request), at)
    return as_json(typed(HandoffCard, held_by(found, owner)))


@router.post(
    "/handoffs/{contact}/accept",
    summary="Sales accepts a lead: it moves to the accepted stage",
    response_model=HandoffDecided,
)
def accept(request: Request, who: Seller, contact: ContactKey) -> Response:
    from truce.services import handoff

    engine = store(request)
    decided = handoff.accept(engine, settings(request), contact_email(engine, contact), who.who.email, origin="api")
    return as_json(typed(HandoffDecided, decided.as_dict()))


@router.post(
    "/handoffs/{contact}/reject",
    summary="Sales rejects a lead with a reason code from truce.toml; it goes to nurture or out",
    response_model=HandoffDecided,
)
def reject(request: Request, who: Seller, contact: ContactKey, body: RejectIn) -> Response:
    from truce.services import handoff

    config = settings(request)
    codes = [r.code for r in config.funnel.rejection_reasons]
    if body.reason not in codes:
        raise bad_field("body", "reason", message=f"unknown reason {body.reason!r}; choose one of: {', '.join(codes)}")
    engine = store(request)
    decided = handoff.reject(
        engine, config, contact_email(engine, contact), who.who.email, body.reason, body.note, origin="api"
    )
    return as_json(typed(HandoffDecided, decided.as_dict()))


@router.post(
    "/handoffs/{contact}/assign",
    summary="RevOps or a sales leader gives a waiting lead to another seller (as `truce handoff assign`)",
    response_model=LeadAssigned,
)
def assign(
    request: Request, who: Annotated[Caller, Depends(allowed("assign_handoffs"))], contact: ContactKey, body: AssignIn
) -> Response:
    from truce.services import handoff

    engine = store(request)
    done = handoff.assign(engine, settings(request), contact_email(engine, contact), body.owner, who.who.email, "api")
    return as_json(typed(LeadAssigned, done))


@router.post(
    "/handoffs/{contact}/touch",
    summary="A seller logs a call, email or meeting with their lead (as `truce handoff touch`); "
    "the first after the MQL stops the first-touch clock",
    status_code=201,
    response_model=TouchLogged,
)
def log_touch(request: Request, who: Seller, contact: ContactKey, body: TouchIn) -> Response:
    from truce.services import desk

    engine = store(request)
    done = desk.log_touch(
        engine, settings(request), contact_email(engine, contact), body.kind, who.who.email, body.at, origin="api"
    )
    return as_json(typed(TouchLogged, done.as_dict()), status_code=201)


@router.post(
    "/handoffs/{contact}/claim",
    summary="A seller claims a waiting lead nobody owns (as `truce handoff claim`): sellers of its territory "
    "or segment by the routing rules, else any seller",
    response_model=LeadClaimed,
)
def claim(request: Request, who: Seller, contact: ContactKey) -> Response:
    from truce.services import desk

    engine = store(request)
    return as_json(
        typed(LeadClaimed, desk.claim(engine, settings(request), contact_email(engine, contact), who.who.email, "api"))
    )


@router.post(
    "/handoffs/{contact}/undo",
    summary="The seller who accepted or rejected a lead takes it back within `[sla.sales] undo_minutes` (default 10; as `truce handoff undo`)",
    response_model=DecisionUndone,
)
def undo(request: Request, who: Seller, contact: ContactKey) -> Response:
    from truce.services import desk

    engine = store(request)
    done = desk.undo(engine, settings(request), contact_email(engine, contact), who.who.email, origin="api")
    return as_json(typed(DecisionUndone, done))


# ---- feedback -------------------------------------------------------------------------------------


@router.get(
    "/feedback",
    summary="Feedback, newest first, with marketing's answers (as `truce feedback list`)",
    response_model=list[FeedbackItem],
)
def list_feedback(
    request: Request,
    who: Reader,
    status: Annotated[FeedbackStatus | None, Query()] = None,
    kind: Annotated[FeedbackKind | None, Query()] = None,
    mine: Annotated[bool, Query(description="Only what the caller said")] = False,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> Response:
    from truce.services.feedback import list_feedback as items

    author = who.who.email if mine else None
    return as_json(typed(FeedbackItem, items(store(request), status=status, kind=kind, author=author, limit=limit)))


@router.post("/feedback", summary="One line of feedback for marketing", status_code=201, response_model=FeedbackItem)
def add_feedback(
    request: Request, who: Annotated[Caller, Depends(allowed("add_feedback"))], body: FeedbackIn
) -> Response:
    from truce.services.feedback import add_feedback as add

    item = add(
        store(request),
        text=body.text,
        kind=body.kind,
        author_email=who.who.email,
        contact_email=body.contact,
        deal_id=body.deal_id,
        campaign_id=body.campaign_id,
        origin="api",
    )
    return as_json(typed(FeedbackItem, item), status_code=201)


@router.post(
    "/feedback/{item_id}/answer",
    summary="Marketing answers feedback: acknowledged or acted on, with a reply",
    response_model=FeedbackItem,
)
def answer_feedback(
    request: Request,
    who: Annotated[Caller, Depends(allowed("answer_feedback"))],
    item_id: Annotated[int, Path(ge=1, le=MAX_ID)],
    body: FeedbackAnswerIn,
) -> Response:
    from truce.services.feedback import answer_feedback as answer

    if body.status == "acted_on" and not body.reply:
        raise bad_field("body", "reply", message="acting on feedback needs a reply: say what was done")
    answered = answer(store(request), item_id, status=body.status, reply=body.reply, by_email=who.who.email, origin="api")
    return as_json(typed(FeedbackItem, answered))


# ---- targets, survey, account plans ---------------------------------------------------------------


@router.put(
    "/targets",
    summary="Set a shared or team target (as `truce target set`); setting it again changes it",
    response_model=TargetSet,
)
def set_target(request: Request, who: Annotated[Caller, Depends(allowed("edit_targets"))], body: TargetIn) -> Response:
    from truce.services.targets import set_target as save

    saved = save(
        store(request),
        metric=body.metric,
        amount=body.amount,
        actor=who.who.email,
        period=body.period,
        start=body.start,
        end=body.end,
        team=body.team,
        origin="api",
    )
    return as_json(typed(TargetSet, saved))


@router.post(
    "/survey/responses",
    summary="Answer the diagnostic's 20 statements, once per round",
    status_code=201,
    response_model=SurveyAnswered,
)
def answer_survey(
    request: Request, who: Annotated[Caller, Depends(allowed("take_survey"))], body: SurveyResponseIn
) -> Response:
    from truce.services import survey

    engine, config = store(request), settings(request)
    respondent = survey.respondent(engine, who.who.email)
    team = body.team or respondent["team"]
    if team is None:
        raise bad_field("body", "team", message=f"{who.who.email} is on neither sales nor marketing: say which team")
    round_name = body.round or survey.latest_round(engine, config) or _this_quarter()
    try:
        survey.check_not_answered(engine, round_name, respondent["email"])
    except survey.SurveyError as exc:
        raise HTTPException(409, str(exc)) from None
    kept = survey.record_response(
        engine,
        round_name=round_name,
        respondent_email=respondent["email"],
        team=team,
        role=body.role or respondent["role"],
        ratings=body.ratings,
        source="web",
        actor=respondent["email"],
    )
    return as_json(typed(SurveyAnswered, kept), status_code=201)


def _this_quarter() -> str:
    today = dt.datetime.now(dt.UTC).date()
    return f"{today.year}-Q{(today.month - 1) // 3 + 1}"


@router.get(
    "/account-plans",
    summary="Key accounts' joint plans (as `truce accounts plans --json`)",
    response_model=AccountPlans,
)
def list_account_plans(
    request: Request, who: Reader, overdue: Annotated[bool, Query(description="Only overdue plans")] = False
) -> Response:
    from truce.services.account_plans import key_accounts_without_plan, list_plans

    engine = store(request)
    return as_json(
        typed(
            AccountPlans,
            {
                "plans": list_plans(engine, overdue_only=overdue),
                "key_accounts_without_plan": key_accounts_without_plan(engine),
            },
        )
    )


@router.put(
    "/account-plans/{account}",
    summary="Create or update a key account's joint plan (as `truce accounts plan`)",
    response_model=AccountPlan,
)
def set_account_plan(
    request: Request,
    who: Annotated[Caller, Depends(allowed("edit_account_plans"))],
    account: AccountKey,
    body: AccountPlanIn,
) -> Response:
    from truce.services.account_plans import set_plan

    if account.strip().isdigit() and not (account.strip().isascii() and int(account) <= MAX_ID):
        raise HTTPException(404, f"no account with id {account.strip()!r}")
    saved = set_plan(
        store(request),
        account=account,
        liaison_email=body.liaison,
        owner_email=body.owner,
        objectives=body.objectives,
        next_action=body.next_action,
        next_action_due=body.next_action_due,
        actor=who.who.email,
        origin="api",
    )
    return as_json(typed(AccountPlan, saved))


# ---- the funnel and its SLA -----------------------------------------------------------------------


@router.put(
    "/config/funnel",
    summary="Replace truce.toml's [funnel] and [sla] (RevOps); the server uses them at once",
    response_model=FunnelConfigOut,
)
def edit_funnel_config(
    request: Request, who: Annotated[Caller, Depends(allowed("edit_funnel_config"))], body: FunnelConfigIn
) -> Response:
    from truce.services import funnel_config

    path = request.app.state.config_path
    try:
        new = funnel_config.edit_from_data(
            store(request),
            settings(request),
            funnel=body.funnel.model_dump(exclude_none=True),
            sla=body.sla.model_dump(),
            actor=who.who.email,
            path=path,
        )
    except funnel_config.FunnelConfigInvalid as exc:
        # A rule of the whole file (a stage [custody] names) can only break through the new funnel.
        found = [("body", *(p.path or "funnel").split(".")) for p in exc.problems]
        raise RequestValidationError(
            [{"loc": loc, "msg": p.message, "type": "value_error"} for loc, p in zip(found, exc.problems, strict=True)]
        ) from None
    # A new object, never a changed one: reports are cached per config object.
    request.app.state.config = new
    return as_json({"file": str(path), **funnel_config.sections_of(new)})
