"""Errors of the store that every face turns into words; light to import (the CLI catches them)."""

from __future__ import annotations


class StoreBusy(RuntimeError):
    """Another writer held the store longer than this write could wait; nothing was written.

    The faces say "busy, retry": the API a 503 with Retry-After, a page that keeps what was typed,
    the CLI one line.
    """

    def __init__(self, message: str, retry_after: int = 5):
        super().__init__(message)
        self.retry_after = retry_after


class WriteOutsideWork(RuntimeError):
    """A statement tried to change the store outside a unit of work: a bug in the caller."""


class UnauditedWrite(RuntimeError):
    """A unit of work changed data tables without recording who did it: a bug in the caller."""
