"""The CRM connections for RevOps: each one's state, cursors, last run and rejects, and a sync now.

The same service functions as `truce connections --json`, `truce connections rejects` and
`truce sync` (truce.services.connectors). Nothing here ever returns a secret: a connection says
where its secret lives (an environment variable's name, or "sealed in the store"), never what it is.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, HTTPException, Path, Query, Request

from truce.reports.connections import Connections, SyncRejects, SyncReport
from truce.web.api_common import api_router, settings, store
from truce.web.app import Caller, allowed
from truce.web.schemas import ErrorOut

router = api_router(tags=["connections"])
RevOps = Annotated[Caller, Depends(allowed("manage_connections"))]
Name = Annotated[str, Path(max_length=64, description="The connection's name, e.g. hubspot")]


SYNC_ERRORS: dict[int | str, dict[str, Any]] = {
    409: {"model": ErrorOut, "description": "The connection was revoked, or a sync of it is running"},
    502: {"model": ErrorOut, "description": "The CRM refused or failed (its message quoted); the run is on record"},
    503: {"model": ErrorOut, "description": "The store was too busy; nothing written, retry after Retry-After"},
}


@router.get(
    "/connections",
    summary="The CRM connections: last sync, cursors, errors, open rejects",
    response_model=Connections,
)
def connections_list(request: Request, who: RevOps) -> dict:
    from truce.services.connectors.connections import listing

    return {"connections": listing(store(request))}


@router.get(
    "/connections/{name}/rejects", summary="Records a connection's syncs could not take in", response_model=SyncRejects
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
    response_model=SyncReport,
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
