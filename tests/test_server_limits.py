"""Slow and oversized requests against a real server: uvicorn in a thread on 127.0.0.1, spoken to
through raw sockets, with the protocol `truce serve` uses (truce.web.server) and short limits.

Headers that arrive too slowly or run too large are cut off by the server before the app sees
them (408, 431); a body that stalls or trickles is answered 408 by the app (truce.web.security).
Every exchange is bounded in bytes and seconds and talks only to 127.0.0.1.
"""

from __future__ import annotations

import socket
import time

import pytest
from live_server import serving

from truce import config as truce_config
from truce.services.logins import add_user, create_token
from truce.web import server
from truce.web.app import create_app

LIMITS = {"header_seconds": 1.0, "header_kilobytes": 8, "body_idle_seconds": 1.0, "body_seconds": 3.0}
CONFIG = truce_config.parse(truce_config.default_text(), "truce.toml")
CONFIG = CONFIG.model_copy(update={"serve": CONFIG.serve.model_copy(update=LIMITS)})


@pytest.fixture(scope="module")
def served(tmp_path_factory, sqlite_template):
    """(port, API token) of the app behind the guarded protocol."""
    import shutil

    from truce.store import db

    path = tmp_path_factory.mktemp("server-limits") / "web.db"
    shutil.copy(sqlite_template, path)
    engine = db.connect(f"sqlite:///{path}")
    add_user(engine, email="ria@yourco.example", team="revops")
    token = create_token(engine, email="ria@yourco.example")
    with serving(create_app(engine, CONFIG), log_level="error", http=server.protocol(CONFIG.serve)) as port:
        yield port, token
    engine.dispose()


class Exchange:
    """One connection: what was sent, what came back, and when the server closed it."""

    def __init__(self, port: int):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.opened = time.monotonic()
        self.sent = 0

    def send(self, data: bytes) -> bool:
        """False once the server no longer takes what is sent."""
        try:
            self.sock.sendall(data)
        except OSError:
            return False
        self.sent += len(data)
        return True

    def answer(self, within: float = 10) -> tuple[bytes, float]:
        """Everything the server sends until it closes the connection, and the seconds that took."""
        self.sock.settimeout(within)
        received = b""
        try:
            while chunk := self.sock.recv(65536):
                received += chunk
        except TimeoutError:
            raise AssertionError(f"still open after {within} s; received {received[:200]!r}") from None
        except ConnectionResetError:
            pass
        finally:
            self.sock.close()
        return received, time.monotonic() - self.opened


def status_of(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1])


def get(path: str, token: str, extra: bytes = b"") -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n".encode() + extra + b"\r\n"


def test_a_request_within_the_limits_is_answered(served):
    port, token = served
    exchange = Exchange(port)
    near_the_limit = b"X-Padding: " + b"p" * 6000 + b"\r\n"
    exchange.send(get("/api/v1/me", token, near_the_limit + b"Connection: close\r\n"))
    answer, _ = exchange.answer()
    assert status_of(answer) == 200 and b'"ria@yourco.example"' in answer


def test_it_refuses_a_two_megabyte_header_without_reading_it_all(served):
    port, token = served
    exchange = Exchange(port)
    exchange.send(b"GET /api/v1/me HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: ")
    for _ in range(32):  # 2 MiB in 64 KiB pieces, while the server still takes them
        if not exchange.send(b"a" * 65536):
            break
    answer, _ = exchange.answer()
    assert status_of(answer) == 431
    assert b"larger than 8,192 bytes" in answer and b"connection: close" in answer.lower()


def test_it_refuses_many_headers_that_add_up_past_the_limit(served):
    port, token = served
    exchange = Exchange(port)
    many = b"".join(b"X-Note-%d: %s\r\n" % (i, b"n" * 90) for i in range(100))  # ~10 KB, none of them long
    exchange.send(get("/api/v1/me", token, many))
    answer, _ = exchange.answer()
    assert status_of(answer) == 431


def test_it_closes_a_slow_loris_connection(served):
    port, token = served
    exchange = Exchange(port)
    request = get("/api/v1/me", token)
    for byte in request[:-2]:  # never the blank line that ends the headers
        if not exchange.send(bytes([byte])) or time.monotonic() - exchange.opened > 3:
            break
        time.sleep(0.1)
    answer, seconds = exchange.answer()
    assert status_of(answer) == 408 and b"did not arrive within 1 s" in answer
    assert 0.9 <= seconds < 2.5


def test_it_closes_a_connection_that_sends_nothing(served):
    port, _ = served
    answer, seconds = Exchange(port).answer()
    assert status_of(answer) == 408 and 0.9 <= seconds < 2.5


def test_each_request_on_a_kept_connection_gets_its_own_time_for_its_headers(served):
    port, token = served
    exchange = Exchange(port)
    exchange.send(get("/api/v1/me", token))
    time.sleep(0.8)
    exchange.send(b"GET /api/v1/me HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # the second request stalls
    answer, seconds = exchange.answer()
    first, _, second = answer.partition(b"\r\n\r\n")
    assert status_of(first) == 200 and b"HTTP/1.1 408" in second
    assert 1.7 <= seconds < 3.5  # 0.8 s, then the second request's own second


def _post_head(token: str, length: int) -> bytes:
    return (
        f"POST /api/v1/feedback HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {length}\r\n\r\n"
    ).encode()


def test_a_body_that_stops_arriving_is_answered_408(served):
    port, token = served
    exchange = Exchange(port)
    exchange.send(_post_head(token, 100) + b'{"text": "half a')
    answer, seconds = exchange.answer()
    assert status_of(answer) == 408
    assert b'"error":"no part of the request body arrived for 1 s; send it again"' in answer
    assert 0.9 <= seconds < 2.5


def test_a_body_trickling_in_past_the_total_is_answered_408(served):
    port, token = served
    exchange = Exchange(port)
    exchange.send(_post_head(token, 1000))
    for _ in range(12):  # a byte every 0.4 s: never idle for 1 s, but past 3 s in all
        if not exchange.send(b" "):
            break
        time.sleep(0.4)
    answer, seconds = exchange.answer()
    assert status_of(answer) == 408 and b"the request body took over 3 s" in answer
    assert 2.9 <= seconds < 5


def test_a_body_sent_in_time_reaches_the_route(served):
    port, token = served
    body = b'{"text": "buyers want a monthly plan", "kind": "pricing"}'
    exchange = Exchange(port)
    exchange.send(_post_head(token, len(body)).replace(b"\r\n\r\n", b"\r\nConnection: close\r\n\r\n"))
    time.sleep(0.5)
    exchange.send(body)
    answer, _ = exchange.answer()
    assert status_of(answer) == 201


def test_the_limits_are_settings_of_the_serve_section():
    serve = truce_config.parse(truce_config.default_text()).serve
    assert (serve.header_seconds, serve.header_kilobytes, serve.body_idle_seconds, serve.body_seconds) == (
        10,
        16,
        30,
        300,
    )
    protocol = server.protocol(serve)
    assert protocol.header_seconds == 10 and protocol.header_bytes == 16 * 1024
    with pytest.raises(truce_config.ConfigError, match="serve.header_kilobytes"):
        truce_config.parse(truce_config.default_text().replace("header_kilobytes = 16", "header_kilobytes = 0"))
