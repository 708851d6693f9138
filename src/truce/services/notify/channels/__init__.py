"""The ways a notification leaves truce: e-mail over SMTP, and webhooks (Slack, Teams, signed JSON).

A channel either sends, or raises one of two errors, and the difference decides what happens next:

- `DeliveryFailed`: this one message did not go (a webhook answered 500, a recipient was refused);
  it is retried with backoff, and dead after the last attempt;
- `ChannelDown`: the channel as a whole refused (SMTP rejected the password, the server refused the
  connection, a webhook URL is gone): nothing through it can work until someone fixes it, so the
  channel rests, RevOps sees one error, and no message loses an attempt to it.

Messages never carry or report a secret: errors name the channel, the host and the server's answer,
never a password, a webhook secret or a webhook URL (Slack's carry their own token).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field


class DeliveryFailed(Exception):
    """This message did not go; try it again later."""


class ChannelDown(Exception):
    """The channel as a whole refused: rest it, tell RevOps once, keep the messages waiting."""


@dataclass(frozen=True)
class Message:
    """One outbox message, as a channel renders it; `link` is already absolute (base_url + path)."""

    id: int  # the delivery's id: receivers may use it to drop a repeat (see docs/notifications.md)
    outbox_id: int
    kind: str
    urgency: str
    subject: str
    text: str
    link: str | None
    created_at: dt.datetime
    facts: dict = field(default_factory=dict)


def brief_path(message: Message) -> str | None:
    """The brief file a brief_ready message carries, when its facts name one."""
    path = message.facts.get("brief_path") if message.kind == "brief_ready" else None
    return path if isinstance(path, str) and path else None
