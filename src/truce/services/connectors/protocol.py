"""What a CRM connector gives the sync: its objects in order, pages of rows, and single records.

A connector knows its vendor's API and turns records into rows of truce field names (the file
importer's vocabulary, truce.imports.dialects.TRUCE_FIELDS); it never writes to the store. The
sync (truce.services.connectors.sync) writes each page through the importer, with the cursor,
in one unit of work.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True)
class CrmObject:
    """One kind of CRM record a sync reads, with its own cursor: HubSpot `contacts`, Salesforce `Lead`."""

    name: str
    table: str  # the truce table its records land in: contacts, accounts, touchpoints, …
    dialect: str  # hubspot or salesforce: which store column holds the CRM's id (imports.dialects.ID_COLUMN)
    # Kept in step only by a full sync (lists without a modified-time filter, e.g. HubSpot owners).
    full_only: bool = False
    # What this object's ids start with in its table, where two objects share one (Salesforce Lead
    # "00Q" and Contact "003" both land in contacts): a full sync reconciles only its own records.
    id_prefix: str = ""


@dataclass
class Page:
    """One page of one object, ready to write. `rows` may feed several tables, written in order
    (a Salesforce Lead page: contacts, then the stage moves its history dates)."""

    rows: dict[str, list[dict]] = field(default_factory=dict)
    cursor: str | None = None  # the object's cursor once this page is in (None: unchanged)
    position: str | None = None  # a full sync's place in a listing, to resume from; None when it ended
    deleted: list[str] = field(default_factory=list)  # CRM ids deleted in the CRM (the object's table)
    merged: list[tuple[str, str]] = field(default_factory=list)  # (merged-away id, surviving id)
    seen: list[str] = field(default_factory=list)  # CRM ids this page listed (a full sync's reconciliation)

    def size(self) -> int:
        return sum(len(rows) for rows in self.rows.values()) + len(self.deleted) + len(self.merged)


@dataclass(frozen=True)
class WriteResult:
    """What the CRM said to a write-back: sent, or a conflict (the record changed after truce read it)."""

    status: str  # sent, conflict, skipped
    detail: str = ""
    crm_modified_at: dt.datetime | None = None


class Connector(Protocol):
    system: str

    def objects(self) -> list[CrmObject]:
        """Every object a sync reads, in the order their references need (owners before contacts…)."""
        ...

    def pages(self, obj: CrmObject, cursor: str | None, position: str | None, full: bool) -> Iterator[Page]:
        """Pages of records changed after `cursor` (all of them when `full`), oldest first."""
        ...

    def fetch(self, obj: CrmObject, crm_ids: list[str]) -> Page:
        """The records with these ids as they are now (a webhook's change, a reject tried again);
        ids that no longer resolve are in `deleted` or `merged`."""
        ...

    def write_back(
        self,
        object_name: str,
        crm_id: str,
        fields: dict[str, str | None],
        read_at: dt.datetime | None,
        context: dict | None = None,
    ) -> WriteResult:
        """Update these CRM fields unless the record changed after `read_at` (then: conflict).
        `context` says what else the decision was (`decided_stage`: the stage it took the lead to)."""
        ...

    def close(self) -> None: ...
