"""REST API under /api/v1: records, reports and event ingestion, as JSON."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request

from truce.web.app import Caller, allowed

router = APIRouter(prefix="/api/v1", tags=["api"])


@router.get("/health", summary="Is the service up")
def health() -> dict:
    return {"status": "ok"}


@router.get("/me", summary="Who the token or session belongs to")
def me(who: Caller = Depends(allowed("read_reports"))) -> dict:
    return {"email": who.who.email, "name": who.who.name, "team": who.who.team, "role": who.who.role}


@router.get("/reports/funnel", summary="The funnel report (as `truce funnel --json`)")
def funnel(request: Request, who: Caller = Depends(allowed("read_reports"))) -> dict:
    from truce.services.funnel import funnel_report

    return funnel_report(request.app.state.engine, request.app.state.config)
