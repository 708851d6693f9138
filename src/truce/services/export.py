"""`truce export`: any table out as CSV (safe to open in a spreadsheet) or Parquet, streamed.

Credentials never leave: password hashes, token hashes, session hashes and CSRF tokens are left
out of every export (SECRET_COLUMNS), and the file is created readable by its owner only.

Each table that `truce import` reads is exported with the natural keys of the records it points
at beside truce's own ids (REFERENCES): `owner_email` beside `owner_id`, `account_domain` beside
`account_id`, and so on. Ids mean nothing in another store; the keys let the file go back in,
here or into an empty store. Columns are only ever added to an export, never renamed or removed:
the header is a contract that `truce import` recognises (truce.imports.dialects.is_truce_export).
"""

from __future__ import annotations

import csv
import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
from sqlalchemy import Boolean, Date, Engine, FromClause, Integer, Numeric, and_, select
from sqlalchemy.types import JSON

from truce.csvsafe import neutralise
from truce.files import private_open
from truce.store.models import Base
from truce.store.types import Money, Rate, UTCDateTime

FORMATS = ("csv", "parquet")
# Secrets, or what stands for them: never written to a file.
SECRET_COLUMNS = {
    "users": frozenset({"password_hash"}),
    "api_tokens": frozenset({"token_hash"}),
    "web_sessions": frozenset({"session_hash", "csrf_token"}),
    # The SHA-256 of an email is found again by hashing guesses: as good as the email itself.
    "login_throttles": frozenset({"key_hash"}),
    # Sealed, but a CRM's keys still do not travel: a copy and a stolen sealing key would open the CRM.
    "crm_connections": frozenset({"secret_sealed", "webhook_secret_sealed"}),
}
BATCH_ROWS = 50_000


@dataclass(frozen=True)
class Reference:
    """A column an export adds: the `key` of the record that `via` points at, named as import reads it."""

    name: str  # the exported column, a truce import field (owner_email, account_domain, …)
    via: str  # the table's column holding the truce id
    table: str  # the table that id points into
    key: str  # the column of that table the export writes
    when: tuple[str, str] | None = None  # (column, value): a ledger row points at a contact or a deal


def _owner(name: str = "owner_email", via: str = "owner_id") -> Reference:
    return Reference(name, via, "users", "email")


def _account() -> tuple[Reference, ...]:
    return (
        Reference("account_external_id", "account_id", "accounts", "external_id"),
        Reference("account_domain", "account_id", "accounts", "domain"),
        Reference("company", "account_id", "accounts", "name"),
    )


# Per importable table, in the order they follow the table's own columns. Append only.
REFERENCES: dict[str, tuple[Reference, ...]] = {
    "users": (),
    "accounts": (_owner(),),
    "contacts": (*_account(), _owner()),
    "campaigns": (_owner(),),
    "touchpoints": (
        Reference("contact_email", "contact_id", "contacts", "email"),
        Reference("contact_external_id", "contact_id", "contacts", "external_id"),
        Reference("campaign_external_id", "campaign_id", "campaigns", "external_id"),
        _owner("user_email", "user_id"),
    ),
    "opportunities": (
        *_account(),
        Reference("primary_contact_email", "primary_contact_id", "contacts", "email"),
        Reference("campaign_external_id", "campaign_id", "campaigns", "external_id"),
        _owner(),
    ),
    "stage_changes": (
        Reference("contact_email", "entity_id", "contacts", "email", ("entity_type", "contact")),
        Reference("contact_external_id", "entity_id", "contacts", "external_id", ("entity_type", "contact")),
        Reference(
            "opportunity_external_id", "entity_id", "opportunities", "external_id", ("entity_type", "opportunity")
        ),
        _owner("changed_by_email", "changed_by_id"),
    ),
}


def table_names() -> list[str]:
    return sorted(Base.metadata.tables)


