"""The discount approval page (under Economics): the requests waiting, answer forms for the pricing owner,
and a request form for sellers. Each form calls the service function the CLI and the API call."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, Response

from truce.web.app import Caller, allowed
from truce.web.pages_base import PageRoute, back, engine_and_config, render

router = APIRouter(include_in_schema=False, route_class=PageRoute)
HERE = "/economics/discounts"
RECENT = 50


@router.get(HERE, response_class=HTMLResponse)
def discounts_page(request: Request, who: Caller = Depends(allowed("read_reports"))) -> HTMLResponse:
    from truce.services import discounts

    engine, config = engine_and_config(request)
    # Read fresh, not from the report cache: someone answering wants to see their own answer at once.
    waiting = discounts.list_approvals(engine, config, pending=True)
    recent = [r for r in discounts.list_approvals(engine, config, limit=RECENT) if r["state"] != "requested"]
    return render(
        request,
        who,
        "discounts.html",
        waiting=waiting,
        recent=recent,
        approval=config.pricing.approval,
        approver=discounts.rules.APPROVERS[config.pricing.approval.approver],
        answers=discounts.answers_requests(engine, config, who.who.email),
    )


def _done(action, verb: str) -> Response:
    from truce.domain.access import Forbidden
    from truce.services.discounts import DiscountRefused
    from truce.services.lifecycle import NotFound
    from truce.services.records import InvalidField

    try:
        done = action()
    except InvalidField as exc:
        return back(HERE, f"{exc.field}: {exc.message}", "error")
    except (DiscountRefused, NotFound, Forbidden) as exc:
        return back(HERE, str(exc), "error")
    return back(HERE, f"Request #{done['id']} {verb}: {done['requested_discount']:.2%} off {done['opportunity']}")


@router.post(f"{HERE}/request")
def ask(
    request: Request,
    opportunity_id: str = Form(""),
    discount_percent: str = Form(""),
    reason: str = Form(""),
    note: str = Form(""),
    who: Caller = Depends(allowed("request_discounts")),
) -> Response:
    from truce.services import discounts

    engine, config = engine_and_config(request)
    if not opportunity_id.strip().isdigit():
        return back(HERE, "opportunity: give the deal's id, a number", "error")
    rate = _rate(discount_percent)
    if rate is None:
        return back(HERE, f"discount: {discount_percent!r} is not a percentage, e.g. 25", "error")
    return _done(
        lambda: discounts.request(engine, config, int(opportunity_id), rate, reason, who.who.email, note, origin="web"),
        "sent to the approvers",
    )


def _rate(percent: str) -> str | None:
    text = percent.replace("%", "").strip()
    try:
        return str(float(text) / 100)
    except ValueError:
        return None


@router.post(f"{HERE}/{{approval_id}}/approve")
def approve(
    request: Request, approval_id: int, note: str = Form(""), who: Caller = Depends(allowed("answer_discounts"))
) -> Response:
    from truce.services import discounts

    engine, config = engine_and_config(request)
    return _done(lambda: discounts.approve(engine, config, approval_id, who.who.email, note, origin="web"), "approved")


@router.post(f"{HERE}/{{approval_id}}/refuse")
def refuse(
    request: Request, approval_id: int, note: str = Form(""), who: Caller = Depends(allowed("answer_discounts"))
) -> Response:
    from truce.services import discounts

    engine, config = engine_and_config(request)
    return _done(lambda: discounts.refuse(engine, config, approval_id, who.who.email, note, origin="web"), "refused")
