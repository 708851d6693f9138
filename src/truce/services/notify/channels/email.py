"""E-mail over SMTP: a plain-text part and an HTML alternative, the brief attached when there is one.

One connection (and one log-in) serves a whole round of messages, so a bad password is found once,
raised as ChannelDown, and costs no message an attempt. The password is read from the environment
variable [notify.email] password_env names, at the moment of logging in; it is never kept.
"""

from __future__ import annotations

import html
import mimetypes
import os
import smtplib
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from email.message import EmailMessage
from email.utils import formatdate
from pathlib import Path
from urllib.parse import urlparse

from truce.config import NotifyEmail
from truce.services.notify.channels import ChannelDown, DeliveryFailed, Message, brief_path

MAX_ATTACHMENT_BYTES = 20 * 1024 * 1024


def compose(message: Message, to: str, sender: str, base_url: str) -> EmailMessage:
    """One notification as an e-mail: plain text, HTML alternative, and the brief if it carries one."""
    mail = _envelope(message.subject, to, sender, base_url, message.id)
    mail.set_content(_plain(message))
    mail.add_alternative(_html_page(message.subject, [message]), subtype="html")
    path = brief_path(message)
    if path:
        _attach(mail, Path(path))
    return mail


def compose_digest(messages: list[Message], to: str, sender: str, base_url: str) -> EmailMessage:
    """Several low-urgency notifications as one e-mail (the digest)."""
    subject = f"truce digest: {len(messages)} notification{'s' if len(messages) != 1 else ''}"
    mail = _envelope(subject, to, sender, base_url, messages[0].id)
    mail.set_content("\n\n".join(_plain(m) for m in messages))
    mail.add_alternative(_html_page(subject, messages), subtype="html")
    for message in messages:
        path = brief_path(message)
        if path:
            _attach(mail, Path(path))
    return mail


def _envelope(subject: str, to: str, sender: str, base_url: str, delivery_id: int) -> EmailMessage:
    mail = EmailMessage()
    mail["Subject"] = subject
    mail["From"] = sender
    mail["To"] = to
    mail["Date"] = formatdate(localtime=False)
    # The same id on a repeat after a crash: a mail client or filter may fold the two together.
    mail["Message-ID"] = f"<truce.delivery.{delivery_id}@{urlparse(base_url).hostname or 'truce'}>"
    mail["X-Truce-Delivery"] = str(delivery_id)
    return mail


def _plain(message: Message) -> str:
    lines = [message.subject, "", message.text]
    if message.link:
        lines += ["", f"Open in truce: {message.link}"]
    return "\n".join(lines)


def _html_page(title: str, messages: list[Message]) -> str:
    parts = [f"<html><body><h1>{html.escape(title)}</h1>"]
    for message in messages:
        parts.append(f"<h2>{html.escape(message.subject)}</h2><p>{html.escape(message.text)}</p>")
        if message.link:
            parts.append(f'<p><a href="{html.escape(message.link, quote=True)}">Open in truce</a></p>')
    parts.append("</body></html>")
    return "".join(parts)


def _attach(mail: EmailMessage, path: Path) -> None:
    if not path.is_file() or path.stat().st_size > MAX_ATTACHMENT_BYTES:
        return  # the link still leads to the brief; a missing file must not stop the message
    kind = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    main, sub = kind.split("/", 1)
    mail.add_attachment(path.read_bytes(), maintype=main, subtype=sub, filename=path.name)


class Mailer:
    """The SMTP server of [notify.email]; `connected()` opens one session for a round of messages."""

    def __init__(self, settings: NotifyEmail):
        self.settings = settings

    @property
    def where(self) -> str:
        return f"SMTP {self.settings.host}:{self.settings.port}"

    @contextmanager
    def connected(self) -> Iterator[smtplib.SMTP]:
        server = self._guarded_connect()
        try:
            yield server
        finally:
            try:
                server.quit()
            except (smtplib.SMTPException, OSError):
                server.close()

    def send(self, server: smtplib.SMTP, mail: EmailMessage) -> None:
        try:
            refused = server.send_message(mail)
        except smtplib.SMTPServerDisconnected as exc:
            raise ChannelDown(f"{self.where} closed the connection: {exc}") from None
        except (smtplib.SMTPRecipientsRefused, smtplib.SMTPSenderRefused, smtplib.SMTPDataError) as exc:
            raise DeliveryFailed(f"{self.where} refused the message: {_answer(exc)}") from None
        except (smtplib.SMTPException, OSError) as exc:
            raise DeliveryFailed(f"{self.where}: {type(exc).__name__}: {exc}") from None
        if refused:
            raise DeliveryFailed(f"{self.where} refused {', '.join(refused)}")

    def _connect(self) -> smtplib.SMTP:
        s = self.settings
        server: smtplib.SMTP | None = None
        try:
            if s.security == "ssl":
                server = smtplib.SMTP_SSL(
                    s.host, s.port, timeout=s.timeout_seconds, context=ssl.create_default_context()
                )
            else:
                server = smtplib.SMTP(s.host, s.port, timeout=s.timeout_seconds)
                if s.security == "starttls":
                    server.starttls(context=ssl.create_default_context())
            if s.username:
                server.login(s.username, self._password())
        except BaseException:
            if server is not None:
                server.close()  # no half-open connection left behind by a refused log-in
            raise
        return server

    def _guarded_connect(self) -> smtplib.SMTP:
        """A connected, logged-in session; ChannelDown (one clear error, no secret) when the server refuses."""
        s = self.settings
        try:
            return self._connect()
        except smtplib.SMTPAuthenticationError as exc:
            raise ChannelDown(
                f"{self.where} refused the log-in of {s.username!r}: {_answer(exc)}; check the password in "
                f"${s.password_env} and the username in [notify.email]"
            ) from None
        except (smtplib.SMTPException, OSError) as exc:
            raise ChannelDown(f"cannot reach {self.where}: {type(exc).__name__}: {exc}") from None

    def _password(self) -> str:
        name = self.settings.password_env
        password = os.environ.get(name) if name else None
        if not password:
            raise ChannelDown(f"{self.where}: the environment variable {name} holding the SMTP password is not set")
        return password


def _answer(exc: smtplib.SMTPException) -> str:
    """The server's code and words, without anything we sent it."""
    code = getattr(exc, "smtp_code", None)
    text = getattr(exc, "smtp_error", b"")
    text = text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)
    if code is None and isinstance(exc, smtplib.SMTPRecipientsRefused):
        return "recipients refused: " + ", ".join(exc.recipients)
    return f"{code} {text}".strip()
