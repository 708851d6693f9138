"""The part every import shares: match rows to existing records, then insert, update or leave alone.

A row matches an existing record by the source system's id first, then by its natural key
(a contact's email, an account's domain). A blank cell never erases stored data, so a
narrow export can enrich records without wiping the columns it lacks.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict
from collections.abc import Iterable
from decimal import Decimal

from sqlalchemy import Connection, Table, bindparam, update
from sqlalchemy.sql.schema import ScalarElementColumnDefault

from truce.imports.batch import Batch
from truce.imports.lookups import fetch_by, find_ids
from truce.store import bulk
from truce.store.ids import reserve_ids
from truce.store.models import AuditEntry


def jsonable(value):
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    return value


def match_existing(
    conn: Connection,
    table: Table,
    batch: Batch,
    id_column: str,
    natural_key: str | None,
    entity: str,
    whole_rows: bool = True,
    compared: Iterable[str] = (),
) -> None:
    """Set batch.match[i] to the stored row that row i updates (or None); conflicts become errors.

    A match holds the id and the columns the batch carries (plus `compared`, columns a writer
    fills in later): all that deciding "unchanged" and auditing a change read, so a re-import
    does not fetch whole rows. Without `whole_rows`, a match is only its id ({"id": …}):
    enough to check a file, not to write it.
    """
    good = batch.good()
    ids = batch.column(id_column)
    keys = batch.column(natural_key) if natural_key else [None] * batch.size  # no key: match by id only
    by_id = find_ids(conn, table, id_column, [ids[i] for i in good])
    by_key = find_ids(conn, table, natural_key, [keys[i] for i in good]) if natural_key else {}
    matched = {}
    for i in good:
        found = by_id.get(ids[i]) if ids[i] is not None else None
        other = by_key.get(keys[i]) if keys[i] is not None else None
        if found is not None and other is not None and other != found:
            assert natural_key is not None  # `other` was found by it
            batch.fail(
                i, natural_key, "duplicate", f"{natural_key} {keys[i]!r} belongs to another {entity} (id {other})"
            )
            continue
        if found is not None or other is not None:
            matched[i] = found if found is not None else other
    # Whole rows only for the records that will be compared: a first import fetches nothing.
    if whole_rows:
        wanted = {"id", *batch.store, *compared}
        stored = fetch_by(conn, table, "id", matched.values(), [c for c in table.c if c.name in wanted])
    else:
        stored = {i: {"id": i} for i in matched.values()}
    batch.match = [None] * batch.size
    for i, record_id in matched.items():
        batch.match[i] = stored[record_id]


def changes(stored, incoming: dict, ignore: frozenset = frozenset()) -> dict:
    """The columns whose incoming value differs from the stored one (blank cells are not changes)."""
    return {
        column: value
        for column, value in incoming.items()
        if value is not None and column not in ignore and stored[column] != value
    }


def scalar_default(table: Table, column: str):
    default = table.c[column].default
    return default.arg if isinstance(default, ScalarElementColumnDefault) else None


def insert_new(conn: Connection, table: Table, columns: dict[str, list]) -> list[int]:
    """Insert rows given as columns; returns their new ids in order."""
    count = len(next(iter(columns.values()))) if columns else 0
    if count == 0:
        return []
    ids = reserve_ids(conn, table, count)
    bulk.insert_columns(conn, table, {"id": ids, **columns})
    return ids


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
    if not updates:
        return
    rows: dict[str, list] = {
        "at": [],
        "actor": [],
        "action": [],
        "entity_type": [],
        "entity_id": [],
        "before": [],
        "after": [],
    }
    for record_id, before, changed in updates:
        rows["at"].append(now)
        rows["actor"].append(actor)
        rows["action"].append("import_update")
        rows["entity_type"].append(entity_type)
        rows["entity_id"].append(record_id)
        rows["before"].append(json.loads(json.dumps({c: jsonable(before[c]) for c in changed})))
        rows["after"].append(json.loads(json.dumps({c: jsonable(v) for c, v in changed.items()})))
    insert_new(conn, AuditEntry.__table__, rows)
