"""What every response of the web app carries, and what it refuses before any route runs.

- **Headers on every response** (`SecurityHeaders`, the outermost layer, so errors carry them too):
  a Content-Security-Policy under which a page runs only scripts served by truce itself (no
  inline script: charts are data drawn by /static/figures.js, truce.figures) and loads nothing
  from another site; it may not be framed (`frame-ancestors 'none'`, `X-Frame-Options: DENY`);
  `X-Content-Type-Options: nosniff`; `Referrer-Policy: same-origin`. A route that needs another
  policy sets its own header, which is kept (the brief, framed by our /brief page; the API docs).
- **Cross-site writes are refused** (`CrossSiteGuard`): a log-in, or a write carrying the session
  cookie, whose Origin header (or, without one, its Referer) names another site answers 403. The
  CSRF token already stops such a write; this is the second lock, and the only one on the log-in
  form, which has no session yet. A request with neither header is let through to the CSRF check:
  browsers send Origin with every cross-site POST (and with their same-origin ones), so only
  non-browser clients send neither, and they must still present the session's CSRF token. Requests
  with an API token (Authorization: Bearer) carry no ambient credential and are not checked.
- **Slow bodies are cut off** (`SlowBody`): a body that stops arriving for `idle` seconds, or is
  not all there after `total` seconds, answers 408 and the connection closes. Slow headers are the
  server's to cut off (truce.web.server), before the app sees the request.
"""

from __future__ import annotations

import asyncio
import functools
import time
from urllib.parse import urlsplit

from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from truce.web.asgi import WatchedSend

UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}
DEFAULT_PORTS = {"http": "80", "https": "443", "ws": "80", "wss": "443"}


@functools.cache
def page_policy() -> str:
    """The Content-Security-Policy of every page: our own files only, no inline script."""
    from truce.figures import plotly_style_hashes

    styles = " ".join(f"'{source}'" for source in plotly_style_hashes())
    return (
        "default-src 'none'; script-src 'self'; "
        f"style-src 'self' {styles}; img-src 'self' data:; font-src 'self'; connect-src 'self'; "
        "frame-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
    )


def framed_by_our_pages(policy: str) -> dict[str, str]:
    """Headers for a document that our own pages show in a frame (the brief in /brief)."""
    return {"Content-Security-Policy": f"{policy}; frame-ancestors 'self'", "X-Frame-Options": "SAMEORIGIN"}


class SecurityHeaders:
    """Add the security headers to every HTTP response that does not set its own."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def with_headers(message):
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                for name, value in _defaults():
                    if name not in present:
                        headers.append((name, value))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_headers)


@functools.cache
def _defaults() -> tuple[tuple[bytes, bytes], ...]:
    return (
        (b"content-security-policy", page_policy().encode()),
        (b"x-frame-options", b"DENY"),
        (b"x-content-type-options", b"nosniff"),
        (b"referrer-policy", b"same-origin"),
    )


# ---- cross-site writes ----------------------------------------------------------------------------


class CrossSiteRefused(Exception):
    pass


class CrossSiteGuard:
    """Refuse a log-in or a cookie-authenticated write sent from another site's page."""

    def __init__(self, app, cookie: str, login_path: str = "/login"):
        self.app, self.cookie, self.login_path = app, cookie, login_path

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and scope["method"] in UNSAFE:
            headers = _headers(scope)
            if self._guarded(scope, headers) and (foreign := _foreign_site(scope, headers)) is not None:
                return await _refusal(scope, foreign)(scope, receive, send)
        await self.app(scope, receive, send)

    def _guarded(self, scope, headers: dict[bytes, bytes]) -> bool:
        if scope["path"] == self.login_path:
            return True
        if headers.get(b"authorization", b"").lower().startswith(b"bearer "):
            return False  # the token is the credential: nothing rides along from a browser
        cookies = headers.get(b"cookie", b"").decode("latin-1").split(";")
        return any(part.strip().startswith(f"{self.cookie}=") for part in cookies)


