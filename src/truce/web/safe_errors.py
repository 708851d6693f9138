"""An error nobody expected: a 500 with a reference for the person, and a log line that holds no secret.

SQLAlchemy already leaves the values bound to a statement out of its errors (the store's engines
are made with hide_parameters). PostgreSQL does not: a constraint it enforces says which row
failed, values and all, in the error's DETAIL — a session hash or a CSRF token among them. So
the server logs such an error by its class, PostgreSQL's primary message and the statement
without values, and the traceback's frames; never the error's full text.
"""

from __future__ import annotations

import logging
import secrets
import traceback

from fastapi.responses import JSONResponse

from truce.web.asgi import WatchedSend

log = logging.getLogger("truce.web")


def safe_text(exc: BaseException) -> str:
    """What went wrong, without the values any statement carried."""
    from sqlalchemy.exc import DBAPIError, StatementError

    if isinstance(exc, DBAPIError | StatementError) and getattr(exc, "orig", None) is not None:
        orig = exc.orig
        diag = getattr(orig, "diag", None)
        primary = getattr(diag, "message_primary", None) or str(orig).split("\n", 1)[0]
        if "DETAIL" in primary or "Failing row" in primary:
            primary = primary.split("DETAIL", 1)[0].split("Failing row", 1)[0].strip()
        return f"{type(orig).__module__}.{type(orig).__name__}: {primary} [SQL: {exc.statement}]"
    return f"{type(exc).__module__}.{type(exc).__name__}: {exc}"


def frames(exc: BaseException) -> str:
    return "".join(traceback.format_tb(exc.__traceback__))


class SafeErrors:
    """ASGI middleware: turns an unexpected exception into a JSON 500 and a log line without secrets."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        watched = WatchedSend(send)
        try:
            await self.app(scope, receive, watched)
        except Exception as exc:
            reference = secrets.token_hex(4)
            log.error(
                "unexpected error %s on %s %s: %s\n%s", reference, scope["method"], scope["path"], safe_text(exc),
                frames(exc),
            )  # fmt: skip
            if watched.started:  # half an answer went out: all we can do is end it
                return
            message = f"an unexpected error on the server (reference {reference}); it is in the server's log"
            await JSONResponse({"error": message, "errors": []}, status_code=500)(scope, receive, send)
