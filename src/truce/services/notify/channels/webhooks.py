"""Webhooks: the JSON Slack and Microsoft Teams incoming webhooks accept, and a signed JSON for other tools.

The signed webhook carries `X-Truce-Timestamp` (Unix seconds) and `X-Truce-Signature: sha256=<hex>`,
the HMAC-SHA256 under the shared secret of `"<timestamp>.<body>"`; docs/notifications.md shows how
a receiver checks it and refuses replays. HTTP goes through the standard library (urllib): no
dependency for one POST.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import time
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import urlparse

from truce.config import NotifyWebhook
from truce.services.notify.channels import ChannelDown, DeliveryFailed, Message

# Answers that say the webhook itself is gone or refuses us: retrying each message will not help.
CHANNEL_WIDE = {401, 403, 404, 410}


def slack_body(message: Message) -> dict:
    """Slack's incoming webhook: `text` (the fallback) and blocks with a button back to truce."""
    text = f"*{message.subject}*\n{message.text}"
    blocks: list[dict[str, Any]] = [{"type": "section", "text": {"type": "mrkdwn", "text": text}}]
    if message.link:
        text += f"\n<{message.link}|Open in truce>"
        blocks.append(
            {
                "type": "actions",
                "elements": [
                    {"type": "button", "text": {"type": "plain_text", "text": "Open in truce"}, "url": message.link}
                ],
            }
        )
    return {"text": text, "blocks": blocks}


def teams_body(message: Message) -> dict:
    """A MessageCard, the shape a Teams incoming webhook accepts, with an "Open in truce" action."""
    card: dict[str, Any] = {
        "@type": "MessageCard",
        "@context": "https://schema.org/extensions",
        "summary": message.subject,
        "themeColor": "C0392B" if message.urgency == "now" else "2E86C1",
        "title": message.subject,
        "text": message.text,
    }
    if message.link:
        card["potentialAction"] = [
            {"@type": "OpenUri", "name": "Open in truce", "targets": [{"os": "default", "uri": message.link}]}
        ]
    return card


def signed_body(message: Message) -> dict:
    return {
        "id": message.id,
        "outbox_id": message.outbox_id,
        "kind": message.kind,
        "urgency": message.urgency,
        "subject": message.subject,
        "text": message.text,
        "link": message.link,
        "facts": message.facts,
        "created_at": message.created_at.isoformat(),
    }


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """`sha256=<hex>` of HMAC-SHA256(secret, "<timestamp>." + body)."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


SHAPES = {"slack": slack_body, "teams": teams_body, "signed": signed_body}


class Webhook:
    """One [[notify.webhooks]] entry: renders a message in its shape and POSTs it."""

    def __init__(self, settings: NotifyWebhook):
        self.settings = settings

    @property
    def channel(self) -> str:
        return f"webhook:{self.settings.name}"

    def wants(self, kind: str) -> bool:
        return not self.settings.kinds or kind in self.settings.kinds

    def send(self, message: Message, now: float | None = None) -> None:
        body = json.dumps(SHAPES[self.settings.shape](message), separators=(",", ":")).encode()
        headers = {"Content-Type": "application/json", "User-Agent": "truce", "X-Truce-Delivery": str(message.id)}
        if self.settings.shape == "signed":
            timestamp = str(int(now if now is not None else time.time()))
            headers["X-Truce-Timestamp"] = timestamp
            headers["X-Truce-Signature"] = signature(self._env(self.settings.secret_env, "secret"), timestamp, body)
        self._post(body, headers)

    def _post(self, body: bytes, headers: dict) -> None:
        url = self._url()
        where = f"webhook {self.settings.name!r} ({urlparse(url).hostname})"  # never the URL: it may hold a token
        request = urllib.request.Request(url, data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=self.settings.timeout_seconds) as answer:
                answer.read(1024)
        except urllib.error.HTTPError as exc:
            if exc.code in CHANNEL_WIDE:
                raise ChannelDown(f"{where} answered {exc.code} {exc.reason}: check its URL and secret") from None
            raise DeliveryFailed(f"{where} answered {exc.code} {exc.reason}") from None
        except urllib.error.URLError as exc:
            if isinstance(exc.reason, OSError) and not isinstance(exc.reason, TimeoutError):
                raise ChannelDown(f"cannot reach {where}: {exc.reason}") from None
            raise DeliveryFailed(f"{where}: {exc.reason}") from None
        except (TimeoutError, OSError) as exc:
            raise DeliveryFailed(f"{where}: {type(exc).__name__}: {exc}") from None

    def _url(self) -> str:
        if self.settings.url:
            return self.settings.url
        return self._env(self.settings.url_env, "URL")

    def _env(self, name: str | None, what: str) -> str:
        value = os.environ.get(name) if name else None
        if not value:
            raise ChannelDown(
                f"webhook {self.settings.name!r}: the environment variable {name} holding its {what} is not set"
            )
        return value
