"""What every table's import shares: copy fields, catch in-file duplicates, match, insert or update."""

from __future__ import annotations

import datetime as dt
from typing import ClassVar

from sqlalchemy import Connection

from truce.imports import lookups
from truce.imports.batch import Batch
from truce.imports.dialects import ID_COLUMN
from truce.imports.fields import Reading
from truce.imports.seen import NONE, SeenKeys
from truce.imports.upsert import audit_updates, changes, insert_new, match_existing, scalar_default, update_rows
from truce.store.models import Base


class Writer:
    model: ClassVar[type[Base]]  # each writer names its table's model
    entity = ""
    natural_key: str | None = None
    copies: tuple[str, ...] = ()  # truce fields stored as read, under the same name
    # Whether check_matches compares rows with what is stored (else a check-only pass skips fetching them).
    compares_stored_rows = False
    # Stored columns a matched row is compared on that the batch fills only when writing.
    compared_later: ClassVar[tuple[str, ...]] = ()

    def __init__(self, conn: Connection, reading: Reading, dialect: str, report, now: dt.datetime, actor: str):
        self.conn, self.reading, self.dialect = conn, reading, dialect
        self.config = reading.config
        self.report, self.now, self.actor = report, now, actor
        self.table = self.model.__table__
        wanted = ID_COLUMN[dialect]
        self.id_column = wanted if wanted in self.table.c else "external_id"
        self.people = lookups.People(conn)
        self._seen: dict[str, SeenKeys] = {}  # store column → the keys met so far and their first records
        self.checking_only = False  # a first pass over a long file: it finds errors, and writes nothing

    # -- checking -----------------------------------------------------------------------------

    def check(self, batch: Batch) -> None:
        """Fill the batch's store columns and record every row's problems in batch.errors."""
        self.load(batch)
        for name in self.copies:
            if name in batch.values:
                batch.store[name] = batch.values[name]
        if "external_id" in batch.values:
            batch.store[self.id_column] = batch.values["external_id"]
        self.resolve(batch)
        self._lengths(batch)
        self._duplicates(batch)
        whole = self.compares_stored_rows or not self.checking_only
        match_existing(
            self.conn, self.table, batch, self.id_column, self.natural_key, self.entity, whole, self.compared_later
        )
        self.check_matches(batch)

    def load(self, batch: Batch) -> None:
        """Fetch, once per batch, the records this batch refers to."""

    def resolve(self, batch: Batch) -> None:
        """Table-specific checks and references."""

    def check_matches(self, batch: Batch) -> None:
        """Reasons a row may not update the record it matched."""

    def _lengths(self, batch: Batch) -> None:
        """Text too long for its column: PostgreSQL would refuse the whole import, SQLite would keep it."""
        for column, values in batch.store.items():
            limit = getattr(self.table.c[column].type, "length", None) if column in self.table.c else None
            if not limit or max(map(len, filter(None, values)), default=0) <= limit:
                continue
            field_name = "external_id" if column == self.id_column else column
            for i, value in enumerate(values):
                if value is not None and len(value) > limit:
                    batch.fail(i, field_name, "validation", f"{len(value)} characters, but at most {limit} fit")

    def _duplicates(self, batch: Batch) -> None:
        """A second row with the same id or natural key as an earlier row of the file is an error."""
        keys = [(self.id_column, "external_id")] + ([(self.natural_key, self.natural_key)] if self.natural_key else [])
        first = batch.raw.first_record
        records = range(first, first + batch.size)
        for column, field_name in keys:
            values = batch.column(column)
            # Rows with other errors still claim their keys.
            holders = self._seen.setdefault(column, SeenKeys()).first_records(values, records)
            for i, earlier in enumerate(holders):
                if earlier not in (NONE, first + i):
                    batch.fail(
                        i, field_name, "duplicate", f"same {field_name} as line {{line}}: {values[i]!r}", refers_to=earlier
                    )

    def owners(self, batch: Batch, field_name: str = "owner_email", column: str = "owner_id") -> None:
        """Users named by email, external id or name; an unknown one is a warning, not an error."""
        references = batch.values.get(field_name)
        if references is None:
            return
        found = []
        for reference in references:
            person = self.people.find(reference) if reference is not None else None
            if reference is not None and person is None:
                header = batch.headers[field_name]
                self.report.warnings[f"unknown user {reference!r} in column {header!r}: left empty"] += 1
            found.append(person[0] if person else None)
        batch.store[column] = found

    def references(self, batch: Batch, field_name: str, cache, column: str, what: str) -> None:
        """Point `column` at the record each cell names; a name with no record is an error."""
        names = batch.values.get(field_name)
        if names is None:
            return
        already = batch.column(column)
        for i, name in enumerate(names):
            if name is None or already[i] is not None:
                continue
            found = cache.get(name)
            if found is None:
                batch.fail(i, field_name, "not_found", f"no {what} {name!r}; import {what}s first")
            else:
                batch.put(column, i, found)

    # -- writing ------------------------------------------------------------------------------

    def write(self, batch: Batch) -> None:
        good = batch.good()
        new = [i for i in good if batch.match[i] is None]
        ids = insert_new(self.conn, self.table, self.new_columns(batch, new))
        self.after_insert(batch, new, ids)
        updated = []
        for i in good:
            stored = batch.match[i]
            if stored is None:
                continue
            changed = changes(stored, {c: values[i] for c, values in batch.store.items()}, frozenset({"id"}))
            if changed:
                updated.append((stored["id"], stored, changed))
            else:
                self.report.unchanged += 1
        update_rows(self.conn, self.table, [(i, c) for i, _, c in updated], self.now)
        audit_updates(self.conn, self.entity, updated, self.actor, self.now)
        self.after_update(batch, updated)
        self.report.inserted += len(new)
        self.report.updated += len(updated)

    def new_columns(self, batch: Batch, new: list[int]) -> dict[str, list]:
        """Columns for the new rows: what the file says, else the model default, else now for timestamps."""
        columns = {}
        for column in self.table.c:
            name = column.name
            if name == "id":
                continue
            default = scalar_default(self.table, name)
            if name in batch.store:  # a blank cell gets the default too, or NOT NULL refuses the row
                values = [default if batch.store[name][i] is None else batch.store[name][i] for i in new]
            else:
                values = [default] * len(new)
            if name in ("created_at", "updated_at", "recorded_at"):
                values = [self.now if v is None else v for v in values]
            columns[name] = values
        return columns

    def after_insert(self, batch: Batch, new: list[int], ids: list[int]) -> None:
        pass

    def after_update(self, batch: Batch, updated: list) -> None:
        pass
