"""The application: who is asking, what they may do, and errors as JSON with the path of each bad field.

Faces stay thin: every route parses its input, checks one permission
(truce.domain.access.PERMISSIONS) and calls one service function — the same ones the CLI
calls. Who is asking comes from an API token (Authorization: Bearer …) or a session cookie
(HttpOnly, SameSite=Lax); a write made with the cookie must carry the session's CSRF token
(form field `csrf`, or header X-CSRF-Token), so another site cannot post in a user's name.
A request body larger than `max_body_bytes` is refused (413) before anything parses it.
Security headers, the cross-site check and the slow-body cut-off are in truce.web.security.

Several processes serve one store (`truce serve --workers N`, or servers on several hosts): each
keeps nothing another could contradict. The funnel config in force is the store's newest version
(FunnelWatch picks it up within RECHECK_SECONDS of an edit through any process), report caches
key on the data revision and the config (truce.web.report_cache), log-in throttles live in the store.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.gzip import GZipMiddleware

from truce.config import TruceConfig
from truce.domain.access import Forbidden, require
from truce.services.login_guard import ChecksBusy, LoginGuard, Throttled
from truce.services.logins import Who, session_user
from truce.store.errors import StoreBusy
from truce.web.asgi import WatchedSend
from truce.web.safe_errors import SafeErrors

COOKIE = "truce_session"
HERE = Path(__file__).parent
UNSAFE = ("POST", "PUT", "PATCH", "DELETE")
# A full ingest batch, 10,000 touchpoints with every field filled, measured 3.9 MB of JSON
# (4.5 MB indented; docs/api.md): 16 MiB leaves four times that, for notes on stage changes.
MAX_BODY_BYTES = 16 * 1024 * 1024
GZIP_MIN_BYTES = 1024


class NotLoggedIn(Exception):
    pass


class CsrfRefused(Exception):
    pass


@dataclass(frozen=True)
class Caller:
    who: Who
    csrf: str | None  # the session's CSRF token; None for an API token


def create_app(
    engine: Engine,
    config: TruceConfig,
    *,
    config_path: str | os.PathLike | None = None,
    max_body_bytes: int = MAX_BODY_BYTES,
) -> FastAPI:
    """The web app and REST API over `engine`, using `config`.

    `config_path` is the truce.toml that RevOps' funnel edits write (default: the file the
    config came from, else ./truce.toml, where `truce serve` looks next time).
    """
    from truce.services.funnel_config import config_file, in_force
    from truce.web.report_cache import FreshNote
    from truce.web.security import CrossSiteGuard, SlowBody

    app = _App(
        title="truce",
        version="1",
        description="The shared revenue system for sales and marketing: records, reports and event ingestion.",
        openapi_url="/api/v1/openapi.json",
        docs_url=None,  # truce.web.api_docs serves Swagger UI from an installed package
        redoc_url=None,
    )
    app.state.engine = engine
    app.state.config = _in_force(engine, config, in_force)  # a process started after an edit starts with it
    app.state.login_guard = LoginGuard()  # its throttle counts live in the store; its check slots in this process
    app.state.config_path = Path(config_path).resolve() if config_path is not None else config_file(config)
    app.add_middleware(BodyLimit, limit=max_body_bytes)
    app.add_middleware(SlowBody, idle=config.serve.body_idle_seconds, total=config.serve.body_seconds)
    app.add_middleware(CrossSiteGuard, cookie=COOKIE)
    app.add_middleware(FreshNote)
    app.add_middleware(FunnelWatch, state=app.state)
    app.add_middleware(SafeErrors)  # outermost of ours: what escapes every handler is logged without secrets
    # Pages, reports and plotly.js travel compressed (a brief view ~6x smaller); outside SafeErrors,
    # so what it logs and answers is the plain text. Small answers are not worth the CPU.
    app.add_middleware(GZipMiddleware, minimum_size=GZIP_MIN_BYTES)
    _errors(app)
    from truce.web import api, api_docs, pages

    app.include_router(api.router)
    app.include_router(api_docs.router)
    app.include_router(pages.router)
    from truce.web import hooks

    app.include_router(hooks.router)
    return app


def _in_force(engine: Engine, config: TruceConfig, in_force) -> TruceConfig:
    from sqlalchemy.exc import SQLAlchemyError

    try:
        return in_force(engine, config)
    except SQLAlchemyError:
        # A store without tables (an app built only for its OpenAPI document); `truce serve` and the
        # worker processes check the schema first. FunnelWatch asks again on the first request.
        return config


class _App(FastAPI):
    def build_middleware_stack(self):
        # Outside every other layer, so that the answers they make (a 500 included) carry the headers too.
        from truce.web.security import SecurityHeaders

        return SecurityHeaders(super().build_middleware_stack())


class FunnelWatch:
    """Before a request, the funnel config in force: the store's newest version, asked for at most
    every RECHECK_SECONDS (one primary-key read), so an edit made through another process reaches
    this one within that time. A new version replaces app.state.config, and with it every cached
    report computed under the old one (truce.web.report_cache keys on the config)."""

    def __init__(self, app, state, every: float | None = None):
        from truce.services.funnel_config import RECHECK_SECONDS

        self.app, self.state = app, state
        self.every = RECHECK_SECONDS if every is None else every
        self.next_look = 0.0
        self.looking = False

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and not self.looking and time.monotonic() >= self.next_look:
            await self._look()
        await self.app(scope, receive, send)

    async def _look(self) -> None:
        from sqlalchemy.exc import SQLAlchemyError

        from truce.config import ConfigError
        from truce.services.funnel_config import in_force

        self.looking, self.next_look = True, time.monotonic() + self.every
        try:
            config = self.state.config
            newest = await off_the_loop(self.state.engine, in_force, self.state.engine, config)
            if newest is not config and self.state.config is config:  # not replaced by an edit meanwhile
                self.state.config = newest
        except (SQLAlchemyError, ConfigError) as exc:
            # Serving on with the funnel it has beats refusing every request; the log says why.
            logging.getLogger("truce.web").error("cannot read the funnel config in force: %s", exc)
        finally:
            self.looking = False


class BodyTooLarge(StarletteHTTPException):
    def __init__(self, limit: int):
        super().__init__(413, f"the request body is larger than {limit:,} bytes; send less at a time (split a batch)")


class BodyLimit:
    """Refuse bodies over `limit` bytes: by Content-Length up front, and by counting what arrives
    (a chunked body has no length), so no route ever reads or parses more than the limit."""

    def __init__(self, app, limit: int):
        self.app, self.limit = app, limit

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope["headers"]).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.limit:
            return await _too_large(self.limit)(scope, receive, send)
        received = 0

        async def counted():
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    raise BodyTooLarge(self.limit)  # the app's handler answers it as a 413
            return message

        watched = WatchedSend(send)
        try:
            await self.app(scope, counted, watched)
        except BodyTooLarge:
            if watched.started:
                raise
            await _too_large(self.limit)(scope, receive, send)


def _too_large(limit: int) -> JSONResponse:
    exc = BodyTooLarge(limit)
    return JSONResponse({"error": exc.detail, "errors": []}, status_code=413, headers={"Connection": "close"})


async def caller(request: Request) -> Caller:
    """The user behind the request; NotLoggedIn when there is none."""
    from truce.services.logins import token_lookup, touch_token

    engine = request.app.state.engine
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        found = await off_the_loop(engine, token_lookup, engine, header[7:].strip())
        if found is None:
            raise NotLoggedIn("the API token is unknown or revoked")
        who, token_id, used_long_ago = found
        if used_long_ago:  # a write may wait for the store's one writer: never on the event loop
            await run_in_threadpool(touch_token, engine, token_id)
        request.state.user_id = who.id  # whose turn it is, for limits per person (report_cache.FreshLimit)
        return Caller(who, None)
    found = await off_the_loop(engine, session_user, engine, request.cookies.get(COOKIE))
    if found is None:
        raise NotLoggedIn("log in, or send an API token as Authorization: Bearer <token>")
    request.state.user_id = found[0].id
    return Caller(*found)


async def off_the_loop(engine: Engine, read, *args):
    """A short read of the store. On SQLite (WAL: a reader never waits for a writer) it costs less
    than the hand-over to a worker thread, so it runs here; a server's round trip goes to a thread."""
    if engine.dialect.name == "sqlite":
        return read(*args)
    return await run_in_threadpool(read, *args)


