"""The application: who is asking, what they may do, and errors as JSON with the path of each bad field.

Faces stay thin: every route parses its input, checks one permission
(truce.domain.access.PERMISSIONS) and calls one service function — the same ones the CLI
calls. Who is asking comes from an API token (Authorization: Bearer …) or a session cookie
(HttpOnly, SameSite=Lax); a write made with the cookie must carry the session's CSRF token
(form field `csrf`, or header X-CSRF-Token), so another site cannot post in a user's name.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy import Engine

from truce.config import TruceConfig
from truce.domain.access import Forbidden, require
from truce.services.logins import Who, session_user, token_user

COOKIE = "truce_session"
HERE = Path(__file__).parent
UNSAFE = ("POST", "PUT", "PATCH", "DELETE")


class NotLoggedIn(Exception):
    pass


class CsrfRefused(Exception):
    pass


@dataclass(frozen=True)
class Caller:
    who: Who
    csrf: str | None  # the session's CSRF token; None for an API token


def create_app(engine: Engine, config: TruceConfig) -> FastAPI:
    app = FastAPI(
        title="truce",
        version="1",
        description="The shared revenue system for sales and marketing: records, reports and event ingestion.",
        openapi_url="/api/v1/openapi.json",
        docs_url="/api/v1/docs",
        redoc_url=None,
    )
    app.state.engine = engine
    app.state.config = config
    _errors(app)
    from truce.web import api, pages

    app.include_router(api.router)
    app.include_router(pages.router)
    return app


def caller(request: Request) -> Caller:
    """The user behind the request; NotLoggedIn when there is none."""
    engine = request.app.state.engine
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        who = token_user(engine, header[7:].strip())
        if who is None:
            raise NotLoggedIn("the API token is unknown or revoked")
        return Caller(who, None)
    found = session_user(engine, request.cookies.get(COOKIE))
    if found is None:
        raise NotLoggedIn("log in, or send an API token as Authorization: Bearer <token>")
    return Caller(*found)


def allowed(action: str):
    """A dependency: the caller, who must be allowed `action` (and, with a cookie, carry the CSRF token)."""

    async def check(request: Request, who: Caller = Depends(caller)) -> Caller:
        require(who.who.role, action)
        if who.csrf is not None and request.method in UNSAFE:
            sent = request.headers.get("x-csrf-token")
            if sent is None and request.headers.get("content-type", "").startswith(
                ("application/x-www-form-urlencoded", "multipart/form-data")
            ):
                sent = (await request.form()).get("csrf")
            if sent != who.csrf:
                raise CsrfRefused("the form is stale or came from another site: reload the page and try again")
        return who

    return check


def error(status: int, message: str, errors: list[dict] | None = None) -> JSONResponse:
    return JSONResponse({"error": message, "errors": errors or []}, status_code=status)


def _errors(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError):
        found = [
            {"path": ".".join(str(part) for part in e["loc"]), "message": e["msg"], "type": e["type"]}
            for e in exc.errors()
        ]
        return error(422, "the request is not valid: see errors for the path of each bad field", found)

    @app.exception_handler(NotLoggedIn)
    async def not_logged_in(request: Request, exc: NotLoggedIn):
        if _wants_page(request):
            from fastapi.responses import RedirectResponse

            return RedirectResponse(f"/login?next={request.url.path}", status_code=303)
        return error(401, str(exc))

    @app.exception_handler(Forbidden)
    async def forbidden(request: Request, exc: Forbidden):
        return error(403, str(exc))

    @app.exception_handler(CsrfRefused)
    async def stale(request: Request, exc: CsrfRefused):
        return error(403, str(exc))


def _wants_page(request: Request) -> bool:
    return not request.url.path.startswith("/api/") and "text/html" in request.headers.get("accept", "")
