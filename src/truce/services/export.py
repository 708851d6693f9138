"""`truce export`: any table out as CSV (safe to open in a spreadsheet) or Parquet, streamed.

Credentials never leave: password hashes, token hashes, session hashes and CSRF tokens are left
out of every export (SECRET_COLUMNS), and the file is created readable by its owner only.
"""

from __future__ import annotations

import csv
import datetime as dt
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
from sqlalchemy import Boolean, Date, Engine, Integer, Numeric, select
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
    columns = exported_columns(name)
    query = select(*columns).order_by(*table.primary_key.columns)
    with engine.connect() as conn:
        rows = conn.execution_options(stream_results=True, yield_per=BATCH_ROWS).execute(query)
        if fmt == "csv":
            return _write_csv(out, [c.name for c in columns], rows)
        return _write_parquet(out, columns, rows)


def exported_columns(name: str) -> list:
    """The columns of table `name` an export writes: all but the secret ones."""
    secret = SECRET_COLUMNS.get(name, frozenset())
    return [column for column in Base.metadata.tables[name].c if column.name not in secret]


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
