"""One lead's MQL score, point by point: where the score link truce writes back into the CRM leads."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

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
