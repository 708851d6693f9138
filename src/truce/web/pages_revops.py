"""RevOps in the browser: survey rounds, account plans, users and roles, campaign costs, the
integrated metrics and the directory — what needed a terminal before.

Each page reads with one service function and each form writes with one (the same ones the CLI
and the API call), under the permission docs/permissions.md gives it. A refused form is shown
once, on the page, with what was typed still in it.
"""

from __future__ import annotations

import datetime as dt

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, Response

from truce.web.app import Caller, allowed
from truce.web.pages_base import PageRoute, back, engine_and_config, render, shared, with_query

router = APIRouter(include_in_schema=False, route_class=PageRoute)
ROUND_NAME_MOST = 32  # survey_rounds.name
PLAN_TEXT_MOST = 2000  # truce.services.account_plans.MAX_TEXT


# ---- survey rounds -------------------------------------------------------------------------------


@router.get("/survey/rounds", response_class=HTMLResponse)
def survey_rounds(request: Request, who: Caller = Depends(allowed("read_reports"))) -> HTMLResponse:
    return _rounds_page(request, who)


def _rounds_page(request: Request, who: Caller, status: int = 200, **form) -> HTMLResponse:
    from truce.services.survey_rounds import round_overview

    engine, config = engine_and_config(request)
    today = dt.datetime.now(dt.UTC).date()
    suggested = f"{today.year}-Q{(today.month - 1) // 3 + 1}"
    return render(request, who, "survey_rounds.html", status=status, rounds=round_overview(engine, config),
                  suggested=suggested, name_most=ROUND_NAME_MOST, **form)  # fmt: skip


@router.post("/survey/rounds")
def open_round(request: Request, name: str = Form(""), who: Caller = Depends(allowed("run_survey_rounds"))) -> Response:
    from truce.services import survey

    engine, _ = engine_and_config(request)
    try:
        opened = survey.open_round(engine, name, actor=who.who.email, origin="web")
    except survey.SurveyError as exc:
        return _rounds_page(request, who, 400, form_error=str(exc), typed=name)
    return back("/survey/rounds", f"Round {opened['name']} is open: sales and marketing can answer it on /survey.")


@router.post("/survey/rounds/remind")
def remind(request: Request, round: str = Form(""), who: Caller = Depends(allowed("run_survey_rounds"))) -> Response:
    from truce.services.survey import SurveyError
    from truce.services.survey_rounds import send_reminders

    engine, _ = engine_and_config(request)
    try:
        sent = send_reminders(engine, round, actor=who.who.email)
    except SurveyError as exc:
        return back("/survey/rounds", str(exc), "error")
    if not sent["waiting"]:
        return back("/survey/rounds", f"Everyone asked has answered round {sent['round']}: nobody to remind.")
    again = sent["waiting"] - sent["reminded"]
    said = f" ({again} were reminded today already)" if again else ""
    return back("/survey/rounds", f"Round {sent['round']}: {sent['reminded']} of {sent['waiting']} who have not answered reminded{said}.")


# ---- account plans -------------------------------------------------------------------------------


@router.get("/account-plans", response_class=HTMLResponse)
def account_plans(request: Request, account: str = "", who: Caller = Depends(allowed("read_reports"))) -> HTMLResponse:
    return _plans_page(request, who, account=account.strip())


def _plans_page(request: Request, who: Caller, status: int = 200, account: str = "", **form) -> HTMLResponse:
    from truce.services.account_plans import key_accounts_without_plan, list_plans
    from truce.services.user_admin import people

    engine, _ = engine_and_config(request)
    plans = list_plans(engine)
    without = key_accounts_without_plan(engine)
    typed = form.pop("typed", None)
    if typed is None:
        chosen = next((p for p in plans if account and account.lower() in (p["domain"], str(p["account_id"]))), None)
        typed = _plan_form(chosen) if chosen else {"account": account, "owner": "", "liaison": "", "objectives": "",
                                                    "next_action": "", "next_action_due": ""}  # fmt: skip
    active = [p for p in people(engine) if p["active"] and p["access"] == "member"]
    return render(
        request, who, "account_plans.html", status=status, plans=plans, without=without, typed=typed,
        sellers=[p for p in active if p["team"] == "sales"], marketers=[p for p in active if p["team"] == "marketing"],
        key_accounts=len(plans) + len(without), text_most=PLAN_TEXT_MOST, **form,
    )  # fmt: skip


def _plan_form(plan: dict) -> dict:
    due = plan["next_action_due"]
    return {"account": plan["domain"] or str(plan["account_id"]), "owner": plan["owner"] or "",
            "liaison": plan["liaison"] or "", "objectives": plan["objectives"] or "",
            "next_action": plan["next_action"] or "", "next_action_due": due.isoformat() if due else ""}  # fmt: skip