def client_address(request: Request) -> str | None:
    """The client's address, for throttling log-ins. Behind a proxy on this host, uvicorn puts the
    address from X-Forwarded-For here (its --forwarded-allow-ips defaults to 127.0.0.1)."""
    return request.client.host if request.client else None


def login_guard(request: Request) -> LoginGuard:
    return request.app.state.login_guard


def allowed(action: str):
    """A dependency: the caller, who must be allowed `action` (and, with a cookie, carry the CSRF token)."""

    async def check(request: Request, who: Caller = Depends(caller)) -> Caller:
        require(who.who.role, action)
        if who.csrf is not None and request.method in UNSAFE:
            sent = request.headers.get("x-csrf-token")
            if sent is None and request.headers.get("content-type", "").startswith(
                ("application/x-www-form-urlencoded", "multipart/form-data")
            ):
                field = (await request.form()).get("csrf")
                sent = field if isinstance(field, str) else None  # a file named csrf is no token
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

    @app.exception_handler(StoreBusy)
    async def busy(request: Request, exc: StoreBusy):
        # A write that waited its turn and did not get it: nothing was saved, the client may send it again.
        answer = error(503, str(exc))
        answer.headers["Retry-After"] = str(exc.retry_after)
        return answer

    @app.exception_handler(Throttled)
    async def throttled(request: Request, exc: Throttled):
        return _wait_and_retry(request, 429, exc)

    @app.exception_handler(ChecksBusy)
    async def checks_busy(request: Request, exc: ChecksBusy):
        return _wait_and_retry(request, 503, exc)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException):
        headers = dict(exc.headers or {})
        if exc.status_code == 404 and _wants_page(request):
            from truce.web.pages_errors import not_found

            return await not_found(request, str(exc.detail))
        if exc.status_code == 405 and (methods := _methods_of(request)):
            headers["Allow"] = ", ".join(methods)  # every method the path takes, not those of one route
        return JSONResponse({"error": str(exc.detail), "errors": []}, status_code=exc.status_code, headers=headers)

    from truce.services.ingest import IngestRejected
    from truce.services.records import InvalidField

    @app.exception_handler(InvalidField)
    async def invalid_field(request: Request, exc: InvalidField):
        where = "query" if request.method == "GET" else "body"
        found = [{"path": f"{where}.{exc.field}", "message": exc.message, "type": "value_error"}]
        return error(422, "the request is not valid: see errors for the path of each bad field", found)

    @app.exception_handler(IngestRejected)
    async def rejected(request: Request, exc: IngestRejected):
        found = [
            {"path": f"body.items.{p.item}" + (f".{p.field}" if p.field else ""), "message": p.message, "type": p.kind}
            for p in exc.problems
        ]
        return error(422, str(exc), found)

    # Errors the services raise for requests they cannot carry out: the message is for the caller.
    for status, classes in _service_errors().items():
        for cls in classes:
            app.add_exception_handler(cls, _answer(status))


