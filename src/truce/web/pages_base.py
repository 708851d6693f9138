"""What every page shares: templates, the navigation each role sees, flash messages, and refusals as pages.

A page is one GET route that calls one service and renders one template; a form POSTs to a
route that checks one permission (truce.domain.access), calls the same service function as
the CLI, and redirects back (303) with a flash message. A refusal — the role may not, the
form is stale, the service says no, a field is missing — is shown as a message on a page,
never as a 500.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlencode

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.routing import APIRoute
from fastapi.templating import Jinja2Templates

from truce.brief.format import FILTERS
from truce.domain.access import Forbidden, can
from truce.store.errors import StoreBusy
from truce.web.app import Caller, CsrfRefused
from truce.web.labels import FILTERS as LABEL_FILTERS
from truce.web.links import FILTERS as LINK_FILTERS

HERE = Path(__file__).parent
FLASH = "truce_flash"
templates = Jinja2Templates(directory=str(HERE / "templates"))
templates.env.filters.update(FILTERS)
templates.env.filters["words"] = lambda key: "–" if key is None else str(key).replace("_", " ")
templates.env.filters.update(LABEL_FILTERS)
templates.env.filters.update(LINK_FILTERS)  # contact_link, deal_link: every contact and deal opens its page

# The pages in groups a newcomer recognises: (group, [(path, label, the action that shows it)]).
# Every role reads reports and sees its own access; the audit trail is RevOps'.
NAV_GROUPS = (
    ("Revenue", (
        ("/", "Overview", "read_reports"),
        ("/funnel", "Funnel", "read_reports"),
        ("/targets", "Targets", "read_reports"),
        ("/metrics", "Metrics", "read_reports"),
        ("/brief", "Brief", "read_reports"),
    )),
    ("Handoff", (
        ("/handoffs", "Handoffs", "read_reports"),
        ("/sla", "SLA", "read_reports"),
    )),
    ("Marketing", (
        ("/attribution", "Attribution", "read_reports"),
        ("/economics", "Economics", "read_reports"),
        ("/campaign-costs", "Campaign costs", "read_reports"),
    )),
    ("Alignment", (
        ("/feedback", "Feedback", "read_reports"),
        ("/survey", "Diagnostic", "read_reports"),
        ("/survey/rounds", "Survey rounds", "run_survey_rounds"),
        ("/account-plans", "Account plans", "read_reports"),
        ("/meetings", "Meetings", "read_reports"),
        ("/decisions", "Decisions", "read_reports"),
        ("/initiatives", "Initiatives", "read_reports"),
    )),
    ("People", (
        ("/directory", "Directory", "read_reports"),
        ("/users", "Users", "manage_users"),
        ("/access", "Access", "manage_own_credentials"),
        ("/audit", "Audit", "read_audit"),
        ("/connections", "Connections", "manage_connections"),
    )),
)  # fmt: skip
NAV = tuple(item for _group, items in NAV_GROUPS for item in items)
# Each team finds its own work first.
FIRST_GROUP = {"sales": "Handoff", "marketing": "Marketing"}


def wants_page(request: Request) -> bool:
    return "text/html" in request.headers.get("accept", "")


class PageRoute(APIRoute):
    """Pages answer refusals with a page that says why; API clients (no text/html) keep the JSON error."""

    def get_route_handler(self) -> Callable:
        handler = super().get_route_handler()

        async def guarded(request: Request) -> Response:
            try:
                response = await handler(request)
            except (Forbidden, CsrfRefused) as exc:
                return refused(request, str(exc), 403)
            except StoreBusy as exc:
                if not wants_page(request):
                    raise
                return await busy(request, exc)
            except RequestValidationError as exc:
                fields = ", ".join(str(e["loc"][-1]) for e in exc.errors())
                return refused(request, f"the form is missing or has a bad value in: {fields}", 400)
            except (ValueError, LookupError) as exc:
                # A service refusing a request it cannot carry out (each names the rule); pages catch
                # the ones they expect, this is the net under the rest.
                if not wants_page(request):
                    raise
                return refused(request, str(exc), 404 if isinstance(exc, LookupError) else 400)
            if request.method == "POST" and response.status_code < 400:
                await _remember_the_write(request, response)
            return response

        return guarded


async def _remember_the_write(request: Request, response: Response) -> None:
    """The revision after a form's write, in a cookie: the pages this browser reads next must show it
    (truce.web.report_cache lets other readers see a report a little older while it is refreshed)."""
    from starlette.concurrency import run_in_threadpool

    from truce.web.report_cache import WROTE, data_revision

    revision = await run_in_threadpool(data_revision, request.app.state.engine)
    response.set_cookie(WROTE, str(revision), httponly=True, samesite="lax", path="/")


# Never echoed back into a page, even to the person who typed it.
SECRET_FIELDS = frozenset({"password", "new_password", "current_password", "csrf"})


async def busy(request: Request, exc: StoreBusy) -> Response:
    """The store was too busy to take a form's write: say so, and keep what was typed, ready to send again."""
    typed = []
    if request.method == "POST":
        form = await request.form()  # already read by the route: Starlette keeps it on the request
        typed = [(name, value) for name, value in form.multi_items() if isinstance(value, str)]
    context = {
        "message": str(exc),
        "retry_after": exc.retry_after,
        "action": request.url.path,
        "typed": [(name, value) for name, value in typed if name not in SECRET_FIELDS],
        "needs_password": any(name in SECRET_FIELDS - {"csrf"} for name, _ in typed),
    }
    response = await _page_for(request, "busy.html", context, 503)
    response.headers["Retry-After"] = str(exc.retry_after)
    return response


