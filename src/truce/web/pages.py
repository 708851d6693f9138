"""Server-rendered pages: plain forms, our own small CSS and JavaScript, Plotly from its package.

This module serves the static files, the login and the overview, and gathers the pages of
each area (pages_pipeline, pages_money, pages_voice). What every page shares is in pages_base.
"""

from __future__ import annotations

import datetime as dt
import importlib
from pathlib import Path

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response

from truce.web import (
    charts,
    pages_access,
    pages_connections,
    pages_desk,
    pages_discounts,
    pages_leads,
    pages_meetings,
    pages_money,
    pages_notify,
    pages_pipeline,
    pages_revops,
    pages_voice,
)
from truce.web.app import COOKIE, Caller, allowed, client_address, login_guard
from truce.web.pages_base import PageRoute, engine_and_config, render, shared, templates, with_query

HERE = Path(__file__).parent
STATIC = {"truce.css": "text/css", "truce.js": "text/javascript", "swagger.js": "text/javascript",
          "revops.js": "text/javascript"}
STATIC["tables.js"] = "text/javascript"  # sortable, searchable tables (marketing's pages)
COLD_RECENT_DAYS = 30
router = APIRouter(include_in_schema=False, route_class=PageRoute)


@router.get("/static/plotly.min.js")
def plotly_js(v: str = "") -> FileResponse:
    """plotly.js from its installed package. Asked for at the versioned URL the pages use
    (PLOTLY_URL), a browser keeps it for a year and never asks again; an upgrade changes the URL."""
    import plotly

    path = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
    cache = "public, max-age=31536000, immutable" if v == plotly.__version__ else "max-age=86400"
    return FileResponse(path, media_type="text/javascript", headers={"Cache-Control": cache})


def plotly_url() -> str:
    """Where pages load plotly.js from: the URL names the installed plotly version, so a cached copy is never stale."""
    from importlib.metadata import version

    return f"/static/plotly.min.js?v={version('plotly')}"


templates.env.globals["plotly_js"] = plotly_url()


@router.get("/static/figures.js")
def figures_js() -> Response:
    """The script that draws every chart from its data (truce.figures), shared with the brief."""
    from truce.figures import script

    return Response(script(), media_type="text/javascript")


@router.get("/static/{name}")
def static(name: str) -> Response:
    path = HERE / "static" / name
    if name not in STATIC or not path.exists():
        return Response(status_code=404)
    return FileResponse(path, media_type=STATIC[name])


@router.get("/favicon.ico")
def favicon() -> Response:
    return Response(status_code=204)


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, next: str = "/") -> HTMLResponse:
    return templates.TemplateResponse(request, "login.html", {"next": _safe(next), "error": None, "email": ""})


@router.post("/login")
def login(request: Request, email: str = Form(...), password: str = Form(...), next: str = Form("/")) -> Response:
    from truce.services.login_guard import ChecksBusy, Throttled
    from truce.services.logins import LoginError, log_in

    def again(message: str, status: int, retry_after: int | None = None) -> Response:
        headers = {"Retry-After": str(retry_after)} if retry_after else None
        context = {"next": _safe(next), "error": message, "email": email[:254]}
        return templates.TemplateResponse(request, "login.html", context, status_code=status, headers=headers)

    try:
        secret, _, _ = log_in(
            request.app.state.engine, email, password, address=client_address(request), guard=login_guard(request)
        )
    except Throttled as exc:
        return again(str(exc), 429, exc.retry_after)
    except ChecksBusy as exc:
        return again(str(exc), 503, exc.retry_after)
    except LoginError as exc:
        return again(str(exc), 401)
    response = RedirectResponse(_safe(next), status_code=303)
    response.set_cookie(
        COOKIE, secret, httponly=True, samesite="lax", secure=request.url.scheme == "https", max_age=14 * 86400
    )
    return response


@router.post("/logout")
def logout(request: Request, who: Caller = Depends(allowed("read_reports"))) -> Response:
    from truce.services.logins import log_out

    log_out(request.app.state.engine, request.cookies.get(COOKIE))
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(COOKIE)
    return response


@router.get("/", response_class=HTMLResponse)
def overview(request: Request, who: Caller = Depends(allowed("read_reports"))) -> HTMLResponse:
    """The two teams side by side, the shared target with its pace, the funnel's worst leak, the
    decisions due, and what needs attention now (truce.services.overview)."""
    from truce.services.handoff import past_a_deadline, queue
    from truce.services.overview import overview as leaders_overview

    engine, config = engine_and_config(request)
    now = dt.datetime.now(dt.UTC)
    found = shared(request, "overview", lambda: leaders_overview(engine, config, now), day=now.date())
    waiting = shared(request, "handoff_queue", lambda: queue(engine, config, now))
    steps = found["funnel"]["steps"]
    return render(
        request,
        who,
        "overview.html",
        o=found,
        drill=with_query("/funnel", start=found["from"].isoformat(), end=found["to"].isoformat()),
        funnel_chart=charts.step_rates(steps, found["funnel"]["worst"]),
        waiting=waiting,
        overdue=[h for h in waiting if past_a_deadline(h)],
        mine=[h for h in waiting if h["owner"] == who.who.email],
        stalled=shared(request, "stalled", lambda: _stalled(engine, config, now)),
    )


def _stalled(engine, config, now: dt.datetime) -> dict | None:
    service = _optional("brief")
    if service is None or not hasattr(service, "stalled_deals"):
        return None
    days = config.brief.stalled_after_days
    found = service.stalled_deals(engine, end_at=now, last_day=now.date(), days=days)
    return {**found, "days": days}


def _optional(name: str):
    try:
        return importlib.import_module(f"truce.services.{name}")
    except ModuleNotFoundError as exc:
        if exc.name != f"truce.services.{name}":
            raise
        return None


def _safe(target: str) -> str:
    """Only our own paths: a login link must not send people to another site."""
    return target if target.startswith("/") and not target.startswith("//") else "/"


for area in (
    pages_pipeline, pages_money, pages_voice, pages_access, pages_meetings, pages_discounts, pages_notify,
    pages_connections,
    pages_desk,
):  # fmt: skip
    router.include_router(area.router)
router.include_router(pages_leads.router)
router.include_router(pages_revops.router)