def _wait_and_retry(request: Request, status: int, exc: Throttled | ChecksBusy):
    """Too many password checks (429) or all slots busy (503): try again after Retry-After seconds."""
    if _wants_page(request):
        from truce.web.pages_base import refused

        response = refused(request, str(exc), status)
    else:
        response = error(status, str(exc))
    response.headers["Retry-After"] = str(exc.retry_after)
    return response


def _methods_of(request: Request) -> list[str]:
    """The methods the OpenAPI document gives the request's path."""
    import re

    found = set()
    for template, operations in request.app.openapi()["paths"].items():
        pattern = re.sub(r"\\\{\w+\\\}", "[^/]+", re.escape(template))
        if re.fullmatch(pattern, request.url.path):
            found |= {method.upper() for method in operations}
    return sorted(found)


def _answer(status: int):
    async def answer(request: Request, exc: Exception):
        return error(status, str(exc))

    return answer


def _service_errors() -> dict[int, tuple[type[Exception], ...]]:
    from truce.domain.forecast import PeriodError
    from truce.domain.lifecycle import IllegalMove
    from truce.services import attribution, funnel
    from truce.services.account_plans import PlanRefused
    from truce.services.attribution_runner import ModelError
    from truce.services.brief import BriefError
    from truce.services.credit import CreditError
    from truce.services.discounts import DiscountRefused
    from truce.services.economics import EconomicsError
    from truce.services.feedback import FeedbackRefused
    from truce.services.funnel_config import FunnelConfigRefused
    from truce.services.handoff import HandoffRefused
    from truce.services.ingest import IngestConflict
    from truce.services.lifecycle import NotFound
    from truce.services.logins import LoginError
    from truce.services.meetings import DecisionConflict
    from truce.services.metrics import MetricsError
    from truce.services.pricing import PricingError
    from truce.services.records import RecordConflict
    from truce.services.revocation import NoSuchLogin, RevocationRefused
    from truce.services.survey import SurveyError
    from truce.services.targets import TargetError, TargetRefused

    return {
        400: (
            funnel.ReportError,
            attribution.ReportError,
            ModelError,
            EconomicsError,
            PricingError,
            MetricsError,
            CreditError,
            BriefError,
            PeriodError,
            TargetError,
            SurveyError,
            LoginError,
        ),
        404: (NotFound, NoSuchLogin),
        409: (
            HandoffRefused,
            FeedbackRefused,
            PlanRefused,
            TargetRefused,
            IllegalMove,
            RecordConflict,
            IngestConflict,
            FunnelConfigRefused,
            RevocationRefused,
            DecisionConflict,
            DiscountRefused,
        ),
    }


def _wants_page(request: Request) -> bool:
    return not request.url.path.startswith("/api/") and "text/html" in request.headers.get("accept", "")