async def _page_for(request: Request, template: str, context: dict, status: int) -> Response:
    from starlette.concurrency import run_in_threadpool

    from truce.services.logins import session_user
    from truce.web.app import COOKIE

    found = await run_in_threadpool(session_user, request.app.state.engine, request.cookies.get(COOKIE))
    who, csrf = found if found else (None, None)
    values = {"who": who, "csrf": csrf, "nav": nav_for(who.role, "") if who else [], "flash": None, **context}
    return templates.TemplateResponse(request, template, values, status_code=status)


def refused(request: Request, message: str, status: int) -> Response:
    if not wants_page(request):
        return JSONResponse({"error": message, "errors": []}, status_code=status)
    from truce.services.logins import session_user
    from truce.web.app import COOKIE

    found = session_user(request.app.state.engine, request.cookies.get(COOKIE))
    who, csrf = found if found else (None, None)
    context = {
        "who": who,
        "csrf": csrf,
        "nav": nav_for(who.role, "") if who else [],
        "flash": None,
        "message": message,
    }
    return templates.TemplateResponse(request, "refused.html", context, status_code=status)


def nav_for(role: str, path: str) -> list[dict]:
    """The role's pages, in groups, its team's group first: [{"label", "items": [{"href", "label", "current"}]}]."""
    groups = []
    for group, items in NAV_GROUPS:
        shown = [
            {"href": href, "label": label, "current": href == path or (href != "/" and path.startswith(href + "/"))}
            for href, label, action in items
            if can(role, action)
        ]
        if shown:
            groups.append({"label": group, "items": shown})
    first = FIRST_GROUP.get(role)
    return sorted(groups, key=lambda g: g["label"] != first)


def render(request: Request, who: Caller, template: str, status: int = 200, **context) -> HTMLResponse:
    """The page with the role's navigation, its CSRF token for forms, and the flash message left for it."""
    role = who.who.role
    flash = read_flash(request)
    values = {
        "who": who.who,
        "csrf": who.csrf,
        "nav": nav_for(role, request.url.path),
        "flash": flash,
        "can": lambda action: can(role, action),
        "config": request.app.state.config,
        "currency": request.app.state.config.company.currency,
        "report_lag": getattr(request.state, "report_lag", None),
        "unread": _unread(request, who),
        **context,
    }
    response = templates.TemplateResponse(request, template, values, status_code=status)
    if flash is not None:
        response.delete_cookie(FLASH, path="/")
    return response


def _unread(request: Request, who: Caller) -> int:
    """The bell's number: one indexed COUNT of the person's unread inbox rows."""
    from truce.services.notify.inbox import unread_count

    return unread_count(request.app.state.engine, who.who.id)


def back(url: str, text: str, kind: str = "ok", **details) -> RedirectResponse:
    """Redirect (303) to a page that will show `text` once: kind "ok" or "error"."""
    response = RedirectResponse(url, status_code=303)
    # Unpadded, so the cookie value needs no quoting.
    packed = base64.urlsafe_b64encode(json.dumps({"kind": kind, "text": text, **details}).encode()).decode().rstrip("=")
    response.set_cookie(FLASH, packed, httponly=True, samesite="lax", path="/", max_age=120)
    return response


def read_flash(request: Request) -> dict | None:
    packed = request.cookies.get(FLASH, "").strip('"')
    if not packed:
        return None
    try:
        found = json.loads(base64.urlsafe_b64decode(packed + "=" * (-len(packed) % 4)))
    except ValueError:
        return None
    return found if isinstance(found, dict) and "text" in found else None


def with_query(path: str, **params) -> str:
    kept = {k: v for k, v in params.items() if v not in (None, "")}
    return f"{path}?{urlencode(kept)}" if kept else path


def engine_and_config(request: Request):
    return request.app.state.engine, request.app.state.config


def shared(request: Request, name: str, compute: Callable, **options):
    """A service's report for a page, computed once per revision of the data and shared by every
    reader (truce.web.report_cache). Pages only read what it returns: it is the same object for all."""
    from truce.web.report_cache import remembered

    return remembered(request, ("page", name, tuple(sorted(options.items()))), compute).value
