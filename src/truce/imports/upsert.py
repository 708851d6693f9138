"""The part every import shares: match rows to existing records, then insert, update or leave alone.

A row matches an existing record by the source system's id first, then by its natural key
(a contact's email, an account's domain). A blank cell never erases stored data, so a
narrow export can enrich records without wiping the columns it lacks.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict
from decimal import Decimal

from sqlalchemy import Connection, Table, bindparam, insert, update

from truce.imports.lookups import fetch_by
from truce.store.models import AuditEntry


def jsonable(value):
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    return value


class Matcher:
    """Sorts one batch into new records, changed records and unchanged ones."""

    def __init__(self, conn: Connection, table: Table, id_column: str, natural_key: str | None):
        self.conn, self.table = conn, table
        self.id_column, self.natural_key = id_column, natural_key

    def existing(self, records) -> list:
        """For each record, the stored row it updates, or None."""
        by_id = fetch_by(self.conn, self.table, self.id_column, [r.store.get(self.id_column) for r in records])
        by_key = {}
        if self.natural_key:
            keys = [r.store.get(self.natural_key) for r in records]
            by_key = fetch_by(self.conn, self.table, self.natural_key, keys)
        matches = []
        for record in records:
            match = by_id.get(record.store.get(self.id_column))
            if match is None and self.natural_key:
                match = by_key.get(record.store.get(self.natural_key))
            elif match is not None and self.natural_key:
                other = by_key.get(record.store.get(self.natural_key))
                if other is not None and other["id"] != match["id"]:
                    match = ("conflict", other)
            matches.append(match)
        return matches


def changes(stored, incoming: dict, ignore: frozenset = frozenset()) -> dict:
    """The columns whose incoming value differs from the stored one (blank cells are not changes)."""
    return {
        column: value
        for column, value in incoming.items()
        if value is not None and column not in ignore and stored[column] != value
    }


def insert_rows(conn: Connection, table: Table, rows: list[dict], columns: list[str]) -> list[int]:
    """Insert rows in order and return their new ids in the same order."""
    if not rows:
        return []
    # executemany needs every row to bind the same columns; absent ones take the model default.
    fallback = {c: _scalar_default(table, c) for c in columns}
    uniform = [{c: row.get(c, fallback[c]) for c in columns} for row in rows]
    statement = insert(table).returning(table.c.id, sort_by_parameter_order=True)
    return list(conn.execute(statement, uniform).scalars())


def _scalar_default(table: Table, column: str):
    default = table.c[column].default
    return default.arg if default is not None and default.is_scalar else None


def append_rows(conn: Connection, table: Table, rows: list[dict]) -> None:
    """Insert rows whose ids nobody needs back (ledger and audit rows)."""
    if rows:
        columns = sorted({c for row in rows for c in row})
        conn.execute(insert(table), [{c: row.get(c) for c in columns} for row in rows])


def update_rows(conn: Connection, table: Table, updates: list[tuple[int, dict]], now: dt.datetime) -> None:
    """Apply {column: value} changes per record id, grouped so each shape is one executemany."""
    shapes: dict[tuple, list[dict]] = defaultdict(list)
    stamp = "updated_at" in table.c
    for record_id, changed in updates:
        values = dict(changed, **({"updated_at": now} if stamp else {}))
        shapes[tuple(sorted(values))].append({"_record_id": record_id, **values})
    for columns, params in shapes.items():
        statement = (
            update(table).where(table.c.id == bindparam("_record_id")).values({c: bindparam(c) for c in columns})
        )
        conn.execute(statement, params)


def audit_updates(conn, entity_type: str, updates: list[tuple[int, dict, dict]], actor: str, now) -> None:
    """One audit entry per changed record, holding only the columns that changed."""
    rows = [
        {
            "at": now,
            "actor": actor,
            "action": "import_update",
            "entity_type": entity_type,
            "entity_id": record_id,
            "before": json.loads(json.dumps({c: jsonable(before[c]) for c in changed})),
            "after": json.loads(json.dumps({c: jsonable(v) for c, v in changed.items()})),
        }
        for record_id, before, changed in updates
    ]
    append_rows(conn, AuditEntry.__table__, rows)
