"""REST API under /api/v1: records, reports, actions and event ingestion, as JSON.

One module per area (api_reports, api_records, api_actions, api_ingest, api_access); each route checks
one permission (truce.domain.access.PERMISSIONS, docs/permissions.md) and calls one service
function, the one the CLI calls. docs/api.md lists every route.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from truce.web import (
    api_access,
    api_actions,
    api_connections,
    api_discounts,
    api_ingest,
    api_jobs,
    api_meetings,
    api_notify,
    api_records,
    api_reports,
)
from truce.web.api_common import api_router, known_query
from truce.web.app import Caller, allowed

router = APIRouter(prefix="/api/v1")
public = APIRouter(tags=["api"], dependencies=[Depends(known_query)])
caller = api_router(tags=["api"])


@public.get("/health", summary="Is the service up")
def health() -> dict:
    return {"status": "ok"}


@caller.get("/me", summary="Who the token or session belongs to")
def me(who: Annotated[Caller, Depends(allowed("read_reports"))]) -> dict:
    return {"email": who.who.email, "name": who.who.name, "team": who.who.team, "role": who.who.role}


for part in (
    public,
    caller,
    api_reports.router,
    api_records.router,
    api_actions.router,
    api_ingest.router,
    api_access.router,
    api_jobs.router,
    api_meetings.router,
    api_discounts.router,
    api_notify.router,
    api_connections.router,
):
    router.include_router(part)
