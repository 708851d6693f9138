"""The /connections page for RevOps: each CRM connection's state, cursors, last run, errors and
rejects, and a "Sync now" button — what `truce connections` and `truce sync` give in a terminal.

The page reads `connections.listing` and `connections.rejects`, and its form calls `sync`: the
functions the CLI and GET /api/v1/connections call, so the page and the API report the same numbers.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from truce.web.app import Caller, allowed
from truce.web.pages_base import PageRoute, back, render

router = APIRouter(include_in_schema=False, route_class=PageRoute)
HERE = "/connections"


@router.get("/connections", response_class=HTMLResponse)
def connections_page(request: Request, who: Caller = Depends(allowed("manage_connections"))) -> HTMLResponse:
    from truce.services.connectors.connections import listing

    return render(request, who, "connections.html", connections=listing(request.app.state.engine))


@router.get("/connections/{name}/rejects", response_class=HTMLResponse)
def rejects_page(request: Request, name: str, who: Caller = Depends(allowed("manage_connections"))) -> HTMLResponse:
    from truce.services.connectors.connections import rejects

    found = rejects(request.app.state.engine, name[:64])  # an unknown name: PageRoute's 404 page, with the names known
    return render(request, who, "connection_rejects.html", name=name, rejects=found)


@router.post("/connections/{name}/sync")
def sync_now(request: Request, name: str, who: Caller = Depends(allowed("manage_connections"))) -> Response:
    from truce.services.connectors.connections import NoSuchConnection
    from truce.services.connectors.errors import CrmError, SyncRefused
    from truce.services.connectors.secrets import SecretUnavailable
    from truce.services.connectors.sync import sync

    engine, config = request.app.state.engine, request.app.state.config
    try:
        report = sync(engine, config, name[:64], actor=who.who.email, origin="web")
    except (NoSuchConnection, SyncRefused, SecretUnavailable) as exc:
        return back(HERE, str(exc), "error")
    except CrmError as exc:
        return back(HERE, f"The sync of {name} stopped: {exc}", "error")
    totals = report.totals()
    return back(
        HERE,
        f"{name} synced: {totals['read']} records read, {totals['inserted']} new, {totals['updated']} updated, "
        f"{totals['rejected']} rejected, {totals['handoffs_opened']} handoffs opened.",
    )