def _cell(value) -> object:
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, dt.date | Decimal):
        return str(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return neutralise(value if not isinstance(value, dict | list) else str(value))


def _arrow_type(column) -> pa.DataType:
    kind = column.type
    if isinstance(kind, Money):
        return pa.decimal128(18, 2)
    if isinstance(kind, Rate):
        return pa.decimal128(7, 4)
    if isinstance(kind, UTCDateTime):
        return pa.timestamp("us", tz="UTC")
    if isinstance(kind, Boolean):
        return pa.bool_()
    if isinstance(kind, Date):
        return pa.date32()
    if isinstance(kind, Integer):
        return pa.int64()
    if isinstance(kind, Numeric):
        return pa.decimal128(18, 4)
    if isinstance(kind, JSON):
        return pa.string()
    return pa.string()


def export_table(engine: Engine, name: str, out: Path, fmt: str = "csv") -> int:
    """Write table `name` to `out`; returns the number of rows written."""
    if name not in Base.metadata.tables:
        raise ValueError(f"unknown table {name!r}; choose one of {', '.join(table_names())}")
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; choose csv or parquet")
    table = Base.metadata.tables[name]
    columns, joined = _with_references(name)
    query = select(*columns).select_from(joined).order_by(*table.primary_key.columns)
    with engine.connect() as conn:
        rows = conn.execution_options(stream_results=True, yield_per=BATCH_ROWS).execute(query)
        if fmt == "csv":
            return _write_csv(out, [c.name for c in columns], rows)
        return _write_parquet(out, columns, rows)


def exported_columns(name: str) -> list:
    """The columns of table `name` an export writes: all but the secret ones."""
    secret = SECRET_COLUMNS.get(name, frozenset())
    return [column for column in Base.metadata.tables[name].c if column.name not in secret]


def exported_header(name: str) -> list[str]:
    """The header an export of table `name` has: its columns, then the keys of what they point at."""
    return [c.name for c in exported_columns(name)] + [r.name for r in REFERENCES.get(name, ())]


def _with_references(name: str) -> tuple[list, FromClause]:
    """The selected columns and the joins that fetch each reference's key (an outer join: no reference, blank)."""
    table = Base.metadata.tables[name]
    joined: FromClause = table
    columns = list(exported_columns(name))
    aliases: dict[tuple[str, str, tuple[str, str] | None], FromClause] = {}
    for reference in REFERENCES.get(name, ()):
        slot = (reference.via, reference.table, reference.when)
        if slot not in aliases:
            target = Base.metadata.tables[reference.table].alias(f"ref_{len(aliases)}")
            condition = target.c.id == table.c[reference.via]
            if reference.when:
                condition = and_(condition, table.c[reference.when[0]] == reference.when[1])
            joined = joined.outerjoin(target, condition)
            aliases[slot] = target
        columns.append(aliases[slot].c[reference.key].label(reference.name))
    return columns, joined


def _write_csv(out: Path, header: list[str], rows) -> int:
    count = 0
    with private_open(out, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        for row in rows:
            writer.writerow([_cell(v) for v in row])
            count += 1
    return count


def _write_parquet(out: Path, columns: list, rows) -> int:
    import json

    import pyarrow.parquet as pq

    schema = pa.schema([(c.name, _arrow_type(c)) for c in columns])
    json_columns = {c.name for c in columns if isinstance(c.type, JSON)}
    count = 0
    with private_open(out, "wb") as sink, pq.ParquetWriter(sink, schema) as writer:
        for chunk in rows.partitions(BATCH_ROWS):
            columns = list(zip(*chunk, strict=True))
            arrays = []
            for field, values in zip(schema, columns, strict=True):
                if field.name in json_columns:
                    values = [None if v is None else json.dumps(v) for v in values]
                arrays.append(pa.array(values, type=field.type))
            writer.write_table(pa.Table.from_arrays(arrays, schema=schema))
            count += len(chunk)
    return count
