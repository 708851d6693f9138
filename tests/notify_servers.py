"""Real receivers on 127.0.0.1 for the notification tests: an SMTP server (aiosmtpd) and an HTTP server.

Nothing leaves the machine: every channel in these tests points at one of these.
"""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import json
import socket
import threading
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from truce import config as truce_config
from truce.store.models import User
from truce.store.work import unit_of_work

UTC = dt.UTC


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Mailbox:
    """What the SMTP server received, parsed; and the log-ins it was asked for."""

    def __init__(self):
        self.messages: list[email.message.EmailMessage] = []
        self.logins: list[tuple[str, bool]] = []
        self.sessions = 0  # EHLOs: one per connection smtplib opens

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        self.sessions += 1
        session.host_name = hostname
        return responses

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(email.message_from_bytes(envelope.content, policy=email.policy.default))
        return "250 OK"


@contextmanager
def smtp_server(password: str | None = None):
    """An SMTP server on 127.0.0.1; with `password`, it demands a log-in as truce / password."""
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult

    box = Mailbox()

    def authenticator(server, session, envelope, mechanism, auth_data):
        ok = auth_data.login == b"truce" and auth_data.password == (password or "").encode()
        box.logins.append((auth_data.login.decode(), ok))
        return AuthResult(success=ok, handled=False)

    options = {}
    if password is not None:
        options = {"authenticator": authenticator, "auth_require_tls": False, "auth_required": True}
    controller = Controller(box, hostname="127.0.0.1", port=free_port(), **options)
    controller.start()
    try:
        box.port = controller.port
        yield box
    finally:
        controller.stop()


class Receiver:
    """What the HTTP receiver got; it answers `failures` requests with 500 before answering 200."""

    def __init__(self, failures: int = 0, status: int = 500):
        self.requests: list[dict] = []
        self.failures, self.status = failures, status


@contextmanager
def http_receiver(failures: int = 0, status: int = 500):
    receiver = Receiver(failures, status)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("content-length", 0)))
            receiver.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
            failing = len(receiver.requests) <= receiver.failures
            self.send_response(receiver.status if failing else 200)
            self.end_headers()
            self.wfile.write(b"no" if failing else b"ok")

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        receiver.url = f"http://127.0.0.1:{server.server_address[1]}"
        yield receiver
    finally:
        server.shutdown()
        server.server_close()


def make_config(notify: str, timezone: str = "Europe/Berlin"):
    """The default truce.toml in `timezone` (business hours 09:00–17:00, Monday to Friday) plus `notify`."""
    text = truce_config.default_text().replace('timezone = "UTC"', f'timezone = "{timezone}"', 1)
    return truce_config.parse(text + "\n" + notify, "truce.toml")


def email_section(port: int, password_env: str | None = None) -> str:
    login = f'username = "truce"\npassword_env = "{password_env}"\n' if password_env else ""
    return (
        '[notify]\nbase_url = "https://truce.yourco.example"\n'
        f'[notify.email]\nhost = "127.0.0.1"\nport = {port}\nsecurity = "none"\n{login}'
        'from_address = "truce@yourco.example"\ntimeout_seconds = 5\n'
    )


def add_people(engine, *emails: str, team: str = "sales") -> dict[str, int]:
    ids = {}
    with unit_of_work(engine, "test", "test") as work:
        for address in emails:
            ids[address] = work.conn.execute(
                User.__table__.insert()
                .values(email=address, name=address.split("@")[0].title(), team=team, created_at=dt.datetime.now(UTC))
                .returning(User.id)
            ).scalar_one()
        work.wrote("audit_log")  # test set-up, as conftest.writing does
    return ids


def owe_one(engine, kind: str, user_id: int | None, subject: str, at: dt.datetime, **message) -> int:
    from truce.services.notify.outbox import owe

    with unit_of_work(engine, "test", "test") as work:
        message.setdefault("text", f"{subject} — details")
        return owe(work.conn, kind, to_user_id=user_id, subject=subject, at=at, **message)


def deliveries(engine, channel: str | None = None) -> list[dict]:
    from sqlalchemy import select

    from truce.store.models import Delivery

    query = select(Delivery).order_by(Delivery.id)
    if channel:
        query = query.where(Delivery.channel == channel)
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(query).mappings()]


def as_json(body: bytes) -> dict:
    return json.loads(body)
