"""One lead's page: its whole record (/leads/{id}), and its MQL score point by point (/leads/{id}/score,
where the score link truce writes back into the CRM leads). Deals open on their contact's page."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from truce.web.app import Caller, allowed
from truce.web.pages_base import PageRoute, engine_and_config, render

router = APIRouter(include_in_schema=False, route_class=PageRoute)


@router.get("/leads/{contact_id}/score", response_class=HTMLResponse)
def lead_score(contact_id: int, request: Request, who: Caller = Depends(allowed("read_reports"))) -> HTMLResponse:
    from truce.services.lifecycle import NotFound
    from truce.services.scoring import explain_contact

    engine, config = engine_and_config(request)
    try:
        explained = explain_contact(engine, config, contact_id)
    except NotFound as exc:
        return render(request, who, "lead_score.html", status=404, missing=str(exc), lead=None)
    return render(request, who, "lead_score.html", lead=explained, missing=None)


@router.get("/leads/find", response_class=HTMLResponse)
def find_lead(request: Request, email: str = "", who: Caller = Depends(allowed("read_records"))) -> Response:
    """A link that knows only a lead's email (the custody table, a notification) opens its page."""
    from truce.services.leads import contact_id_of

    return RedirectResponse(f"/leads/{contact_id_of(engine_and_config(request)[0], email)}", status_code=303)


@router.get("/leads/{contact_id}", response_class=HTMLResponse)
def lead_page(contact_id: int, request: Request, who: Caller = Depends(allowed("read_records"))) -> HTMLResponse:
    from truce.services.leads import whole_record
    from truce.services.lifecycle import NotFound

    engine, config = engine_and_config(request)
    try:
        lead = whole_record(engine, contact_id)
    except NotFound as exc:
        return render(request, who, "lead.html", status=404, missing=str(exc), lead=None)
    stages = {s.key: s.label for s in config.funnel.stages} | {e.key: e.label for e in config.funnel.exits}
    return render(request, who, "lead.html", lead=lead, stages=stages, missing=None)


@router.get("/deals/{deal_id}", response_class=HTMLResponse)
def deal_page(deal_id: int, request: Request, who: Caller = Depends(allowed("read_records"))) -> Response:
    """A deal is shown on its primary contact's lead page, with the whole story that led to it."""
    from truce.services.leads import deal_contact

    engine, _ = engine_and_config(request)
    return RedirectResponse(f"/leads/{deal_contact(engine, deal_id)}#deal-{deal_id}", status_code=303)
