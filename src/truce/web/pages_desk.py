"""The seller's desk: the handoff queue with sales' decisions, and SLA compliance and custody."""

from __future__ import annotations

import datetime as dt
from collections import Counter

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, Response

from truce import palette
from truce.services.handoff import NOTE_LIMIT, past_a_deadline
from truce.web import charts
from truce.web.app import Caller, allowed
from truce.web.pages_base import PageRoute, back, engine_and_config, render, shared, with_query

router = APIRouter(include_in_schema=False, route_class=PageRoute)
MONTHS_SHOWN = 12
COLD_SHOWN = 25
QUEUE_SHOWN = 100


# ---- handoffs ------------------------------------------------------------------------------------


@router.get("/handoffs", response_class=HTMLResponse)
def handoffs(request: Request, who: Caller = Depends(allowed("read_reports"))) -> HTMLResponse:
    from truce.services import desk

    engine, config = engine_and_config(request)
    # Shared like a report: a seller's own decisions show at once (truce.web.report_cache), and
    # deciding a lead a colleague decided a moment ago is refused with a message that says so.
    # The clocks' words are read at the minute, so a shared copy is at most a minute behind the clock.
    minute = dt.datetime.now(dt.UTC).replace(second=0, microsecond=0)
    waiting = shared(request, "handoff_cards", lambda: desk.cards(engine, config, minute), minute=minute.isoformat())
    me = who.who.email
    seller = who.who.role == "sales"
    mine = [h for h in waiting if h["owner"] == me]
    unowned = [h for h in waiting if h["owner"] is None]
    others = [h for h in waiting if h["owner"] not in (me, None)]
    return render(
        request,
        who,
        "handoffs.html",
        waiting=waiting,
        mine=mine,
        unowned=unowned,
        others=others[:QUEUE_SHOWN],
        hidden=max(0, len(others) - QUEUE_SHOWN),
        per_owner=Counter(h["owner"] or "(unassigned)" for h in waiting).most_common(),
        reasons=config.funnel.rejection_reasons,
        accepted=next(s.label for s in config.funnel.stages if s.key == config.funnel.accepted_stage),
        sellers=_sellers(engine) if who.who.role == "revops" else [],
        standing=desk.standing(engine, config, me) if seller else None,
        undoable=desk.undoable(engine, config, me) if seller else [],
        undo_minutes=config.sla.sales.undo_minutes,
        touch_kinds=desk.TOUCH_KINDS,
        note_limit=NOTE_LIMIT,
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
    return _decided(
        lambda: handoff.accept(engine, config, email, who.who.email, origin="web"), config.sla.sales.undo_minutes
    )


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
        lambda: handoff.reject(engine, config, email, who.who.email, reason or None, note.strip() or None, origin="web"),
        config.sla.sales.undo_minutes,
    )


def _decided(decide, undo_minutes: int) -> Response:
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
    undo = f"You can undo it for {undo_minutes} minutes (Just decided, below)."
    return back("/handoffs", " ".join([text, *decided.warnings, undo]))


@router.post("/handoffs/touch")
def touch(
    request: Request,
    email: str = Form(""),
    kind: str = Form(""),
    who: Caller = Depends(allowed("decide_handoffs")),
) -> Response:
    from truce.services import desk

    engine, config = engine_and_config(request)
    done = _acted(lambda: desk.log_touch(engine, config, email, kind, who.who.email, origin="web"))
    if isinstance(done, Response):
        return done
    clock = " It stopped the first-touch clock" + (", after its deadline." if done.late else ", in time.")
    return back("/handoffs", f"{done.email}: your {done.kind} is logged." + (clock if done.first_touch else ""))


@router.post("/handoffs/claim")
def claim(request: Request, email: str = Form(""), who: Caller = Depends(allowed("decide_handoffs"))) -> Response:
    from truce.services import desk

    engine, config = engine_and_config(request)
    done = _acted(lambda: desk.claim(engine, config, email, who.who.email, origin="web"))
    if isinstance(done, Response):
        return done
    return back("/handoffs", f"{done['email']} is yours now: its clocks run from its MQL moment.")


@router.post("/handoffs/undo")
def undo(request: Request, email: str = Form(""), who: Caller = Depends(allowed("decide_handoffs"))) -> Response:
    from truce.services import desk

    engine, config = engine_and_config(request)
    done = _acted(lambda: desk.undo(engine, config, email, who.who.email, origin="web"))
    if isinstance(done, Response):
        return done
    return back(
        "/handoffs", f"{done['email']}: your {done['undone'][:-2]} is undone; the lead waits in your queue again."
    )


def _acted(action):
    """The action's result, or the page back with the refusal (a rule, a lead not found) as its message."""
    from truce.domain.lifecycle import IllegalMove
    from truce.services.handoff import HandoffRefused
    from truce.services.lifecycle import NotFound

    # Not yours (Forbidden) is answered by PageRoute as a 403 page that says whose lead it is.
    try:
        return action()
    except (HandoffRefused, NotFound, IllegalMove) as exc:
        return back("/handoffs", str(exc), "error")


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
        overdue=sum(1 for h in queue if past_a_deadline(h)),
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
        sweep_every=sweep_every(config),
        mine_url=with_query("/handoffs"),
    )


def sweep_every(config) -> str:
    """How often the scheduled SLA sweep runs, in words ("every 5 minutes"), from [schedule] or the job's default."""
    from truce.services.jobs.registry import jobs

    every = config.schedule.get("sla_sweep") or jobs()["sla_sweep"].default_every
    units = {"m": "minute", "h": "hour", "d": "day"}
    count, unit = every[:-1], every[-1:]
    if count.isdigit() and unit in units:
        return f"every {units[unit]}" if count == "1" else f"every {count} {units[unit]}s"
    return "when it is switched on in [schedule]" if every == "off" else f"on the schedule {every}"