def _headers(scope) -> dict[bytes, bytes]:
    found: dict[bytes, bytes] = {}
    for name, value in scope["headers"]:
        # Repeated Cookie headers are one list; any other repeat keeps the first.
        found[name] = found[name] + b"; " + value if name == b"cookie" and name in found else found.get(name, value)
    return found


def _foreign_site(scope, headers: dict[bytes, bytes]) -> str | None:
    """The other site the request came from, as it named it; None when it came from ours or names none."""
    named = headers.get(b"origin") or headers.get(b"referer")
    if named is None:
        return None
    text = named.decode("latin-1").strip()
    return None if _same(_our_site(scope, headers), _site(text)) else text


def _site(url: str) -> tuple[str, str] | None:
    """(host, port) of an origin or URL; None for `null` or anything that names no host."""
    try:
        parts = urlsplit(url)
        host, port = parts.hostname, parts.port
    except ValueError:
        return None
    if not host or parts.scheme not in DEFAULT_PORTS:
        return None
    return host, str(port or DEFAULT_PORTS[parts.scheme])


def _our_site(scope, headers: dict[bytes, bytes]) -> tuple[str, set[str]] | None:
    """Our host and the ports a browser may name for it, from the Host header (a proxy in front must
    pass it on). The scheme is left out: behind a proxy that ends TLS, the browser's https is our
    http, so a Host without a port stands for either default port."""
    host = headers.get(b"host", b"").decode("latin-1")
    if not host:
        server = scope.get("server")
        return (server[0], {str(server[1])}) if server else None
    found = _site(f"http://{host}")
    if found is None:
        return None
    return (found[0], {found[1]}) if ":" in host.rsplit("]", 1)[-1] else (found[0], {"80", "443"})


def _same(ours: tuple[str, set[str]] | None, theirs: tuple[str, str] | None) -> bool:
    return ours is not None and theirs is not None and ours[0] == theirs[0] and theirs[1] in ours[1]


def _refusal(scope, foreign: str):
    message = (
        f"this form was sent from another site ({foreign[:200]}), not from truce's own pages: "
        "nothing was done. Open truce and send it from there."
    )
    accept = dict(scope["headers"]).get(b"accept", b"")
    if b"text/html" in accept and not scope["path"].startswith("/api/"):
        from starlette.requests import Request

        from truce.web.pages_base import templates

        context: dict[str, object] = {"who": None, "csrf": None, "nav": [], "flash": None, "message": message}
        return templates.TemplateResponse(Request(scope), "refused.html", context, status_code=403)
    return JSONResponse({"error": message, "errors": []}, status_code=403)


# ---- slow bodies ----------------------------------------------------------------------------------


class BodyTooSlow(StarletteHTTPException):
    def __init__(self, seconds: float, idle: bool):
        why = (
            f"no part of the request body arrived for {seconds:g} s"
            if idle
            else f"the request body took over {seconds:g} s"
        )
        super().__init__(408, f"{why}; send it again", headers={"Connection": "close"})


class SlowBody:
    """Answer 408 when a request body stalls for `idle` seconds or takes longer than `total` in all."""

    def __init__(self, app, idle: float, total: float):
        self.app, self.idle, self.total = app, idle, total

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        deadline, done = None, False

        async def timed():
            nonlocal deadline, done
            if done:  # the body is in: a later receive waits for the client to leave, as long as it likes
                return await receive()
            now = time.monotonic()
            deadline = deadline or now + self.total
            idle = self.idle <= deadline - now
            try:
                message = await asyncio.wait_for(receive(), timeout=self.idle if idle else max(deadline - now, 0))
            except TimeoutError:
                raise BodyTooSlow(self.idle if idle else self.total, idle) from None
            done = message["type"] != "http.request" or not message.get("more_body", False)
            return message

        watched = WatchedSend(send)
        try:
            await self.app(scope, timed, watched)
        except BodyTooSlow as exc:
            if watched.started:
                raise
            await _answer(exc)(scope, receive, send)


def _answer(exc: StarletteHTTPException) -> JSONResponse:
    return JSONResponse({"error": exc.detail, "errors": []}, status_code=exc.status_code, headers=exc.headers)
