"""The CRM connections: each one's state, a sync's report, the records a sync could not take in,
and truce's decisions written back to the CRM.

What `truce connect`, `truce connections …` and `truce sync` print with --json, and what the
API's /connections routes answer. A connection says where its secret lives, never the secret.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from truce.reports.base import Moment, Report, Row


class SyncCursor(Row):
    object: str = Field(description="The CRM object: contacts, deals, Lead, Opportunity…")
    cursor: str | None = Field(description="The last modified time read (and the CRM id that breaks ties)")
    position: str | None = Field(description="An interrupted full sync's place; null when none is under way")
    records: int = Field(description="Records written under this cursor so far")
    updated_at: Moment | None


class SyncRun(Row):
    id: int
    full: bool
    status: str = Field(description="running, ok, failed or stopped (a revoked credential)")
    started_at: Moment | None
    finished_at: Moment | None
    counts: dict[str, Any] | None
    differences: dict[str, Any] | None
    error: str | None


class Connection(Report):
    """A connection as `truce connect` and `truce connections revoke` answer it."""

    name: str
    system: str
    auth: str
    base_url: str
    settings: dict[str, Any] = Field(description="Not secret: client id, user name, portal or org id")
    active: bool
    secret: str = Field(description="Where the secret lives, never the secret")
    webhook_secret: str = Field(description="Where the webhook secret lives, never the secret")
    created_at: Moment | None
    created_by: str
    revoked_at: Moment | None
    last_sync_at: Moment | None
    last_error: str | None
    last_error_at: Moment | None


class ConnectionState(Connection):
    """A connection in the list: its cursors, last run, open rejects and write-backs by status."""

    cursors: list[SyncCursor]
    last_run: SyncRun | None
    open_rejects: int
    writes: dict[str, int] = Field(description="Write-backs to the CRM: pending, conflict, dead, sent")


class Connections(Report):
    """The API's answer: `truce connections --json` prints the list `connections`."""

    connections: list[ConnectionState]


class SyncReject(Row):
    object: str
    crm_id: str = Field(description="The record's id in the CRM")
    reason: str
    seen_at: Moment | None
    resolved_at: Moment | None
    run_id: int | None


class SyncRejects(Report):
    """The API's answer: `truce connections rejects NAME --json` prints the list `items`."""

    connection: str
    items: list[SyncReject]


class CrmWrite(Row):
    """A decision of truce written back to a CRM record, and how it went."""

    id: int
    object: str
    crm_id: str | None
    status: str
    fields: dict[str, Any]
    event: str | None
    read_at: Moment | None
    owed_at: Moment | None
    attempts: int
    next_attempt_at: Moment | None
    sent_at: Moment | None
    detail: str | None


class SyncReport(Report):
    connection: str
    system: str
    full: bool
    run_id: int | None
    status: str
    totals: dict[str, int]
    objects: dict[str, dict[str, int]]
    rejects: list[dict[str, Any]] = Field(description="The first 200: object, crm_id, reason")
    reject_count: int
    differences: dict[str, Any]
    error: str | None


__all__ = [
    "Connection",
    "ConnectionState",
    "Connections",
    "CrmWrite",
    "SyncCursor",
    "SyncReject",
    "SyncRejects",
    "SyncReport",
    "SyncRun",
]
