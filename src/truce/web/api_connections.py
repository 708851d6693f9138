"""The CRM connections for RevOps: each one's state, cursors, last run and rejects, and a sync now.

The same service functions as `truce connections --json`, `truce connections rejects` and
`truce sync` (truce.services.connectors). Nothing here ever returns a secret: a connection says
where its secret lives (an environment variable's name, or "sealed in the store"), never what it is.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Path, Query, Request
from pydantic import BaseModel, Field

from truce.web.api_common import api_router, settings, store
from truce.web.app import Caller, allowed
from truce.web.schemas import ErrorOut

router = api_router(tags=["connections"])
RevOps = Annotated[Caller, Depends(allowed("manage_connections"))]
Name = Annotated[str, Path(max_length=64, description="The connection's name, e.g. hubspot")]


class CursorOut(BaseModel):
    object: str = Field(description="The CRM object: contacts, deals, Lead, Opportunity…")
    cursor: str | None = Field(description="The last modified time read (and the CRM id that breaks ties)")
    position: str | None = Field(description="An interrupted full sync's place; null when none is under way")
    records: int = Field(description="Records written under this cursor so far")
    updated_at: dt.datetime | None


class RunOut(BaseModel):
    id: int
    full: bool
    status: str = Field(description="running, ok, failed or stopped (a revoked credential)")
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
    counts: dict[str, Any] | None
    differences: dict[str, Any] | None
    error: str | None


class ConnectionOut(BaseModel):
    name: str
    system: str
    auth: str
    base_url: str
    settings: dict[str, Any] = Field(description="Not secret: client id, user name, portal or org id")
    active: bool
    secret: str = Field(description="Where the secret lives, never the secret")
    webhook_secret: str = Field(description="Where the webhook secret lives, never the secret")
    created_at: dt.datetime | None
    created_by: str
    revoked_at: dt.datetime | None
    last_sync_at: dt.datetime | None
    last_error: str | None
    last_error_at: dt.datetime | None
    cursors: list[CursorOut]
    last_run: RunOut | None
    open_rejects: int


class ConnectionsOut(BaseModel):
    connections: list[ConnectionOut]


class RejectOut(BaseModel):
    object: str
    crm_id: str = Field(description="The record's id in the CRM")
    reason: str
    seen_at: dt.datetime | None
    resolved_at: dt.datetime | None
    run_id: int | None


class RejectsOut(BaseModel):
    connection: str
    items: list[RejectOut]


class SyncOut(BaseModel):
    connection: str
    system: str
    full: bool
    run_id: int | None
    status: str
    totals: dict[str, int]
    objects: dict[str, dict[str, int]]
    rejects: list[dict[str, Any]] = Field(description="The first 200: object, crm_id, reason")
    reject_count: int
    differences: dict[str, Any]
    error: str | None


SYNC_ERRORS = {
    409: {"model": ErrorOut, "description": "The connection was revoked, or a sync of it is running"},
    502: {"model": ErrorOut, "description": "The CRM refused or failed (its message quoted); the run is on record"},
    503: {"model": ErrorOut, "description": "The store was too busy; nothing written, retry after Retry-After"},
}


@router.get(
    "/connections",
    summary="The CRM connections: last sync, cursors, errors, open rejects",
    response_model=ConnectionsOut,
)
def connections_list(request: Request, who: RevOps) -> dict:
    from truce.services.connectors.connections import listing

    return {"connections": listing(store(request))}


@router.get(
    "/connections/{name}/rejects", summary="Records a connection's syncs could not take in", response_model=RejectsOut
)
def rejects(
    request: Request,
    who: RevOps,
    name: Name,
    open_only: Annotated[bool, Query(alias="open", description="Only those not taken in since (default)")] = True,
    limit: Annotated[int, Query(ge=1, le=500)] = 200,
) -> dict:
    from truce.services.connectors import connections

    try:
        found = connections.rejects(store(request), name, open_only=open_only, limit=limit)
    except connections.NoSuchConnection as exc:
        raise HTTPException(404, str(exc)) from None
    return {"connection": name, "items": found}


@router.post(
    "/connections/{name}/sync",
    summary="Sync a connection now, as `truce sync NAME`",
    response_model=SyncOut,
    responses=SYNC_ERRORS,
)
def sync_now(
    request: Request,
    who: RevOps,
    name: Name,
    full: Annotated[bool, Query(description="Read every record again and reconcile (`--full`)")] = False,
) -> dict:
    return run_sync(request, name, full, who.who.email, "api")


def run_sync(request: Request, name: str, full: bool, actor: str, origin: str) -> dict:
    """`sync()` for the API and the page, its refusals as the HTTP answers above."""
    from truce.services.connectors import connections
    from truce.services.connectors.errors import CrmError, SyncRefused
    from truce.services.connectors.secrets import SecretUnavailable
    from truce.services.connectors.sync import sync

    try:
        return sync(store(request), settings(request), name, full=full, actor=actor, origin=origin).as_dict()
    except connections.NoSuchConnection as exc:
        raise HTTPException(404, str(exc)) from None
    except (SyncRefused, SecretUnavailable) as exc:
        raise HTTPException(409, str(exc)) from None
    except CrmError as exc:
        raise HTTPException(502, f"the sync of {name} stopped: {exc}") from None
