"""What can stop a sync or a write-back, each with a message a RevOps lead can act on."""

from __future__ import annotations


class CrmError(RuntimeError):
    """The CRM answered with an error truce cannot get past (after its retries); the message quotes it."""

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status


class CredentialRevoked(CrmError):
    """The CRM refused the credential itself (revoked token, deleted app, locked user): stop, say so."""


class RateLimited(CrmError):
    """The CRM kept answering 429/503 (or its daily allocation is spent) past the retries allowed."""


class SyncRefused(RuntimeError):
    """A sync that may not start: the connection was revoked, or another sync of it is running."""
