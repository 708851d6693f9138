"""Serving the app with uvicorn, with limits on how a request's headers may arrive.

Uvicorn's httptools protocol waits as long as a client likes for a request's headers and keeps
however many bytes of them it sends. `GuardedHttpTools` closes a connection whose request line
and headers are not all in within `header_seconds` of the connection opening (or, on a kept-alive
connection, of the request's first byte) — 408 — or that run past `header_bytes` — 431. Either
way the app never sees the request. The limit on bodies is the app's (truce.web.security.SlowBody).
"""

from __future__ import annotations

import asyncio
import functools
import os

from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

# What a header line costs beyond its name and value: ": " and CRLF.
_LINE = 4
# After a refusal, what the client still sends is read and dropped for this long, so that it reads
# the answer instead of a reset (closing on unread data resets the connection).
LINGER_SECONDS = 1.0


class GuardedHttpTools(HttpToolsProtocol):
    """HttpToolsProtocol that refuses slow and oversized request headers; see the module."""

    header_seconds: float = 10.0
    header_bytes: int = 16 * 1024

    @classmethod
    def limited(cls, header_seconds: float, header_bytes: int) -> type[GuardedHttpTools]:
        """This protocol with the given limits, for uvicorn's `http=`."""
        return type(cls.__name__, (cls,), {"header_seconds": header_seconds, "header_bytes": header_bytes})

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._header_timer: asyncio.TimerHandle | None = None
        self._reading_headers = False
        self._received = 0  # bytes of whole reads that went to incomplete headers
        self._parsed = 0  # bytes of the request line and the headers parsed so far
        self._refusal: tuple[int, str] | None = None
        self._refused = False

    def connection_made(self, transport) -> None:
        super().connection_made(transport)
        self._start_header_clock()

    def connection_lost(self, exc) -> None:
        self._stop_header_clock()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return
        reading = self._reading_headers
        super().data_received(data)
        if reading and self._reading_headers:  # all of it went to headers that are still incomplete
            self._received += len(data)
            if self._received > self.header_bytes:
                # A header line still arriving has passed the limit: buffer no more of it.
                self._refuse(431, self._too_large())

    def send_400_response(self, msg: str) -> None:
        # A parser callback that raised ends the parse, and uvicorn answers 400: answer why instead.
        if self._refusal is not None:
            self._refuse(*self._refusal)
        else:
            super().send_400_response(msg)

    # Parser callbacks: they run inside feed_data, so one that raises stops the parse.

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._reading_headers, self._received, self._parsed = True, 0, 0
        if self._header_timer is None:  # a kept-alive connection's next request
            self._start_header_clock()

    def on_url(self, url: bytes) -> None:
        self._count(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count(len(name) + len(value) + _LINE)
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._reading_headers = False
        self._stop_header_clock()
        super().on_headers_complete()

    def _count(self, size: int) -> None:
        # Exact, unlike the count in data_received, which may include the start of a body.
        self._parsed += size
        if self._parsed > self.header_bytes:
            self._refusal = (431, self._too_large())
            raise ValueError(self._refusal[1])

    def _too_large(self) -> str:
        return f"the request's headers are larger than {self.header_bytes:,} bytes"

    def _start_header_clock(self) -> None:
        self._stop_header_clock()
        self._header_timer = self.loop.call_later(self.header_seconds, self._headers_late)

    def _stop_header_clock(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_late(self) -> None:
        self._header_timer = None
        self._refuse(408, f"the request's headers did not arrive within {self.header_seconds:g} s")

    def _refuse(self, status: int, message: str) -> None:
        if self.transport is None or self.transport.is_closing() or self._refused:
            return
        self._stop_header_clock()
        self._reading_headers, self._refused = False, True
        body = message.encode()
        head = [STATUS_LINE[status]]
        head += [name + b": " + value + b"\r\n" for name, value in self.server_state.default_headers]
        head += [
            b"content-type: text/plain; charset=utf-8\r\n",
            b"content-length: " + str(len(body)).encode() + b"\r\n",
            b"connection: close\r\n\r\n",
        ]
        self.transport.write(b"".join(head) + body)
        if self.transport.can_write_eof():
            self.transport.write_eof()
            self.loop.call_later(LINGER_SECONDS, self.transport.close)
        else:
            self.transport.close()


def protocol(serve) -> type[GuardedHttpTools]:
    """The protocol for uvicorn's `http=`, with the `[serve]` limits on headers (truce.config.Serve)."""
    return GuardedHttpTools.limited(serve.header_seconds, serve.header_kilobytes * 1024)


# ---- several worker processes ---------------------------------------------------------------------
#
# `truce serve --workers N` hands uvicorn an import string and a factory instead of an app object:
# each worker process imports this module and builds its own app. What it serves is passed down in
# the environment, which the workers inherit: TRUCE_DATABASE_URL and TRUCE_CONFIG, exactly as
# every truce command reads them (truce.store.db.resolve_url, truce.config.find).

FACTORY = "truce.web.server:app_from_env"
HTTP_FROM_ENV = "truce.web.server:guarded_from_env"
MAX_BODY_ENV = "TRUCE_SERVE_MAX_BODY_BYTES"


def _config():
    from truce.config import load

    return load()


def app_from_env():
    """The app for one worker process: the store and truce.toml the environment names (see above).
    A store whose schema is not current is refused here, as `truce serve` refuses it."""
    from truce.store import db
    from truce.web.app import MAX_BODY_BYTES, create_app

    engine = db.connect()
    db.require_current_schema(engine)
    return create_app(engine, _config(), max_body_bytes=int(os.environ.get(MAX_BODY_ENV, MAX_BODY_BYTES)))


def guarded_from_env(*args, **kwargs) -> GuardedHttpTools:
    """uvicorn's `http=` in a worker process: GuardedHttpTools with the `[serve]` limits of the
    truce.toml the environment names (a class made at run time cannot be handed to a new process)."""
    return _guarded()(*args, **kwargs)


@functools.cache
def _guarded() -> type[GuardedHttpTools]:
    return protocol(_config().serve)