@router.post("/account-plans")
def save_plan(
    request: Request,
    account: str = Form(""),
    owner: str = Form(""),
    liaison: str = Form(""),
    objectives: str = Form(""),
    next_action: str = Form(""),
    next_action_due: str = Form(""),
    who: Caller = Depends(allowed("edit_account_plans")),
) -> Response:
    from truce.domain.access import Forbidden
    from truce.services.account_plans import PlanRefused, set_plan
    from truce.services.lifecycle import NotFound

    engine, _ = engine_and_config(request)
    typed = {"account": account, "owner": owner, "liaison": liaison, "objectives": objectives,
             "next_action": next_action, "next_action_due": next_action_due}  # fmt: skip
    try:
        due = _due(next_action_due)
        plan = set_plan(engine, account=account, liaison_email=liaison, owner_email=owner, objectives=objectives,
                        next_action=next_action, next_action_due=due, actor=who.who.email, origin="web")  # fmt: skip
    except (PlanRefused, NotFound, Forbidden) as exc:
        return _plans_page(request, who, 403 if isinstance(exc, Forbidden) else 400, typed=typed, form_error=str(exc))
    return back(f"/account-plans#plan-{plan['account_id']}", f"The joint plan for {plan['account']} is saved.")


def _due(text: str) -> dt.date | None:
    from truce.services.account_plans import PlanRefused

    if not text.strip():
        return None
    try:
        return dt.date.fromisoformat(text.strip())
    except ValueError:
        raise PlanRefused(f"next action due: {text!r} is not a date; write it as YYYY-MM-DD") from None


# ---- users and roles -----------------------------------------------------------------------------


@router.get("/users", response_class=HTMLResponse)
def users(request: Request, who: Caller = Depends(allowed("manage_users"))) -> HTMLResponse:
    from truce.services.user_admin import people
    from truce.store.models import ACCESS, TEAMS

    engine, _ = engine_and_config(request)
    return render(request, who, "users.html", people=people(engine), teams=TEAMS, accesses=ACCESS)


@router.post("/users/{user_id}")
def change_user(
    request: Request,
    user_id: int,
    team: str = Form(""),
    access: str = Form(""),
    leader: str = Form(""),
    who: Caller = Depends(allowed("manage_users")),
) -> Response:
    from truce.services.records import InvalidField
    from truce.services.user_admin import UserChangeRefused
    from truce.services.user_admin import change_user as change

    engine, _ = engine_and_config(request)
    here = f"/users#user-{user_id}"
    try:
        done = change(engine, user_id, team=team, access=access, leader=leader == "yes", by=who.who)
    except (InvalidField, UserChangeRefused, LookupError) as exc:
        return back(here, str(exc), "error")
    if not done["changed"]:
        return back(here, f"{done['email']}: nothing to change.")
    said = ", ".join(f"{k.replace('is_', '')} {v if not isinstance(v, bool) else ('yes' if v else 'no')}"
                     for k, v in done["changed"].items())  # fmt: skip
    return back(here, f"{done['email']}: {said}. Their next request uses it.")


# ---- campaign costs ------------------------------------------------------------------------------


@router.get("/campaign-costs", response_class=HTMLResponse)
def campaign_costs(request: Request, q: str = "", who: Caller = Depends(allowed("read_reports"))) -> HTMLResponse:
    from truce.services.campaign_spend import campaigns_with_cost

    engine, _ = engine_and_config(request)
    found = campaigns_with_cost(engine, search=q[:200])
    return render(request, who, "campaign_costs.html", found=found, q=q[:200])


@router.post("/campaign-costs/{campaign_id}")
def set_cost(
    request: Request,
    campaign_id: int,
    budget: str = Form(""),
    actual_cost: str = Form(""),
    q: str = Form(""),
    who: Caller = Depends(allowed("edit_campaign_cost")),
) -> Response:
    from truce.services.campaign_spend import set_cost as save
    from truce.services.records import InvalidField, RecordNotFound

    engine, _ = engine_and_config(request)
    here = with_query("/campaign-costs", q=q) + f"#campaign-{campaign_id}"
    try:
        saved = save(engine, campaign_id, budget=budget, actual_cost=actual_cost, actor=who.who.email)
    except (InvalidField, RecordNotFound) as exc:
        return back(here, str(exc), "error")
    return back(here, f"{saved['name']}: budget {saved['budget'] or '–'}, actual cost {saved['actual_cost'] or '–'}.")


# ---- integrated metrics and the directory --------------------------------------------------------


@router.get("/metrics", response_class=HTMLResponse)
def metrics(request: Request, start: str = "", end: str = "", who: Caller = Depends(allowed("read_reports"))) -> HTMLResponse:
    from truce.services.metrics import MetricsError, group_metrics
    from truce.web.pages_pipeline import _day

    engine, config = engine_and_config(request)
    asked = {"start": start, "end": end}
    try:
        first, last = _day(start, "from"), _day(end, "to")
        report = shared(request, "metrics", lambda: group_metrics(engine, config, start=first, end=last),
                        start=first, end=last)  # fmt: skip
    except (MetricsError, ValueError) as exc:
        return render(request, who, "metrics.html", status=400, error=str(exc), asked=asked, report=None)
    return render(request, who, "metrics.html", asked=asked, report=report)


@router.get("/directory", response_class=HTMLResponse)
def directory(request: Request, team: str = "", who: Caller = Depends(allowed("read_reports"))) -> HTMLResponse:
    from truce.services.metrics import MetricsError
    from truce.services.metrics import directory as who_to_call

    engine, _ = engine_and_config(request)
    try:
        people = who_to_call(engine, team=team or None)
    except MetricsError as exc:
        return render(request, who, "directory.html", status=400, error=str(exc), team=team, people=[])
    return render(request, who, "directory.html", team=team, people=people)
